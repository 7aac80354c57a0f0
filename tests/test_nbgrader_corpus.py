"""nbgrader's own autograde tests, graded by our grader: the scores stock `nbgrader autograde`
gets for them (asserted in nbgrader's tests/apps/test_nbgrader_autograde.py) are ours too.

The notebooks are nbgrader's, unchanged (tests/nbgrader_files/, with their origin and licence).
Their tests are plain `assert`s on a student's lists, a `try/except ValueError`, and a test that
deletes a student's function and restores it: what a judge outside the kernel must pass through.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from grader import course, grading
from grader.course import notebooks
from grader.grading import sandbox

FILES = Path(__file__).parent / "nbgrader_files"


def make_course(root: Path, sources: dict[str, str], submissions: dict[str, dict[str, str]],
                config: str = "") -> None:
    """Our course set-up around nbgrader's files, as nbgrader's tests set theirs up: assignment
    ps1 holds `sources` ({file name in ps1: file in nbgrader_files}), released by nbgrader;
    each student submits {file name: file in nbgrader_files, or "release" for the released
    notebook itself}. `config` is added to nbgrader_config.py."""
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    shutil.copy(FILES / "autotests.yml", root)  # what nbgrader's AUTOTEST lines expand to
    with (root / "nbgrader_config.py").open("a") as file:
        file.write(config)
    (root / "solutions" / "ps1").mkdir(parents=True)
    for name, source in sources.items():
        shutil.copy(FILES / source, root / "solutions" / "ps1" / name)
    (root / "build").mkdir()
    course.generate_student_versions(root / "notebooks", f"sqlite:///{root}/build/release.db",
                                     root)
    for student, files in submissions.items():
        folder = root / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        for name, source in files.items():
            released = root / "notebooks" / "ps1" / name
            shutil.copy(released if source == "release" else FILES / source, folder / name)


def outcomes(root: Path) -> list[grading.outcomes.Outcome]:
    return grading.grade.grade_class(root, sandbox=True, progress=False, workers=0)


def scores(root: Path) -> dict[str, tuple[float, float]]:
    """Each student's (score, max score); every submission must have been graded."""
    graded = outcomes(root)
    assert all(o.status == "ok" for o in graded), graded
    return {o.student: (o.score, o.max_score) for o in graded}


@pytest.fixture
def the_sandbox_works():
    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_showtraceback_exploit_and_grade(tmp_path):
    """nbgrader's test_grade and test_showtraceback_exploit: the unchanged notebook scores 1 of
    7, the answered one 2, and the two that hide errors by patching IPython 1 each."""
    make_course(tmp_path, {"p1.ipynb": "submitted-unchanged.ipynb"}, {
        student: {"p1.ipynb": f"{name}.ipynb"} for student, name in (
            ("foo", "submitted-unchanged"), ("bar", "submitted-changed"),
            ("spam", "submitted-cheat-attempt"), ("eggs", "submitted-cheat-attempt-alternative"))})
    assert scores(tmp_path) == {"foo": (1, 7), "bar": (2, 7), "spam": (1, 7), "eggs": (1, 7)}


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_hidden_tests_single_notebook(tmp_path):
    """Answers that pass the visible tests and fail the hidden ones: 1.5 of 3."""
    make_course(tmp_path, {"p1.ipynb": "test-hidden-tests.ipynb"}, {"foo": {"p1.ipynb": "release"}},
                config='\nc.ClearSolutions.code_stub = dict(python="# YOUR CODE HERE")\n')
    assert "BEGIN HIDDEN TESTS" not in \
        (tmp_path / "notebooks" / "ps1" / "p1.ipynb").read_text(encoding="utf-8")
    assert scores(tmp_path) == {"foo": (1.5, 3)}


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_grade_with_validating_envvar(tmp_path):
    """A test that fails when NBGRADER_EXECUTION is set, as nbgrader sets it when grading."""
    make_course(tmp_path, {"p1.ipynb": "validating-environment-variable.ipynb"},
                {"foo": {"p1.ipynb": "validating-environment-variable.ipynb"}})
    assert scores(tmp_path) == {"foo": (0, 1)}


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_a_notebook_opens_a_file_released_beside_it(tmp_path):
    """nbgrader's open_relative_file reads data.txt beside it: 10 of 10, and the released
    data file in the submission is no "extra file"."""
    make_course(tmp_path, {"p1.ipynb": "open_relative_file.ipynb", "data.txt": "data.txt"},
                {"foo": {"p1.ipynb": "open_relative_file.ipynb", "data.txt": "data.txt"}})
    assert (tmp_path / "notebooks" / "ps1" / "data.txt").is_file()
    assert scores(tmp_path) == {"foo": (10, 10)}


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_every_notebook_of_an_assignment_is_graded_and_a_missing_one_scores_zero(tmp_path):
    """nbgrader's test_grade_missing_notebook: ps1 has p1 and p2; foo submits only p1."""
    make_course(tmp_path, {"p1.ipynb": "submitted-unchanged.ipynb",
                           "p2.ipynb": "submitted-unchanged.ipynb"},
                {"foo": {"p1.ipynb": "submitted-changed.ipynb"},
                 "bar": {"p1.ipynb": "submitted-changed.ipynb",
                         "p2.ipynb": "submitted-changed.ipynb"}})
    graded = {(o.student, o.notebook): (o.score, o.max_score, o.status) for o in outcomes(tmp_path)}
    assert graded == {("foo", "p1.ipynb"): (2, 7, "ok"),
                      ("foo", "p2.ipynb"): (0, 7, "no p2.ipynb submitted: it scores 0"),
                      ("bar", "p1.ipynb"): (2, 7, "ok"), ("bar", "p2.ipynb"): (2, 7, "ok")}
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert {(r["student_id"], float(r["score"])) for r in rows} >= {("foo", 2.0), ("bar", 4.0)}


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_autotests_changed_cells_and_side_effects(tmp_path):
    """One assignment of six notebooks, graded at once (one kernel start, not six):
    - nbgrader's test_grade_autotest, test_grade_hashed_autotest, test_grade_complex_autotest
      and test_hidden_tests_autotest (tests that `AUTOTEST` lines became at release, some
      hashed, some hidden): their asserted scores;
    - a submission that changed a grade cell, one that changed a locked cell: the lab's cells
      are put back, so both score what the unchanged notebook scores (1 of 7; stock nbgrader
      gave the same, run beside ours while this test was written);
    - nbgrader's test_side_effects: a file the student's code writes is in autograded/, beside
      the graded notebook, and not in submitted/."""
    make_course(tmp_path, {
        "simple.ipynb": "autotest-simple.ipynb", "hashed.ipynb": "autotest-hashed.ipynb",
        "multi.ipynb": "autotest-multi.ipynb", "hidden.ipynb": "autotest-hidden.ipynb",
        "plain.ipynb": "submitted-unchanged.ipynb", "side.ipynb": "side-effects.ipynb"}, {
        "foo": {"simple.ipynb": "autotest-simple-unchanged.ipynb",
                "hashed.ipynb": "autotest-hashed-unchanged.ipynb",
                "multi.ipynb": "autotest-multi-unchanged.ipynb",
                "hidden.ipynb": "autotest-hidden-unchanged.ipynb",
                "plain.ipynb": "submitted-grade-cell-changed.ipynb",
                "side.ipynb": "side-effects.ipynb"},
        "bar": {"simple.ipynb": "autotest-simple-changed.ipynb",
                "hashed.ipynb": "autotest-hashed-changed.ipynb",
                "multi.ipynb": "autotest-multi-changed.ipynb",
                "hidden.ipynb": "autotest-hidden-changed-wrong.ipynb",
                "plain.ipynb": "submitted-locked-cell-changed.ipynb"},
        "baz": {"hidden.ipynb": "autotest-hidden-changed-right.ipynb"}},
        config='\nc.ClearSolutions.code_stub = dict(python="# YOUR CODE HERE")\n')
    graded = {(o.student, o.notebook.removesuffix(".ipynb")): (o.score, o.max_score)
              for o in outcomes(tmp_path) if o.status == "ok"}
    assert graded == {
        ("foo", "simple"): (0, 1), ("bar", "simple"): (1, 1),
        ("foo", "hashed"): (0, 1), ("bar", "hashed"): (1, 1),
        ("foo", "multi"): (0, 4), ("bar", "multi"): (3, 4),
        ("foo", "hidden"): (0, 1), ("bar", "hidden"): (0, 1), ("baz", "hidden"): (1, 1),
        ("foo", "plain"): (1, 7), ("bar", "plain"): (1, 7), ("foo", "side"): (0, 0)}
    for student in ("foo", "bar", "baz"):  # the hidden tests are back where they were run
        assert "BEGIN HIDDEN TESTS" in (tmp_path / "autograded" / student / "ps1" /
                                        "hidden.ipynb").read_text(encoding="utf-8")
    assert (tmp_path / "autograded" / "foo" / "ps1" / "side-effect.txt").read_text() == \
        "a side effect"
    assert not (tmp_path / "submitted" / "foo" / "ps1" / "side-effect.txt").exists()


@pytest.mark.parametrize(("setting", "cli", "expected"), [
    ("", None, 30),  # the course's own
    ("c.Execute.timeout = 120", None, 120),
    ("c.ExecutePreprocessor.timeout = 45.5", None, 46),
    ("c.Execute.timeout = None", None, 300),  # no limit: the notebook's budget is the only one
    ("c.Execute.timeout = 120", 10, 10),  # --timeout on the command line wins
])
def test_nbgraders_cell_timeout_is_the_judges(tmp_path, setting, cli, expected):
    shutil.copy(course.ROOT / "nbgrader_config.py", tmp_path)
    with (tmp_path / "nbgrader_config.py").open("a") as file:
        file.write(f"\n{setting}\n")
    cfg = grading.configuration.config(tmp_path, sandbox=True, timeout=cli)
    assert cfg.JudgedExecute.timeout == expected


def load_first_grading():
    from tests.test_bench import load_bench

    return load_bench("first_grading")


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_nbgraders_example_assignment_scores_as_stock_nbgrader_scores_it(tmp_path):
    """nbgrader's documented ps1 (two notebooks and an image), three submissions (the solution,
    the blank release, one answer that reimplements what it should reuse), released and graded
    by stock nbgrader and by ours, as `make bench` times it: every grade cell's score is the
    same, and nothing needed a person or went wrong."""
    bench = load_first_grading()
    first = bench.first_grading(tmp_path, students=3)
    assert first.problems == [] and first.notebooks == 6  # three students, two notebooks each
    assert (tmp_path / "ours" / "notebooks" / "ps1" / "jupyter.png").is_file()
    assert first.our_scores == first.stock_scores
    by_student = {s: sum(v for k, v in first.our_scores.items()
                         if k[0] == s and k[3] in AUTOGRADED)
                  for s in ("solution", "blank", "reimplements")}
    assert by_student == {"solution": 3.0, "blank": 0.0, "reimplements": 2.5}
    # 27 grade cells: 9 in the two notebooks (tests, manual answers), for each student
    assert bench.report(first)[-1] == "  grade cells with the same score: 27 of 27"


AUTOGRADED = {"correct_squares", "squares_invalid_input", "correct_sum_of_squares",
              "sum_of_squares_uses_squares"}


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
@pytest.mark.parametrize(("config", "expected"), [("", 1.0), ("\nc.Execute.timeout = 2\n", 0.0)])
def test_autograde_timeout(tmp_path, config, expected):
    """A test that calls a function sleeping 5 s passes within nbgrader's default limit, and
    fails within the 2 s an instructor sets with c.Execute.timeout."""
    make_course(tmp_path, {"p1.ipynb": "timeout.ipynb"}, {"foo": {"p1.ipynb": "timeout.ipynb"}},
                config=config)
    outcome, = outcomes(tmp_path)
    assert (outcome.score, outcome.max_score) == (expected, 1)
    assert outcome.status == ("ok" if expected else
                              "it did not finish within 2 s (cell correct_squares)")


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_infinite_loop(tmp_path):
    """An endless cell, with a 1 s limit: the notebook is graded, and its status says why."""
    make_course(tmp_path, {"p1.ipynb": "infinite-loop.ipynb"},
                {"foo": {"p1.ipynb": "infinite-loop.ipynb"}}, config="\nc.Execute.timeout = 1\n")
    outcome, = outcomes(tmp_path)
    assert not outcome.is_fault and "ran for more than 1 s" in outcome.status, outcome
    assert (tmp_path / "autograded" / "foo" / "ps1" / "p1.ipynb").is_file()


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_infinite_loop_with_output(tmp_path):
    """An endless cell that grows a list: nbgrader skips its own test of it ("takes too long
    and consumes a LOT of memory"). Ours stops the cell and grades the notebook."""
    make_course(tmp_path, {"p1.ipynb": "infinite-loop-with-output.ipynb"},
                {"foo": {"p1.ipynb": "infinite-loop-with-output.ipynb"}},
                config="\nc.Execute.timeout = 2\n")
    outcome, = outcomes(tmp_path)
    assert not outcome.is_fault and "ran for more than 2 s" in outcome.status, outcome
    assert (tmp_path / "autograded" / "foo" / "ps1" / "p1.ipynb").is_file()


@pytest.mark.slow
def test_a_courses_first_gradebook_knows_every_lab_and_no_student(tmp_path):
    """Made from the cells-only gradebook, on a course without build/ yet (as the bench has)."""
    from nbgrader.api import Gradebook

    shutil.copy(course.ROOT / "nbgrader_config.py", tmp_path)
    for kind in ("solutions", "notebooks"):
        shutil.copytree(course.ROOT / kind / "01_derivatives", tmp_path / kind / "01_derivatives")
    grading.gradebook.ensure_gradebook(tmp_path)
    with Gradebook(grading.configuration.db_url(tmp_path)) as gb:
        assert [n.name for n in gb.find_assignment("01_derivatives").notebooks] == ["derivatives"]
        assert gb.students == []


HW1 = Path(__file__).parent / "assignments" / "hw1"
# What the "partial" student got wrong, as (notebook, solution text, their text)
PARTIAL = [
    ("statistics.ipynb", '    if not values:\n        raise ValueError("no values")\n', ""),
    ("statistics.ipynb", "return self.total / self.count", "return self.total // self.count"),
    ("statistics.ipynb", "/ a.std()", "/ a.std(ddof=1)"),
    ("statistics.ipynb", "    global CALLS\n    CALLS += 1\n", ""),
    ("files.ipynb", 'int(row["score"])', 'row["score"]'),
]


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.usefixtures("the_sandbox_works")
def test_an_assignment_of_our_own_scores_as_stock_nbgrader_scores_it(tmp_path):
    """hw1 (tests/assignments/), written as instructors write for nbgrader: a dict, a class
    with a property, a lazy generator, a NumPy array, a lambda passed to the student's function,
    module state the student's function changes, a hidden test of a raised ValueError, a data
    file read beside the notebook, a student's function that writes a file the test reads, a
    manually graded code answer that draws, and a markdown answer. The solution, the blank
    release and a partly wrong submission, graded by stock nbgrader and by ours: every grade
    cell scores the same."""
    bench = load_first_grading()._bench()
    ours, stock = tmp_path / "ours", tmp_path / "stock"
    ours.mkdir()
    shutil.copy(course.ROOT / "nbgrader_config.py", ours)
    shutil.copytree(HW1, ours / "solutions" / "hw1")
    grading.gradebook.release(ours)
    for student, folder in (("solution", HW1), ("blank", ours / "notebooks" / "hw1"),
                            ("partial", HW1)):
        shutil.copytree(folder, ours / "submitted" / student / "hw1")
    for name, right, wrong in PARTIAL:
        path = ours / "submitted" / "partial" / "hw1" / name
        nb = notebooks.read(path)
        cell, = (c for c in nb.cells if right in c.source)
        cell.source = cell.source.replace(right, wrong)
        notebooks.write(nb, path)
    shutil.copytree(ours, stock, ignore=shutil.ignore_patterns("build", "gradebook.db"))
    graded = outcomes(ours)
    assert [o.status for o in graded] == ["ok"] * 6, graded
    bench.grade_stock(stock, ["hw1"])
    stock_scores, our_scores = bench.grade_cell_scores(stock), bench.grade_cell_scores(ours)
    assert our_scores == stock_scores
    autograded = {s: sum(v for k, v in our_scores.items() if k[0] == s and k[3].endswith("test"))
                  for s in ("solution", "blank", "partial")}
    # partial: summarize's hidden test, RunningMean, normalize, apply_twice and read_scores
    # fail; squares_below and save_report (whose file the test reads) pass.
    assert autograded == {"solution": 11.0, "blank": 0.0, "partial": 3.0}
    report = ours / "autograded" / "partial" / "hw1" / "report.txt"
    assert report.read_text() == "ada: 91\nbo: 70\n"
