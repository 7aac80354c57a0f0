"""Forged replies from the student's kernel earn nothing: the judge decides from numbers, and a
number's own digits, never from a verdict or a label the kernel sends.

- Lab 2: a gradient computed in float32, then made float64, so that the kernel reports the
  dtype asked for (a submission could as well patch the kernel's reply to say so): once it
  earned the dtype point;
- Lab 5: both custom Functions left as stubs, and the grader's module patched in the student's
  own kernel (they can: it is their kernel) so that every reply that would say "not written
  yet" says True instead: once `gradcheck_passes` sent its verdict from the kernel.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from grader import course, grading
from grader.course import notebooks
from grader.grading import sandbox

pytestmark = [pytest.mark.slow, pytest.mark.root]

LAB2, LAB5 = (next(lab for lab in course.labs() if lab.name.startswith(prefix))
              for prefix in ("02", "05"))

FLOAT32_GRADIENT = '''def gradient(f, point):
    """The gradient, computed in float32, given back in the point's dtype."""
    leaf = point.detach().to(torch.float32).requires_grad_(True)
    (grad_at_point,) = torch.autograd.grad(f(leaf), leaf)
    return grad_at_point.to(point.dtype)
'''

SAY_TRUE = '''import json

import grader.kernel_side as kernel_side

_call = kernel_side.call


def call(request, namespace):
    answer = _call(request, namespace)
    if '"error"' in answer.text:
        return kernel_side.Answer(json.dumps({"ok": {"t": "bool", "v": True}, "warnings": []}))
    return answer


kernel_side.call = call
'''


def submission(lab, answers: dict[str, str], patch: str = ""):
    """The lab's solution with some answers replaced, and `patch` (if any) in a cell of the
    student's own right after the imports."""
    nb = notebooks.read(lab.solution)
    released = {c.id: c.source for c in notebooks.read(lab.student).cells}
    for cell in nb.cells:
        if cell.get("id") in answers:
            cell.source = answers[cell.id] if answers[cell.id] != "stub" else released[cell.id]
    index = next(i for i, c in enumerate(nb.cells) if c.get("id") == "imports")
    if patch:
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(patch, id="students-own-cell"))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    root = tmp_path_factory.mktemp("forgery")
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    for lab in (LAB2, LAB5):
        for kind in ("solutions", "notebooks"):
            shutil.copytree(course.ROOT / kind / lab.name, root / kind / lab.name)
    stubs = {c.id: "stub" for c in notebooks.read(LAB5.student).cells
             if c.get("id") in ("ex1-answer", "ex3-answer")}
    for student, lab, nb in (
            ("float32-inside", LAB2, submission(LAB2, {"ex3-answer": FLOAT32_GRADIENT})),
            ("says-true", LAB5, submission(LAB5, stubs, SAY_TRUE))):
        folder = root / "submitted" / student / lab.name
        folder.mkdir(parents=True)
        notebooks.write(nb, folder / lab.student.name)
    return {o.student: o for o in grading.grade.grade_class(root, sandbox=True, progress=False)}


def test_a_gradient_computed_in_float32_loses_the_dtype_point(graded):
    """7 points in Lab 2: everything right but the dtype, which only the digits show."""
    assert (graded["float32-inside"].score, graded["float32-inside"].status) == (6.0, "ok")


def test_stubs_whose_errors_are_turned_into_true_earn_only_the_honest_exercise(graded):
    """7 points in Lab 5: exercise 2 (numerical_gradient, 2 points) is answered; the two
    Functions are stubs, and every True the kernel sends in their place counts for nothing."""
    assert (graded["says-true"].score, graded["says-true"].status) == (2.0, "ok")
