"""Lab 1's cheats: answers that must score nothing (tests/test_exercises.py)."""

CHEATS = {
    "ex1-answer": {
        "the hand formula": "def derivative_2x3_plus_x(x):\n    return 6 * x**2 + 1\n",
        "the grader's reference": (
            "from grader import reference\n\n"
            "def derivative_2x3_plus_x(x):\n"
            "    return reference.derivative(lambda x: 2 * x**3 + x)(x)\n"),
    },
    "ex2-answer": {
        "autograd": (
            "def dy_dx_by_hand(x):\n"
            "    return autograd_derivative(lambda x: x**4 - 3 * x**2 + 2, x)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def dy_dx_by_hand(x):\n"
            "    return reference.derivative(lambda x: x**4 - 3 * x**2 + 2)(x)\n"),
    },
    "ex3-answer": {
        "finite differences": (
            "def tangent_line(f, x0):\n"
            "    x = torch.tensor(x0, dtype=torch.float64)\n"
            "    h = 1e-6\n"
            "    slope = (f(x + h) - f(x - h)) / (2 * h)\n"
            "    return slope, f(x) - slope * x0\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def tangent_line(f, x0):\n"
            "    slope = reference.derivative(f)(x0)\n"
            "    return slope, f(reference.leaf(x0)).detach() - slope * x0\n"),
    },
}
