"""Lab 6's cheats: answers that must score nothing (tests/test_exercises.py)."""

CHEATS = {
    "ex1-answer": {
        "finite differences": (
            "def newton_step(f, xs):\n"
            "    x, h = xs.to(torch.float64), 1e-3\n"
            "    first = (f(x + h) - f(x - h)) / (2 * h)\n"
            "    second = (f(x + h) - 2 * f(x) + f(x - h)) / h**2\n"
            "    return (x - first / second).to(xs.dtype)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def newton_step(f, xs):\n"
            "    first = reference.elementwise_derivative(f)(xs)\n"
            "    second = reference.second_derivative(f)(xs)\n"
            "    return (xs - first / second).to(xs.dtype)\n"),
        "the hand formula of the example": (
            "def newton_step(f, xs):\n"
            "    return xs - (3 * xs**2 - 3) / (6 * xs)\n"),
        "the visible example hard-coded": (
            "def newton_step(f, xs):\n"
            "    return torch.tensor([1.25, -1.25, 1.25])\n"),
    },
    "ex2-answer": {
        "finite differences": (
            "def slope(f, x):\n"
            "    h = 1e-4\n"
            "    return (f(x + h) - f(x - h)) / (2 * h)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def slope(f, x):\n"
            "    return reference.derivative(f)(x)\n"),
        "the hand formula of the example": (
            "def slope(f, x):\n"
            "    return 3 * x**2\n"),
    },
    "ex3-answer": {
        "finite differences": (
            "def jacobian_of(f, x):\n"
            "    x64, h = x.detach().to(torch.float64), 1e-6\n"
            "    steps = torch.eye(len(x64), dtype=torch.float64) * h\n"
            "    columns = [(f(x64 + s) - f(x64 - s)) / (2 * h) for s in steps]\n"
            "    return torch.stack(columns, dim=1).to(x.dtype)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def jacobian_of(f, x):\n"
            "    return reference.jacobian(f)(x).to(x.dtype)\n"),
        "the visible example hard-coded": (
            "def jacobian_of(f, x):\n"
            "    return torch.tensor([[0.5, -3**0.5], [3**0.5 / 2, 1.0]])\n"),
    },
}
