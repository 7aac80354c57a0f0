"""Grading a whole class: `python -m grader grade`.

Submissions live where nbgrader expects them: submitted/<student>/<lab>/<notebook>.ipynb. Each
one is first *staged*: read, repaired where it can be (an old nbformat, a wrong file name), and
copied to build/submitted/, so the student's file is never changed. A file that cannot be read as
a notebook is replaced there by the blank lab, so it scores what a blank scores, and its status
says why. Then nbgrader's autograde runs on the staged copy, with the preprocessors that
nbgrader_config.py names (the judge among them), and saves the grades in the gradebook.

Every graded submission is recorded in build/graded.jsonl (one line, flushed to disk, after its
grades are saved), so a run that is killed and started again goes on where it stopped, and a
second run over the same submissions changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from grader import course, notebooks

# nbgrader's gradebook code trips SQLAlchemy's autoflush warnings on every submission.
warnings.filterwarnings("ignore", message=".*not in session.*")

MAX_NOTEBOOK_BYTES = 20 * 2**20

# nbgrader runs the gradebook's migrations with the `alembic` command of its environment, by name.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])


@dataclass
class Outcome:
    student: str
    lab: str
    score: float
    max_score: float
    status: str
    digest: str = ""


@dataclass
class Staged:
    student: str
    lab: course.Lab
    notebook: nbformat.NotebookNode
    problems: list[str]

    @property
    def digest(self) -> str:
        return hashlib.sha256(nbformat.writes(self.notebook).encode()).hexdigest()


def stage(folder: Path, lab: course.Lab) -> Staged:
    """The submission in `folder` as a notebook nbgrader can grade, and what had to be done."""
    problems: list[str] = []
    expected = lab.student.name
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    extra = sorted(p.name for p in folder.iterdir() if p.name != expected and
                   p.suffix != ".ipynb" and p.name != "timestamp.txt")
    if extra:
        problems.append(f"extra files ignored: {', '.join(extra[:5])}")
    if (folder / expected).is_file():
        path = folder / expected
    elif len(found) == 1:
        path = found[0]
        problems.append(f"graded {path.name} as {expected}")
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


def _read(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """A notebook in the current format, or the reason it is not one."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None, f"is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        return None, "is not text"
    except json.JSONDecodeError as error:
        return None, f"is not valid JSON ({error.msg} at line {error.lineno})"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "is JSON but not a notebook"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises many kinds; all mean the same here
        return None, f"is not a valid notebook ({type(error).__name__}: {str(error)[:120]})"
    return notebooks.normalize(nb), ""


def _blank(lab: course.Lab) -> nbformat.NotebookNode:
    return notebooks.read(lab.student)


class Ledger:
    """build/graded.jsonl: one line per graded submission, so a killed run can resume."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[tuple[str, str], Outcome] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    outcome = Outcome(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line cut short by a kill: that submission is graded again
                self.done[outcome.student, outcome.lab] = outcome

    def is_done(self, staged: Staged) -> bool:
        previous = self.done.get((staged.student, staged.lab.name))
        return previous is not None and previous.digest == staged.digest

    def record(self, outcome: Outcome) -> None:
        self.done[outcome.student, outcome.lab] = outcome
        with self.path.open("a") as file:
            file.write(json.dumps(asdict(outcome)) + "\n")
            file.flush()
            os.fsync(file.fileno())


def submissions(root: Path) -> tuple[list[tuple[str, course.Lab, Path]], list[str]]:
    """(student, lab, folder) for every submission under submitted/, and what was skipped."""
    labs = {lab.name: lab for lab in course.labs(root)}
    found, skipped = [], []
    submitted = root / "submitted"
    for student in sorted(p for p in submitted.iterdir() if p.is_dir()) if submitted.is_dir() \
            else []:
        for folder in sorted(p for p in student.iterdir()):
            if folder.is_dir() and folder.name in labs:
                found.append((student.name, labs[folder.name], folder))
            else:
                skipped.append(f"{student.name}/{folder.name}: not a lab of this course, ignored")
    return found, skipped


def config(root: Path, sandbox: bool, timeout: int | None = None):
    """nbgrader's configuration for this course, pointed at the staged submissions."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    cfg.merge(Config({
        "CourseDirectory": {"root": str(root),
                            "submitted_directory": str(root / "build" / "submitted")},
        "JudgedExecute": {"sandbox": sandbox, "course_root": str(root),
                          **({"timeout": timeout} if timeout else {})},
        "RestoreTestCells": {"course_root": str(root)},
        "DropForeignMetadata": {"course_root": str(root)},
    }))
    return cfg


def ensure_gradebook(root: Path) -> None:
    """The gradebook knows every lab's cells (autograding restores test cells from it)."""
    from nbgrader.api import Gradebook, MissingEntry

    db_url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(db_url) as gb:
        missing = []
        for lab in course.labs(root):
            try:
                gb.find_assignment(lab.name)
            except MissingEntry:
                missing.append(lab)
    if missing:
        release = root / "build" / "release"
        course.generate_student_versions(release, db_url, root)
        shutil.rmtree(release)


def grade_one(api, root: Path, staged: Staged) -> Outcome:
    """Autograde one staged submission with nbgrader; its score and what happened."""
    target = root / "build" / "submitted" / staged.student / staged.lab.name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    original = root / "submitted" / staged.student / staged.lab.name / "timestamp.txt"
    if original.is_file():
        shutil.copy(original, target / "timestamp.txt")
    notebooks.write(staged.notebook, target / staged.lab.student.name)
    for _attempt in range(2):  # once more if it failed: a kernel can fail to start under load
        result = api.autograde(staged.lab.name, staged.student, force=True, create=True)
        if result.get("success"):
            break
    if not result.get("success"):
        log = (result.get("log") or "").splitlines()
        reason = [line for line in log if "Error" in line and "Please see" not in line] or \
            (result.get("error") or "").strip().splitlines()
        return Outcome(staged.student, staged.lab.name, 0.0, _max_score(root, staged.lab),
                       "not graded: " + (reason[-1] if reason else "nbgrader failed"),
                       staged.digest)
    score, max_score = _score(root, staged)
    events = _events(root, staged)
    status = "; ".join(staged.problems + events) or "ok"
    return Outcome(staged.student, staged.lab.name, score, max_score, status, staged.digest)


def _score(root: Path, staged: Staged) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        submission = gb.find_submission(staged.lab.name, staged.student)
        return float(submission.score), float(submission.max_score)


def _max_score(root: Path, lab: course.Lab) -> float:
    nb = notebooks.read(lab.solution)
    return float(sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade")))


def _events(root: Path, staged: Staged) -> list[str]:
    """What happened while the submission ran, read from the graded notebook."""
    path = root / "autograded" / staged.student / staged.lab.name / staged.lab.student.name
    events = []
    for cell in notebooks.read(path).cells:
        for output in cell.get("outputs", []):
            name = output.get("ename", "")
            if name in ("TimeoutError", "KernelDied", "KernelGone"):
                events.append(f"{output['evalue']} (cell {cell.get('id', '?')})")
            if "[output cut:" in output.get("text", ""):
                events.append(f"output cut (cell {cell.get('id', '?')})")
    return list(dict.fromkeys(events))


def grade_class(root: Path = course.ROOT, *, sandbox: bool = True, force: bool = False,
                progress: bool = True, timeout: int | None = None) -> list[Outcome]:
    """Grade every submission under submitted/; write grades.csv; return each outcome."""
    from nbgrader.apps import NbGraderAPI
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
    api = NbGraderAPI(config=config(root, sandbox, timeout))
    outcomes = []
    bar = tqdm(found, desc="grading", unit="notebook", disable=not progress)
    for student, lab, folder in bar:
        staged = stage(folder, lab)
        if not force and ledger.is_done(staged):
            outcomes.append(ledger.done[student, lab.name])
            continue
        outcome = grade_one(api, root, staged)
        ledger.record(outcome)
        outcomes.append(outcome)
    export(root)
    for line in skipped:
        print(line)
    return outcomes


def export(root: Path) -> Path:
    """grades.csv at the course root, in the format of `nbgrader export`."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = root / "grades.csv"
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


def report(outcomes: list[Outcome], root: Path = course.ROOT) -> str:
    """A table per lab (submissions, mean, median, with errors) and a PNG of the scores."""
    lines = [f"{'lab':24} {'submissions':>11} {'mean':>7} {'median':>7} {'max':>5} "
             f"{'with errors':>11}"]
    by_lab: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_lab.setdefault(outcome.lab, []).append(outcome)
    for lab, group in sorted(by_lab.items()):
        scores = [o.score for o in group]
        errors = sum(o.status != "ok" for o in group)
        lines.append(f"{lab:24} {len(group):>11} {statistics.mean(scores):>7.2f} "
                     f"{statistics.median(scores):>7.2f} {group[0].max_score:>5g} {errors:>11}")
    png = _plot(by_lab, root / "grades.png")
    lines.append(f"\nscore distributions: {png}\ngrades: {root / 'grades.csv'}")
    problems = [o for o in outcomes if o.status != "ok"]
    if problems:
        lines.append("\nsubmissions with something to know:")
        lines.extend(f"  {o.student}/{o.lab}: {o.score:g}/{o.max_score:g}: {o.status}"
                     for o in problems)
    return "\n".join(lines)


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
        top = group[0].max_score
        ax.hist([o.score for o in group], bins=[b - 0.5 for b in range(int(top) + 2)])
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel(f"score (out of {top:g})")
        ax.set_ylabel("students")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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
