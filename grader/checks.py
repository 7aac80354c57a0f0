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

import contextlib
import functools
import inspect
import math
import sys
import types
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

    def __init__(self, message: str, short: str):
        super().__init__(message)
        self.short = short  # a few words for the summary: "not written yet", "wrong at x = 2.0"

    def _render_traceback_(self) -> list[str]:
        """The traceback IPython shows (it calls this method when an exception has it): the
        student's cell and the message, without the frames of this module. IPython shows the
        frame that raised even when it sets `__tracebackhide__`, so they are dropped here."""
        try:
            from IPython import get_ipython

            kept, tb = [], self.__traceback__
            while tb is not None:
                if tb.tb_frame.f_globals.get("__name__") != __name__:
                    kept.append(tb)
                tb = tb.tb_next
            trimmed = None
            for tb in reversed(kept):
                trimmed = types.TracebackType(trimmed, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
            return get_ipython().InteractiveTB.structured_traceback(type(self), self, trimmed)
        except Exception:  # never lose the message: IPython would show no error at all
            return [f"{type(self).__name__}: {self}"]


class Results:
    """Every check run in this kernel, in order, and whether it passed: what a lab's progress
    cell lists (`summary`). A check run again replaces its result."""

    def __init__(self):
        self._problems: dict[str, str | None] = {}

    def passed(self, label: str) -> None:
        self._problems[label] = None

    def failed(self, label: str, problem: str) -> None:
        self._problems[label] = problem  # a few words: "not written yet", "wrong at x = 2.0"

    def problem(self, label: str) -> str | None:
        return self._problems[label]

    def clear(self) -> None:
        self._problems.clear()

    def lines(self) -> list[str]:
        if not self._problems:
            return ["No check has run yet: run each exercise's check cell, then this one."]
        passed = sum(problem is None for problem in self._problems.values())
        return [f"✓ {label}" if problem is None else f"✗ {label}: {problem}"
                for label, problem in self._problems.items()] + [
            f"{passed} of {len(self._problems)} checks pass."
            + (" Well done!" if passed == len(self._problems) else "")]


RESULTS = Results()

# What PyTorch's most common errors mean for a student, and what to do instead.
KNOWN_ERRORS = {
    "grad can be implicitly created only for scalar outputs":
        "backward() needs a single number. For many points at once, differentiate y.sum() "
        "(the sum trick) or call y.backward(gradient=torch.ones_like(y)).",
    "backward through the graph a second time":
        "each backward() frees the graph it used: compute y again before the next backward(). "
        "Add retain_graph=True only where the same graph is needed again on purpose (one "
        "backward per row of a Jacobian, say).",
    "leaf Variable that requires grad is being used in an in-place operation":
        "a leaf that requires grad cannot be changed in place (x += 1, x[0] = ...) while "
        "autograd records: compute a new tensor (y = x + 1), or, to update a parameter (a "
        "gradient step), change it inside `with torch.no_grad():`.",
    "Can't call numpy() on Tensor that requires grad":
        "call .detach() before .numpy().",
    "does not require grad and does not have a grad_fn":
        "what you differentiate does not depend on any tensor with requires_grad=True: "
        "make your input a leaf first: x = torch.tensor(x, requires_grad=True) for a number, "
        "x = x.detach().requires_grad_() for a tensor. For a "
        "second derivative, pass create_graph=True when taking the first one, so that the "
        "first derivative is recorded too.",
    "Only Tensors of floating point":
        "only floating-point tensors can require grad: torch.tensor(2.0), not torch.tensor(2).",
    "may be evaluated only at":
        "autograd needs the function's value at the point itself, once: make the point a leaf, "
        "evaluate the function there, and call backward(). Evaluating it anywhere else (finite "
        "differences) is what this exercise does not accept.",
}


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
    The student's function is called at every point before any is judged, so that a failure can
    say what the answers have in common (twice the right value, off by a constant).
    """
    __tracebackhide__ = True
    try:
        answers = []
        for point in points:
            args = point if isinstance(point, tuple) else (point,)
            where = _describe_point(student_fn, args)
            expected = reference_fn(*_fresh(args))
            got, warned = _call_student(label, student_fn, args, where)
            answers.append((where, got, expected, warned))
        for where, got, expected, warned in answers:
            hints = warned + _mistake_hints(got, warned, answers)
            check_close(label, got, expected, where=where, atol=atol, rtol=rtol, dtype=dtype,
                        hints=hints)
    except WrongAnswer as wrong:
        RESULTS.failed(label, wrong.short)
        raise
    RESULTS.passed(label)
    count = len(answers)
    print(f"✓ {label}: right for {'all ' if count > 1 else ''}{count} "
          f"input{'s' if count != 1 else ''}.")


def only_at(f: Callable, *point) -> Callable:
    """`f`, for an exercise whose skill is autograd: evaluated anywhere but at `point`, it raises.

    Autograd needs a function's value at the point itself; finite differences need it nearby. A
    test hands the student's code this in place of a hidden function, so that a numerical
    derivative cannot pass where autograd is asked for. A point is accepted as given or rounded
    to float32, in any shape with the same values (a number or a 1-element tensor).

    When graded, this function travels by value to the student's kernel, where the grader's
    modules are not: everything it needs is inside it (torch aside).
    """
    allowed = [torch.as_tensor(p, dtype=torch.float64).detach().clone() for p in point]

    def evaluated_at_the_point_only(*args):
        for arg, want in zip(args, allowed, strict=False):  # f may take more arguments
            got = torch.as_tensor(arg).detach()
            if got.numel() == want.numel():
                got = got.to(torch.float64).reshape(want.shape)
                rounded = want.to(torch.float32).to(torch.float64)
                if bool(((got == want) | (got == rounded)).all()):
                    continue
            shown = ", ".join(f"{v:.8g}" for v in got.flatten()[:4].tolist())
            raise ValueError(
                f"the function you were given may be evaluated only at the point "
                f"({', '.join(f'{v:.8g}' for v in want.flatten()[:4].tolist())}), where its "
                f"derivative is asked for; it was evaluated at ({shown})")
        return f(*args)

    return evaluated_at_the_point_only


def only_among(f: Callable, points) -> Callable:
    """`f`, for an exercise that asks for derivatives at many points at once: it raises when it
    is evaluated at any value that is not one of `points` (as given, or rounded to float32).

    only_at's twin for a batch: the student's code may evaluate f at the points all at once,
    one by one or under torch.func.vmap, and nowhere else, so that finite differences cannot
    pass where autograd (or torch.func) is asked for. Inside torch.func's transforms f is
    handed wrapped tensors, and it looks at the plain tensor under them (see below).

    When graded, this function travels by value to the student's kernel, where the grader's
    modules are not: everything it needs is inside it (torch aside).
    """
    allowed = torch.as_tensor(points).detach().to(torch.float64).flatten()
    allowed = torch.cat([allowed, allowed.to(torch.float32).to(torch.float64)])

    def evaluated_at_the_points_only(x):
        values = torch.as_tensor(x)
        # torch.func.grad and vmap hand f a wrapped tensor, one wrapper per transform, and
        # under vmap its values cannot be read (bool() of it raises): the points are checked
        # on the plain tensor under the wrappers, the whole batch. torch has no public way to
        # reach it; these two functions are private API (torch._C._functorch), checked against
        # torch 2.13.0. tests/test_checks.py fails if an upgrade changes them.
        functorch = torch._C._functorch
        while functorch.is_functorch_wrapped_tensor(values):
            values = functorch.get_unwrapped(values)
        values = values.detach().to(torch.float64).flatten()
        elsewhere = values[~(values[:, None] == allowed[None, :]).any(dim=1)]
        if elsewhere.numel():
            raise ValueError(
                "the function you were given may be evaluated only at the points where its "
                f"derivatives are asked for; it was evaluated at {elsewhere[0].item():.8g}")
        return f(x)

    return evaluated_at_the_points_only


def _watching_for_the_grader(label: str, call: Callable):
    """Run the student's function and refuse an answer that ran any of the grader's code: the
    references answer the exercises, and an answer must do the work itself. (When a lab is
    graded, the grader's modules are not in the student's kernel at all; this says so at once,
    in the instant check.) The checks themselves are not counted: tests wrap the student's
    functions in them (`only_at`, `in_student_kernel`), and they hold no answer."""
    __tracebackhide__ = True
    used = []

    def watch(frame, event, arg):
        if event == "call" and not used:
            module = frame.f_globals.get("__name__") or ""
            if (module == "grader" or module.startswith("grader.")) and module != __name__:
                used.append(f"{module}.{frame.f_code.co_name}")

    before = sys.getprofile()
    sys.setprofile(watch)
    try:
        got = call()
    finally:
        sys.setprofile(before)
    if used:
        raise WrongAnswer(
            f"{label}: your answer calls {used[0]}, one of the grader's own functions.\n"
            "  An answer has to do the work itself: one that uses the grader scores 0 for its "
            "exercise, and when your lab is graded the grader is not there to import. Write "
            "it with torch.", "uses the grader")
    return got


# While the judge (grader/grading/judge.py) runs a grade cell, the student's kernel it talks to:
# an object with `call(helper, args)`, which runs the helper there and returns its result. The
# judge hands it in (remote_kernel), so the checks never import the grader's machinery.
_REMOTE = None


@contextlib.contextmanager
def remote_kernel(kernel):
    global _REMOTE
    _REMOTE = kernel
    try:
        yield
    finally:
        _REMOTE = None


def in_student_kernel(helper: Callable) -> Callable:
    """Mark a test helper that must run next to the student's code, not in the judge.

    A test that builds an autograd graph through the student's code (a custom Function's
    backward, say) needs the graph and the student's code in one process. When grading, the
    judge sends such a helper to the student's kernel with its arguments and gets its result
    back as data; in a notebook it is an ordinary function.

    The student's kernel is the student's: a helper's result is only numbers, and the judge
    must decide from them (compare them with a reference, or with each other, as Lab 5's
    gradcheck does), never take a verdict, a label or a flag from it. What numbers cannot show
    stays unverified: that `function` is the `apply` of a torch.autograd.Function, say (a plain
    function of torch operations gives the same numbers), so no point may rest on it alone.
    """

    @functools.wraps(helper)
    def run(*args):
        if _REMOTE is None:  # as when judged: warnings from the student's code are not stderr
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                return helper(*args)
        return _REMOTE.call(helper, args)  # the judge's RemoteKernel: runs it over there

    return run


# Test helpers that run next to the student's code (marked with in_student_kernel), for the
# exercises whose answer is a torch.autograd.Function: its backward runs where its forward did.
# Graded, each travels to the student's kernel by value, where the grader's modules are not:
# the judge is sent the function that in_student_kernel wrapped, and this module's name for it
# is the wrapper, so cloudpickle finds no module attribute that is the helper (it would pickle
# that by reference, as an import of grader.checks) and pickles its code instead, with the
# globals it reads. So a helper reads no global but torch; tests/test_checks.py runs each one
# where grader cannot be imported. Each returns only numbers (see in_student_kernel).

@in_student_kernel
def value_at(function: Callable, inputs, *extra):
    """`function` called with the tensors `inputs`, then the arguments in `extra`, without a
    graph: the forward alone, whose output the judge compares with a reference."""
    with torch.no_grad():
        return function(*inputs, *extra)


@in_student_kernel
def gradients_through(function: Callable, inputs, v, *extra) -> tuple:
    """The gradient with respect to each of the tensors `inputs` (None for one that backward
    gives None), by backward(gradient=v) through `function` called with them, then the
    arguments in `extra`. Copies of the inputs are the leaves, so the caller's tensors and
    their .grad stay as they were."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    function(*leaves, *extra).backward(gradient=v)
    return tuple(leaf.grad for leaf in leaves)


@in_student_kernel
def gradient_by_torch_func(function: Callable, inputs, v, argnum: int):
    """torch.func.grad of Σ v·function(*inputs) with respect to input number `argnum`: what a
    Function gives under torch.func (it needs setup_context, and backward, to take part)."""
    return torch.func.grad(lambda *a: (v * function(*a)).sum(), argnums=argnum)(*inputs)


def gradcheck(function: Callable, inputs, extra: tuple = (), *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """What torch.autograd.gradcheck checks, with its defaults, decided here from numbers: the
    Jacobian of `function` by its backward (one row per one-hot upstream gradient) against
    centred differences of its forward, at float64 copies of the tensor `inputs`. `function` is
    called with the inputs, then the arguments in `extra` (numbers, functions: not perturbed).

    The forward and backward run next to the student's code, through value_at and
    gradients_through; what they send back is only numbers: the verdict is made here.
    """
    inputs = [t.detach().to(torch.float64) for t in inputs]
    shape = torch.as_tensor(value_at(function, inputs, *extra)).shape
    by_backward = [gradients_through(function, inputs, row.reshape(shape), *extra)
                   for row in torch.eye(shape.numel(), dtype=torch.float64)]
    for i, x in enumerate(inputs):
        for j, step in enumerate(torch.eye(x.numel(), dtype=torch.float64) * eps):
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


def check_gradcheck(label: str, function: Callable, points, extra: tuple = ()) -> None:
    """`gradcheck` (above) at each point, a tuple of input tensors: passes with a line, or
    raises a WrongAnswer that says where it failed, and what to do."""
    __tracebackhide__ = True
    RESULTS.failed(label, "gradcheck failed")
    for inputs in points:
        try:
            passed = gradcheck(function, inputs, extra)
        except NotImplementedError:
            RESULTS.failed(label, "not written yet")
            raise WrongAnswer(f"{label}: your Function is not written yet. Replace each "
                              "`raise NotImplementedError()` with your code.",
                              "not written yet") from None
        if not passed:
            where = "; ".join(", ".join(f"{n:g}" for n in t.flatten().tolist()) for t in inputs)
            raise WrongAnswer(
                f"{label}: torch.autograd.gradcheck fails at the input [{where}].\n"
                "  Your backward does not agree with finite differences of your forward.\n"
                "  Run torch.autograd.gradcheck on float64 copies of that input, without\n"
                "  raise_exception=False, to see what it found.", "gradcheck failed")
    RESULTS.passed(label)
    count = len(points)
    print(f"✓ {label}: passes for {'all ' if count > 1 else ''}{count} "
          f"input{'s' if count != 1 else ''}.")


def summary() -> None:
    """Print which checks pass, for the end of a lab: the student sees what is left to do."""
    print("\n".join(RESULTS.lines()))


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
        _fail(label, where, f"{_in_words(expected)}, as a tensor of dtype {dtype}",
              f"dtype {answer.dtype}", hints)
    if dtype == torch.float64 and _only_float32_precise(answer, expected):
        _fail(label, where, f"{_in_words(expected)}, computed in float64",
              f"{_in_words(answer)}, whose digits are only float32's", hints,
              tolerance="(was something in your computation float32, then made float64?)")
    if not torch.allclose(answer.detach().to(torch.float64), expected, rtol=rtol, atol=atol):
        _fail(label, where, _in_words(expected), _in_words(answer), hints,
              tolerance=f"(tolerance: atol={atol:g}, rtol={rtol:g})")


def _only_float32_precise(answer: torch.Tensor, expected: torch.Tensor) -> bool:
    """Whether an answer has float32's precision where float64's is asked: float32 holds every
    one of its values exactly, and not every expected value. It is judged from the numbers, as
    they come back from the student's kernel, not from the dtype that the kernel reports (a
    submission can make its kernel report float64 for a float32 result)."""
    def exact_in_float32(t: torch.Tensor) -> bool:
        t = t.detach().to(torch.float64)
        return bool(torch.equal(t, t.to(torch.float32).to(torch.float64)))

    return exact_in_float32(answer) and not exact_in_float32(expected)


def _as_float_tensor(label, got, where, expected, hints) -> torch.Tensor:
    """The student's answer as a floating-point tensor of the expected shape, or a clear failure."""
    __tracebackhide__ = True
    shape, want = expected.shape, f"{_in_words(expected)}, as {_kind_of(expected.shape)}"
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
            if _REMOTE is None:
                got = _watching_for_the_grader(label, lambda: student_fn(*_fresh(args)))
            else:  # judged: the kernel cannot import the grader, and the judge's code runs here
                got = student_fn(*_fresh(args))
        except WrongAnswer:
            raise
        except NotImplementedError as error:
            raise WrongAnswer(
                f"{label}: `{_raised_in(error)}` is not written yet. Replace "
                "`raise NotImplementedError()` with your code, run that cell, then this one.",
                "not written yet") from None
        except Exception as error:
            hints = [hint for text, hint in KNOWN_ERRORS.items() if text in str(error)]
            if not hints:
                raise  # not a mistake we know: the student's own traceback says more than we can
            name = type(error).__name__
            message = f"{label}: your function raised {name} at {where}:\n  {error}"
            raise WrongAnswer("\n".join([message, *(f"  hint: {h}" for h in hints)]),
                              f"raised {name}") from None
    return got, [f"PyTorch warned: {w.message}" for w in caught]


def _mistake_hints(got, warned, answers) -> list[str]:
    """Hints for the common mistakes that show in the answers themselves."""
    if got is None and any("not a leaf" in w for w in warned):
        return ["you read the .grad of a result; only the tensor you created with "
                "requires_grad=True (a leaf) keeps its gradient. Read that one's .grad."]
    pairs = [(torch.as_tensor(g).detach().double(), e) for _, g, e, _ in answers
             if isinstance(g, (torch.Tensor, Real)) and not isinstance(g, bool)
             and torch.as_tensor(g).shape == e.shape]
    if len(pairs) != len(answers) or not pairs:
        return []
    got_all = torch.cat([g.flatten() for g, _ in pairs])
    want = torch.cat([e.detach().double().flatten() for _, e in pairs])
    if torch.allclose(got_all, want, rtol=RTOL, atol=ATOL):
        return []
    for k in (2, 3, 4):
        if torch.allclose(got_all, k * want, rtol=RTOL, atol=ATOL):
            return [f"every answer is {k} times the right one: gradients add up over "
                    "backward() calls. Zero .grad, or make a fresh leaf, before each backward()."]
    if torch.allclose(got_all, -want, rtol=RTOL, atol=ATOL):
        return ["every answer has the right size and the wrong sign."]
    offset = got_all - want
    if len(pairs) > 1 and torch.allclose(offset, offset[0].expand_as(offset), atol=ATOL) \
            and offset.abs().max() > ATOL:
        return [f"every answer is off by the same amount ({_number(offset[0].item())}): "
                "look at the constant terms of your formula."]
    return []


def _fail(label, where, expected, got, hints, tolerance=""):
    __tracebackhide__ = True
    lines = [f"{label} is not right{' at ' + where if where else ''}.",
             f"  expected: {expected}", f"  you gave: {got}"]
    if tolerance:
        lines.append(f"  {tolerance}")
    lines.extend(f"  hint: {hint}" for hint in dict.fromkeys(hints))
    raise WrongAnswer("\n".join(lines), f"not right at {where}" if where else "not right")


def _fresh(args: tuple) -> tuple:
    """Copies of tensor arguments, detached from any graph, so no call can affect another."""
    return tuple(a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor)
                 else a for a in args)


def _describe_point(fn: Callable, args: tuple) -> str:
    """'x = 2.0', or 'u = 1.0, v = 2.0', using the parameter names of the student's function."""
    try:  # the first parameters, which the point fills (a test's lambda may add f=f after them)
        names = list(inspect.signature(fn).parameters)[: len(args)]
    except (TypeError, ValueError):
        names = ()
    if len(names) != len(args):
        names = [f"argument {i + 1}" for i in range(len(args))]
    return ", ".join(f"{n} = {_in_words(a) if isinstance(a, torch.Tensor) else _number(a)}"
                     for n, a in zip(names, args, strict=True))


def _kind_of(shape: torch.Size) -> str:
    return "a single number (a 0-d tensor or a float)" if shape == torch.Size([]) else \
        f"a floating-point tensor of shape {tuple(shape)}"


def _in_words(t: torch.Tensor) -> str:
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
    if getattr(error, "function", ""):
        return error.function  # raised in the student's kernel, named there
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name
