"""Where things are in the course, and the instructor's tasks on the whole course.

The course root holds nbgrader_config.py. Each lab is one nbgrader assignment:
solutions/<lab>/<name>.ipynb is what the instructor writes, notebooks/<lab>/<name>.ipynb is what
students get. Labs are named with a number first, so sorting them gives the teaching order. An
assignment an instructor brings may have several notebooks (and data files beside them): each
of its notebooks is a `Lab` of its own here, graded on its own, with the same `name`.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.course import notebooks

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Lab:
    """One notebook of an assignment: `name` is the assignment's (the folder's)."""

    name: str
    solution: Path
    student: Path
    siblings: tuple[str, ...] = ()  # the file names of all the assignment's notebooks

    @property
    def is_course_lab(self) -> bool:
        """One of the course's own labs (a folder named like 01_derivatives), to which the
        course's rules apply (objectives, times, three graded exercises, a clean run); an
        assignment an instructor brings (ps1, say) is graded the same way, without them."""
        return re.fullmatch(r"[0-9]{2}_[a-z0-9_]+", self.name) is not None

    @property
    def unit(self) -> str:
        """How the class's outcomes name it: the assignment, and the notebook if it has more."""
        return self.name if len(self.siblings) <= 1 else f"{self.name}/{self.solution.stem}"


def labs(root: Path = ROOT) -> list[Lab]:
    """Every notebook of every assignment, in teaching order."""
    found = []
    for folder in sorted(p for p in (root / "solutions").iterdir()
                         if p.is_dir() and not p.name.startswith(".")) \
            if (root / "solutions").is_dir() else []:
        names = tuple(sorted(p.name for p in folder.glob("*.ipynb")))
        found.extend(Lab(folder.name, folder / name, root / "notebooks" / folder.name / name,
                         names) for name in names)
    return found


def course_labs(root: Path = ROOT) -> list[Lab]:
    """The course's own labs, in teaching order (not the assignments an instructor brought)."""
    return [lab for lab in labs(root) if lab.is_course_lab]


def refresh_solution(lab: Lab) -> None:
    """Run a solution notebook top to bottom and save it with fresh, normalized outputs.

    A course lab must run without an error (except in cells tagged raises-exception); an
    assignment brought from elsewhere may have cells that raise (nbgrader's own examples do)."""
    nb = notebooks.execute(notebooks.read(lab.solution), cwd=lab.solution.parent,
                           allow_errors=not lab.is_course_lab)
    notebooks.write(notebooks.normalize(nb), lab.solution)


def generate_student_versions(release_dir: Path, db_url: str, root: Path = ROOT,
                              only: set[str] | None = None) -> None:
    """Run nbgrader's generate_assignment on every lab (or the assignments named in `only`),
    writing the student versions to release_dir.

    db_url is the gradebook that records each lab's cells and checksums; autograding restores
    hidden and tampered test cells from it, so the instructor's real release uses the real one.
    """
    chosen = [lab for lab in labs(root) if only is None or lab.name in only]
    for name in dict.fromkeys(lab.name for lab in chosen):  # once per assignment
        _nbgrader("generate_assignment", name, "--force", "--log-level=ERROR",
                  f"--CourseDirectory.release_directory={release_dir}",
                  f"--CourseDirectory.db_url={db_url}", cwd=root)
    for lab in chosen:
        generated = release_dir / lab.name / lab.solution.name
        notebooks.write(notebooks.normalize(notebooks.read(generated)), generated)


@dataclass
class Validation:
    """What nbgrader's validation of one notebook found."""
    passed: list[str]   # grade_ids of the graded cells that got full marks
    failed: list[str]   # grade_ids of those that did not
    executed: nbformat.NotebookNode  # the notebook as nbgrader ran it, with its outputs


def validate(path: Path) -> Validation:
    """Validate one notebook the way `nbgrader validate` does.

    nbgrader's Validator reports either the failing or (with --invert) the passing cells, each
    from a run of its own; this runs its preprocessors once and asks it for both.
    """
    from grader.grading import upstream

    path = path.resolve()
    with contextlib.chdir(path.parent):
        passed, failed, nb = upstream.validate_both_ways(notebooks.read(path))

    def ids(cells):
        return [c.metadata["nbgrader"]["grade_id"] for c in cells]

    return Validation(ids(passed), ids(failed), nb)


def _path_with_our_tools() -> str:
    """PATH with this environment's programs first: nbgrader runs `alembic` by name when it
    makes a new gradebook."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _nbgrader(*args: str, cwd: Path) -> None:
    env = dict(os.environ, PYTHONWARNINGS="ignore", PATH=_path_with_our_tools())
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, check=True, env=env)


@contextlib.contextmanager
def nbgrader_in_process():
    """Around a call into nbgrader in this process (its gradebook, autograde, feedback): its
    `alembic` found in this environment, and the SQLAlchemy autoflush warnings that its
    gradebook code trips on every submission kept quiet. Both undone afterwards."""
    old = os.environ.get("PATH")
    os.environ["PATH"] = _path_with_our_tools()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not in session.*")
            yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old
