"""Lab 3's cheats: answers that must score nothing (tests/test_exercises.py)."""

CHEATS = {
    "ex1-answer": {
        "the hand formula of the visible example": (
            "def derivative_on_grid(f, xs):\n"
            "    return 3 * xs**2 - 2\n"),
        "finite differences": (
            "def derivative_on_grid(f, xs):\n"
            "    h = 1e-3\n"
            "    return (f(xs + h) - f(xs - h)) / (2 * h)\n"),
        "one backward() per point": (
            "def derivative_on_grid(f, xs):\n"
            "    slopes = []\n"
            "    for value in xs:\n"
            "        x = value.detach().clone().requires_grad_(True)\n"
            "        f(x).backward()\n"
            "        slopes.append(x.grad)\n"
            "    return torch.stack(slopes)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def derivative_on_grid(f, xs):\n"
            "    return reference.elementwise_derivative(f)(xs).to(xs.dtype)\n"),
    },
    "ex2-answer": {
        "finite differences, one sample at a time": (
            "def own_input_gradients(model, X):\n"
            "    h = 1e-3\n"
            "    G = torch.zeros_like(X)\n"
            "    for i in range(X.shape[0]):\n"
            "        for j in range(X.shape[1]):\n"
            "            step = torch.zeros_like(X)\n"
            "            step[i, j] = h\n"
            "            G[i, j] = (model(X + step)[i] - model(X - step)[i]) / (2 * h)\n"
            "    return G\n"),
        "the visible examples hard-coded": (
            "def own_input_gradients(model, X):\n"
            "    if X.tolist() == [[1.0, 2.0], [3.0, 4.0]]:\n"
            "        if model(X).tolist() == [5.0, 25.0]:\n"
            "            return 2 * X\n"
            "        return torch.tensor([[-1.0, -1.0], [1.0, 1.0]])\n"
            "    return torch.zeros_like(X)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def own_input_gradients(model, X):\n"
            "    return reference.own_input_gradients(model)(X).to(X.dtype)\n"),
    },
    "ex3-answer": {
        "finite differences": (
            "def vjp(f, x, v):\n"
            "    h = 1e-3\n"
            "    columns = []\n"
            "    for j in range(x.numel()):\n"
            "        step = torch.zeros_like(x)\n"
            "        step[j] = h\n"
            "        columns.append((v * (f(x + step) - f(x - step))).sum() / (2 * h))\n"
            "    return torch.stack(columns)\n"),
        "the visible examples hard-coded": (
            "def vjp(f, x, v):\n"
            "    if x.tolist() == [0.0, 1.0, 2.0]:\n"
            "        return v * torch.cos(x)\n"
            "    if x.tolist() == [1.0, 2.0, 3.0, 4.0]:\n"
            "        return torch.ones(4)\n"
            "    return torch.zeros_like(x)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def vjp(f, x, v):\n"
            "    return reference.vector_jacobian_product(f)(x, v).to(x.dtype)\n"),
    },
}
