"""Lab 4's cheats: answers that must score nothing (tests/test_exercises.py)."""

CHEATS = {
    "ex1-answer": {
        "the ReLU's formula": (
            "def kink_slopes(f, xs):\n"
            "    return (xs > 0).to(xs.dtype)\n"),
        "finite differences": (
            "def kink_slopes(f, xs):\n"
            "    h = 1e-3\n"
            "    return (f(xs + h) - f(xs - h)) / (2 * h)\n"),
        "the visible examples hard-coded": (
            "def kink_slopes(f, xs):\n"
            "    return torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=xs.dtype)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def kink_slopes(f, xs):\n"
            "    return reference.elementwise_derivative(f)(xs).to(xs.dtype)\n"),
    },
    "ex2-answer": {
        "the sigmoid's formula": (
            "def surviving_factor(activation, zs):\n"
            "    s = torch.sigmoid(zs)\n"
            "    return (s * (1 - s)).prod(dim=1)\n"),
        "finite differences": (
            "def surviving_factor(activation, zs):\n"
            "    h = 1e-3\n"
            "    return ((activation(zs + h) - activation(zs - h)) / (2 * h)).prod(dim=1)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def surviving_factor(activation, zs):\n"
            "    slopes = reference.elementwise_derivative(activation)(zs)\n"
            "    return slopes.prod(dim=1).to(zs.dtype)\n"),
    },
    "ex3-answer": {
        "the ReLU's rule, by hand": (
            "def dead_unit_fraction(activation, weights, bias, inputs):\n"
            "    pre = inputs @ weights.T + bias\n"
            "    return (pre <= 0).all(dim=0).float().mean()\n"),
        "finite differences on the bias": (
            "def dead_unit_fraction(activation, weights, bias, inputs):\n"
            "    h = 1e-3\n"
            "    dead = []\n"
            "    for j in range(len(bias)):\n"
            "        step = torch.zeros_like(bias)\n"
            "        step[j] = h\n"
            "        up = activation(inputs @ weights.T + bias + step).sum()\n"
            "        down = activation(inputs @ weights.T + bias - step).sum()\n"
            "        dead.append(float(up == down))\n"
            "    return torch.tensor(dead).mean()\n"),
        "the visible example hard-coded": (
            "def dead_unit_fraction(activation, weights, bias, inputs):\n"
            "    return torch.tensor(0.5)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def dead_unit_fraction(activation, weights, bias, inputs):\n"
            "    pre = inputs @ weights.T + bias\n"
            "    slopes = reference.elementwise_derivative(activation)(pre)\n"
            "    return (slopes == 0).all(dim=0).double().mean()\n"),
    },
}
