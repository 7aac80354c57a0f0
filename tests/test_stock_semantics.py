"""A test cell judged outside the student's kernel sees the student's values as stock nbgrader's
tests do (they run inside it): numbers, strings, lists, dicts, sets, generators, arrays, tensors,
objects of the student's classes, functions passed both ways, the student's exceptions by their
built-in class, names deleted and restored, module state a function changes.

The kernel side of the protocol runs here, in this process, on a namespace that plays the
student's notebook: what is tested is the judge's protocol, not a kernel.
"""

from __future__ import annotations

import math
import textwrap
import time

import pytest

from grader import kernel_side
from grader.grading import judge


class InProcessKernel(judge.RemoteKernel):
    """The judge's calls answered by the kernel side in this process, on `namespace`."""

    def __init__(self, namespace: dict, timeout: float = 30):
        self.namespace, self.gone, self.died, self.timeout = namespace, "", False, timeout
        self.deadline = self.cell_deadline = math.inf

    def _exchange(self, request: str) -> dict:
        answer = kernel_side.call(request, self.namespace)
        return {"content": {"user_expressions": {"answer": {"data": {
            "text/plain": repr(answer)}}}}}


STUDENT = '''
import numpy as np
import torch

a = 1
greeting = "hello"
counter = 0


def squares(n):
    return [i ** 2 for i in range(1, n + 1)]


def sum_of_squares(n):
    return sum(squares(n))


def letters(word):
    return {c: word.count(c) for c in word}


def unique(xs):
    return set(xs)


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def ramp(n):
    return np.arange(n, dtype=np.float64) / 2


def double(t):
    return 2 * t


def apply(f, x):
    return f(x)


def tick():
    global counter
    counter += 1


def positive(x):
    if x <= 0:
        raise ValueError("x must be positive")
    return x


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def norm(self):
        return (self.x ** 2 + self.y ** 2) ** 0.5

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)
'''


def judged(test: str, student: str = STUDENT, timeout: float = 30) -> list[dict]:
    namespace: dict = {}
    exec(textwrap.dedent(student), namespace)
    return judge.judge_cell(textwrap.dedent(test), InProcessKernel(namespace, timeout))


def passes(test: str, student: str = STUDENT) -> bool:
    outputs = judged(test, student)
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, errors[0]["traceback"]
    return True


@pytest.mark.parametrize("test", [
    "assert a == 1 and type(a) is int",
    "assert greeting.upper() == 'HELLO' and isinstance(greeting, str)",
    "assert squares(3) == [1, 4, 9] and type(squares(3)) is list",
    "assert letters('aab') == {'a': 2, 'b': 1}",
    "assert unique([1, 1, 2]) == {1, 2}",
    "assert list(countdown(3)) == [3, 2, 1]",
    "assert [n for n in countdown(2)] == [2, 1]",
    "import numpy\nassert numpy.allclose(ramp(3), [0, 0.5, 1]) and ramp(3).dtype == numpy.float64",
    "assert torch.equal(double(torch.tensor([1.0, 2.0])), torch.tensor([2.0, 4.0]))",
    "assert apply(lambda v: v * 10, 3) == 30",
    "assert apply(squares, 2) == [1, 4]",
])
def test_a_test_sees_the_students_values_as_they_are(test):
    assert passes(test)


def test_numpy_the_student_imported_is_the_graders_own():
    assert passes("import numpy\nassert np is numpy and np.allclose(ramp(2), [0.0, 0.5])",
                  STUDENT + "\nnp.allclose = lambda *a, **k: True\n")


def test_objects_of_the_students_classes_work_at_a_distance():
    assert passes("""
        p = Point(3, 4)
        assert p.x == 3 and p.norm() == 5.0
        assert isinstance(p, Point) and not isinstance(3, Point)
        assert p == Point(3, 4) and p != Point(0, 0)
        p.x = 0
        assert p.norm() == 4.0
    """)


def test_the_students_exception_is_caught_by_its_builtin_class():
    assert passes("""
        try:
            positive(-1)
        except ValueError as error:
            assert "positive" in str(error)
        else:
            raise AssertionError("no error")
    """)


def test_a_test_deletes_and_restores_a_students_function():
    """nbgrader's own "sum_of_squares uses squares" test."""
    assert passes("""
        orig_squares = squares
        del squares
        try:
            sum_of_squares(1)
        except NameError:
            pass
        else:
            raise AssertionError("sum_of_squares does not use squares")
        finally:
            squares = orig_squares
        assert sum_of_squares(2) == 5
    """)


def test_module_state_that_a_students_function_changes_is_read_again():
    assert passes("""
        before = counter
        tick()
        tick()
        assert counter == before + 2
    """)


def test_a_last_expression_is_shown_as_a_result_for_partial_credit():
    outputs = judged("print('half of it')\n0.5")
    assert [o["output_type"] for o in outputs] == ["stream", "execute_result"]
    assert outputs[1]["data"]["text/plain"] == "0.5"


def test_a_test_over_an_endless_generator_stops_at_the_cells_time_limit():
    started = time.monotonic()
    outputs = judged("list(forever())", STUDENT + "\ndef forever():\n    while True:\n"
                     "        yield 1\n", timeout=1)
    assert outputs[-1]["ename"] == "TimeoutError"
    assert time.monotonic() - started < 5


def test_a_syntax_error_the_students_code_raises_is_the_students():
    """Not a fault of the grader's (that would leave the submission ungraded forever)."""
    outputs = judged("squares(1)", STUDENT + "\ndef squares(n):\n    raise SyntaxError('no')\n")
    assert outputs[-1]["ename"] == "SyntaxError" and outputs[-1]["evalue"] == "no"


def test_a_failed_assert_is_an_error_output():
    outputs = judged("assert squares(2) == [1, 2], 'wrong squares'")
    assert outputs[-1]["output_type"] == "error" and outputs[-1]["evalue"] == "wrong squares"


def test_an_undefined_name_is_a_name_error():
    outputs = judged("cubes(2)")
    assert outputs[-1]["ename"] == "NameError"


# What stays as strict as the judge was -----------------------------------------------------------

def test_a_tests_own_value_never_reaches_the_students_code():
    """A student who names a global as the test names its expected value does not see it."""
    assert passes("""
        expected = [1, 4, 9]
        assert peek() is None
    """, STUDENT + "\nexpected = None\ndef peek():\n    return expected\n")


def test_a_subclass_of_list_is_the_students_object_not_a_list():
    """A list whose == always says yes comes back as the student's object, not as a list."""
    assert passes("""
        answer = squares(3)
        assert type(answer) is not list and not isinstance(answer, list)
    """, STUDENT + "\nclass Yes(list):\n    def __eq__(self, other):\n        return True\n"
         "def squares(n):\n    return Yes()\n")


@pytest.mark.parametrize("data", [
    {"t": "int", "v": 1.5},
    {"t": "bool", "v": 1},
    {"t": "float", "v": "1"},
    {"t": "list", "items": [{"t": "int"}]},
    {"t": "set", "items": [{"t": "list", "items": []}]},
    {"t": "tensor", "dtype": "float32", "shape": [3], "v": [1.0, 2.0]},
    {"t": "tensor", "dtype": "object", "shape": [], "v": [1.0]},
    {"t": "ndarray", "dtype": "|O", "shape": [1], "v": [1]},
    {"t": "bytes", "v": "not base64!"},
    {"t": "handle", "h": "1"},
    {"t": "dict", "items": [[{"t": "int", "v": 1}]]},
    {"t": "pickle", "v": "gASVAAAAAAAAAAA="},
    {"t": "dict", "items": [[{"t": "handle", "h": 1, "type": "X"}, {"t": "int", "v": 1}]]},
    {"t": "set", "items": [{"t": "handle", "h": 1, "type": "X"}]},
    {"t": "module", "name": "os"},  # no handle
    {"t": "set", "items": [{"t": "int", "v": k * (2**61 - 1)} for k in range(1, 100)]},
    {"t": "dict", "items": [[{"t": "int", "v": k * (2**61 - 1)}, {"t": "none"}]
                            for k in range(1, 100)]},
    {"t": "set", "items": [{"t": "int", "v": k} for k in range(10_001)]},
    {"t": "tensor", "dtype": "float32", "shape": [2**31, 0], "v": []},  # math.prod could stall
    {"t": "tensor", "dtype": "float32", "shape": [1] * 33, "v": [1.0]},
])
def test_malformed_data_from_the_kernel_is_unreadable(data):
    with pytest.raises(judge.StudentError, match="could not be read"):
        judge.decode(data, InProcessKernel({}))
