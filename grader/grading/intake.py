"""Taking the workers' results into the gradebook: many at a time, in one transaction.

nbgrader's autograde saves a graded notebook with its SaveAutoGrades and AssignLatePenalties
preprocessors: each opens the gradebook anew and commits after every grade cell, so a notebook
costs four opens and a dozen commits (a disk sync each). One client saving a cluster's results
so took 5 notebooks a second into SQLite and 2 into PostgreSQL (bench/intake.py). `save`
writes the same rows for a batch of results with a few statements per table and one commit:

- the student, if new (Gradebook.update_or_create_student);
- the submission, if new, with a notebook row per notebook of the assignment, a grade row per
  grade and task cell and a comment row per solution and task cell, all as nbgrader's
  add_submission makes them; else its timestamp, if the submission has one
  (update_or_create_submission);
- each grade cell's auto score (nbgrader.utils.determine_grade) and needs_manual_grade (true
  when a person graded it before, or when there is no auto score), each solution or task
  cell's auto comment ("No response." for an unchanged solution cell), as SaveAutoGrades;
- the notebook's late penalty, reset, then given by the configured plugin when the submission
  is late, as AssignLatePenalties.

A manual score is never touched, so it survives a regrade. tests/test_intake.py saves the same
results both ways, with nbgrader's preprocessors and with this, and compares every row.

`save(..., by_nbgrader=True)` saves each result with nbgrader's own code instead, as grading
did before: the reference the test compares with, and the benchmark's "before".
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader import course
from grader.grading import parallel, upstream
from grader.grading.configuration import db_url
from grader.grading.gradebook import events_of, points_of, write_side_files
from grader.grading.outcomes import FAULT, Outcome
from grader.grading.submissions import Staged, timestamp_of

log = logging.getLogger("grader.intake")


@course.nbgrader_in_process()
def save(root: Path, results: list[tuple[Staged, parallel.Graded]], cfg, *,
         by_nbgrader: bool = False) -> list[Outcome]:
    """Each result into the gradebook and autograded/, all in one transaction; its outcome.

    If the batch cannot be saved, nothing of it is, and each result is saved alone: the one
    that still cannot be is a grader error (build/grader-errors/ says why), not a score.
    A worker's own fault is one too, and is written nowhere else.
    """
    url = db_url(root)
    if by_nbgrader:
        return [_by_nbgrader(root, url, staged, graded, cfg) for staged, graded in results]
    outcomes: dict[int, Outcome] = {}
    read = []
    for index, (staged, graded) in enumerate(results):
        if not graded.ok:
            outcomes[index] = worker_fault(root, staged, graded)
            continue
        try:
            read.append((index, Read.of(root, staged, graded)))
        except Exception as error:  # a graded notebook nbformat cannot read
            outcomes[index] = unsaved(root, staged, error)
    try:
        saved = _write(url, [r for _, r in read], cfg)
    except Exception as error:
        if len(read) == 1:
            index, result = read[0]
            outcomes[index] = unsaved(root, result.staged, error)
            return [outcomes[i] for i in range(len(results))]
        for index, result in read:
            outcomes[index] = save(root, [(result.staged, result.graded)], cfg)[0]
        return [outcomes[i] for i in range(len(results))]
    for (index, result), (score, max_score) in zip(read, saved, strict=True):
        outcomes[index] = _finish(root, result, score, max_score)
    return [outcomes[i] for i in range(len(results))]


@dataclass
class Read:
    """One worker's result, read: what SaveAutoGrades would write of each of its cells."""

    staged: Staged
    graded: parallel.Graded
    nb: nbformat.NotebookNode
    timestamp: str | None
    scores: dict[str, float | None] = field(default_factory=dict)  # grade cell -> auto score
    comments: dict[str, str | None] = field(default_factory=dict)  # solution/task cell

    @classmethod
    def of(cls, root: Path, staged: Staged, graded: parallel.Graded) -> Read:
        from nbgrader import utils

        # nbgrader wrote it in the worker, validated: read as nbformat.reads would, less the
        # schema check (a fifth of the client's time per result)
        nb = nbformat.convert(upstream.read_notebook(graded.graded), 4)
        read = cls(staged, graded, nb, timestamp_of(root, staged))
        for cell in nb.cells:  # SaveAutoGrades.preprocess_cell, cell by cell
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if utils.is_grade(cell):
                read.scores[grade_id] = utils.determine_grade(cell, log)[0]
            if utils.is_solution(cell) or utils.is_task(cell):
                unchanged = cell.metadata.nbgrader.get("checksum", None) == \
                    utils.compute_checksum(cell)
                read.comments[grade_id] = "No response." if unchanged and \
                    not utils.is_task(cell) else None
        return read

    @property
    def key(self) -> tuple[str, str]:
        return self.staged.student, self.staged.lab.name

    @property
    def notebook(self) -> str:
        return Path(self.staged.lab.student.name).stem


def _write(url: str, results: list[Read], cfg) -> list[tuple[float, float]]:
    """Every result's rows in one transaction of the gradebook at url: (score, max score) of
    each result's notebook, as the gradebook computes them."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    if not results:
        return []
    # psycopg2 sends an executemany UPDATE row by row unless told to batch it
    batched = {"executemany_mode": "values_plus_batch"} \
        if make_url(url).get_driver_name() == "psycopg2" else {}
    engine = create_engine(url, **batched)
    try:
        with engine.begin() as connection:  # committed at the end, rolled back if it raises
            rows = _Rows(connection)
            rows.students({r.staged.student for r in results})
            rows.submissions(results)
            rows.grades_and_comments(results)
            scores = rows.scores(results)
            rows.penalties(results, scores, cfg)
    finally:
        engine.dispose()
    return scores


class _Rows:
    """The statements of one batch, on one connection in one transaction."""

    def __init__(self, connection):
        from nbgrader import api

        self.db, self.api = connection, api
        self.labs: dict[str, dict] = {}  # name -> {"id", "duedate", "notebooks": {name: id}}
        self.cells: dict[str, dict[tuple[str, str], str]] = {}  # notebook id -> cells by kind
        self.submitted: dict[tuple[str, str], dict] = {}  # (student, lab) -> its row, notebooks

    def students(self, ids: set[str]) -> None:
        from sqlalchemy import insert, select

        table = self.api.Student.__table__
        known = set(self.db.scalars(select(table.c.id).where(table.c.id.in_(ids))))
        new = sorted(ids - known)
        if new:
            self.db.execute(insert(table), [{"id": i, "first_name": None, "last_name": None,
                                             "email": None, "lms_user_id": None} for i in new])

    def submissions(self, results: list[Read]) -> None:
        """The submissions, each made as add_submission makes it if new, else its timestamp
        updated (when it has one), as update_or_create_submission."""
        from nbgrader.api import MissingEntry
        from nbgrader.utils import parse_utc
        from sqlalchemy import bindparam, select, update

        self._assignments({r.staged.lab.name for r in results})
        table = self.api.SubmittedAssignment.__table__
        students = {r.staged.student for r in results}
        ids = {lab["id"]: name for name, lab in self.labs.items()}
        for row in self.db.execute(select(table).where(table.c.student_id.in_(students),
                                                       table.c.assignment_id.in_(ids))):
            self.submitted[row.student_id, ids[row.assignment_id]] = dict(row._mapping)
        timestamps, new = {}, {}
        for result in results:
            if result.staged.lab.name not in self.labs:
                raise MissingEntry(f"no assignment {result.staged.lab.name} in the gradebook")
            if result.key in self.submitted or result.key in new:
                if result.timestamp:
                    timestamps[result.key] = parse_utc(result.timestamp)
            else:
                new[result.key] = parse_utc(result.timestamp) if result.timestamp else None
        self._add(new)
        changed = [{"row": self.submitted[key]["id"], "timestamp": ts}
                   for key, ts in timestamps.items()]
        if changed:
            self.db.execute(update(table).where(table.c.id == bindparam("row"))
                            .values(timestamp=bindparam("timestamp")), changed)
        for key, ts in timestamps.items():
            self.submitted[key]["timestamp"] = ts
        self._notebooks()

    def _assignments(self, names: set[str]) -> None:
        from sqlalchemy import select

        assignment, notebook = self.api.Assignment.__table__, self.api.Notebook.__table__
        cell = self.api.BaseCell.__table__
        for row in self.db.execute(select(assignment.c.id, assignment.c.name,
                                          assignment.c.duedate)
                                   .where(assignment.c.name.in_(names))):
            self.labs[row.name] = {"id": row.id, "duedate": row.duedate, "notebooks": {}}
        by_id = {lab["id"]: lab for lab in self.labs.values()}
        for row in self.db.execute(select(notebook.c.id, notebook.c.name,
                                          notebook.c.assignment_id)
                                   .where(notebook.c.assignment_id.in_(by_id))):
            by_id[row.assignment_id]["notebooks"][row.name] = row.id
            self.cells[row.id] = {}
        for row in self.db.execute(select(cell.c.id, cell.c.name, cell.c.notebook_id,
                                          cell.c.type).where(cell.c.notebook_id.in_(self.cells))):
            self.cells[row.notebook_id][row.type, row.name] = row.id

    def _add(self, new: dict[tuple[str, str], object]) -> None:
        """New submissions, as Gradebook.add_submission: the submission, a notebook row per
        notebook of the assignment, a grade row per grade and task cell, a comment row per
        solution and task cell, every value nbgrader's default."""
        from sqlalchemy import insert

        api, rows = self.api, {"submitted": [], "notebooks": [], "grades": [], "comments": []}
        for (student, lab), timestamp in new.items():
            submission = {"id": api.new_uuid(), "assignment_id": self.labs[lab]["id"],
                          "student_id": student, "timestamp": timestamp, "extension": None}
            rows["submitted"].append(submission)
            self.submitted[student, lab] = submission
            for notebook_id in self.labs[lab]["notebooks"].values():
                notebook = {"id": api.new_uuid(), "assignment_id": submission["id"],
                            "notebook_id": notebook_id, "flagged": False,
                            "late_submission_penalty": None}
                rows["notebooks"].append(notebook)
                for (kind, _), cell_id in self.cells[notebook_id].items():
                    if kind in ("GradeCell", "TaskCell"):
                        rows["grades"].append({
                            "id": api.new_uuid(), "notebook_id": notebook["id"],
                            "cell_id": cell_id, "auto_score": None, "manual_score": None,
                            "extra_credit": None, "needs_manual_grade": True})
                    if kind in ("SolutionCell", "TaskCell"):
                        rows["comments"].append({
                            "id": api.new_uuid(), "notebook_id": notebook["id"],
                            "cell_id": cell_id, "auto_comment": None, "manual_comment": None})
        for name, model in (("submitted", api.SubmittedAssignment),
                            ("notebooks", api.SubmittedNotebook), ("grades", api.Grade),
                            ("comments", api.Comment)):
            if rows[name]:
                self.db.execute(insert(model.__table__), rows[name])

    def _notebooks(self) -> None:
        """Each submission's notebook rows: {(student, lab): {"notebooks": {name: id}}}."""
        from sqlalchemy import select

        notebook = self.api.SubmittedNotebook.__table__
        by_id = {row["id"]: row for row in self.submitted.values()}
        names = {nb_id: name for lab in self.labs.values()
                 for name, nb_id in lab["notebooks"].items()}
        for row in by_id.values():
            row["notebooks"] = {}
        for row in self.db.execute(select(notebook.c.id, notebook.c.assignment_id,
                                          notebook.c.notebook_id)
                                   .where(notebook.c.assignment_id.in_(by_id))):
            by_id[row.assignment_id]["notebooks"][names[row.notebook_id]] = \
                (row.id, row.notebook_id)

    def notebook_of(self, result: Read) -> tuple[str, str]:
        """(The submitted notebook's id, its notebook's id) for a result."""
        from nbgrader.api import MissingEntry

        try:
            return self.submitted[result.key]["notebooks"][result.notebook]
        except KeyError:
            raise MissingEntry(f"no notebook {result.notebook} in {result.key[1]} for "
                               f"{result.key[0]}") from None

    def grades_and_comments(self, results: list[Read]) -> None:
        """Each grade's auto score and needs_manual_grade, each comment's auto comment, as
        SaveAutoGrades; a cell the gradebook does not know fails the batch, as its
        find_grade's MissingEntry does."""
        from nbgrader.api import MissingEntry
        from sqlalchemy import bindparam, select, update

        grade, comment = self.api.Grade.__table__, self.api.Comment.__table__
        mine = {self.notebook_of(r)[0] for r in results}
        grades = {(row.notebook_id, row.cell_id): (row.id, row.manual_score) for row in
                  self.db.execute(select(grade.c.id, grade.c.notebook_id, grade.c.cell_id,
                                         grade.c.manual_score)
                                  .where(grade.c.notebook_id.in_(mine)))}
        comments = {(row.notebook_id, row.cell_id): row.id for row in
                    self.db.execute(select(comment.c.id, comment.c.notebook_id,
                                           comment.c.cell_id)
                                    .where(comment.c.notebook_id.in_(mine)))}
        scored, commented = [], []
        for result in results:
            submitted, notebook = self.notebook_of(result)
            cells = self.cells[notebook]
            for name, auto in result.scores.items():
                cell = cells.get(("GradeCell", name)) or cells.get(("TaskCell", name))
                if (submitted, cell) not in grades:
                    raise MissingEntry(f"no grade for cell {name} of {result.key}")
                row, manual = grades[submitted, cell]
                scored.append({"row": row, "auto_score": auto,
                               "needs_manual_grade": manual is not None or auto is None})
            for name, auto in result.comments.items():
                cell = cells.get(("SolutionCell", name)) or cells.get(("TaskCell", name))
                if (submitted, cell) not in comments:
                    raise MissingEntry(f"no comment for cell {name} of {result.key}")
                commented.append({"row": comments[submitted, cell], "auto_comment": auto})
        if scored:
            self.db.execute(update(grade).where(grade.c.id == bindparam("row"))
                            .values(auto_score=bindparam("auto_score"),
                                    needs_manual_grade=bindparam("needs_manual_grade")), scored)
        if commented:
            self.db.execute(update(comment).where(comment.c.id == bindparam("row"))
                            .values(auto_comment=bindparam("auto_comment")), commented)

    def scores(self, results: list[Read]) -> list[tuple[float, float]]:
        """Each result's notebook's (score, max score), by nbgrader's own SQL for them."""
        from sqlalchemy import select

        notebook = self.api.SubmittedNotebook
        ids = [self.notebook_of(r)[0] for r in results]
        found = {row_id: (float(score), float(max_score)) for row_id, score, max_score in
                 self.db.execute(select(notebook.id, notebook.score, notebook.max_score)
                                 .where(notebook.id.in_(ids)))}
        return [found[i] for i in ids]

    def penalties(self, results: list[Read], scores: list[tuple[float, float]], cfg) -> None:
        """Each notebook's late penalty, as AssignLatePenalties: none, unless the submission
        is late (SubmittedAssignment.total_seconds_late: past the due date plus extension)."""
        from sqlalchemy import bindparam, update

        table = self.api.SubmittedNotebook.__table__
        rows = []
        for result, (score, _) in zip(results, scores, strict=True):
            submission = self.submitted[result.key]
            due = self.labs[result.staged.lab.name]["duedate"]
            if due is not None and submission.get("extension") is not None:
                due = due + submission["extension"]
            late = 0.0 if submission["timestamp"] is None or due is None else \
                max(0.0, (submission["timestamp"] - due).total_seconds())
            penalty = upstream.late_penalty(cfg, result.staged.student, score, late) \
                if late > 0 else None
            rows.append({"row": self.notebook_of(result)[0], "penalty": penalty})
        self.db.execute(update(table).where(table.c.id == bindparam("row"))
                        .values(late_submission_penalty=bindparam("penalty")), rows)


def _finish(root: Path, result: Read, score: float, max_score: float) -> Outcome:
    """The result's files under autograded/, as nbgrader's autograde leaves them; its outcome."""
    staged, graded = result.staged, result.graded
    target = root / "autograded" / staged.student / staged.lab.name
    target.mkdir(parents=True, exist_ok=True)
    (target / staged.lab.student.name).write_text(graded.graded, encoding="utf-8")
    write_side_files(target, graded.files)
    if result.timestamp:
        (target / "timestamp.txt").write_text(result.timestamp)
    events = events_of(result.nb)
    status = "; ".join(staged.problems + events) or "ok"
    if events:  # a time-out or a kernel death: what the grader saw, for the instructor
        write_log(root / "build" / "logs", staged, graded.log)
    return Outcome(staged.student, staged.lab.name, score, max_score, status, staged.digest,
                   staged.lab.student.name)


def _by_nbgrader(root: Path, url: str, staged: Staged, graded: parallel.Graded,
                 cfg) -> Outcome:
    """One result saved by nbgrader's own code, as its autograde saves it: the student and the
    submission, then SaveAutoGrades and AssignLatePenalties, each opening the gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    if not graded.ok:
        return worker_fault(root, staged, graded)
    lab, stem = staged.lab.name, Path(staged.lab.student.name).stem
    timestamp = timestamp_of(root, staged)
    with Gradebook(url) as gb:
        gb.update_or_create_student(staged.student)
        if timestamp:
            gb.update_or_create_submission(lab, staged.student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(lab, staged.student)
    nb = nbformat.reads(graded.graded, as_version=4)
    resources = upstream.autograde_resources(url, lab, staged.student, stem)
    for step in (SaveAutoGrades, AssignLatePenalties):
        nb, resources = step(config=cfg).preprocess(nb, resources)
    with Gradebook(url) as gb:
        submitted = gb.find_submission_notebook(stem, lab, staged.student)
        score, max_score = float(submitted.score), float(submitted.max_score)
    return _finish(root, Read(staged, graded, nb, timestamp), score, max_score)


def worker_fault(root: Path, staged: Staged, graded: parallel.Graded) -> Outcome:
    """A result the worker could not grade: a grader error, its log in build/grader-errors/."""
    log_path = write_log(root / "build" / "grader-errors", staged,
                         f"{graded.error}\n\n{graded.log}")
    return _fault(staged, f"{graded.error} (log: {log_path.relative_to(root)})")


def unsaved(root: Path, staged: Staged, error: BaseException) -> Outcome:
    """A result that could not be saved: a grader error, with its traceback in the log."""
    log_path = write_log(root / "build" / "grader-errors", staged,
                         "its result could not be saved:\n" +
                         "".join(traceback.format_exception(error)))
    return _fault(staged, f"its result could not be saved: {type(error).__name__}: "
                                f"{str(error)[:200]} (log: {log_path.relative_to(root)})")


def _fault(staged: Staged, why: str) -> Outcome:
    return Outcome(staged.student, staged.lab.name, 0.0, points_of(staged.lab), f"{FAULT}: {why}",
                   staged.digest, staged.lab.student.name)


def write_log(folder: Path, staged: Staged, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{staged.student}__{staged.lab.unit.replace('/', '__')}.log"
    path.write_text(f"{staged.student}/{staged.lab.unit}: {text}\n", encoding="utf-8",
                    errors="replace")
    return path
