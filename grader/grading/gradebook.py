"""The gradebook: every lab's cells recorded in it (and in the cells-only copy the workers get),
grades.csv exported from it, and the students' feedback made from it. The workers' results are
saved into it by intake.py."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import nbformat

from grader import course
from grader.course import notebooks
from grader.grading import parallel
from grader.grading.configuration import config, db_url
from grader.grading.outcomes import Outcome
from grader.grading.submissions import Staged


@course.nbgrader_in_process()
def ensure_gradebook(root: Path) -> None:
    """The gradebook knows every lab's cells (autograding restores test cells from it).

    A course's first gradebook (SQLite, not there yet) is a copy of the cells-only gradebook
    the workers get (build/cells.db), which is exactly what nbgrader's release would write;
    an assignment the gradebook does not know yet is released into it by nbgrader."""
    from nbgrader.api import Gradebook, MissingEntry

    url = db_url(root)
    if _no_gradebook_yet(root, url):
        course_bundle(root)
        shutil.copyfile(root / "build" / "cells.db", root / "gradebook.db")
        _index(url)
        return
    with Gradebook(url) as gb:  # nbgrader makes its tables in a new database here
        missing = set()
        for lab in course.labs(root):
            try:
                gb.find_assignment(lab.name)
            except MissingEntry:
                missing.add(lab.name)
    _index(url)
    if missing:
        release = root / "build" / "release"
        course.generate_student_versions(release, url, root, only=missing)
        shutil.rmtree(release)


# nbgrader's schema indexes none of its foreign keys, so reading one notebook's grades (its
# score, each row of grades.csv, the intake's look-ups) scans every grade of the class: an
# export took 2 ms a notebook for 400 notebooks, 5 ms for 1000, and grows with the square of the
# class. These indexes change no row and nothing nbgrader reads; nbgrader never names them.
INDEXES = {"grade": "notebook_id", "comment": "notebook_id",
           "submitted_notebook": "assignment_id", "submitted_assignment": "student_id"}


def _index(url: str) -> None:
    """The gradebook's INDEXES, made where missing (SQLite and PostgreSQL both know IF NOT
    EXISTS)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for table, column in INDEXES.items():
                connection.execute(text(f"CREATE INDEX IF NOT EXISTS grader_{table}_{column} "
                                        f"ON {table} ({column})"))
    finally:
        engine.dispose()


def course_bundle(root: Path) -> parallel.CourseFiles:
    """What a grading worker needs of the course: nbgrader_config.py, the released labs, and a
    gradebook of the labs' cells only (no student's grades), made again when a lab changes."""
    cells = root / "build" / "cells.db"
    if not _cells_are_current(root):
        _record_cells(root, root / "build" / "cells-release")
    files = {"nbgrader_config.py": (root / "nbgrader_config.py").read_bytes(),
             "gradebook.db": cells.read_bytes()}
    for lab in course.labs(root):
        files[f"notebooks/{lab.name}/{lab.student.name}"] = lab.student.read_bytes()
        for path in _released_files(lab):  # where nbgrader's autograde copies them from
            files[f"solutions/{lab.name}/{path.relative_to(lab.student.parent)}"] = \
                path.read_bytes()
    return parallel.CourseFiles(files)


def release(root: Path = course.ROOT) -> None:
    """Regenerate the student versions in notebooks/ with nbgrader, recording every lab's cells
    at once in the cells-only gradebook the workers get (build/cells.db), so that the first
    grading after a release makes none, and in the course's gradebook: a first one is a copy
    of it; one with students' grades in it is updated by nbgrader."""
    url = db_url(root)
    _record_cells(root, root / "notebooks")
    if _no_gradebook_yet(root, url):
        shutil.copyfile(root / "build" / "cells.db", root / "gradebook.db")
    else:
        course.generate_student_versions(root / "build" / "release", url, root)
        shutil.rmtree(root / "build" / "release")


def _no_gradebook_yet(root: Path, url: str) -> bool:
    """Whether the course's gradebook is the default SQLite file and not there yet: then it
    starts as a copy of the cells-only one, which is what nbgrader's release would write."""
    return url == f"sqlite:///{root / 'gradebook.db'}" and not (root / "gradebook.db").exists()


def _cells_digest(root: Path) -> str:
    """What build/cells.db was made from: nbgrader_config.py and every solution notebook."""
    sources = [root / "nbgrader_config.py", *sorted((root / "solutions").glob("*/*.ipynb"))]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()


def _cells_are_current(root: Path) -> bool:
    cells, stamp = root / "build" / "cells.db", root / "build" / "cells.digest"
    return cells.exists() and stamp.exists() and stamp.read_text() == _cells_digest(root)


def _record_cells(root: Path, release_dir: Path) -> None:
    """build/cells.db made anew by nbgrader's release into `release_dir` (notebooks/ for
    `make release`, a folder removed afterwards otherwise)."""
    (root / "build").mkdir(exist_ok=True)
    cells, stamp = root / "build" / "cells.db", root / "build" / "cells.digest"
    cells.unlink(missing_ok=True)
    stamp.unlink(missing_ok=True)
    course.generate_student_versions(release_dir, f"sqlite:///{cells}", root)
    if release_dir.parent == root / "build":
        shutil.rmtree(release_dir)
    stamp.write_text(_cells_digest(root))


def _released_files(lab: course.Lab) -> list[Path]:
    """The files released beside an assignment's notebooks (data, images): a notebook that
    opens one when graded finds it beside it, as in stock nbgrader."""
    folder = lab.student.parent
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                  and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts)


def write_side_files(target: Path, files: dict[str, bytes]) -> None:
    """The files the student's code wrote while graded, beside the graded notebook (as stock
    nbgrader leaves them), each under a plain relative name that stays inside `target`."""
    for name, content in files.items():
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or any(p in ("", ".", "..") or p.startswith(".")
                                                        for p in parts) or \
                name.endswith(".ipynb") or name == "timestamp.txt":
            continue
        path = target.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as file:
                file.write(content)
        except OSError:  # a name this filesystem cannot take, or a folder in its way
            continue


@course.nbgrader_in_process()
def save_missing(root: Path, staged: Staged) -> Outcome:
    """A notebook missing from a submission of several: 0 for each of its grade cells, as
    stock nbgrader records it (nothing is left for a person to grade)."""
    from nbgrader.api import Gradebook

    name, lab = staged.lab.student.name, staged.lab.name
    with Gradebook(db_url(root)) as gb:
        gb.update_or_create_student(staged.student)
        gb.update_or_create_submission(lab, staged.student)
        submitted = gb.find_submission_notebook(Path(name).stem, lab, staged.student)
        for grade in submitted.grades:
            grade.auto_score, grade.needs_manual_grade = 0, False
        gb.db.commit()
        max_score = float(submitted.max_score)
    return Outcome(staged.student, lab, 0.0, max_score, "; ".join(staged.problems),
                   staged.digest, name)


def points_of(lab: course.Lab) -> float:
    nb = notebooks.read(lab.solution)
    return float(sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade")))


def events_of(nb: nbformat.NotebookNode) -> list[str]:
    """What happened while the submission ran, read from the graded notebook."""
    events = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("ename", "")
            if name in ("TimeoutError", "KernelDied", "KernelGone"):
                events.append(f"{output['evalue']} (cell {cell.get('id', '?')})")
            # the grader's note is display data (judge.cut_note), never a student's printed text
            if "[output cut:" in str(output.get("data", {}).get("text/plain", "")):
                events.append(f"output cut (cell {cell.get('id', '?')})")
    return list(dict.fromkeys(events))


@course.nbgrader_in_process()
def export(root: Path) -> Path:
    """grades.csv at the course root, in the format of `nbgrader export`."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = root / "grades.csv"
    with Gradebook(db_url(root)) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


@course.nbgrader_in_process()
def feedback(root: Path = course.ROOT) -> list[Path]:
    """Each graded student's HTML feedback, by nbgrader's generate_feedback."""
    from nbgrader.apps import NbGraderAPI

    api = NbGraderAPI(config=config(root, sandbox=True))
    for lab in course.labs(root):
        if any((root / "autograded").glob(f"*/{lab.name}")):
            result = api.generate_feedback(lab.name)
            if not result.get("success"):
                raise SystemExit(f"feedback for {lab.name} failed:\n{result.get('error', '')}")
    return sorted((root / "feedback").glob("*/*/*.html"))
