"""Grading a whole class: `python -m grader grade`.

Submissions live where nbgrader expects them: submitted/<student>/<lab>/<notebook>.ipynb. Each
one is first *staged*: read, repaired where it can be (an old nbformat, a wrong file name), so
the student's file is never changed. A file that cannot be read as a notebook is replaced by the
blank lab, so it scores what a blank scores, and its status says why. Then workers grade the
staged submissions in parallel (grader/parallel.py: nbgrader's autograde, with the
preprocessors that nbgrader_config.py names, the judge and the sandbox among them), and this
process alone saves each result in the gradebook, with nbgrader's SaveAutoGrades.

Every graded submission is recorded in build/graded.jsonl (one line, flushed to disk, after its
grades are saved), so a run that is killed and started again goes on where it stopped, and a
second run over the same submissions changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from grader import course, notebooks, parallel

MAX_NOTEBOOK_BYTES = 20 * 2**20


FAULT = "grader error"  # the status of a submission the grader failed to grade


@dataclass
class Outcome:
    """What grading one student's notebook of one assignment came to."""

    student: str
    lab: str  # the assignment
    score: float
    max_score: float
    status: str
    digest: str = ""
    notebook: str = ""  # its file name (an assignment may have several notebooks)

    @property
    def is_fault(self) -> bool:
        """The grader failed, so this is no grade: it is graded again by the next run."""
        return self.status.startswith((FAULT, "not graded"))


@dataclass
class Staged:
    student: str
    lab: course.Lab
    notebook: nbformat.NotebookNode
    problems: list[str]
    missing: bool = False  # one notebook of several not submitted: it scores 0, ungraded

    @property
    def digest(self) -> str:
        return hashlib.sha256(nbformat.writes(self.notebook).encode()).hexdigest()

    @property
    def key(self) -> tuple[str, str, str]:
        return self.student, self.lab.name, self.lab.student.name


def stage(folder: Path, lab: course.Lab) -> Staged:
    """The submission in `folder` as a notebook nbgrader can grade, and what had to be done."""
    problems: list[str] = []
    expected = lab.student.name
    links = sorted(p.name for p in folder.iterdir() if p.is_symlink())
    if links:  # a link could point at the solutions or a classmate's work: never followed
        problems.append(f"links ignored: {', '.join(links[:5])}")
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    released = {p.name for p in lab.student.parent.iterdir()} if lab.student.parent.is_dir() \
        else set()  # the notebooks and the files released with them (data, images)
    odd = sorted(p.name for p in folder.iterdir()
                 if not p.is_symlink() and not p.is_file() and not p.is_dir())
    if odd:  # a fifo or a device: never opened (reading a fifo would wait for ever)
        problems.append(f"not files, ignored: {', '.join(odd[:5])}")
    extra = sorted(p.name for p in folder.iterdir() if p.name not in released and
                   p.suffix != ".ipynb" and p.name != "timestamp.txt" and not p.is_symlink()
                   and p.name not in odd)
    if extra:
        problems.append(f"extra files ignored: {', '.join(extra[:5])}")
    _, bad_timestamp = _read_timestamp(folder)
    if bad_timestamp:
        problems.append(bad_timestamp)
    if (folder / expected) in found:
        path = folder / expected
    elif len(found) == 1 and len(lab.siblings) <= 1:
        path = found[0]
        problems.append(f"graded {path.name} as {expected}")
    elif len(lab.siblings) > 1:
        problems.append(f"no {expected} submitted: it scores 0")
        return Staged(folder.parent.name, lab, _blank(lab), problems, missing=True)
    elif found:
        problems.append(f"no {expected}, and {len(found)} other notebooks: graded as blank")
        return Staged(folder.parent.name, lab, _blank(lab), problems)
    else:
        problems.append("no notebook submitted: graded as blank")
        return Staged(folder.parent.name, lab, _blank(lab), problems)
    notebook, problem = _read(path)
    if problem:
        problems.append(f"{path.name} {problem}: graded as blank")
        notebook = _blank(lab)
    return Staged(folder.parent.name, lab, notebook, problems)


def stage_safely(folder: Path, lab: course.Lab) -> Staged:
    """`stage`, except that nothing a submission holds can stop the class: whatever goes wrong
    reading it, it is graded as the blank lab, and its status says so."""
    try:
        staged = stage(folder, lab)
        staged.digest  # noqa: B018  (it must be computable too)
        return staged
    except Exception as error:
        return Staged(folder.parent.name, lab, _blank(lab),
                      [f"the submission could not be read ({type(error).__name__}): "
                       "graded as blank"])


def _read(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """A notebook in the current format, or the reason it is not one."""
    with path.open("rb") as file:  # read at most the limit, whatever the file claims to be
        raw = file.read(MAX_NOTEBOOK_BYTES + 1)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return None, f"is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        return None, "is not text"
    except json.JSONDecodeError as error:
        return None, f"is not valid JSON ({error.msg} at line {error.lineno})"
    except RecursionError:
        return None, "is JSON nested too deeply"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "is JSON but not a notebook"
    try:
        nb = nbformat.reads(text, as_version=4)
        _drop_malformed_metadata(nb)
        nbformat.validate(nb)
        return notebooks.normalize(nb), ""
    except Exception as error:  # nbformat raises many kinds; all mean the same here
        return None, f"is not a valid notebook ({type(error).__name__}: {str(error)[:120]})"


def _drop_malformed_metadata(nb: nbformat.NotebookNode) -> None:
    """nbformat's schema lets a cell's metadata hold anything: an `nbgrader` entry that is not
    an object, or tags that are not a list of strings, are dropped (the released lab's grade
    cells come back from the gradebook anyway)."""
    for cell in nb.cells:
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict):
            cell["metadata"] = nbformat.NotebookNode()
            continue
        if not isinstance(metadata.get("nbgrader", {}), dict):
            del metadata["nbgrader"]
        tags = metadata.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            del metadata["tags"]


def _blank(lab: course.Lab) -> nbformat.NotebookNode:
    return notebooks.read(lab.student)


class Ledger:
    """build/graded.jsonl: one line per graded submission, so a killed run can resume."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[tuple[str, str, str], Outcome] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    outcome = Outcome(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line cut short by a kill: that submission is graded again
                self.done[outcome.student, outcome.lab, outcome.notebook] = outcome

    def is_done(self, staged: Staged) -> bool:
        previous = self.done.get(staged.key)
        if previous is None and len(staged.lab.siblings) <= 1:  # a line from before notebooks
            previous = self.done.get((staged.student, staged.lab.name, ""))
        return previous is not None and previous.digest == staged.digest and \
            not previous.is_fault

    def record(self, outcome: Outcome) -> None:
        self.done[outcome.student, outcome.lab, outcome.notebook] = outcome
        with self.path.open("a") as file:
            file.write(json.dumps(asdict(outcome)) + "\n")
            file.flush()
            os.fsync(file.fileno())


def submissions(root: Path) -> tuple[list[tuple[str, course.Lab, Path]], list[str]]:
    """(student, lab, folder) for every submission under submitted/, and what was skipped."""
    labs: dict[str, list[course.Lab]] = {}
    for lab in course.labs(root):
        labs.setdefault(lab.name, []).append(lab)
    found, skipped = [], []
    submitted = root / "submitted"
    for student in sorted(p for p in submitted.iterdir() if p.is_dir()) if submitted.is_dir() \
            else []:
        if student.is_symlink():
            skipped.append(f"{student.name}: a link, not a folder of submissions: ignored")
            continue
        for folder in sorted(p for p in student.iterdir()):
            if folder.is_symlink():
                skipped.append(f"{student.name}/{folder.name}: a link, ignored")
            elif folder.is_dir() and folder.name in labs:
                found.extend((student.name, lab, folder) for lab in labs[folder.name])
            else:
                skipped.append(f"{student.name}/{folder.name}: not a lab of this course, ignored")
    return found, skipped


def config(root: Path, sandbox: bool, timeout: int | None = None):
    """nbgrader's configuration for this course."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    cfg.merge(Config({"JudgedExecute": _instructors_timeout(cfg)}))
    cfg.merge(Config({
        "CourseDirectory": {"root": str(root),
                            "submitted_directory": str(root / "submitted")},
        "JudgedExecute": {"sandbox": sandbox, "course_root": str(root),
                          **({"timeout": timeout} if timeout else {})},
        "RestoreTestCells": {"course_root": str(root)},
        "RestoreMissingCells": {"course_root": str(root)},
        "DropForeignMetadata": {"course_root": str(root)},
    }))
    return cfg


def _instructors_timeout(cfg) -> dict:
    """nbgrader's cell time limit, where the course's configuration sets one: JudgedExecute
    takes the place of nbgrader's Execute, so `c.Execute.timeout` (or ExecutePreprocessor's)
    is the limit of a cell and of a judged test. None (no limit) leaves the notebook's budget
    as the only one."""
    for section in ("ExecutePreprocessor", "Execute"):
        if section in cfg and "timeout" in cfg[section]:
            value = cfg[section]["timeout"]
            if value is None or value <= 0:
                budget = cfg.get("JudgedExecute", {}).get("notebook_budget", 300)
                return {"timeout": int(budget)}
            return {"timeout": int(math.ceil(value))}
    return {}


def db_url(root: Path) -> str:
    """The gradebook: nbgrader_config.py's CourseDirectory.db_url (PostgreSQL, say), or
    gradebook.db at the course root."""
    url = config(root, sandbox=True).get("CourseDirectory", {}).get("db_url")
    return str(url) if url else f"sqlite:///{root / 'gradebook.db'}"


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
        return
    with Gradebook(url) as gb:
        missing = set()
        for lab in course.labs(root):
            try:
                gb.find_assignment(lab.name)
            except MissingEntry:
                missing.add(lab.name)
    if missing:
        release = root / "build" / "release"
        course.generate_student_versions(release, url, root, only=missing)
        shutil.rmtree(release)


def course_bundle(root: Path) -> parallel.Course:
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
    return parallel.Course(files)


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


@course.nbgrader_in_process()
def save(root: Path, staged: Staged, graded: parallel.Graded, cfg) -> Outcome:
    """Write one worker's result into the gradebook and autograded/, as nbgrader would have:
    the student and the submission first, then its grade cells' scores by SaveAutoGrades."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    if not graded.ok:
        log = _write_fault_log(root, staged, graded)
        return Outcome(staged.student, staged.lab.name, 0.0, _max_score(staged.lab),
                       f"{FAULT}: {graded.error} (log: {log.relative_to(root)})", staged.digest,
                       staged.lab.student.name)
    url, lab, nb_name = db_url(root), staged.lab.name, staged.lab.student.name
    timestamp = _timestamp(root, staged)
    with Gradebook(url) as gb:
        gb.update_or_create_student(staged.student)
        if timestamp:
            gb.update_or_create_submission(lab, staged.student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(lab, staged.student)
    nb = nbformat.reads(graded.graded, as_version=4)
    resources = {"nbgrader": {"db_url": url, "assignment": lab, "student": staged.student,
                              "notebook": Path(nb_name).stem}}
    for step in (SaveAutoGrades, AssignLatePenalties):
        nb, resources = step(config=cfg).preprocess(nb, resources)
    target = root / "autograded" / staged.student / lab
    target.mkdir(parents=True, exist_ok=True)
    (target / nb_name).write_text(graded.graded, encoding="utf-8")
    _write_side_files(target, graded.files)
    if timestamp:
        (target / "timestamp.txt").write_text(timestamp)
    with Gradebook(url) as gb:
        submitted = gb.find_submission_notebook(Path(nb_name).stem, lab, staged.student)
        score, max_score = float(submitted.score), float(submitted.max_score)
    events = _events(nb)
    status = "; ".join(staged.problems + events) or "ok"
    if events:  # a time-out or a kernel death: what the grader saw, for the instructor
        _write_log(root / "build" / "logs", staged, graded.log)
    return Outcome(staged.student, lab, score, max_score, status, staged.digest, nb_name)


def _write_side_files(target: Path, files: dict[str, bytes]) -> None:
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


def _write_fault_log(root: Path, staged: Staged, graded: parallel.Graded) -> Path:
    """build/grader-errors/<student>__<lab>.log: what went wrong, for the instructor."""
    return _write_log(root / "build" / "grader-errors", staged,
                      f"{graded.error}\n\n{graded.log}")


def _write_log(folder: Path, staged: Staged, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{staged.student}__{staged.lab.unit.replace('/', '__')}.log"
    path.write_text(f"{staged.student}/{staged.lab.unit}: {text}\n", encoding="utf-8",
                    errors="replace")
    return path


def _timestamp(root: Path, staged: Staged) -> str | None:
    """The submission's timestamp.txt, if it is a date nbgrader can read (else None: stage()
    says so in the status, and the submission is graded as on time)."""
    return _read_timestamp(root / "submitted" / staged.student / staged.lab.name)[0]


def _read_timestamp(folder: Path) -> tuple[str | None, str]:
    """(The timestamp in folder/timestamp.txt or None, what was wrong with it or "")."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if path.is_symlink() or not path.exists():  # a link is never followed (stage says so)
        return None, ""
    if not path.is_file() or path.stat().st_size > 100:
        return None, "timestamp.txt is not a short file: it is ignored"
    text = path.read_bytes().decode("utf-8", "replace").strip()
    try:
        parse_utc(text)
    except Exception:
        return None, "timestamp.txt is not a date: it is ignored"
    return text, ""


def _max_score(lab: course.Lab) -> float:
    nb = notebooks.read(lab.solution)
    return float(sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade")))


def _events(nb: nbformat.NotebookNode) -> list[str]:
    """What happened while the submission ran, read from the graded notebook."""
    events = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("ename", "")
            if name in ("TimeoutError", "KernelDied", "KernelGone"):
                events.append(f"{output['evalue']} (cell {cell.get('id', '?')})")
            if "[output cut:" in output.get("text", "") or \
                    "[output cut:" in str(output.get("data", {}).get("text/plain", "")):
                events.append(f"output cut (cell {cell.get('id', '?')})")
    return list(dict.fromkeys(events))


def grade_class(root: Path = course.ROOT, *, sandbox: bool = True, force: bool = False,
                progress: bool = True, timeout: int | None = None, workers: int | None = None,
                scheduler: str | None = None) -> list[Outcome]:
    """Grade every submission under submitted/; write grades.csv; return each outcome.

    workers: grading processes on this machine (default: one per core; 0 grades here, one
    after another); scheduler: the address of a Dask scheduler to grade on instead.
    """
    from tqdm import tqdm

    if sandbox:
        from grader import sandbox as sandbox_module

        problem = sandbox_module.sandbox_problem()
        if problem:
            raise SystemExit(f"cannot grade safely: {problem}\n(to grade code you trust "
                             "without the sandbox: python -m grader grade --no-sandbox)")
    (root / "build").mkdir(exist_ok=True)
    ensure_gradebook(root)
    ledger = Ledger(root / "build" / "graded.jsonl")
    found, skipped = submissions(root)
    outcomes, todo = {}, {}
    for _, lab, folder in found:
        staged = stage_safely(folder, lab)
        if not force and ledger.is_done(staged):
            outcomes[staged.key] = ledger.done.get(staged.key) or \
                ledger.done[staged.student, lab.name, ""]
        elif staged.missing:
            outcomes[staged.key] = save_missing(root, staged)
            ledger.record(outcomes[staged.key])
        else:
            todo[staged.key] = staged
    if todo:
        tasks = [parallel.Task(s.student, s.lab.name, s.lab.student.name,
                               nbformat.writes(s.notebook), _timestamp(root, s))
                 for s in todo.values()]
        cfg = config(root, sandbox, timeout)
        bar = tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress)
        for graded in parallel.run(course_bundle(root), tasks, sandbox=sandbox,
                                   timeout=timeout, workers=workers, scheduler=scheduler):
            key = graded.student, graded.lab, graded.notebook
            outcome = save(root, todo[key], graded, cfg)
            if not outcome.is_fault:  # a grader error is tried again by the next run
                ledger.record(outcome)
            outcomes[key] = outcome
            bar.update()
        bar.close()
    export(root)
    for line in skipped:
        print(shown(line, limit=500))
    return [outcomes[student, lab.name, lab.student.name] for student, lab, _ in found]


@course.nbgrader_in_process()
def export(root: Path) -> Path:
    """grades.csv at the course root, in the format of `nbgrader export`."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = root / "grades.csv"
    with Gradebook(db_url(root)) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


def shown(text: str, limit: int = 300) -> str:
    """A string from a submission (a folder's name, a status naming its files) as one safe line
    of the report: unprintable characters escaped, at most `limit` of them. A file name once
    wrote escape codes and a forged line ("…: 0/7: copied from …") into `make grade`'s report."""
    safe = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))
    return safe if len(safe) <= limit else safe[:limit] + "…"


def report(outcomes: list[Outcome], root: Path = course.ROOT) -> str:
    """A table per lab (submissions, mean, median, with errors) and a PNG of the scores."""
    lines = [f"{'lab':24} {'submissions':>11} {'mean':>7} {'median':>7} {'max':>5} "
             f"{'with errors':>11}"]
    by_lab: dict[str, list[Outcome]] = {}
    names = _unit_names(outcomes)
    for outcome in outcomes:
        by_lab.setdefault(names[id(outcome)], []).append(outcome)
    for lab, group in sorted(by_lab.items()):
        scores = [o.score for o in group if not o.is_fault] or [math.nan]
        errors = sum(o.status != "ok" for o in group)
        lines.append(f"{lab:24} {len(group):>11} {statistics.mean(scores):>7.2f} "
                     f"{statistics.median(scores):>7.2f} {group[0].max_score:>5g} {errors:>11}")
    png = _plot({lab: [o for o in group if not o.is_fault] for lab, group in by_lab.items()},
                root / "grades.png")
    lines.append(f"\nscore distributions: {png}\ngrades: {root / 'grades.csv'}")
    problems = [o for o in outcomes if o.status != "ok" and not o.is_fault]
    if problems:
        lines.append("\nsubmissions with something to know:")
        lines.extend(f"  {shown(o.student)}/{names[id(o)]}: {o.score:g}/{o.max_score:g}: "
                     f"{shown(o.status)}" for o in problems)
    faults = [o for o in outcomes if o.is_fault]
    if faults:
        lines.append(f"\nNOT GRADED: the grader failed on {len(faults)} submission(s); run "
                     "`make grade` again to retry them (each has a log):")
        lines.extend(f"  {shown(o.student)}/{names[id(o)]}: {shown(o.status)}" for o in faults)
    return "\n".join(lines)


def _unit_names(outcomes: list[Outcome]) -> dict[int, str]:
    """Each outcome's name in the report: its assignment, and its notebook where the assignment
    has several."""
    notebooks_of: dict[str, set[str]] = {}
    for o in outcomes:
        notebooks_of.setdefault(o.lab, set()).add(o.notebook)
    return {id(o): o.lab if len(notebooks_of[o.lab]) <= 1 else f"{o.lab}/{Path(o.notebook).stem}"
            for o in outcomes}


def _plot(by_lab: dict[str, list[Outcome]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use("tableau-colorblind10")
    labs = sorted(by_lab)
    fig, axes = plt.subplots(1, max(len(labs), 1), figsize=(3.2 * max(len(labs), 1), 3),
                             squeeze=False)
    for ax, lab in zip(axes[0], labs, strict=False):
        group = by_lab[lab]
        if not group:
            continue
        top = group[0].max_score
        ax.hist([o.score for o in group], bins=[b - 0.5 for b in range(int(top) + 2)])
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel(f"score (out of {top:g})")
        ax.set_ylabel("students")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
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


# Files in an LMS zip are matched by name (nbgrader matches the whole extracted path, hence the
# leading folders): <student id>__<lab>__<notebook>.ipynb, for example
# alice__01_derivatives__derivatives.ipynb. The student id may not start with a dot, so no
# name can point outside submitted/. A different LMS naming goes in nbgrader_config.py as
# c.FileNameCollectorPlugin.named_regexp, with the lab written as {lab}.
ZIP_PATTERN = (r"^(?:.*/)?(?P<student_id>[A-Za-z0-9_-][A-Za-z0-9._-]*)__{lab}__"
               r"(?P<file_id>[^/]+\.ipynb)$")


def collect(zip_path: Path, root: Path = course.ROOT) -> list[str]:
    """Fill submitted/ from a zip downloaded from an LMS, with nbgrader's zip_collect."""
    import subprocess
    import zipfile

    if not zipfile.is_zipfile(zip_path):
        raise SystemExit(f"{zip_path} is not a zip file")
    pattern = config(root, sandbox=True).get("FileNameCollectorPlugin", {}).get(
        "named_regexp", ZIP_PATTERN)
    lines = []
    for lab in course.labs(root):
        archive = root / "downloaded" / lab.name / "archive"
        archive.mkdir(parents=True, exist_ok=True)
        shutil.copy(zip_path, archive / zip_path.name)
        regexp = pattern.replace("{lab}", lab.name)
        subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", lab.name, "--force",
                        "--log-level=ERROR", f"--FileNameCollectorPlugin.named_regexp={regexp}"],
                       cwd=root, check=True)
        students = sorted(p.parent.name for p in (root / "submitted").glob(f"*/{lab.name}"))
        lines.append(f"{lab.name}: {len(students)} submissions in submitted/")
    return lines
