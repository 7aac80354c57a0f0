"""The grading benchmark: stock nbgrader against ours, on one generated class, in one run.

    make bench                                     # the default class: a few minutes here
    make bench BENCH_ARGS="--students 200 --workers 2"
    python bench/grading.py --students 2 --labs 01_derivatives --keep /tmp/bench

It generates a class (`make_class`): every student submits every chosen lab, each exercise
either answered with the solution or left as the stub, so the scores spread from 0 to full, and
about a third of the class has everything right. Then it grades two copies of that class and
times each:

- stock: `nbgrader autograde LAB` for every lab, with a plain nbgrader_config.py (the course
  directories only), so nbgrader's own pipeline runs every cell, tests included, in the
  student's kernel. The time includes one nbgrader process start per lab: that is how stock
  nbgrader is run;
- ours: `grader.grading.grade_class`, in this process, with the course's nbgrader_config.py
  (the student's kernel in the sandbox when this machine can run it, the tests judged outside).

Setup is in neither time: both gradebooks are made first (`generate_assignment`, per lab for stock
and by `grading.gradebook.ensure_gradebook` for ours, which grade_class would otherwise do inside
the timed call), and the sandbox is probed once. The setup times are printed on their own line.

It also measures a floor: the time a notebook's code cells take to run by exec() in one warm
interpreter (torch and matplotlib imported, each lab run once before the clock starts), with the
test cells as grading runs them (hidden tests included). No kernel start, no imports, no
judging: what no grader can go below, per notebook.

Last, it compares every grade cell of every submission in the two gradebooks: the score must be
the same. The exit status is 0 if every score matched, 1 otherwise. It is a benchmark, not a
test: `make test` only checks that it runs on a tiny class and that the scores match
(tests/test_bench.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.utils import is_solution

from grader.grading.autograde import is_test

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LABS = ["01_derivatives", "02_partial_derivatives", "03_sum_trick", "04_relu"]
# Stock nbgrader takes 3.5-5 s a notebook on 2 idle cores (10-16 s on a busy machine): 6 students
# x 4 labs keeps the whole bench (setup, both gradings, the floor) at a few minutes.
DEFAULT_STUDENTS = 6
# A long run of ours alone, to show that nothing grows with the class (a leak of file
# descriptors once stopped all grading after about a hundred notebooks).
DEFAULT_STEADY = 300
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# The stock copy's configuration: where the course's notebooks are, and nothing else, so that
# `nbgrader autograde` runs its default pipeline (its own Execute preprocessor).
PLAIN_CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "autograd-labs"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
"""


# ---------------------------------------------------------------------------------------------
# The class


@dataclass
class Submission:
    student: str
    lab: str
    path: Path
    answered: int  # exercises answered with the solution
    exercises: int  # exercises in the lab


def make_class(dest: Path, students: int, labs: list[str] = DEFAULT_LABS,
               seed: int = 0) -> list[Submission]:
    """A course root at dest: the config, the chosen labs, and a submission per student and lab.

    Every third student (s0001, s0004, ...) answers everything; each other one answers a random
    number of each lab's exercises (none to all but one, drawn from random.Random(seed)), so a
    third of the class scores full marks, the rest spread from 0 up, and the same seed gives the
    same class, byte for byte.
    """
    from grader import course

    chosen = _chosen_labs(labs)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", dest)
    for lab in chosen:
        for kind in ("solutions", "notebooks"):
            shutil.copytree(REPO / kind / lab.name, dest / kind / lab.name)
    answers = {lab.name: _answers(lab) for lab in chosen}
    rng = random.Random(seed)
    made = []
    for number in range(1, students + 1):
        student = f"s{number:04d}"
        for lab in chosen:
            ids = sorted(answers[lab.name])
            some = rng.sample(ids, rng.randint(0, max(len(ids) - 1, 0)))
            answered = ids if number % 3 == 1 else some
            nb = _submission(lab, {i: answers[lab.name][i] for i in answered})
            path = dest / "submitted" / student / lab.name / lab.student.name
            path.parent.mkdir(parents=True)
            path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
            made.append(Submission(student, lab.name, path, len(answered), len(ids)))
    assert {lab.name for lab in course.labs(dest)} == {lab.name for lab in chosen}
    return made


def _chosen_labs(names: list[str]):
    from grader import course

    labs = {lab.name: lab for lab in course.labs(REPO)}
    unknown = [name for name in names if name not in labs]
    if unknown:
        raise SystemExit(f"no such lab: {', '.join(unknown)} (the labs: {', '.join(labs)})")
    return [labs[name] for name in names]


def _is_answer(cell) -> bool:
    return cell.cell_type == "code" and is_solution(cell)


def _answers(lab) -> dict[str, str]:
    """grade_id -> the solution's code, as a student would write it (without the markers)."""
    solution = nbformat.read(lab.solution, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]:
            "\n".join(line for line in cell.source.splitlines()
                      if line.strip() not in SOLUTION_MARKERS)
            for cell in solution.cells if _is_answer(cell)}


def _submission(lab, answered: dict[str, str]) -> nbformat.NotebookNode:
    """The student lab with the given answers filled in, the other stubs left, no outputs."""
    nb = nbformat.read(lab.student, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if _is_answer(cell) and cell.metadata["nbgrader"]["grade_id"] in answered:
            cell.source = answered[cell.metadata["nbgrader"]["grade_id"]]
    nbformat.validate(nb)
    return nb


# ---------------------------------------------------------------------------------------------
# Grading: stock nbgrader and ours


def _nbgrader(*args: str, cwd: Path, log: Path) -> subprocess.CompletedProcess:
    """`nbgrader ARGS` from this environment, its log kept in a file.

    The environment's bin goes first on PATH (nbgrader runs `alembic` by name), and nothing else
    is changed: the kernels that stock nbgrader starts inherit this environment.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with log.open("a") as file:
        return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd,
                              env=dict(os.environ, PATH=path), stdout=file,
                              stderr=subprocess.STDOUT)


@dataclass
class Run:
    setup: float = 0.0  # seconds, not in the wall time
    wall: float = 0.0
    problems: list[str] = field(default_factory=list)


def grade_stock(root: Path, labs: list[str]) -> Run:
    """Stock nbgrader on its own copy: gradebook per lab (untimed), then autograde per lab."""
    (root / "nbgrader_config.py").write_text(PLAIN_CONFIG)
    logs = root / "logs"
    logs.mkdir()
    run = Run()
    started = time.perf_counter()
    for lab in labs:
        log = logs / f"generate_assignment-{lab}.log"
        if _nbgrader("generate_assignment", lab, "--force", cwd=root, log=log).returncode:
            raise SystemExit(f"stock nbgrader could not generate {lab}:\n{log.read_text()}")
    run.setup = time.perf_counter() - started
    started = time.perf_counter()
    for lab in labs:
        _progress(f"stock nbgrader: autograde {lab}")
        done = _nbgrader("autograde", lab, cwd=root, log=logs / f"autograde-{lab}.log")
        if done.returncode:
            run.problems.append(f"nbgrader autograde {lab} exited with status "
                                f"{done.returncode} (log: {logs / f'autograde-{lab}.log'})")
    run.wall = time.perf_counter() - started
    return run


def grade_ours(root: Path, sandbox: bool, extra: dict) -> Run:
    """grade_class on its own copy, after the gradebook it would otherwise make inside the timed
    call (by generate_assignment, as for stock). The sandbox probe is cached for the process:
    sandbox_status() ran it before anything was timed. What grade_class starts or imports on
    its own (the pipeline, torch for the judge) stays in the time, as stock's process starts
    do in its."""
    from grader import grading

    run = Run()
    started = time.perf_counter()
    grading.gradebook.ensure_gradebook(root)
    run.setup = time.perf_counter() - started
    _progress("ours: grade_class")
    started = time.perf_counter()
    outcomes = grading.grade.grade_class(root, sandbox=sandbox, progress=False, **extra)
    run.wall = time.perf_counter() - started
    run.problems = [f"{o.student}/{o.lab}: {o.status}" for o in outcomes
                    if o.is_fault]
    return run


# ---------------------------------------------------------------------------------------------
# Steady: a long run of ours, watching what the grader's processes hold


def held_by_the_grader() -> tuple[int, int]:
    """The open file descriptors and threads of this process and of every process under it that
    runs as root (the Dask workers and the zygotes; not the kernels, which come and go under
    uids of their own), added up."""
    return _held(_tree(os.getpid()))


class Sampler:
    """Every `every` seconds, what `measure()` says (by default, held_by_the_grader)."""

    def __init__(self, every: float = 1.0, measure=held_by_the_grader):
        import threading

        self.measure = measure
        self.samples: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(self.measure())

    def early_and_late(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The most held over the second tenth of the run (after warm-up) and over its last."""
        tenth = max(1, len(self.samples) // 10)
        early = self.samples[tenth:2 * tenth] or self.samples[:1]
        late = self.samples[-tenth:]
        return (max(f for f, _ in early), max(t for _, t in early)), \
            (max(f for f, _ in late), max(t for _, t in late))


def _tree(root: int, any_owner: bool = False) -> list[int]:
    """`root` and its descendants that run as root (as anyone, with `any_owner`)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                if any_owner or entry.stat().st_uid == os.geteuid():
                    children.setdefault(parent, []).append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _held(pids: list[int]) -> tuple[int, int]:
    fds = threads = 0
    for pid in pids:
        try:
            fds += len(os.listdir(f"/proc/{pid}/fd"))
            threads += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return fds, threads


def steady(base: Path, notebooks: int, labs: list[str], seed: int, sandbox: bool,
           extra: dict) -> list[str]:
    """Ours on a class of about `notebooks` notebooks, with a Sampler running: the lines to
    print. Nothing should grow with the class: what the grader holds late is what it held early.
    """
    from grader import grading

    students = max(1, -(-notebooks // len(labs)))
    _progress(f"steady: ours on {students} students x {len(labs)} labs")
    made = make_class(base / "steady", students, labs, seed)
    grading.gradebook.ensure_gradebook(base / "steady")
    started = time.perf_counter()
    with Sampler() as sampler:
        outcomes = grading.grade.grade_class(base / "steady", sandbox=sandbox, progress=False,
                                             **extra)
    wall = time.perf_counter() - started
    lines = [f"steady: {_count(len(made), 'notebook')} graded by ours in {wall:.1f} s "
             f"({len(made) / wall:.2f} notebooks/s)"]
    if len(sampler.samples) >= 2:
        (fds0, threads0), (fds1, threads1) = sampler.early_and_late()
        lines.append(f"steady: the grader's processes held {fds0} file descriptors and "
                     f"{threads0} threads early, {fds1} and {threads1} at the end")
    faults = [o for o in outcomes if o.is_fault]
    lines.extend(f"steady: {o.student}/{o.lab}: {o.status}" for o in faults)
    lines.append(f"steady: {len(faults)} grader errors")
    return lines


def sandbox_status() -> tuple[bool, str]:
    """Whether ours grades in the sandbox here (as root, where bubblewrap works), and why not."""
    from grader.grading import sandbox

    problem = sandbox.sandbox_problem()
    return problem is None, "on" if problem is None else f"off: {problem}"


# ---------------------------------------------------------------------------------------------
# Scores


Key = tuple[str, str, str, str]  # student, lab, notebook, grade cell


def grade_cell_scores(root: Path) -> dict[Key, float]:
    """Every grade cell's score in the gradebook at root (the manual score where one is set)."""
    from nbgrader.api import Gradebook

    from grader import grading

    scores = {}
    with Gradebook(grading.configuration.db_url(root)) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        key = (submission.student_id, assignment.name, notebook.name, grade.name)
                        scores[key] = float(grade.score)
    return scores


@dataclass
class Comparison:
    cells: int
    submissions: int
    differ: list[str]
    missing: list[str]

    @property
    def matched(self) -> int:
        return self.cells - len(self.differ) - len(self.missing)


def compare(stock: dict[Key, float], ours: dict[Key, float]) -> Comparison:
    """Which grade cells got different scores, and which one of the two never scored."""
    keys = sorted(stock.keys() | ours.keys())
    differ, missing = [], []
    for key in keys:
        scores = [f"{s[key]:g}" if key in s else "missing" for s in (stock, ours)]
        line = f"{'/'.join(key)}: stock {scores[0]}, ours {scores[1]}"
        if key not in stock or key not in ours:
            missing.append(line)
        elif stock[key] != ours[key]:
            differ.append(line)
    return Comparison(len(keys), len({key[:2] for key in keys}), differ, missing)


# ---------------------------------------------------------------------------------------------
# The floor


def floor(root: Path, submissions: list[Submission], sample: int | None, seed: int) -> list[float]:
    """Seconds each notebook's code cells take in one warm interpreter (see _floor_worker).

    It runs in a subprocess of its own, so that nothing this process has imported or set up
    counts for or against it.
    """
    chosen = sorted(submissions, key=lambda s: (s.student, s.lab))
    if sample is not None and sample < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, sample),
                        key=lambda s: (s.student, s.lab))
    tests = {}
    for lab in _chosen_labs(sorted({s.lab for s in chosen})):
        tests[lab.name] = {c.metadata["nbgrader"]["grade_id"]: c.source
                           for c in nbformat.read(lab.solution, as_version=4).cells
                           if is_test(c)}
    job = {"notebooks": [{"lab": s.lab, "cells": _cells_as_graded(s.path, tests[s.lab])}
                         for s in chosen],
           "out": str(root / "floor.json")}
    job_path, log = root / "floor-job.json", root / "floor.log"
    job_path.write_text(json.dumps(job))
    with log.open("w") as file:  # the notebooks' warnings go to the log, their prints nowhere
        done = subprocess.run([sys.executable, __file__, "--floor-of", str(job_path)],
                              cwd=root, stdout=subprocess.DEVNULL, stderr=file)
    if done.returncode:
        raise SystemExit(f"the floor's run failed:\n{log.read_text()[-2000:]}")
    return json.loads((root / "floor.json").read_text())


def _cells_as_graded(path: Path, tests: dict[str, str]) -> list[str]:
    """The notebook's code cells, with each test cell's source as grading restores it (hidden
    tests included); IPython's magics and shell escapes (%, !) dropped, since exec() has none."""
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
            continue
        source = tests.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source) \
            if is_test(cell) else cell.source
        cells.append("\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    return cells


def _floor_worker(job_path: Path) -> None:
    """Run in the floor's subprocess: time each notebook, write the times to job["out"].

    Warm means torch and matplotlib (Agg) imported, and each lab run once, untimed, before the
    clock starts: a one-off import (ipywidgets, sympy, grader.checks) would otherwise be charged
    to whichever notebook comes first. Each notebook gets a fresh namespace and an empty
    temporary directory as cwd; a cell that raises (a stub's NotImplementedError, the checks
    that call it) is caught and the next cell runs, as in a kernel with allow_errors.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch  # noqa: F401

    job = json.loads(job_path.read_text())
    home = os.getcwd()

    def run(cells: list[str]) -> float:
        checks = sys.modules.get("grader.checks")
        if checks is not None:
            checks.RESULTS.clear()  # a fresh kernel starts with no results recorded
        with tempfile.TemporaryDirectory(prefix="floor-") as scratch:
            os.chdir(scratch)
            namespace = {"__name__": "__main__"}
            started = time.perf_counter()
            for source in cells:
                try:
                    exec(compile(source, "<cell>", "exec"), namespace)
                except (Exception, SystemExit):
                    pass
            elapsed = time.perf_counter() - started
            os.chdir(home)
        plt.close("all")
        return elapsed

    first_of_each_lab = {nb["lab"]: nb for nb in reversed(job["notebooks"])}.values()
    for nb in first_of_each_lab:
        run(nb["cells"])
    times = [run(nb["cells"]) for nb in job["notebooks"]]
    Path(job["out"]).write_text(json.dumps(times))


# ---------------------------------------------------------------------------------------------
# The run


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _workdir(keep: Path | None):
    """Where the class and its two copies go: --keep DIR (left there), else a temporary one."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
            yield Path(folder)
        return
    keep = keep.resolve()
    if keep.exists() and any(keep.iterdir()):
        raise SystemExit(f"--keep {keep}: the folder is not empty")
    keep.mkdir(parents=True, exist_ok=True)
    yield keep


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/grading.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=DEFAULT_STUDENTS,
                        help=f"students in the class (default {DEFAULT_STUDENTS})")
    parser.add_argument("--labs", nargs="+", default=DEFAULT_LABS, metavar="LAB",
                        help=f"labs each student submits (default: {' '.join(DEFAULT_LABS)})")
    parser.add_argument("--seed", type=int, default=0, help="the class's random seed")
    parser.add_argument("--workers", type=int, help="passed to grade_class as workers=")
    parser.add_argument("--scheduler", help="passed to grade_class as scheduler=")
    parser.add_argument("--floor-sample", type=int, metavar="K",
                        help="time the floor on K notebooks (default: every one)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="make everything in DIR and leave it there")
    parser.add_argument("--skip-stock", action="store_true",
                        help="only ours and the floor: no stock run, no comparison")
    parser.add_argument("--steady", type=int, default=DEFAULT_STEADY, metavar="N",
                        help="then grade about N notebooks with ours alone, watching the "
                             f"grader's descriptors and threads (default {DEFAULT_STEADY}; "
                             "0: skip)")
    parser.add_argument("--floor-of", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students must be at least 1")
    return args


def report(args, n: int, sandbox: str, workers: int | None, stock: Run | None, ours: Run,
           floor_times: list[float], comparison: Comparison | None) -> list[str]:
    """The table: the class, each grader's wall time and rate, the ratio, the floor, scores."""
    shown = "default" if workers is None else workers
    labs = len(args.labs)
    lines = [f"class: {_count(args.students, 'student')} x {_count(labs, 'lab')} = "
             f"{_count(n, 'notebook')} (sandbox: {sandbox}, workers: {shown})"]
    setup = f"ours {ours.setup:.1f} s" if stock is None else \
        f"stock {stock.setup:.1f} s, ours {ours.setup:.1f} s"
    lines.append(f"setup, in neither time: the gradebooks, by generate_assignment ({setup}); "
                 f"the sandbox probe")
    if stock is None:
        lines.append("stock nbgrader autograde   skipped (--skip-stock)")
    else:
        lines.append(f"stock nbgrader autograde   wall {stock.wall:7.1f} s   "
                     f"{n / stock.wall:.2f} notebooks/s   "
                     f"({_count(labs, 'run')} of nbgrader autograde LAB)")
    lines.append(f"ours (grader grade)        wall {ours.wall:7.1f} s   "
                 f"{n / ours.wall:.2f} notebooks/s")
    if stock is not None:
        lines.append(f"ratio                      {stock.wall / ours.wall:.1f}x")
    per_worker = f"   (ours: {ours.wall / n:.2f} s per notebook)" if workers is None else \
        f"   (ours: {ours.wall * max(workers, 1) / n:.2f} s per notebook per worker)"  # 0: inline
    lines.append(f"floor (cells in a warm interpreter)   "
                 f"{sum(floor_times) / len(floor_times):.2f} s per notebook "
                 f"(of {len(floor_times)}){per_worker}")
    for run, name in ((stock, "stock"), (ours, "ours")):
        lines.extend(f"{name}: {problem}" for problem in (run.problems if run else []))
    if comparison is None:
        lines.append("scores: not compared (--skip-stock)")
    elif comparison.matched == comparison.cells:
        lines.append(f"scores: all {comparison.cells} grade cells of "
                     f"{_count(comparison.submissions, 'submission')} match")
    else:
        lines.append(f"scores: {comparison.matched} of {comparison.cells} grade cells of "
                     f"{_count(comparison.submissions, 'submission')} match "
                     f"({len(comparison.differ)} differ, {len(comparison.missing)} scored by "
                     f"one only)")
        lines.extend(f"  {line}" for line in (comparison.differ + comparison.missing)[:10])
    if comparison is not None and comparison.submissions < n:
        lines.append(f"scores: only {comparison.submissions} of {n} submissions have grades "
                     f"in either gradebook")
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.floor_of:
        _floor_worker(args.floor_of)
        return 0
    extra = {name: getattr(args, name) for name in ("workers", "scheduler")
             if getattr(args, name) is not None}
    sandbox, sandbox_shown = sandbox_status()
    workers = extra.get("workers")  # None: grade_class's default, one per core
    with _workdir(args.keep) as base:
        _progress(f"making the class in {base / 'class'}")
        submissions = make_class(base / "class", args.students, args.labs, args.seed)
        shutil.copytree(base / "class", base / "ours")
        stock = comparison = None
        if not args.skip_stock:
            shutil.copytree(base / "class", base / "stock")
            stock = grade_stock(base / "stock", args.labs)
        ours = grade_ours(base / "ours", sandbox, extra)
        if stock is not None:
            comparison = compare(grade_cell_scores(base / "stock"),
                                 grade_cell_scores(base / "ours"))
        _progress("the floor")
        floor_times = floor(base, submissions, args.floor_sample, args.seed)
        for line in report(args, len(submissions), sandbox_shown, workers, stock, ours,
                           floor_times, comparison):
            print(line, flush=True)
        if args.steady:
            for line in steady(base, args.steady, args.labs, args.seed, sandbox, extra):
                print(line, flush=True)
    if comparison is None:
        return 0
    every_one = comparison.submissions == len(submissions) and comparison.cells > 0
    return 0 if every_one and comparison.matched == comparison.cells else 1


if __name__ == "__main__":
    sys.exit(main())
