"""The check helpers: right answers pass, and each kind of wrong answer fails with a message
that names what was expected, where, and what the student gave."""

import warnings

import pytest
import torch

from grader import checks, reference

square = reference.derivative(lambda x: x**2)


def autograd_square_derivative(x):
    x = torch.tensor(x, requires_grad=True)
    (x**2).backward()
    return x.grad


def fails_with(*fragments):
    """Context manager: the check must fail, and its message must contain every fragment."""
    class Expect:
        def __enter__(self):
            self.ctx = pytest.raises(checks.WrongAnswer)
            self.info = self.ctx.__enter__()

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in:\n{message}"
            return handled
    return Expect()


def test_a_right_answer_passes_and_says_so(capsys):
    checks.check_function("d(x²)/dx", autograd_square_derivative, square, [2.0, -1.5, 0.0])
    assert capsys.readouterr().out == "✓ d(x²)/dx: right for all 3 inputs.\n"


def test_a_float_is_accepted_for_a_single_number():
    checks.check_function("d(x²)/dx", lambda x: 2 * x, square, [3.0])


def test_a_wrong_value_names_expected_input_and_given():
    with fails_with("d(x²)/dx is not right at x = 3.0", "expected: 6.0", "you gave: 7.0",
                    "atol="):
        checks.check_function("d(x²)/dx", lambda x: 2 * x + 1, square, [3.0])


def test_a_hard_coded_answer_fails_at_the_next_point():
    with fails_with("at x = -1.0", "expected: -2.0", "you gave: 4.0"):
        checks.check_function("d(x²)/dx", lambda x: torch.tensor(4.0), square, [2.0, -1.0])


def test_float32_rounding_is_within_tolerance_but_a_fourth_digit_error_is_not():
    exact = reference.derivative(torch.exp)
    checks.check_function("eˣ", lambda x: torch.exp(torch.tensor(x, dtype=torch.float32)),
                          exact, [0.3, 5.0])
    with fails_with("eˣ is not right"):
        checks.check_function("eˣ", lambda x: torch.exp(torch.tensor(x)) * 1.001, exact, [5.0])


def test_no_return_value_is_named():
    with fails_with("you gave: None: did your function forget to `return`?"):
        checks.check_function("d(x²)/dx", lambda x: None, square, [1.0])


def test_a_wrong_shape_is_named():
    with fails_with("expected: 2.0, as a single number", "you gave: a tensor of shape (1,)"):
        checks.check_function("d(x²)/dx", lambda x: torch.tensor([2 * x]), square, [1.0])


def test_an_integer_tensor_gets_a_hint_about_floats():
    with fails_with("a tensor of dtype torch.int64", "torch.tensor(2.0)"):
        checks.check_function("d(x²)/dx", lambda x: torch.tensor(2), square, [1.0])


def test_a_string_or_a_bool_is_not_a_number():
    with fails_with("you gave: a str"):
        checks.check_close("answer", "6", 6.0)
    with fails_with("you gave: a bool"):
        checks.check_close("answer", True, 1.0)


def test_a_demanded_dtype_is_checked():
    grad = reference.gradient(lambda p: (p**2).sum())
    point = torch.tensor([1.0, 2.0], dtype=torch.float64)
    checks.check_function("∇f", lambda p: 2 * p, grad, [point], dtype=torch.float64)
    with fails_with("expected: tensor of shape (2,): [2.0, 4.0], as a tensor of dtype "
                    "torch.float64", "you gave: dtype torch.float32"):
        checks.check_function("∇f", lambda p: (2 * p).float(), grad, [point],
                              dtype=torch.float64)


def test_a_float32_result_relabelled_float64_fails_by_its_digits():
    """A submission once made its kernel report float64 for a float32 result: the dtype is
    judged from the values too, where the expected ones need float64's precision."""
    grad = reference.gradient(lambda p: (p**3).sum())
    point = torch.tensor([0.3, -1.2], dtype=torch.float64)
    relabelled = lambda p: (3 * p.float() ** 2).double()  # noqa: E731
    checks.check_function("∇f", lambda p: 3 * p**2, grad, [point], dtype=torch.float64)
    with fails_with("computed in float64", "digits are only float32's"):
        checks.check_function("∇f", relabelled, grad, [point], dtype=torch.float64)
    # where float32 holds the expected values exactly, the digits cannot tell: it passes
    checks.check_function("∇f", relabelled, grad,
                          [torch.tensor([1.0, 2.0], dtype=torch.float64)], dtype=torch.float64)


def test_points_with_several_arguments_are_described_by_parameter_name():
    f = lambda u, v: u * v + u**2  # noqa: E731
    with fails_with("at u = 1.0, v = 2.0", "expected: 4.0"):
        checks.check_function("∂f/∂u", lambda u, v: v, reference.partial(f, 0), [(1.0, 2.0)])
    with fails_with("at u = 1.0, v = 2.0"):  # a test's lambda may carry extra defaults
        checks.check_function("∂f/∂u", lambda u, v, f=f: v, reference.partial(f, 0),
                              [(1.0, 2.0)])


def test_an_unwritten_answer_says_what_to_do():
    def answer(x):
        raise NotImplementedError()

    with fails_with("`answer` is not written yet", "raise NotImplementedError()"):
        checks.check_function("d(x²)/dx", answer, square, [1.0])
    with fails_with("`answer` is not written yet"):  # also when the test wraps it in a lambda
        checks.check_function("d(x²)/dx", lambda x: answer(x), square, [1.0])


def test_a_warning_inside_a_right_answer_is_not_printed_and_does_not_fail(capsys):
    def noisy(x):
        x = torch.tensor(x, requires_grad=True)
        y = x**2
        y.backward()
        _ = y.grad  # a non-leaf's .grad: PyTorch warns
        return x.grad

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping the check would fail this test
        checks.check_function("d(x²)/dx", noisy, square, [2.0])
    assert capsys.readouterr().err == ""


def test_a_warning_inside_a_wrong_answer_becomes_a_hint():
    def reads_non_leaf(x):
        x = torch.tensor(x, requires_grad=True)
        y = x**2
        y.backward()
        return y.grad

    with fails_with("you gave: None", "hint: PyTorch warned: The .grad attribute of a Tensor "
                    "that is not a leaf"):
        checks.check_function("d(x²)/dx", reads_non_leaf, square, [2.0])


def test_a_function_that_changes_its_input_in_place_cannot_change_the_reference():
    grad = reference.gradient(lambda p: (p**3).sum())

    def mutating(p):
        p.mul_(0)
        return torch.zeros_like(p)

    with fails_with("expected: tensor of shape (2,): [3.0, 12.0]"):
        checks.check_function("∇f", mutating, grad, [torch.tensor([1.0, 2.0])])


def test_references_compute_in_float64():
    assert square(3.0).dtype == torch.float64
    assert reference.partials(lambda u, v: u**3 + v**2 + 4 * u * v)(3.0, 4.0) == (43.0, 20.0)
    xs = torch.tensor([-1.0, 0.0, 2.0])
    assert reference.elementwise_derivative(torch.relu)(xs).tolist() == [0.0, 0.0, 1.0]
    v = torch.tensor([1.0, 0.0, 0.0])
    cumsum_vjp = reference.vector_jacobian_product(lambda x: torch.cumsum(x, 0))
    assert cumsum_vjp(xs, v).tolist() == [1.0, 0.0, 0.0]


def test_accumulated_gradients_are_recognised():
    leaf = torch.tensor(0.0, requires_grad=True)

    def reuses_one_leaf(x):  # the same leaf for every call: .grad keeps adding up
        with torch.no_grad():
            leaf.fill_(x)
        (leaf**2).backward()
        (leaf**2).backward()
        return leaf.grad.clone()

    with fails_with("every answer is 2 times the right one", "Zero .grad"):
        checks.check_function("d(x²)/dx", reuses_one_leaf, square, [1.0])


def test_a_constant_offset_is_recognised():
    with fails_with("off by the same amount (1.0)", "constant terms"):
        checks.check_function("d(x²)/dx", lambda x: 2 * x + 1, square, [1.0, 2.0, -3.0])


def test_a_wrong_sign_is_recognised():
    with fails_with("the wrong sign"):
        checks.check_function("d(x²)/dx", lambda x: -2 * x, square, [1.0, 2.0])


def test_a_vector_backward_without_the_sum_gets_the_sum_trick_hint():
    def forgot_sum(xs):
        xs = xs.clone().requires_grad_(True)
        (xs**2).backward()
        return xs.grad

    with fails_with("your function raised RuntimeError at xs = ", "only for scalar outputs",
                    "hint: backward() needs a single number", "y.sum()"):
        checks.check_function("d(x²)/dx on a grid", forgot_sum,
                              reference.elementwise_derivative(lambda x: x**2),
                              [torch.linspace(-1.0, 1.0, 3)])


def test_a_second_backward_gets_a_hint_not_retain_graph():
    def backward_twice(x):
        x = torch.tensor(x, requires_grad=True)
        y = x**2
        y.backward()
        y.backward()
        return x.grad

    with fails_with("backward through the graph a second time", "compute y again",
                    "retain_graph=True only where"):
        checks.check_function("d(x²)/dx", backward_twice, square, [1.0])


def test_an_unknown_error_keeps_the_students_own_traceback():
    def broken(x):
        return {}["missing"]

    with pytest.raises(KeyError):
        checks.check_function("d(x²)/dx", broken, square, [1.0])


def test_the_summary_lists_each_check_with_what_went_wrong(capsys, monkeypatch):
    monkeypatch.setattr(checks, "RESULTS", checks.Results())
    checks.summary()
    assert "No check has run yet" in capsys.readouterr().out
    checks.check_function("first", lambda x: 2 * x, square, [1.0])
    with pytest.raises(checks.WrongAnswer):
        checks.check_function("second", lambda x: 3 * x, square, [1.0])

    def unwritten(x):
        raise NotImplementedError()

    with pytest.raises(checks.WrongAnswer):
        checks.check_function("third", unwritten, square, [1.0])
    capsys.readouterr()
    checks.summary()
    assert capsys.readouterr().out.splitlines() == [
        "✓ first", "✗ second: not right at x = 1.0", "✗ third: not written yet",
        "1 of 3 checks pass."]
    checks.check_function("second", lambda x: 2 * x, square, [1.0])  # fixed and run again
    checks.check_function("third", lambda x: 2 * x, square, [1.0])
    capsys.readouterr()
    checks.summary()
    assert capsys.readouterr().out.splitlines()[-1] == "3 of 3 checks pass. Well done!"


def test_a_test_helper_run_in_the_notebook_keeps_warnings_off_stderr(capsys):
    @checks.in_student_kernel
    def reads_a_non_leaf_grad(x):
        y = torch.tensor(x, requires_grad=True) * 2
        _ = y.grad  # PyTorch warns
        return 7.0

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping the helper would fail this test
        assert reads_a_non_leaf_grad(1.0) == 7.0
    assert capsys.readouterr().err == ""


def autograd_derivative(f, x):
    x = torch.tensor(x, requires_grad=True)
    f(x).backward()
    return x.grad


def centred_difference(f, x, h=1e-6):
    x = torch.tensor(x, dtype=torch.float64)
    return (f(x + h) - f(x - h)) / (2 * h)


def check_derivative_of_sin(answer):
    checks.check_function("the derivative of sin",
                          lambda x: answer(checks.only_at(torch.sin, x), x),
                          reference.derivative(torch.sin), [1.0, 1.7, -0.3])


def test_only_at_passes_autograd_evaluating_at_the_point_in_float32_or_float64():
    check_derivative_of_sin(autograd_derivative)
    check_derivative_of_sin(
        lambda f, x: autograd_derivative(f, torch.tensor(x, dtype=torch.float64)))


def test_only_at_refuses_finite_differences_with_the_autograd_hint():
    """In float64 with h = 1e-6, a centred difference is right to 1e-10: the values alone would
    pass; the evaluation off the point does not."""
    assert abs(centred_difference(torch.sin, 1.7) - torch.cos(torch.tensor(1.7))) < 1e-6
    with fails_with("may be evaluated only at the point (1)", "evaluated at (1.000001)",
                    "hint: autograd needs the function's value at the point itself"):
        check_derivative_of_sin(centred_difference)


def test_only_at_refuses_many_points_at_once_and_accepts_one_element_tensors():
    guarded = checks.only_at(torch.sin, torch.tensor([1.0, 2.0]))
    assert torch.equal(guarded(torch.tensor([1.0, 2.0])), torch.sin(torch.tensor([1.0, 2.0])))
    with pytest.raises(ValueError, match="evaluated at"):
        guarded(torch.tensor([1.0, 2.0, 2.0]))
    with pytest.raises(ValueError, match="evaluated at"):
        guarded(torch.tensor([1.0, 2.0 + 1e-7], dtype=torch.float64))
    assert checks.only_at(torch.sin, 0.5)(torch.tensor([0.5])).shape == (1,)
    two = checks.only_at(lambda u, v: u * v, 2.0, 3.0)
    assert two(2.0, 3.0) == 6.0
    with pytest.raises(ValueError):
        two(2.0, 3.001)


def test_only_at_travels_by_value_and_needs_no_grader_module_where_it_runs():
    """Graded, the guard is sent to a kernel that cannot import the grader's modules."""
    import subprocess
    import sys

    import cloudpickle

    data = cloudpickle.dumps(checks.only_at(torch.sin, 1.0))
    unpickle_without_grader = (
        "import pickle, sys, torch\n"
        "sys.modules['grader'] = None  # importing grader or grader.checks now fails\n"
        "f = pickle.loads(sys.stdin.buffer.read())\n"
        "print(f(torch.tensor(1.0)).item())\n"
        "f(torch.tensor(1.5))\n")
    run = subprocess.run([sys.executable, "-c", unpickle_without_grader], input=data,
                         capture_output=True)
    assert run.stdout.decode().strip() == str(torch.sin(torch.tensor(1.0)).item())
    assert b"ValueError: the function you were given may be evaluated only at" in run.stderr


def test_an_answer_that_calls_the_graders_references_scores_nothing_and_says_why():
    def borrowed(f, x):
        return reference.derivative(f)(x)

    with fails_with("your answer calls grader.reference.derivative",
                    "one that uses the grader scores 0 for its exercise"):
        check_derivative_of_sin(borrowed)
    borrowed_once = reference.derivative(torch.sin)  # made before the check: still its code
    with fails_with("calls grader.reference"):
        checks.check_function("sin'", borrowed_once, reference.derivative(torch.sin), [1.0])
    assert checks.RESULTS.problem("sin'") == "uses the grader"


def test_the_watch_for_the_grader_leaves_a_profiler_as_it_found_it():
    import sys

    def mine(frame, event, arg):
        pass

    sys.setprofile(mine)
    try:
        check_derivative_of_sin(autograd_derivative)
        assert sys.getprofile() is mine
    finally:
        sys.setprofile(None)


def test_progress_prints_the_summary_and_says_what_happens_where_the_checks_are_absent(
        capsys, monkeypatch):
    import builtins

    import grader

    monkeypatch.setattr(checks, "RESULTS", checks.Results())
    checks.RESULTS.passed("first")
    grader.progress()
    assert capsys.readouterr().out.splitlines()[-1] == "1 of 1 checks pass. Well done!"
    real_import = builtins.__import__

    def no_checks(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "grader" and fromlist and "checks" in fromlist:
            raise ImportError("cannot import name 'checks'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_checks)
    grader.progress()
    assert "its checks run outside your notebook" in capsys.readouterr().out


# The helpers that Lab 5's and Lab 6's test cells share (checks.value_at, gradients_through,
# gradient_by_torch_func, gradcheck, only_among).

class Cube(torch.autograd.Function):
    """x³, with the backward Lab 5 asks for: the upstream gradient times 3x²."""

    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x**2


class CubeIgnoringGradOutput(Cube):
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 3 * x**2


class Scale(torch.autograd.Function):
    """x·s, whose backward gives None for s (wrongly, where s is a tensor that varies)."""

    @staticmethod
    def forward(ctx, x, s):
        ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s, None


def test_value_at_gives_the_forward_at_the_inputs_then_the_extra_arguments_without_a_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    got = checks.value_at(lambda a, b, k: a * b + k, (x, torch.tensor(3.0)), 1.0)
    assert torch.equal(got, torch.tensor([4.0, 7.0]))
    assert not got.requires_grad and got.grad_fn is None


def test_gradients_through_is_backward_with_the_upstream_gradient_through_copies_of_inputs():
    a, b, v = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 3.0]), torch.tensor([1.0, 10.0])
    grad_a, grad_b = checks.gradients_through(lambda a, b, k: k * a * b + torch.sin(a),
                                              (a, b), v, 2.0)
    assert torch.allclose(grad_a, v * (2 * b + torch.cos(a)))
    assert torch.allclose(grad_b, v * 2 * a)
    assert a.grad is None and not a.requires_grad  # the caller's tensors are untouched
    grad_x, grad_s = checks.gradients_through(Scale.apply, (a, torch.tensor(3.0)), v)
    assert torch.equal(grad_x, 3 * v) and grad_s is None  # None as backward gave it
    assert torch.equal(checks.gradients_through(Cube.apply, (a,), v)[0], v * 3 * a**2)


def test_gradient_by_torch_func_uses_a_functions_backward_and_needs_setup_context():
    x, v = torch.tensor([0.3, 1.7]), torch.tensor([2.0, -1.0])
    assert torch.allclose(checks.gradient_by_torch_func(Cube.apply, (x,), v, 0), v * 3 * x**2)
    assert torch.equal(checks.gradient_by_torch_func(lambda a, b: a * b,
                                                     (x, torch.tensor([3.0, 4.0])), v, 1), v * x)
    # backward's 3x², not the true derivative (3x²·1 = 3x² too): a backward of its own is used
    assert torch.allclose(checks.gradient_by_torch_func(CubeIgnoringGradOutput.apply, (x,),
                                                        torch.ones(2), 0), 3 * x**2)
    with pytest.raises(RuntimeError, match="setup_context"):
        checks.gradient_by_torch_func(Scale.apply, (x, torch.tensor(3.0)), v, 0)


def test_gradcheck_passes_a_right_backward_and_fails_one_that_ignores_grad_output():
    x = (torch.tensor([0.5, -1.2, 2.0]),)
    assert checks.gradcheck(Cube.apply, x)
    assert not checks.gradcheck(CubeIgnoringGradOutput.apply, x)  # wrong off the diagonal
    assert checks.gradcheck(Cube.apply, (torch.tensor(0.7),))  # one element: right anyway
    assert checks.gradcheck(lambda x, k: k * Cube.apply(x), x, extra=(2.0,))  # k not perturbed


def test_gradcheck_takes_a_none_gradient_as_zero():
    x = torch.tensor([0.5, -1.2])
    assert not checks.gradcheck(Scale.apply, (x, torch.tensor([1.0, 1.0])))  # s varies x·s
    ignores_s = lambda x, s: Scale.apply(x, torch.tensor(2.0))  # noqa: E731
    assert checks.gradcheck(ignores_s, (x, torch.tensor([2.0, 3.0])))  # s does not vary it


def test_check_gradcheck_names_the_input_where_backward_is_wrong_and_an_unwritten_function(
        capsys):
    points = [(torch.tensor([0.5, -1.25]),), (torch.tensor(2.0),)]
    checks.check_gradcheck("gradcheck of Cube", Cube.apply, points)
    assert capsys.readouterr().out == "✓ gradcheck of Cube: passes for all 2 inputs.\n"
    assert checks.RESULTS.problem("gradcheck of Cube") is None
    with fails_with("gradcheck of Cube: torch.autograd.gradcheck fails at the input [0.5, -1.25]",
                    "does not agree with finite differences"):
        checks.check_gradcheck("gradcheck of Cube", CubeIgnoringGradOutput.apply, points)
    assert checks.RESULTS.problem("gradcheck of Cube") == "gradcheck failed"

    class Unwritten(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            raise NotImplementedError()

    with fails_with("your Function is not written yet"):
        checks.check_gradcheck("gradcheck of Cube", Unwritten.apply, points)
    assert checks.RESULTS.problem("gradcheck of Cube") == "not written yet"


def test_the_shared_helpers_do_not_count_as_an_answer_that_uses_the_grader(capsys):
    x = torch.tensor([0.5, -1.0])
    checks.check_function("Cube's values", lambda x: checks.value_at(Cube.apply, (x,)),
                          lambda x: x**3, [x])
    assert capsys.readouterr().out.startswith("✓ Cube's values")

    class ByTheGrader(Cube):
        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            with torch.enable_grad():
                return reference.vector_jacobian_product(lambda t: t**3)(x, grad_output)

    with fails_with("your answer calls grader.reference"):
        checks.check_function("Cube's gradient",
                              lambda x, v: checks.gradients_through(ByTheGrader.apply, (x,), v)[0],
                              lambda x, v: v * 3 * x**2, [(x, torch.ones(2))])


def newton_step(f, xs):
    """Lab 6's first exercise, with torch.func: one Newton step from each point."""
    slope = torch.func.vmap(torch.func.grad(f))(xs)
    return xs - slope / torch.func.vmap(torch.func.grad(torch.func.grad(f)))(xs)


def test_only_among_passes_torch_func_and_autograd_at_the_points():
    xs = torch.tensor([2.0, -2.0, 0.5])
    cubic = lambda t: t**3 - 3 * t  # noqa: E731
    guarded = checks.only_among(cubic, xs)
    assert torch.allclose(newton_step(guarded, xs), xs - (3 * xs**2 - 3) / (6 * xs))
    leaf = xs.clone().requires_grad_(True)
    guarded(leaf).sum().backward()  # plain autograd, all the points at once
    assert torch.allclose(leaf.grad, 3 * xs**2 - 3)
    assert guarded(xs[2]) == cubic(xs[2])  # one of the points alone
    points64 = torch.tensor([0.1, 0.7], dtype=torch.float64)
    assert checks.only_among(torch.sin, points64)(points64.float()).dtype == torch.float32


def test_only_among_refuses_any_other_value_under_vmap_too():
    xs = torch.tensor([2.0, -2.0, 0.5])
    guarded = checks.only_among(torch.sin, xs)
    with pytest.raises(ValueError, match="may be evaluated only at the points .* at 2.000999"):
        guarded(xs + 1e-3)
    with pytest.raises(ValueError, match="evaluated only at the points"):
        guarded(torch.tensor([2.0, -2.0, 0.5001]))  # one value off is enough
    with pytest.raises(ValueError, match="evaluated only at the points"):  # not bool()'s error
        torch.func.vmap(lambda t: guarded(t + 1e-3))(xs)
    centred = lambda f, xs, h=1e-3: xs - ((f(xs + h) - f(xs - h)) / (2 * h)) / (  # noqa: E731
        (f(xs + h) - 2 * f(xs) + f(xs - h)) / h**2)
    with fails_with("may be evaluated only at the points", "hint: autograd needs"):
        checks.check_function("a Newton step", lambda xs: centred(checks.only_among(torch.sin, xs),
                                                                 xs),
                              lambda xs: newton_step(torch.sin, xs), [xs])


def test_the_private_functorch_calls_of_only_among_still_reach_the_batch_under_vmap_and_grad():
    """only_among reads the points under torch.func's wrappers with two private functions of
    torch._C._functorch (checked against torch 2.13.0): if an upgrade renames them or changes
    what they give, this says so."""
    functorch = torch._C._functorch
    xs, seen = torch.tensor([0.5, 1.0, 2.0]), []

    def look(t):
        wrappers = 0
        while functorch.is_functorch_wrapped_tensor(t):
            t, wrappers = functorch.get_unwrapped(t), wrappers + 1
        seen.append((wrappers, t.detach().clone()))
        return torch.zeros(())

    torch.func.vmap(torch.func.grad(look))(xs)
    torch.func.vmap(torch.func.grad(torch.func.grad(look)))(xs)
    assert [n for n, _ in seen] == [2, 3]  # vmap, then a grad each
    assert all(torch.equal(t, xs) for _, t in seen)  # the whole batch, as plain numbers
    assert not functorch.is_functorch_wrapped_tensor(xs)


def test_the_shared_helpers_travel_by_value_and_run_where_the_grader_cannot_be_imported():
    """Graded, the judge sends each helper to a kernel that cannot import the grader's modules
    (tests/test_sandbox.py checks that it cannot): here the calls go to a stand-in for the
    judge's kernel that pickles them as the judge does, and a fresh Python in which `grader`
    cannot be imported runs them."""
    import pickle
    import subprocess
    import sys

    import cloudpickle

    class KernelWithoutTheGrader:
        def __init__(self):
            self.requests = []

        def call(self, helper, args):
            self.requests.append((helper, args))

    class Cube(torch.autograd.Function):  # defined here, so pickled by value, not by name
        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 3 * x**2

    x, v = torch.tensor([0.5, -1.25]), torch.tensor([1.0, 10.0])
    kernel = KernelWithoutTheGrader()
    with checks.remote_kernel(kernel):
        checks.value_at(Cube.apply, (x,))
        checks.gradients_through(Cube.apply, (x,), v)
        checks.gradient_by_torch_func(Cube.apply, (x,), v, 0)
    assert [helper.__name__ for helper, _ in kernel.requests] == [
        "value_at", "gradients_through", "gradient_by_torch_func"]
    guarded = checks.only_among(lambda t: t**3, x)
    kernel.requests.append((lambda f, xs: torch.func.vmap(torch.func.grad(f))(xs), (guarded, x)))
    kernel.requests.append((guarded, (x + 1e-3,)))
    without_grader = (
        "import pickle, sys, torch\n"
        "sys.modules['grader'] = None  # importing grader or grader.checks now fails\n"
        "try:\n"
        "    import grader.checks\n"
        "    sys.exit('grader.checks was imported')\n"
        "except ImportError:\n"
        "    pass\n"
        "answers = []\n"
        "for helper, args in pickle.loads(sys.stdin.buffer.read()):\n"
        "    try:\n"
        "        answers.append(helper(*args))\n"
        "    except ValueError as error:\n"
        "        answers.append(str(error))\n"
        "sys.stdout.buffer.write(pickle.dumps(answers))\n")
    run = subprocess.run([sys.executable, "-c", without_grader],
                         input=cloudpickle.dumps(kernel.requests), capture_output=True)
    assert run.returncode == 0, run.stderr.decode()
    value, gradients, by_torch_func, newton_slopes, refused = pickle.loads(run.stdout)
    assert torch.equal(value, x**3)
    assert len(gradients) == 1 and torch.allclose(gradients[0], v * 3 * x**2)
    assert torch.allclose(by_torch_func, v * 3 * x**2)
    assert torch.allclose(newton_slopes, 3 * x**2)
    assert refused.startswith("the function you were given may be evaluated only at the points")
