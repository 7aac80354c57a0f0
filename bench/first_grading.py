"""The first grading of an assignment an instructor brings: stock nbgrader against ours.

    python bench/first_grading.py                  # 6 students x 2 notebooks
    python bench/first_grading.py --students 30

The assignment is nbgrader's documented example, ps1 (two notebooks and an image; kept in
tests/nbgrader_files/ps1). It is put in `solutions/`, as the README's "Bring your own
assignment" says; the students submit, in turn, the solution, the blank release, and an answer
that reimplements what it should reuse. Then each of two copies is released and graded for the
first time, nothing made beforehand:

- stock: `nbgrader generate_assignment ps1` (the release and the gradebook), then
  `nbgrader autograde ps1`;
- ours: `make release` without running the solutions (`grading.gradebook.release`: the release, the
  gradebook and the workers' cells-only gradebook), then `grade_class`, which starts the Dask
  workers and their warm kernels' zygotes, and grades.

It prints both times in all and per notebook, and compares every grade cell's score; the exit
status is 1 if one differs. Part of `make bench`; tests/test_nbgrader_corpus.py runs it on three
students and asserts the scores.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PS1 = REPO / "tests" / "nbgrader_files" / "ps1"
KINDS = ("solution", "blank", "reimplements")


def _bench():
    """bench/grading.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_grading", REPO / "bench" / "grading.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass
class First:
    notebooks: int
    stock_setup: float  # generate_assignment
    stock_wall: float  # autograde
    our_setup: float  # grading.gradebook.release
    ours: float  # grade_class
    stock_scores: dict
    our_scores: dict
    problems: list[str]


def make_assignment(root: Path, students: int) -> None:
    """A course with ps1 in solutions/, not released yet, and `students` submissions."""
    from grader import course

    root.mkdir(parents=True)
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    shutil.copytree(PS1, root / "solutions" / "ps1")
    blank = root.parent / f"{root.name}-blank"  # the release the students got, made aside
    blank.mkdir()
    course.generate_student_versions(blank / "notebooks", f"sqlite:///{blank}/release.db", root)
    wrong = (PS1 / "problem1.ipynb").read_text(encoding="utf-8").replace(
        "return sum(squares(n))", "return sum(i ** 2 for i in range(1, n + 1))")
    assert "i ** 2 for i" in wrong, "ps1 changed: the wrong answer no longer applies"
    for i in range(students):
        kind = KINDS[i % len(KINDS)]
        folder = root / "submitted" / (kind if students <= len(KINDS) else f"{kind}-{i}") / "ps1"
        shutil.copytree(blank / "notebooks" / "ps1" if kind == "blank" else PS1, folder)
        if kind == "reimplements":
            (folder / "problem1.ipynb").write_text(wrong, encoding="utf-8")


def first_grading(base: Path, students: int) -> First:
    """Both gradings of one class, each on its own copy under `base`."""
    from grader import grading
    from grader.grading import sandbox

    bench = _bench()
    make_assignment(base / "ours", students)
    shutil.copytree(base / "ours", base / "stock")
    stock = bench.grade_stock(base / "stock", ["ps1"])
    sandbox.sandbox_problem()  # probed once, as for any grading on this machine
    started = time.perf_counter()
    grading.gradebook.release(base / "ours")
    our_setup = time.perf_counter() - started
    started = time.perf_counter()
    outcomes = grading.grade.grade_class(base / "ours", sandbox=True, progress=False)
    ours = time.perf_counter() - started
    problems = stock.problems + [f"{o.student}/{o.lab}/{o.notebook}: {o.status}" for o in outcomes
                                 if o.status != "ok"]
    return First(len(outcomes), stock.setup, stock.wall, our_setup, ours,
                 bench.grade_cell_scores(base / "stock"), bench.grade_cell_scores(base / "ours"),
                 problems)


def report(first: First) -> list[str]:
    n = first.notebooks
    stock, ours = first.stock_setup + first.stock_wall, first.our_setup + first.ours
    lines = [f"release and first grading of nbgrader's ps1: {n} notebooks",
             f"  stock nbgrader: {stock:6.1f} s ({stock / n:.2f} s a notebook: generate_assignment "
             f"{first.stock_setup:.1f} s, autograde {first.stock_wall:.1f} s)",
             f"  ours:           {ours:6.1f} s ({ours / n:.2f} s a notebook: release "
             f"{first.our_setup:.1f} s, grade {first.ours:.1f} s)",
             f"  stock / ours:   {stock / ours:.2f}"]
    same = sum(first.stock_scores.get(k) == v for k, v in first.our_scores.items())
    cells = len(first.stock_scores.keys() | first.our_scores.keys())
    lines.append(f"  grade cells with the same score: {same} of {cells}")
    lines += [f"  problem: {p}" for p in first.problems]
    return lines


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(prog="python bench/first_grading.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=6, help="submissions (default 6)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-first-") as folder:
        first = first_grading(Path(folder), args.students)
    for line in report(first):
        print(line, flush=True)
    same = first.stock_scores == first.our_scores and first.our_scores
    return 0 if same and not first.problems else 1


if __name__ == "__main__":
    sys.exit(main())
