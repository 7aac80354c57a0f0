"""The checks that graded test cells call.

A test cell hands a check the student's function and a reference function that computes the
right answer with autograd. The check calls both at each test point and compares the results:
first the kind of answer (a number or a tensor, its shape, its dtype), then its values within
an explicit tolerance. When they differ, it fails with a message written for the student: what
was expected, at which input, and what they gave. Never a bare AssertionError.

Python warnings raised inside the student's function are caught and kept as hints, so that an
answer that is right but makes PyTorch warn (nbgrader zeroes a test cell that writes anything
on stderr) still gets its points.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from numbers import Real

import torch

# float32 carries about 7 significant digits; these tolerances accept any float32 answer that
# is computed sensibly and reject answers that are wrong in the fourth significant digit.
ATOL = 1e-5
RTOL = 1e-4


class WrongAnswer(AssertionError):
    """A check failed. The message is for the student, so it says what to look at."""


def check_function(
    label: str,
    student_fn: Callable,
    reference_fn: Callable,
    points: Iterable,
    *,
    atol: float = ATOL,
    rtol: float = RTOL,
    dtype: torch.dtype | None = None,
) -> None:
    """Check that `student_fn` agrees with `reference_fn` at every point.

    A point is one argument, or a tuple of arguments. Tensors are cloned for each call, so a
    student's function that changes its input in place cannot change what the reference sees.
    """
    __tracebackhide__ = True
    count = 0
    for point in points:
        args = point if isinstance(point, tuple) else (point,)
        where = _describe_point(student_fn, args)
        expected = reference_fn(*_fresh(args))
        got, caught = _call_student(label, student_fn, args, where)
        check_close(label, got, expected, where=where, atol=atol, rtol=rtol, dtype=dtype,
                    hints=caught)
        count += 1
    print(f"✓ {label}: right for {'all ' if count > 1 else ''}{count} "
          f"input{'s' if count != 1 else ''}.")


def check_close(
    label: str,
    got,
    expected,
    *,
    where: str = "",
    atol: float = ATOL,
    rtol: float = RTOL,
    dtype: torch.dtype | None = None,
    hints: Sequence[str] = (),
) -> None:
    """Check one answer against its expected value: kind, shape, dtype, then the numbers."""
    __tracebackhide__ = True
    expected = torch.as_tensor(expected).detach().to(torch.float64)
    answer = _as_float_tensor(label, got, where, expected, hints)
    if dtype is not None and answer.dtype != dtype:
        _fail(label, where, f"{_show(expected)}, as a tensor of dtype {dtype}",
              f"dtype {answer.dtype}", hints)
    if not torch.allclose(answer.detach().to(torch.float64), expected, rtol=rtol, atol=atol):
        _fail(label, where, _show(expected), _show(answer), hints,
              tolerance=f"(tolerance: atol={atol:g}, rtol={rtol:g})")


def _as_float_tensor(label, got, where, expected, hints) -> torch.Tensor:
    """The student's answer as a floating-point tensor of the expected shape, or a clear failure."""
    __tracebackhide__ = True
    shape, want = expected.shape, f"{_show(expected)}, as {_kind(expected.shape)}"
    if got is None:
        _fail(label, where, want, "None: did your function forget to `return`?", hints)
    if isinstance(got, bool) or not isinstance(got, (torch.Tensor, Real)):
        _fail(label, where, want, f"a {type(got).__name__}: {got!r:.80}", hints)
    if isinstance(got, Real):
        if shape != torch.Size([]):
            _fail(label, where, want, f"the single number {got!r}", hints)
        return torch.tensor(float(got), dtype=torch.float64)
    if not got.is_floating_point():
        _fail(label, where, want, f"a tensor of dtype {got.dtype}", hints,
              tolerance="(an integer tensor cannot hold a gradient: create x from a float, "
                        "like torch.tensor(2.0))")
    if got.shape != shape:
        _fail(label, where, want, f"a tensor of shape {tuple(got.shape)}", hints)
    return got


def _call_student(label, student_fn, args, where):
    """Call the student's function, keeping any Python warnings as hints instead of stderr."""
    __tracebackhide__ = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = student_fn(*_fresh(args))
        except NotImplementedError as error:
            raise WrongAnswer(
                f"{label}: `{_raised_in(error)}` is not written yet. Replace "
                "`raise NotImplementedError()` with your code, run that cell, then this one."
            ) from None
    return got, [f"PyTorch warned: {w.message}" for w in caught]


def _fail(label, where, expected, got, hints, tolerance=""):
    __tracebackhide__ = True
    lines = [f"{label} is not right{' at ' + where if where else ''}.",
             f"  expected: {expected}", f"  you gave: {got}"]
    if tolerance:
        lines.append(f"  {tolerance}")
    lines.extend(f"  hint: {hint}" for hint in dict.fromkeys(hints))
    raise WrongAnswer("\n".join(lines))


def _fresh(args: tuple) -> tuple:
    """Copies of tensor arguments, detached from any graph, so no call can affect another."""
    return tuple(a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor)
                 else a for a in args)


def _describe_point(fn: Callable, args: tuple) -> str:
    """'x = 2.0', or 'u = 1.0, v = 2.0', using the parameter names of the student's function."""
    try:  # the first parameters, which the point fills (a test's lambda may add f=f after them)
        names = fn.__code__.co_varnames[: fn.__code__.co_argcount][: len(args)]
    except AttributeError:
        names = ()
    if len(names) != len(args):
        names = [f"argument {i + 1}" for i in range(len(args))]
    return ", ".join(f"{n} = {_show(a) if isinstance(a, torch.Tensor) else _number(a)}"
                     for n, a in zip(names, args, strict=True))


def _kind(shape: torch.Size) -> str:
    return "a single number (a 0-d tensor or a float)" if shape == torch.Size([]) else \
        f"a floating-point tensor of shape {tuple(shape)}"


def _show(t: torch.Tensor) -> str:
    t = t.detach()
    if t.dim() == 0:
        return _number(t.item())
    values = ", ".join(_number(v) for v in t.flatten()[:8].tolist())
    more = ", ..." if t.numel() > 8 else ""
    return f"tensor of shape {tuple(t.shape)}: [{values}{more}]"


def _number(v) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.6g}" if v != int(v) or abs(v) >= 1e6 else f"{v:.1f}"
    return repr(v)


def _raised_in(error: BaseException) -> str:
    """The name of the function that raised: the student's, even when a test wraps it."""
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name
