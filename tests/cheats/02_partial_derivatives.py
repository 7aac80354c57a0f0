"""Lab 2's cheats: answers that must score nothing (tests/test_exercises.py)."""

FINITE_DIFFERENCES = (
    "def partials(f, u, v):\n"
    "    u, v = torch.tensor(u, dtype=torch.float64), torch.tensor(v, dtype=torch.float64)\n"
    "    h = 1e-6\n"
    "    return ((f(u + h, v) - f(u - h, v)) / (2 * h), (f(u, v + h) - f(u, v - h)) / (2 * h))\n")

CHEATS = {
    "ex1-answer": {
        "the visible example's hand formulas": (
            "def partials(f, u, v):\n    return 2 * u * v, u**2 + 3 * v**2\n"),
        "finite differences": FINITE_DIFFERENCES,
        "the visible example hard-coded": (
            "def partials(f, u, v):\n    return torch.tensor(4.0), torch.tensor(13.0)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def partials(f, u, v):\n"
            "    return reference.partials(f)(u, v)\n"),
    },
    "ex2-answer": {
        "the visible example's hand formulas": (
            "def steepest_ascent(f, u, v):\n"
            "    grad = torch.tensor([v, u + v])\n"
            "    return grad / grad.norm(), grad.norm()\n"),
        "finite differences": (
            FINITE_DIFFERENCES.replace("def partials", "def numerical_partials") +
            "\n\ndef steepest_ascent(f, u, v):\n"
            "    grad = torch.stack(numerical_partials(f, u, v))\n"
            "    return grad / grad.norm(), grad.norm()\n"),
        "the visible example hard-coded": (
            "def steepest_ascent(f, u, v):\n"
            "    return torch.tensor([0.6, 0.8]), torch.tensor(5.0)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def steepest_ascent(f, u, v):\n"
            "    grad = torch.stack(reference.partials(f)(u, v))\n"
            "    return grad / grad.norm(), grad.norm()\n"),
    },
    "ex3-answer": {
        "the visible example's hand formula": (
            "def gradient(f, point):\n"
            "    u, v = point\n"
            "    return torch.stack([3 * u**2 + 4 * v, 2 * v + 4 * u])\n"),
        "finite differences": (
            "def gradient(f, point):\n"
            "    p = point.detach().to(torch.float64)\n"
            "    h = 1e-6\n"
            "    steps = torch.eye(len(p), dtype=torch.float64) * h\n"
            "    grad = torch.stack([(f(p + s) - f(p - s)) / (2 * h) for s in steps])\n"
            "    return grad.to(point.dtype)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def gradient(f, point):\n"
            "    return reference.gradient(f)(point).to(point.dtype)\n"),
    },
}
