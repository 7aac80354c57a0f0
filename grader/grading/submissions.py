"""Submissions: found under submitted/<student>/<lab>/ (or collected there from an LMS zip), and
each *staged*: read strictly and repaired where it can be, as a notebook nbgrader can grade.
The student's file is never changed; one that cannot be read is graded as the blank lab."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader import course
from grader.course import notebooks
from grader.grading import upstream
from grader.grading.configuration import config

MAX_NOTEBOOK_BYTES = 20 * 2**20


@dataclass
class Staged:
    """One student's notebook of one assignment, ready to grade, and what was done to it."""

    student: str
    lab: course.Lab  # the notebook of the course it is a submission of (its .name: the lab's)
    nb: nbformat.NotebookNode | None  # as it will be graded (None once `lightened`)
    problems: list[str]
    missing: bool = False  # one notebook of several not submitted: it scores 0, ungraded
    timestamp: str | None = None  # its timestamp.txt, as staging read it (see timestamp_of)

    @functools.cached_property
    def source(self) -> str:
        """The notebook as it will be graded, as JSON (what a worker is sent), written once (for
        a class of thousands, writing it again for each use cost more than reading it), by
        nbformat's v4 writer: what nbformat.writes writes, less another schema check (stage
        validated it as it read it)."""
        return nbformat.v4.writes(self.nb)

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def lightened(self) -> Staged:
        """This submission without its notebook tree, its JSON (source, digest) kept: the tree
        takes several times the JSON's memory, and a class of thousands held every one of them
        for the whole run (Python's garbage collector walking them all made staging slower
        with each submission)."""
        self.digest  # noqa: B018  (written from the tree, before it goes)
        self.nb = None
        return self

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
    timestamp, bad_timestamp = read_timestamp(folder)
    if bad_timestamp:
        problems.append(bad_timestamp)
    if (folder / expected) in found:
        path = folder / expected
    elif len(found) == 1 and len(lab.siblings) <= 1:
        path = found[0]
        problems.append(f"graded {path.name} as {expected}")
    elif len(lab.siblings) > 1:
        problems.append(f"no {expected} submitted: it scores 0")
        return Staged(folder.parent.name, lab, _blank(lab), problems, missing=True,
                      timestamp=timestamp)
    elif found:
        problems.append(f"no {expected}, and {len(found)} other notebooks: graded as blank")
        return Staged(folder.parent.name, lab, _blank(lab), problems, timestamp=timestamp)
    else:
        problems.append("no notebook submitted: graded as blank")
        return Staged(folder.parent.name, lab, _blank(lab), problems, timestamp=timestamp)
    nb, problem = _read(path)
    if problem:
        problems.append(f"{path.name} {problem}: graded as blank")
        nb = _blank(lab)
    return Staged(folder.parent.name, lab, nb, problems, timestamp=timestamp)


def stage_safely(folder: Path, lab: course.Lab) -> Staged:
    """`stage`, except that nothing a submission holds can stop the class: whatever goes wrong
    reading it, it is graded as the blank lab, and its status says so."""
    try:
        staged = stage(folder, lab)
        staged.digest  # noqa: B018  (it must be computable too; computed once, here)
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
        nb = nbformat.convert(upstream.read_notebook(text), 4)  # validated once, below
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


def timestamp_of(root: Path, staged: Staged) -> str | None:
    """The submission's timestamp.txt, if it is a date nbgrader can read (else None: stage()
    says so in the status, and the submission is graded as on time). Staging read it already
    (reading it means parsing the date: a class's task list and its saves asked again)."""
    return staged.timestamp or \
        read_timestamp(root / "submitted" / staged.student / staged.lab.name)[0]


def read_timestamp(folder: Path) -> tuple[str | None, str]:
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
