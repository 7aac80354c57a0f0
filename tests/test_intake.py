"""The client's batched intake (grading/intake.py) writes the gradebook nbgrader's own
SaveAutoGrades and AssignLatePenalties write, and PostgreSQL holds the same grades as SQLite.

The results are real: hw1 (tests/assignments/, two notebooks, a manually graded code answer
and a markdown one), with a task cell added, graded once in this process (no sandbox) as the
solution and as the blank release, then handed out under the names of several students, as a
cluster would send them back. Each gradebook is compared row by row: every student, submission
(its timestamp), submitted notebook (its late penalty), grade (auto score, manual score,
needs_manual_grade) and comment, each named by what it belongs to rather than by its id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from unittest import mock

import pytest

from grader import course, grading
from grader.grading import intake, parallel
from grader.grading.outcomes import Ledger
from tests import postgres_server

pytestmark = pytest.mark.slow

HW1 = Path(__file__).parent / "assignments" / "hw1"
DUE = "2024-01-10 12:00:00.000000 UTC"
LATE = "2024-01-12 08:30:00.000000 UTC"  # 44.5 hours after the due date
EARLY = "2024-01-09 08:30:00.000000 UTC"
TASK = {"cell_type": "markdown", "id": "task-cell", "source": "Explain your plot in a sentence.",
        "metadata": {"nbgrader": {"task": True, "grade": False, "solution": False,
                                  "locked": True, "points": 2, "grade_id": "task-plot",
                                  "schema_version": 3}}}
# student -> (what they submitted, its timestamp.txt, the notebooks whose results come back)
CLASS = {
    "ada": ("solution", LATE, ("statistics.ipynb", "files.ipynb")),
    "bo": ("blank", EARLY, ("statistics.ipynb", "files.ipynb")),
    "cy": ("solution", None, ("statistics.ipynb", "files.ipynb")),
    "dee": ("blank", LATE, ("statistics.ipynb",)),  # files.ipynb still being graded
}


@pytest.fixture(scope="module")
def hw1(tmp_path_factory) -> tuple[Path, dict]:
    """A course of hw1 (with a task cell), released, with no student yet; and each notebook
    graded for real as the solution and as the blank release: {(notebook, kind): Graded}."""
    root = tmp_path_factory.mktemp("hw1") / "course"
    root.mkdir()
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    shutil.copytree(HW1, root / "solutions" / "hw1")
    statistics = root / "solutions" / "hw1" / "statistics.ipynb"
    nb = json.loads(statistics.read_text())
    nb["cells"].append(TASK)
    statistics.write_text(json.dumps(nb, indent=1))
    grading.gradebook.release(root)
    files = grading.gradebook.course_bundle(root)
    graded = {}
    for name in ("statistics.ipynb", "files.ipynb"):
        for kind, folder in (("solution", HW1), ("blank", root / "notebooks" / "hw1")):
            task = parallel.Task("template", "hw1", name, (folder / name).read_text())
            graded[name, kind] = parallel.grade_task(files, task, sandbox=False, timeout=None)
            assert graded[name, kind].ok, graded[name, kind].error
    return root, graded


def a_copy(hw1, dest: Path, db_url: str | None = None) -> Path:
    """The course again, its class submitted (as CLASS says), the due date set, late
    submissions given nbgrader's 'zero' penalty, the gradebook at db_url if given."""
    template, _ = hw1
    shutil.copytree(template, dest)
    config = ['c.LateSubmissionPlugin.penalty_method = "zero"']
    if db_url:
        config.append(f"c.CourseDirectory.db_url = {db_url!r}")
        (dest / "gradebook.db").unlink()
    with (dest / "nbgrader_config.py").open("a") as file:
        file.write("\n" + "\n".join(config) + "\n")
    grading.gradebook.ensure_gradebook(dest)
    grading.gradebook.course_bundle(dest)
    from nbgrader.api import Gradebook

    with Gradebook(grading.configuration.db_url(dest)) as gb:
        gb.update_or_create_assignment("hw1", duedate=DUE)
    for student, (kind, timestamp, _) in CLASS.items():
        folder = dest / "submitted" / student / "hw1"
        shutil.copytree(HW1 if kind == "solution" else dest / "notebooks" / "hw1", folder)
        if timestamp:
            (folder / "timestamp.txt").write_text(timestamp)
    return dest


def results(root: Path, graded: dict) -> list[tuple]:
    """(Staged, Graded) for every notebook of CLASS that comes back, as a cluster sends them."""
    labs = {lab.student.name: lab for lab in course.labs(root)}
    back = []
    for student, (kind, _, names) in CLASS.items():
        for name in names:
            staged = grading.submissions.stage_safely(root / "submitted" / student / "hw1",
                                                      labs[name])
            back.append((staged, dataclasses.replace(graded[name, kind], student=student)))
    return back


def config(root: Path):
    return grading.configuration.config(root, sandbox=False)


def rows(url: str) -> dict[str, list]:
    """Every row a grading writes, each named by what it belongs to (ids differ between two
    gradebooks): students, submissions, submitted notebooks, grades and comments, read through
    nbgrader's own tables (so a date is a date, whatever the database)."""
    from nbgrader import api
    from sqlalchemy import create_engine, select

    student, assignment = api.Student.__table__, api.Assignment.__table__
    submission, notebook = api.SubmittedAssignment.__table__, api.Notebook.__table__
    submitted, cell = api.SubmittedNotebook.__table__, api.BaseCell.__table__
    grade, comment = api.Grade.__table__, api.Comment.__table__

    def of_notebook(table, *columns):
        return select(submission.c.student_id, notebook.c.name, *columns) \
            .join_from(table, submitted, submitted.c.id == table.c.notebook_id) \
            .join(submission, submission.c.id == submitted.c.assignment_id) \
            .join(notebook, notebook.c.id == submitted.c.notebook_id) \
            .join(cell, cell.c.id == table.c.cell_id)

    queries = {
        "student": select(student.c.id, student.c.first_name, student.c.last_name,
                          student.c.email, student.c.lms_user_id),
        "submission": select(submission.c.student_id, assignment.c.name, submission.c.timestamp,
                             submission.c.extension)
        .join_from(submission, assignment, assignment.c.id == submission.c.assignment_id),
        "notebook": select(submission.c.student_id, notebook.c.name, submitted.c.flagged,
                           submitted.c.late_submission_penalty)
        .join_from(submitted, submission, submission.c.id == submitted.c.assignment_id)
        .join(notebook, notebook.c.id == submitted.c.notebook_id),
        "grade": of_notebook(grade, cell.c.name, cell.c.type, grade.c.auto_score,
                             grade.c.manual_score, grade.c.extra_credit,
                             grade.c.needs_manual_grade),
        "comment": of_notebook(comment, cell.c.name, cell.c.type, comment.c.auto_comment,
                               comment.c.manual_comment),
    }
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {name: sorted((tuple(row) for row in connection.execute(query)), key=repr)
                    for name, query in queries.items()}
    finally:
        engine.dispose()


def every_answer(graded: dict) -> dict[tuple[str, str], parallel.Graded]:
    """A result for every notebook CLASS submitted: what a cluster sends grade_class."""
    return {(student, name): dataclasses.replace(graded[name, kind], student=student)
            for student, (kind, _, _) in CLASS.items()
            for name in ("statistics.ipynb", "files.ipynb")}


def answering_at_once(answers: dict):
    """A stand-in for parallel.run: every task's result, at once."""
    def run(files, tasks, **options):
        for task in tasks:
            yield answers[task.student, task.notebook]
    return run


def url_of(root: Path) -> str:
    return grading.configuration.db_url(root)


def set_manual_scores(root: Path) -> None:
    """A person grades ada's markdown answer and overrides bo's first test, in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(url_of(root)) as gb:
        gb.find_grade("explain", "statistics", "hw1", "ada").manual_score = 0.5
        gb.find_grade("summarize-test", "statistics", "hw1", "bo").manual_score = 1.0
        gb.db.commit()


def test_a_batch_writes_every_row_nbgraders_preprocessors_write(hw1, tmp_path):
    """The same results saved by nbgrader's SaveAutoGrades and AssignLatePenalties one at a
    time and by one batch: the same rows, and the same outcomes. Then a person's scores are
    set in both and the same results saved again (a regrade): the same rows again, with the
    manual scores kept and marked for review."""
    _, graded = hw1
    nbgrader, batched = a_copy(hw1, tmp_path / "nbgrader"), a_copy(hw1, tmp_path / "batched")
    for regrade in (False, True):
        if regrade:
            set_manual_scores(nbgrader)
            set_manual_scores(batched)
        theirs = intake.save(nbgrader, results(nbgrader, graded), config(nbgrader),
                             by_nbgrader=True)
        ours = intake.save(batched, results(batched, graded), config(batched))
        assert [(o.student, o.notebook, o.score, o.max_score, o.status) for o in ours] == \
            [(o.student, o.notebook, o.score, o.max_score, o.status) for o in theirs]
        expected, found = rows(url_of(nbgrader)), rows(url_of(batched))
        assert found == expected
    assert {o.status for o in ours} == {"ok"}
    by_name = {(r[0], r[2]): r for r in found["grade"]}
    assert by_name["ada", "explain"][5:] == (0.5, None, True)  # the manual score kept
    assert by_name["bo", "summarize-test"][4:] == (0.0, 1.0, None, True)
    assert by_name["cy", "summarize-test"][4:] == (2.0, None, None, False)  # its 2 points
    assert by_name["ada", "task-plot"][4:] == (None, None, None, True)  # a task: for a person
    comments = {(r[0], r[2]): r[4] for r in found["comment"]}
    assert comments["bo", "summarize"] == "No response." and comments["cy", "summarize"] is None
    penalties = {(r[0], r[1]): r[3] for r in found["notebook"]}
    scores = {(o.student, Path(o.notebook).stem): o.score for o in ours}
    assert penalties["ada", "statistics"] == scores["ada", "statistics"] > 0  # late: zero
    assert penalties["cy", "statistics"] is None and penalties["bo", "statistics"] is None
    assert penalties["dee", "files"] is None  # not graded yet: nbgrader's defaults
    assert {(r[0], str(r[2])) for r in found["submission"]} >= {("ada", "2024-01-12 08:30:00")}


def test_a_result_that_cannot_be_saved_is_a_grader_error_and_leaves_no_row(hw1, tmp_path):
    """One result of a batch names a grade cell the gradebook does not know, another is a
    worker's fault: both are grader errors (a log says why), the rest of the batch is saved
    as if they were not in it, and nothing of theirs is in the gradebook."""
    _, graded = hw1
    alone, batched = a_copy(hw1, tmp_path / "alone"), a_copy(hw1, tmp_path / "batched")
    intake.save(alone, results(alone, graded), config(alone))
    back = results(batched, graded)
    forged = json.loads(back[0][1].graded)
    cell = next(c for c in forged["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
    cell["metadata"]["nbgrader"]["grade_id"] = "not-in-the-gradebook"
    staged = grading.submissions.stage_safely(batched / "submitted" / "bo" / "hw1",
                                              back[0][0].lab)
    stranger = dataclasses.replace(staged, student="zed")
    lost = parallel.Graded("eve", "hw1", "statistics.ipynb", False, error="the worker died")
    faults = [(stranger, dataclasses.replace(back[0][1], student="zed",
                                             graded=json.dumps(forged))),
              (dataclasses.replace(staged, student="eve"), lost)]
    outcomes = intake.save(batched, faults[:1] + back + faults[1:], config(batched))
    assert [o.is_fault for o in outcomes] == [True] + [False] * len(back) + [True]
    assert "MissingEntry" in outcomes[0].status and "the worker died" in outcomes[-1].status
    log, = (batched / "build" / "grader-errors").glob("zed__*")
    assert "not-in-the-gradebook" in log.read_text()
    assert rows(url_of(batched)) == rows(url_of(alone))
    assert not (batched / "autograded" / "zed").exists()


def test_grade_class_records_in_the_ledger_only_what_the_gradebook_committed(hw1, tmp_path):
    """grade_class takes a burst of results in batches. When the gradebook refuses what holds
    bo's results, that batch is undone and saved result by result: bo's are grader errors, in
    neither the gradebook nor the ledger (the next run grades them again); the rest of the
    class is in both."""
    _, graded = hw1
    root = a_copy(hw1, tmp_path / "course")
    real, batches = intake._write, []

    def refusing_bo(url, batch, cfg):
        batches.append(len(batch))
        if any(result.staged.student == "bo" for result in batch):
            raise RuntimeError("the database refused bo")
        return real(url, batch, cfg)

    with mock.patch.object(parallel, "run", answering_at_once(every_answer(graded))), \
            mock.patch.object(grading.grade, "BATCH", 3), \
            mock.patch.object(intake, "_write", refusing_bo):
        outcomes = grading.grade.grade_class(root, sandbox=False, progress=False)
    assert batches[0] == 3 and len(batches) > 3
    faults = {(o.student, o.notebook) for o in outcomes if o.is_fault}
    assert faults == {("bo", "statistics.ipynb"), ("bo", "files.ipynb")}
    assert all("the database refused bo" in o.status for o in outcomes if o.is_fault)
    ledger = Ledger(root / "build" / "graded.jsonl")
    assert set(ledger.done) == {(o.student, "hw1", o.notebook) for o in outcomes
                                if not o.is_fault}
    assert {r[0] for r in rows(url_of(root))["submission"]} == {"ada", "cy", "dee"}


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of the test's own (tests/postgres_server.py), for this module."""
    problem = postgres_server.missing()
    if problem:
        if os.environ.get("TEST_TIER") == "fast":
            pytest.skip(problem)
        pytest.fail(problem, pytrace=False)
    with postgres_server.running() as server:
        yield server


def test_postgresql_and_sqlite_hold_the_same_grades(hw1, tmp_path, postgres):
    """The same class graded by grade_class (its results coming back at once, as from a
    cluster) into SQLite and into PostgreSQL: the same grades.csv, row for row the same
    gradebook."""
    _, graded = hw1
    sqlite = a_copy(hw1, tmp_path / "sqlite")
    pg = a_copy(hw1, tmp_path / "postgresql", postgres.database("hw1"))
    assert url_of(pg).startswith("postgresql+psycopg2://")
    for root in (sqlite, pg):
        with mock.patch.object(parallel, "run", answering_at_once(every_answer(graded))):
            outcomes = grading.grade.grade_class(root, sandbox=False, progress=False)
        assert {o.status for o in outcomes} == {"ok"}
    csv = (sqlite / "grades.csv").read_text()
    assert (pg / "grades.csv").read_text() == csv
    assert csv.count("\n") == 1 + len(CLASS) and ",ada,," in csv
    assert rows(url_of(pg)) == rows(url_of(sqlite))
