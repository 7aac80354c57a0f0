"""nbgrader grades the labs as intended: every solution gets full marks, every student lab as
released gets zero, a hard-coded answer fails the hidden tests, and a right answer that makes
PyTorch warn keeps its points. The student labs run top to bottom, failing only where the
student has work to do."""

import ast
import shutil

import pytest

from grader import course
from grader.course import notebooks
from tests.conftest import validation

pytestmark = pytest.mark.slow


def grade_ids(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")]


def test_every_solution_scores_full_marks(lab):
    result = validation(lab.solution)
    assert result.failed == []
    assert result.passed == grade_ids(notebooks.read(lab.solution))


def test_every_student_lab_as_released_scores_zero(lab):
    result = validation(lab.student)
    assert result.passed == []
    assert result.failed == grade_ids(notebooks.read(lab.student))


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def test_student_labs_fail_only_in_the_practice(lab):
    """Outside the practice, every cell runs; inside, the failures are the unwritten answers."""
    for cell in validation(lab.student).executed.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        errs = errors(cell)
        if "raises-exception" in tags:
            assert len(errs) == 1, f"cell {cell.id} should raise"
        elif cell.metadata.get("nbgrader", {}).get("grade"):
            assert [e.ename for e in errs] in (["WrongAnswer"], ["NameError"]), cell.id
            assert "is not written yet" in errs[0].evalue or errs[0].ename == "NameError"
        else:
            assert [e.ename for e in errs] in ([], ["NotImplementedError"]), \
                f"cell {cell.id} failed: {[(e.ename, e.evalue) for e in errs]}"
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.id


def answers_defined_in(source: str) -> list[str]:
    """What an answer cell defines for the tests to call: its functions, the `apply` of its
    custom autograd Functions, and the methods of its other classes (Lab 7's Value: wrapping
    the class itself would make it a function, and `isinstance(other, Value)` would fail)."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and \
                any("Function" in ast.unparse(base) for base in node.bases):
            names.append(f"{node.name}.apply")
        elif isinstance(node, ast.ClassDef):
            names.extend(f"{node.name}.{method.name}" for method in node.body
                         if isinstance(method, ast.FunctionDef)
                         and method.name not in ("__init__", "__repr__"))
    return names


def with_answers_wrapped(lab, tmp_path, wrapper_source: str):
    """A copy of the solution in which every answer function is passed through `_wrap`."""
    nb = notebooks.read(lab.solution)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            names = answers_defined_in(cell.source)
            assert names, f"{cell.id}: an answer cell should define a function or a class"
            cell.source += "\n\n" + wrapper_source + "\n" + \
                "\n".join(f"{name} = _wrap({name})" for name in names)
    folder = tmp_path / lab.name
    shutil.copytree(lab.solution.parent, folder)
    notebooks.write(nb, folder / lab.solution.name)
    return folder / lab.solution.name


HARD_CODE = '''
def _wrap(fn):
    """Answer every call with what the first call returned: a hard-coded answer."""
    first = []

    def hard_coded(*args, **kwargs):
        if not first:
            first.append(fn(*args, **kwargs))
        return first[0]
    return hard_coded
'''

WARN = '''
def _wrap(fn):
    """Give the right answer, but make PyTorch print a UserWarning on the way."""
    import torch

    def noisy(*args, **kwargs):
        _ = (torch.ones(1, requires_grad=True) * 2).grad  # a non-leaf's .grad: PyTorch warns
        return fn(*args, **kwargs)
    return noisy
'''


def test_a_hard_coded_answer_fails_every_graded_cell(lab, tmp_path):
    """The visible check sees the right number; the hidden checks at other points do not."""
    result = course.validate(with_answers_wrapped(lab, tmp_path, HARD_CODE))
    assert result.passed == []


def test_a_right_answer_that_makes_pytorch_warn_gets_full_marks(lab, tmp_path):
    result = course.validate(with_answers_wrapped(lab, tmp_path, WARN))
    assert result.failed == []
    assert result.passed == grade_ids(notebooks.read(lab.solution))


@pytest.mark.parametrize("attempt", ["x.grad (forgot to return)", "a wrong constant"])
def test_a_failing_check_tells_the_student_what_and_where(tmp_path, attempt):
    lab = course.labs()[0]
    answer = "    x = torch.tensor(x, requires_grad=True)\n    f(x).backward()\n"
    answer += "    x.grad\n" if attempt.startswith("x.grad") else "    return torch.tensor(5.0)\n"
    nb = notebooks.read(lab.solution)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") ==
               "ex1-answer"]
    cell.source = "def derivative(f, x):\n" + answer
    folder = tmp_path / lab.name
    shutil.copytree(lab.solution.parent, folder)
    notebooks.write(nb, folder / lab.solution.name)
    executed = course.validate(folder / lab.solution.name).executed
    (test_cell,) = [c for c in executed.cells if c.id == "ex1-test"]
    (err,) = errors(test_cell)
    assert err.ename == "WrongAnswer"
    assert "the derivative of 2x³ + x is not right at x = 1.0" in err.evalue
    assert "expected: 7.0" in err.evalue
    assert ("forget to `return`" if attempt.startswith("x.grad") else "you gave: 5.0") \
        in err.evalue
