"""Reference answers, computed by autograd in float64.

Test cells build the right answer from these: they take the function an exercise is about,
written out in the test cell itself, and differentiate it here. float64 keeps the reference far
more accurate than the float32 tolerance the checks allow.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

F64 = torch.float64


def leaf(value) -> torch.Tensor:
    """A float64 leaf tensor that records operations on it."""
    return torch.as_tensor(value, dtype=F64).detach().clone().requires_grad_(True)


def derivative(f: Callable) -> Callable:
    """The function x -> f'(x), for f of one scalar."""

    def f_prime(x):
        x = leaf(x)
        (d,) = torch.autograd.grad(f(x), x)
        return d

    return f_prime


def partials(f: Callable) -> Callable:
    """The function (x1, x2, ...) -> (df/dx1, df/dx2, ...), for f of several scalars."""

    def all_partials(*xs):
        leaves = [leaf(x) for x in xs]
        return torch.autograd.grad(f(*leaves), leaves)

    return all_partials


def partial(f: Callable, i: int) -> Callable:
    """The function (x1, x2, ...) -> df/dxi."""
    return lambda *xs: partials(f)(*xs)[i]


def gradient(f: Callable) -> Callable:
    """The function p -> the gradient of f at p, for f of one 1-D tensor. It is the same
    computation as a derivative: one leaf, one autograd.grad."""
    return derivative(f)


def elementwise_derivative(f: Callable) -> Callable:
    """The function xs -> f'(xs), for an elementwise f, by differentiating f(xs).sum()."""

    def f_prime(xs):
        xs = leaf(xs)
        (d,) = torch.autograd.grad(f(xs).sum(), xs)
        return d

    return f_prime


def vector_jacobian_product(f: Callable) -> Callable:
    """The function (x, v) -> vᵀ J_f(x), for f from tensors to tensors."""

    def vjp(x, v):
        x = leaf(x)
        (g,) = torch.autograd.grad(f(x), x, grad_outputs=torch.as_tensor(v, dtype=F64))
        return g

    return vjp


def own_input_gradients(model: Callable) -> Callable:
    """The function X -> G, for a model that maps a batch X of shape (n, d) to one number per
    sample, shape (n,): row i of G is the gradient of model(X)[i] with respect to X[i], its own
    sample, whether or not the samples interact. One autograd.grad per sample, from the
    one-hot weights that pick output i."""

    def own(X):
        X = leaf(X)
        y = model(X)
        rows = []
        for i in range(y.shape[0]):
            (g,) = torch.autograd.grad(y, X, grad_outputs=torch.eye(y.shape[0], dtype=F64)[i],
                                       retain_graph=True)
            rows.append(g[i])
        return torch.stack(rows)

    return own


def gradcheck(value_at: Callable, gradients_through: Callable, function: Callable, inputs,
              extra: tuple = (), *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3) -> bool:
    """What torch.autograd.gradcheck checks, with its defaults, decided here from numbers: the
    Jacobian of `function` by its backward (one row per one-hot upstream gradient) against
    centred differences of its forward, at float64 copies of the tensor `inputs`. `function` is
    called with the inputs, then the arguments in `extra` (numbers, functions: not perturbed).

    A custom Function's backward runs next to the student's code, so the test cell hands this
    two helpers of its own, marked with checks.in_student_kernel:
    `value_at(function, inputs, *extra)`, the output without a graph, and
    `gradients_through(function, inputs, v, *extra)`, the gradient with respect to each input
    by backward(gradient=v). What they send back is only numbers: the verdict is made here.
    """
    inputs = [t.detach().to(F64) for t in inputs]
    shape = torch.as_tensor(value_at(function, inputs, *extra)).shape
    by_backward = [gradients_through(function, inputs, row.reshape(shape), *extra)
                   for row in torch.eye(shape.numel(), dtype=F64)]
    for i, x in enumerate(inputs):
        for j, step in enumerate(torch.eye(x.numel(), dtype=F64) * eps):
            moved = [[t + sign * step.reshape(x.shape) if n == i else t
                      for n, t in enumerate(inputs)] for sign in (1, -1)]
            up, down = (torch.as_tensor(value_at(function, m, *extra)).reshape(-1)
                        for m in moved)
            for k, slope in enumerate((up - down) / (2 * eps)):
                grad = by_backward[k][i]
                got = 0.0 if grad is None else torch.as_tensor(grad).reshape(-1)[j].item()
                if not abs(got - slope.item()) <= atol + rtol * abs(slope.item()):
                    return False
    return True


def check_gradcheck(label: str, value_at: Callable, gradients_through: Callable,
                    function: Callable, points, extra: tuple = ()) -> None:
    """A check, like those of grader.checks: `gradcheck` (above) at each point, a tuple of
    input tensors. It records its result for the lab's summary, prints a line when it passes,
    and otherwise raises a WrongAnswer that says where it failed, and what to do."""
    from grader import checks

    __tracebackhide__ = True
    checks.RESULTS[label] = "gradcheck failed"
    for inputs in points:
        try:
            passed = gradcheck(value_at, gradients_through, function, inputs, extra)
        except NotImplementedError:
            checks.RESULTS[label] = "not written yet"
            raise checks.WrongAnswer(f"{label}: your Function is not written yet. Replace each "
                                     "`raise NotImplementedError()` with your code.",
                                     "not written yet") from None
        if not passed:
            where = "; ".join(", ".join(f"{n:g}" for n in t.flatten().tolist()) for t in inputs)
            raise checks.WrongAnswer(
                f"{label}: torch.autograd.gradcheck fails at the input [{where}].\n"
                "  Your backward does not agree with finite differences of your forward.\n"
                "  Run torch.autograd.gradcheck on float64 copies of that input, without\n"
                "  raise_exception=False, to see what it found.", "gradcheck failed")
    checks.RESULTS[label] = None
    count = len(points)
    print(f"✓ {label}: passes for {'all ' if count > 1 else ''}{count} "
          f"input{'s' if count != 1 else ''}.")


def second_derivative(f: Callable) -> Callable:
    """The function xs -> f''(xs), for an elementwise f of a number or of a tensor of points, by
    differentiating twice with the sum trick (the first time with create_graph=True). Where f'
    is a constant (f linear), autograd returns it unrecorded, and f'' is 0."""

    def f_second(xs):
        xs = leaf(xs)
        (d1,) = torch.autograd.grad(f(xs).sum(), xs, create_graph=True)
        if not d1.requires_grad:
            return torch.zeros_like(xs).detach()
        (d2,) = torch.autograd.grad(d1.sum(), xs, materialize_grads=True)
        return d2

    return f_second


def jacobian(f: Callable) -> Callable:
    """The function x -> the Jacobian of f at x, J[i, j] = d f_i / d x_j, for f from a 1-D
    tensor to a 1-D tensor, by torch.autograd.functional.jacobian."""

    def jacobian_at(x):
        return torch.autograd.functional.jacobian(f, torch.as_tensor(x, dtype=F64).detach())

    return jacobian_at
