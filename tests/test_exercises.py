"""Every exercise is passed only with the skill it names.

For each exercise of each lab, tests/cheats/<lab>.py lists the answers a student might try
instead of the skill: the hand formula where autograd is asked for, finite differences, a call
into the grader's references, the visible example hard-coded. Each must fail every check of its
exercise (0 points for it), in the instant check a student runs in JupyterLab: the lab's
solution runs in a kernel of its own, and before each real answer, every cheat for that
exercise is run in its place, followed by the exercise's test cells (hidden tests included).
(When a lab is graded, the grader's modules are not in the student's kernel at all:
tests/test_sandbox.py checks that.)
"""

from __future__ import annotations

import importlib.util
import queue

import pytest
from jupyter_client.manager import start_new_kernel

from grader import course
from grader.course import notebooks
from tests.test_sandbox import run

LABS = [lab for lab in course.labs() if lab.is_course_lab]
CELL_TIMEOUT = 120


def cheats_for(lab) -> dict[str, dict[str, str]]:
    """answer cell id -> {cheat's name: its source}, from tests/cheats/<lab>.py."""
    path = course.ROOT / "tests" / "cheats" / f"{lab.name}.py"
    spec = importlib.util.spec_from_file_location(f"cheats_{lab.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CHEATS


def exercises(nb) -> dict[str, list]:
    """answer cell id -> the grade cells that check it (those up to the next answer cell)."""
    found, current = {}, None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            current = cell.id
            found[current] = []
        elif meta.get("grade") and cell.cell_type == "code" and current is not None:
            found[current].append(cell)
    return {answer: tests for answer, tests in found.items() if tests}


class Kernel:
    """A kernel running one lab, cell by cell, as a student's JupyterLab would."""

    def __init__(self, cwd):
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd))

    def run(self, source: str) -> tuple[str, str]:
        """(status, what the cell printed and raised); a cell that runs past CELL_TIMEOUT
        counts as failed, as a graded cell that times out scores nothing."""
        try:
            result = run(self.kc, source, CELL_TIMEOUT)
        except (TimeoutError, queue.Empty):
            return "timeout", ""
        return result["status"], result["out"] + (result["error"] or "")

    def stop(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_every_cheat_fails_every_check_of_its_exercise(lab):
    nb = notebooks.read(lab.solution)
    checked, cheats = exercises(nb), cheats_for(lab)
    assert set(cheats) == set(checked), "every exercise has its cheats listed, and no other"
    kernel = Kernel(lab.solution.parent)
    passed = []
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for name, source in cheats.get(cell.id, {}).items():
                status, printed = kernel.run(source)
                assert status == "ok", f"{cell.id}, cheat {name!r} does not even run:\n{printed}"
                for test in checked[cell.id]:
                    status, printed = kernel.run(test.source)
                    if status == "ok":
                        passed.append(f"{cell.id}: {name!r} passes {test.id}:\n{printed}")
            kernel.run(cell.source)  # the lab's own cell (nbval checks what it gives)
    finally:
        kernel.stop()
    assert not passed, "\n\n".join(passed)


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_every_exercise_has_cheats_of_the_kinds_that_apply(lab):
    """At least two cheats per exercise, one of which calls the grader's references."""
    for answer, listed in cheats_for(lab).items():
        assert len(listed) >= 2, f"{lab.name} {answer}: {sorted(listed)}"
        assert any("grader" in source for source in listed.values()), f"{lab.name} {answer}"


# When graded: the same rules, through the judge and the sandboxed kernel -----------------------

SKILL_SOLUTION = [  # (cell id, nbgrader's flags, source)
    ("answer", {"solution": True, "grade": False, "locked": False},
     "import torch\n\n\ndef derivative(f, x):\n    ### BEGIN SOLUTION\n"
     "    x = torch.tensor(x, requires_grad=True)\n    f(x).backward()\n    return x.grad\n"
     "    ### END SOLUTION\n"),
    ("test", {"solution": False, "grade": True, "locked": True, "points": 2},
     "from grader import checks, reference\n\n"
     "hidden = lambda x: torch.exp(torch.sin(x))  # noqa: E731\n"
     "checks.check_function('the derivative', lambda x: derivative(checks.only_at(hidden, x), x),"
     " reference.derivative(hidden), [0.3, 1.7])\n"),
    ("progress", {}, "import grader\n\ngrader.progress()\n"),
]
SKILL_ANSWERS = {
    "autograd": None,  # the solution's own answer
    "finite-differences": "import torch\n\n\ndef derivative(f, x, h=1e-6):\n"
                          "    x = torch.tensor(x, dtype=torch.float64)\n"
                          "    return (f(x + h) - f(x - h)) / (2 * h)\n",
    "reference": "from grader import reference\n\n\ndef derivative(f, x):\n"
                 "    return reference.derivative(f)(x)\n",
    "checks": "from grader import checks\n\n\ndef derivative(f, x):\n"
              "    return checks.reference\n",
}


def skill_course(root):
    """An assignment of one exercise, `derivative(f, x)`, and a submission of each kind."""
    import shutil

    import nbformat

    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": notebooks.KERNELSPEC})
    for cell_id, flags, source in SKILL_SOLUTION:
        cell = nbformat.v4.new_code_cell(source, id=cell_id)
        if flags:
            cell.metadata["nbgrader"] = {"grade_id": cell_id, "schema_version": 3, **flags}
        nb.cells.append(cell)
    (root / "solutions" / "skill").mkdir(parents=True)
    notebooks.write(nb, root / "solutions" / "skill" / "skill.ipynb")
    (root / "build").mkdir()
    course.generate_student_versions(root / "notebooks", f"sqlite:///{root}/build/release.db",
                                     root)
    for student, answer in SKILL_ANSWERS.items():
        submission = notebooks.read(root / "solutions" / "skill" / "skill.ipynb")
        if answer is not None:
            submission.cells[0].source = answer
        folder = root / "submitted" / student / "skill"
        folder.mkdir(parents=True)
        notebooks.write(submission, folder / "skill.ipynb")


@pytest.mark.root
@pytest.mark.slow
def test_graded_only_autograd_scores_and_the_grader_is_not_there_to_import(tmp_path):
    from grader import grading
    from grader.grading import sandbox

    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    skill_course(tmp_path)
    outcomes = grading.grade.grade_class(tmp_path, sandbox=True, progress=False, workers=0)
    assert {o.student: o.score for o in outcomes} == {
        "autograd": 2.0, "finite-differences": 0.0, "reference": 0.0, "checks": 0.0}

    def printed(student):
        nb = notebooks.read(tmp_path / "autograded" / student / "skill" / "skill.ipynb")
        return "\n".join(o.get("text", "") + o.get("evalue", "") + "".join(o.get("traceback", []))
                         for c in nb.cells for o in c.get("outputs", []))

    assert "may be evaluated only at the point" in printed("finite-differences")
    for module in ("reference", "checks"):
        assert f"grader.{module} is the grader's own, and it is not there while a lab is graded" \
            in printed(module)
    assert "This lab is being graded" in printed("autograd")
