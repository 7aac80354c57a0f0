"""A whole class graded end to end: right, blank and partly right submissions, every broken and
hostile case we know of, and every attack on the grader. Each student's score is asserted
exactly; every attack must score what a blank submission scores.

The class is made here from Lab 1's solution and student notebooks, in a copy of the course, and
graded once with `grading.grade.grade_class`, in the sandbox, as `make grade` would.
"""

from __future__ import annotations

import copy
import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from grader import course, grading
from grader.course import notebooks

pytestmark = [pytest.mark.slow, pytest.mark.root]

LAB = course.labs()[0]  # 01_derivatives: ex1 2 points, ex2 2, ex3 slope 1 + intercept 2
FULL = 7.0
TIMEOUT = 10  # seconds per cell, so the infinite loops end quickly

RIGHT = {
    "ex1-answer": "def derivative(f, x):\n    x = torch.tensor(x, requires_grad=True)\n"
                  "    f(x).backward()\n    return x.grad",
    "ex2-answer": "def dy_dx_by_hand(x):\n    return 4 * x**3 - 6 * x",
}


def solution():
    return notebooks.read(LAB.solution)


def blank():
    return notebooks.read(LAB.student)


def with_answers(nb, **answers):
    """`nb` with the source of the named answer cells replaced."""
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.replace("_", "-") in {k.replace("_", "-") for k in answers}:
            cell.source = answers[grade_id.replace("-", "_")]
    return nb


def prepend(nb, source: str):
    """`nb` with a cell of the student's own at the top."""
    nb.cells.insert(1, nbformat.v4.new_code_cell(source, id="student-extra"))
    return nb


def after(nb, cell_id: str, source: str):
    index = next(i for i, c in enumerate(nb.cells) if c.get("id") == cell_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source, id=f"student-{cell_id}"))
    return nb


def grade_cells_of(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def edit_tests(nb):
    for cell in grade_cells_of(nb):
        cell.source = "pass  # the student emptied this test"
    return nb


def delete_tests(nb):
    nb.cells = [c for c in nb.cells if c not in grade_cells_of(nb)]
    return nb


def duplicate_tests(nb):
    for cell in grade_cells_of(nb):
        twin = copy.deepcopy(cell)
        twin.id = cell.id + "-twin"
        nb.cells.insert(nb.cells.index(cell), twin)
    return nb


def move_tests_to_top(nb):
    tests = grade_cells_of(nb)
    nb.cells = tests + [c for c in nb.cells if c not in tests]
    return nb


def fake_outputs_and_metadata(nb):
    """Paste the solution's outputs into every cell and give the tests 100 points each."""
    graded = {c.id: c for c in notebooks.read(LAB.solution).cells}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.id in graded:
            cell.outputs = graded[cell.id].outputs
            cell.execution_count = 1
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata.nbgrader["points"] = 100
    nb.cells.append(nbformat.v4.new_code_cell("print('✓ all right')", id="fake-grade", metadata={
        "nbgrader": {"grade": True, "grade_id": "fake-grade", "locked": True, "points": 100,
                     "schema_version": 3, "solution": False, "task": False}}))
    return nb


ATTACKS = {
    # each runs in a cell of the student's, before the tests, with every answer left blank
    "redefines-assert-close": "import torch\ntorch.testing.assert_close = lambda *a, **k: None",
    "redefines-allclose": "import torch\ntorch.allclose = lambda *a, **k: True\n"
                          "torch.equal = lambda *a, **k: True",
    "redefines-abs-isinstance": "import builtins\nbuiltins.abs = lambda x: 0\n"
                                "builtins.isinstance = lambda *a: True",
    "redefines-grader-checks": "import grader.checks\n"
                               "grader.checks.check_function = lambda *a, **k: print('✓')\n"
                               "grader.checks.check_close = lambda *a, **k: None",
    "hides-tracebacks": "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                        "ip._showtraceback = lambda *a, **k: None",
    "exits-in-test": "def derivative(f, x):\n    raise SystemExit(0)\n"
                     "def dy_dx_by_hand(x):\n    raise KeyboardInterrupt()",
    "equals-everything": "class Anything(float):\n    def __eq__(self, other): return True\n"
                         "    __le__ = __ge__ = __lt__ = __gt__ = __eq__\n"
                         "    def __abs__(self): return 0.0\n"
                         "def derivative(f, x):\n    return Anything(7.0)\n"
                         "class Everything:\n    def __eq__(self, other): return True\n"
                         "def dy_dx_by_hand(x):\n    return Everything()",
    "tensor-subclass": "import torch\nclass Sly(torch.Tensor):\n"
                       "    def __eq__(self, other): return torch.tensor(True)\n"
                       "    def allclose(self, *a, **k): return True\n"
                       "def derivative(f, x):\n"
                       "    return torch.tensor(7.0).as_subclass(Sly)",
    "reads-the-solutions": "import glob\nsecret = [open(p).read() for p in "
                           "glob.glob('/**/solutions/**/*.ipynb', recursive=True)]\n"
                           "print(len(secret))",
}

BLANK_ANSWERS = {"ex1-answer", "ex2-answer", "ex3-answer"}
SOCKET_SWAP = """import json, os
info = json.load(open('kernel.json'))
for port in ('shell_port', 'control_port', 'iopub_port', 'hb_port'):
    path = f"{info['ip']}-{info[port]}"
    try:
        os.unlink(path)
        os.symlink('/run/elsewhere.sock', path)
        print('SWAPPED', port)
    except OSError as error:
        print('KEPT', port, type(error).__name__)"""


def make_class(root: Path) -> dict[str, tuple[float, str]]:
    """Write the class's submissions under root/submitted; return student -> (score, status)."""
    expected: dict[str, tuple[float, str]] = {}

    def put(student, nb=None, score=0.0, status="ok", name=LAB.student.name, text=None):
        folder = root / "submitted" / student / LAB.name
        folder.mkdir(parents=True)
        if text is not None:
            (folder / name).write_text(text)
        elif nb is not None:
            notebooks.write(nb, folder / name)
        expected[student] = (score, status)
        return folder

    put("right", solution(), FULL)
    put("blank", blank(), 0.0)
    put("ex1-only", with_answers(blank(), ex1_answer=RIGHT["ex1-answer"]), 2.0)
    put("ex1-ex2", with_answers(blank(), **{k.replace("-", "_"): v for k, v in RIGHT.items()}),
        4.0)
    put("off-by-constant", with_answers(solution(), ex2_answer="def dy_dx_by_hand(x):\n"
                                        "    return 4 * x**3 - 6 * x + 1"), 5.0)
    put("slope-but-not-intercept", with_answers(solution(), ex3_answer=(
        "def tangent_line(f, x0):\n    x = torch.tensor(x0, requires_grad=True)\n"
        "    f(x).backward()\n    return x.grad, torch.tensor(0.0)")), 5.0)
    put("hard-coded", with_answers(blank(), ex1_answer="def derivative(f, x):\n"
                                   "    return torch.tensor(7.0)",
                                   ex2_answer="def dy_dx_by_hand(x):\n    return 20.0"), 0.0)
    # broken files
    put("not-json", text="this is not a notebook", status="not valid JSON")
    put("truncated-json", text=nbformat.writes(solution())[:5000], status="not valid JSON")
    put("json-not-notebook", text='{"hello": "world"}', status="not a notebook")
    put("old-nbformat", text=nbformat.writes(nbformat.convert(solution(), 3)), score=FULL)
    put("wrong-file-name", solution(), FULL, status="graded derivatives (1).ipynb as",
        name="derivatives (1).ipynb")
    put("missing-notebook", status="no notebook submitted")
    extra = put("extra-files", solution(), FULL, status="extra files ignored")
    (extra / "notes.txt").write_text("my notes")
    # test cells tampered with: they come back from the source
    put("edited-tests", edit_tests(blank()), 0.0)
    put("edited-tests-right", edit_tests(solution()), FULL)
    put("deleted-tests", delete_tests(solution()), FULL)
    put("deleted-tests-blank", delete_tests(blank()), 0.0)
    put("duplicated-tests", duplicate_tests(solution()), FULL)
    put("moved-tests", move_tests_to_top(solution()), FULL)
    put("fake-outputs-and-metadata", fake_outputs_and_metadata(blank()), 0.0)
    # runaway code: limited, reported, the rest still counts
    put("infinite-loop-outside-answers", after(solution(), "imports", "while True:\n    pass"),
        FULL, status="ran for more than")
    put("infinite-loop-in-ex1", with_answers(solution(), ex1_answer=(
        "def derivative(f, x):\n    while True:\n        pass")), FULL - 2,
        status="did not finish within")
    put("kernel-exits-after-ex1", after(solution(), "ex1-test", "import os\nos._exit(1)"), 2.0,
        status="kernel died")
    put("segfault-after-ex2", after(solution(), "ex2-test",
                                    "import ctypes\nctypes.string_at(0)"), 4.0,
        status="kernel died")
    # (on a busy machine the refused allocation can also meet the time limit: status not asserted)
    put("memory-hog", after(solution(), "imports", "hog = bytearray(40 * 2**30)"), FULL,
        status=None)
    put("output-flood", after(solution(), "imports", "for i in range(10**5):\n    print(i)"),
        FULL, status="output cut")
    # the kernel's sockets swapped for links: once, the grader (root) connected where they led
    put("socket-swap", after(solution(), "imports", SOCKET_SWAP), FULL)
    # 40 outputs sharing a display id, then one 5 MB update of them all: once 200 MB
    put("display-update-flood", after(solution(), "imports", (
        "from IPython.display import display, update_display\nfor i in range(40):\n"
        "    display('.', display_id='d')\nupdate_display('z' * 5_000_000, display_id='d')")),
        FULL, status="output cut")
    put("warns-on-stderr", with_answers(solution(), ex1_answer=(
        "def derivative(f, x):\n    x = torch.tensor(x, requires_grad=True)\n"
        "    y = f(x)\n    y.backward()\n    y.grad  # a non-leaf's .grad: a warning\n"
        "    import sys\n    print('a note on stderr', file=sys.stderr)\n    return x.grad")),
        FULL)
    for name, attack in ATTACKS.items():  # what an attack's status says depends on the attack
        put(f"attack-{name}", prepend(blank(), attack), 0.0, status=None)
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    for name in ("solutions", "notebooks"):  # Lab 1 only: no other lab's cells to record
        shutil.copytree(course.ROOT / name / LAB.name, root / name / LAB.name)
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    expected = make_class(root)
    outcomes = grading.grade.grade_class(root, sandbox=SANDBOX, progress=False, timeout=TIMEOUT)
    return root, expected, {o.student: o for o in outcomes}


SANDBOX = True


def test_the_class_is_big_enough(graded):
    _, expected, outcomes = graded
    assert len(expected) >= 30
    assert set(outcomes) == set(expected)


def test_every_student_gets_exactly_the_expected_score(graded):
    _, expected, outcomes = graded
    wrong = {s: (outcomes[s].score, want) for s, (want, _) in expected.items()
             if outcomes[s].score != want}
    assert not wrong, f"student: (score, expected): {wrong}"
    assert all(o.max_score == FULL for o in outcomes.values())


def test_every_student_gets_a_status_that_says_what_happened(graded):
    _, expected, outcomes = graded
    for student, (_, status) in expected.items():
        if status is not None:
            assert status in outcomes[student].status, (student, outcomes[student].status)


def test_every_attack_scores_what_a_blank_scores(graded):
    _, _, outcomes = graded
    blank_score = outcomes["blank"].score
    for name in ATTACKS:
        assert outcomes[f"attack-{name}"].score == blank_score, name


def test_grades_csv_has_nbgraders_export_columns_and_every_student(graded):
    root, expected, _ = graded
    with (root / "grades.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["assignment", "duedate", "timestamp", "student_id", "last_name",
                             "first_name", "email", "raw_score", "late_submission_penalty",
                             "score", "max_score"]
    lab_rows = {r["student_id"]: float(r["score"]) for r in rows if r["assignment"] == LAB.name}
    assert lab_rows == {s: score for s, (score, _) in expected.items()}


def test_the_students_files_are_left_as_they_were(graded):
    root, _, _ = graded
    assert (root / "submitted" / "not-json" / LAB.name / LAB.student.name).read_text() == \
        "this is not a notebook"


def test_a_flood_of_output_leaves_a_small_graded_notebook(graded):
    root, _, _ = graded
    for student in ("output-flood", "display-update-flood"):
        path = root / "autograded" / student / LAB.name / LAB.student.name
        assert path.stat().st_size < 1_000_000, (student, path.stat().st_size)


def test_the_kernels_sockets_cannot_be_swapped_by_the_students_code(graded):
    """They are made before any student code runs, in a folder that is root's from then on."""
    root, _, outcomes = graded
    path = root / "autograded" / "socket-swap" / LAB.name / LAB.student.name
    text = path.read_text(encoding="utf-8")
    for port in ("shell_port", "control_port", "iopub_port", "hb_port"):
        assert f"KEPT {port} PermissionError" in text and f"SWAPPED {port}" not in text, port
    assert (outcomes["socket-swap"].score, outcomes["socket-swap"].status) == (FULL, "ok")
