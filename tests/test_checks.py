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
    monkeypatch.setattr(checks, "RESULTS", {})
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
    assert checks.RESULTS["sin'"] == "uses the grader"


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

    monkeypatch.setattr(checks, "RESULTS", {"first": None})
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
