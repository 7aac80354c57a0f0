"""Lab 1's cheats: answers that must score nothing (tests/test_exercises.py)."""

CHEATS = {
    "ex1-answer": {
        "the visible example's hand formula": "def derivative(f, x):\n    return 6 * x**2 + 1\n",
        "finite differences": (
            "def derivative(f, x):\n"
            "    x = torch.tensor(x, dtype=torch.float64)\n"
            "    h = 1e-6\n"
            "    return (f(x + h) - f(x - h)) / (2 * h)\n"),
        "the visible example hard-coded": "def derivative(f, x):\n    return torch.tensor(7.0)\n",
        "the grader's reference": (
            "from grader import reference\n\n"
            "def derivative(f, x):\n"
            "    return reference.derivative(f)(x)\n"),
    },
    # Exercise 2 is the course's one derive-by-hand exercise: the hand formula is its answer, and
    # a call to autograd passes it too (its prose says so). What must fail is the rest.
    "ex2-answer": {
        "the visible example hard-coded": "def dy_dx_by_hand(x):\n    return 20.0\n",
        "the grader's reference": (
            "from grader import reference\n\n"
            "def dy_dx_by_hand(x):\n"
            "    return reference.derivative(lambda x: x**4 - 3 * x**2 + 2)(x)\n"),
        "the formula with its constant kept": (
            "def dy_dx_by_hand(x):\n    return 4 * x**3 - 6 * x + 2\n"),
    },
    "ex3-answer": {
        "finite differences": (
            "def tangent_line(f, x0):\n"
            "    x = torch.tensor(x0, dtype=torch.float64)\n"
            "    h = 1e-6\n"
            "    slope = (f(x + h) - f(x - h)) / (2 * h)\n"
            "    return slope, f(x) - slope * x0\n"),
        "f(x0) at a float": (
            "def tangent_line(f, x0):\n"
            "    x = torch.tensor(x0, requires_grad=True)\n"
            "    f(x).backward()\n"
            "    return x.grad, f(x0) - x.grad * x0\n"),
        "the visible example hard-coded": (
            "def tangent_line(f, x0):\n"
            "    return torch.tensor(12.0), torch.tensor(-17.0)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def tangent_line(f, x0):\n"
            "    slope = reference.derivative(f)(x0)\n"
            "    return slope, f(reference.leaf(x0)).detach() - slope * x0\n"),
    },
}
