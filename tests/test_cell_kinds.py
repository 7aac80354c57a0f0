"""Where each kind of cell runs when a submission is graded.

Every cell a student can write (an answer, a manually graded code answer, a cell of their own)
runs only in the sandboxed kernel, as its uid of the moment; only the instructor's test cells,
whose source the grader restores, are run by the judge. And a test that passes without printing
anything gets its points, as in stock nbgrader (whose tests are plain `assert`s).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from grader import course, grading
from grader.course import notebooks
from grader.grading import sandbox
from tests.test_trust import FULL, LAB, make_course

PROBE = "import os\nprint('PROBE', {kind!r}, os.getuid())\n"


def _nbgrader_cell(source: str, grade_id: str, **flags) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, id=grade_id)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, "grade": False,
                                 "solution": False, "locked": False, **flags}
    return cell


def _after(nb: nbformat.NotebookNode, cell_id: str, *cells) -> None:
    index = next(i for i, c in enumerate(nb.cells) if c.get("id") == cell_id)
    nb.cells[index + 1:index + 1] = list(cells)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Lab 1 with a manually graded code answer and a silent test added, released by nbgrader,
    and one submission with a probe in every kind of cell a student writes, graded in the
    sandbox."""
    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    root = tmp_path_factory.mktemp("kinds")
    make_course(root, {})
    solution = root / "solutions" / LAB.name / LAB.solution.name
    nb = notebooks.read(solution)
    _after(nb, "ex3-intercept-test",
           _nbgrader_cell("### BEGIN SOLUTION\nexplained = True\n### END SOLUTION",
                          "manual-answer", grade=True, solution=True, points=1),
           _nbgrader_cell("assert 1 + 1 == 2", "silent-test", grade=True, locked=True,
                          points=1),
           _nbgrader_cell("assert open('written.txt').read() == 'by the student'",
                          "reads-a-written-file", grade=True, locked=True, points=1))
    notebooks.write(nb, solution)
    (root / "build").mkdir()
    course.generate_student_versions(root / "notebooks", f"sqlite:///{root}/build/release.db",
                                     root)
    submission = notebooks.read(root / "notebooks" / LAB.name / LAB.student.name)
    answers = {c.id: c.source for c in notebooks.read(LAB.solution).cells}
    for cell in submission.cells:
        if cell.get("id") in ("ex1-answer", "ex2-answer", "ex3-answer"):
            cell.source = PROBE.format(kind="answer") + answers[cell.id]
        elif cell.get("id") == "manual-answer":
            cell.source = PROBE.format(kind="manually graded answer") + \
                "open('written.txt', 'w').write('by the student')\n"
    _after(submission, "imports", nbformat.v4.new_code_cell(PROBE.format(kind="own cell"),
                                                             id="own-cell"))
    folder = root / "submitted" / "probe" / LAB.name
    folder.mkdir(parents=True)
    notebooks.write(submission, folder / LAB.student.name)
    outcome, = grading.grade.grade_class(root, sandbox=True, progress=False, workers=0)
    folder = root / "autograded" / "probe" / LAB.name
    return outcome, notebooks.read(folder / LAB.student.name), folder


@pytest.mark.root
@pytest.mark.slow
def test_every_cell_a_student_writes_runs_in_the_sandboxed_kernel(graded):
    _, nb, _ = graded
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    probes = re.findall(r"^PROBE (.+) (\d+)$", text, re.MULTILINE)
    assert sorted({kind for kind, _ in probes}) == ["answer", "manually graded answer",
                                                    "own cell"], text[-2000:]
    assert all(int(uid) in sandbox.KERNEL_UIDS for _, uid in probes), probes


@pytest.mark.root
@pytest.mark.slow
def test_a_test_that_passes_without_printing_gets_its_points(graded):
    outcome, nb, folder = graded
    silent = next(c for c in nb.cells if c.get("id") == "silent-test")
    assert silent.outputs == []
    # Lab 1's seven points, the silent test's one, and one for the test that reads a file the
    # student's code wrote (as in stock nbgrader, where both share a folder); the manually
    # graded answer waits for a person.
    assert (outcome.score, outcome.status) == (FULL + 2, "ok")
    assert (folder / "written.txt").read_text() == "by the student"
