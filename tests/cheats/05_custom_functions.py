"""Lab 5's cheats: answers that must score nothing (tests/test_exercises.py)."""

# A Function whose backward is right but computes its numbers with the grader's references.
_FROM_NUMPY_BY_THE_GRADER = '''from grader import reference


class FromNumpy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, f, f_prime):
        ctx.save_for_backward(x)
        ctx.f_prime = f_prime
        return torch.as_tensor(f(x.detach().numpy()), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        slope = torch.as_tensor(ctx.f_prime(x.detach().numpy()), dtype=x.dtype)
        vjp = reference.vector_jacobian_product(lambda t: t * slope)
        return vjp(x, grad_output).to(x.dtype), None, None
'''

_FROM_NUMPY_BACKWARD = '''

class FromNumpy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, f, f_prime):
        ctx.save_for_backward(x)
        ctx.f, ctx.f_prime = f, f_prime
        return torch.as_tensor(f(x.detach().numpy()), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        a = x.detach().numpy()
{body}
'''

_QUANTIZE = '''{preamble}

class Quantize(torch.autograd.Function):
    @staticmethod
    def forward(x, step):
        return step * torch.round(x / step)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, step = inputs
        ctx.save_for_backward(x, step)

    @staticmethod
    def backward(ctx, grad_output):
        x, step = ctx.saved_tensors
{body}
'''

CHEATS = {
    "ex1-answer": {
        "a plain function, NumPy without a Function": (
            "class FromNumpy:\n"
            "    @staticmethod\n"
            "    def apply(x, f, f_prime):\n"
            "        return torch.as_tensor(f(x.detach().numpy()), dtype=x.dtype)\n"),
        "a plain function of torch operations, calling f on the tensor": (
            "class FromNumpy:\n"
            "    @staticmethod\n"
            "    def apply(x, f, f_prime):\n"
            "        return f(x)\n"),
        "the grader's reference": _FROM_NUMPY_BY_THE_GRADER,
        "backward ignores grad_output": _FROM_NUMPY_BACKWARD.format(body=(
            "        return torch.as_tensor(ctx.f_prime(a), dtype=x.dtype), None, None")),
        "backward ignores f_prime (centred differences of f)": _FROM_NUMPY_BACKWARD.format(body=(
            "        h = 1e-6 if x.dtype == torch.float64 else 1e-3\n"
            "        slope = (ctx.f(a + h) - ctx.f(a - h)) / (2 * h)\n"
            "        return grad_output * torch.as_tensor(slope, dtype=x.dtype), None, None")),
        "backward returns no None for f and f_prime": _FROM_NUMPY_BACKWARD.format(body=(
            "        return grad_output * torch.as_tensor(ctx.f_prime(a), dtype=x.dtype)")),
    },
    "ex2-answer": {
        "autograd": (
            "def numerical_gradient(f, x, h=1e-6):\n"
            "    leaf = x.detach().clone().requires_grad_(True)\n"
            "    (gradient,) = torch.autograd.grad(f(leaf), leaf)\n"
            "    return gradient\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def numerical_gradient(f, x, h=1e-6):\n"
            "    return reference.gradient(f)(x) + h**2 * 0\n"),
        "forward differences": (
            "def numerical_gradient(f, x, h=1e-6):\n"
            "    gradient = torch.zeros_like(x)\n"
            "    for i in range(x.numel()):\n"
            "        step = torch.zeros_like(x)\n"
            "        step[i] = h\n"
            "        gradient[i] = (f(x + step) - f(x)) / h\n"
            "    return gradient\n"),
        "a step of its own, whatever h is given": (
            "def numerical_gradient(f, x, h=1e-6):\n"
            "    gradient = torch.zeros_like(x)\n"
            "    for i in range(x.numel()):\n"
            "        step = torch.zeros_like(x)\n"
            "        step[i] = 1e-6\n"
            "        gradient[i] = (f(x + step) - f(x - step)) / 2e-6\n"
            "    return gradient\n"),
    },
    "ex3-answer": {
        "a plain function of torch operations (autograd through round)": (
            "class Quantize:\n"
            "    @staticmethod\n"
            "    def apply(x, step):\n"
            "        return step * torch.round(x / step)\n"),
        "the grader's reference": _QUANTIZE.format(preamble="from grader import reference\n", body=(
            "        identity = reference.vector_jacobian_product(lambda t: t)\n"
            "        grad_x = identity(x, grad_output).to(x.dtype)\n"
            "        grad_step = (grad_x * (torch.round(x / step) - x / step)).sum()\n"
            "        return grad_x, grad_step")),
        "backward ignores grad_output": _QUANTIZE.format(preamble="", body=(
            "        return torch.ones_like(x), (torch.round(x / step) - x / step).sum()")),
        "the visible example hard-coded": _QUANTIZE.format(preamble="", body=(
            "        return torch.tensor([1.0, 10.0, 100.0]), torch.tensor(2.75)")),
    },
}
