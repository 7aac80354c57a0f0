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
        picks = torch.eye(y.shape[0], dtype=F64)  # row i picks output i
        rows = []
        for i, pick in enumerate(picks):
            (g,) = torch.autograd.grad(y, X, grad_outputs=pick, retain_graph=True)
            rows.append(g[i])
        return torch.stack(rows)

    return own


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


def training_curve(model, loss_fn: Callable, optimizer, inputs, targets, steps: int):
    """(losses, parameters): `steps` steps of `optimizer` on the whole batch, each from gradients
    cleared to None, as a training loop takes them. The losses are those before each step; the
    parameters are every parameter of `model` after the last step, flattened into one tensor.
    The test builds model and optimizer itself (in float64), from the same seed as the student's."""
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses), torch.cat([p.detach().flatten() for p in model.parameters()])


def clipped_gradient(inner: Callable, outer: Callable, max_norm: float) -> Callable:
    """The function x -> the gradient of outer(inner(x)) with respect to x, where the gradient
    reaching h = inner(x) is first scaled down to norm max_norm if its norm is larger (left as
    it is otherwise), then sent on through inner. With inner the identity, that is the clipped
    gradient of outer at x."""

    def at(x):
        x = leaf(x)
        h = inner(x)
        (g,) = torch.autograd.grad(outer(h), h, retain_graph=True)
        norm = g.norm()
        if norm > max_norm:
            g = g * (max_norm / norm)
        (gx,) = torch.autograd.grad(h, x, grad_outputs=g)
        return gx

    return at


def flat_gradients(f: Callable) -> Callable:
    """The function (x1, x2, ...) -> the gradients of the single number f(x1, x2, ...) with
    respect to each input, each flattened, joined into one 1-D tensor in the order of the inputs
    (zeros for an input that f does not use). For answers that return one gradient per input,
    of different shapes (Lab 7's leaf_gradients)."""

    def flat(*xs):
        leaves = [leaf(x) for x in xs]
        gradients = torch.autograd.grad(f(*leaves), leaves, materialize_grads=True)
        return torch.cat([g.reshape(-1) for g in gradients])

    return flat


def input_vjp(f: Callable, i: int) -> Callable:
    """The function (x1, x2, ..., v) -> vᵀ J, the vector-Jacobian product of f(x1, x2, ...) with
    respect to its i-th input alone (v has the shape of f's result): the gradient that input
    receives from an upstream gradient v (Lab 7's layer_backward)."""

    def vjp(*args):
        *xs, v = args
        leaves = [leaf(x) for x in xs]
        upstream = torch.as_tensor(v, dtype=F64)
        (g,) = torch.autograd.grad(f(*leaves), leaves[i], grad_outputs=upstream)
        return g

    return vjp
