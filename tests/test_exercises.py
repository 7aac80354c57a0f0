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

from grader import course, notebooks

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
        """(status, what the cell printed and raised)."""
        printed = []

        def keep(msg):
            content = msg["content"]
            if msg["msg_type"] == "stream":
                printed.append(content["text"])
            elif msg["msg_type"] == "error":
                printed.append(f"{content['ename']}: {content['evalue']}")

        try:
            reply = self.kc.execute_interactive(source, timeout=CELL_TIMEOUT, output_hook=keep)
        except (TimeoutError, queue.Empty):
            return "timeout", "".join(printed)
        return reply["content"]["status"], "".join(printed)

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
