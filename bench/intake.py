"""The client's intake: how many graded notebooks per second `grade_class` takes into the
gradebook when the workers answer at once, for SQLite and for PostgreSQL.

    python bench/intake.py                          # 1000 notebooks into each database
    python bench/intake.py --notebooks 20000 --databases postgresql

On a cluster, many workers grade at once, and this one client process records every result:
the gradebook's rows (nbgrader's SaveAutoGrades and AssignLatePenalties), the autograded
notebook and its side files, and the ledger line. Whatever the cluster's size, the class is
recorded no faster than that; 100,000 notebooks in about half an hour need 50 a second.

It grades a few real submissions once, in this process (a right and a blank notebook of each
chosen lab, without the sandbox), then writes a class of synthetic students who each submitted
one of those (with a timestamp.txt, as collected), and runs `grade_class` on it with
`parallel.run` replaced by a cluster that answers every task at once with its ready result.
The time is the whole client path: staging every submission, saving every result, the ledger,
and grades.csv. Each database starts as `make release` leaves it (the labs' cells, no
student), made before the clock starts; PostgreSQL is a server of its own, started here
(tests/postgres_server.py) and stopped at the end.

It prints one line per database: the figure now (results saved in batches, one transaction
each) and, on a smaller class, before (each result saved alone by nbgrader's preprocessors,
each opening the gradebook itself: what `grade_class` did until the intake was batched).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_LABS = ["01_derivatives", "04_relu"]
DEFAULT_NOTEBOOKS = 1000
DEFAULT_BEFORE = 100  # the per-notebook path is slow: a smaller class shows its rate
DATABASES = ("sqlite", "postgresql")
TIMESTAMP = "2024-01-15 10:00:00.000000 UTC"


def _bench_grading():
    """bench/grading.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_grading", REPO / "bench" / "grading.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def make_course(dest: Path, labs: list[str]) -> dict[tuple[str, str], str]:
    """A course root at dest with the chosen labs, its cells recorded (as `make release`
    leaves it); returns each lab's right and blank submission: {(lab, kind): JSON}."""
    import nbformat

    from grader.grading import gradebook

    grading = _bench_grading()
    chosen = grading._chosen_labs(labs)
    dest.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", dest)
    for lab in chosen:
        for kind in ("solutions", "notebooks"):
            shutil.copytree(REPO / kind / lab.name, dest / kind / lab.name)
    gradebook.ensure_gradebook(dest)
    return {(lab.name, kind): nbformat.writes(grading._submission(lab, answers)) + "\n"
            for lab in chosen
            for kind, answers in (("right", grading._answers(lab)), ("blank", {}))}


def grade_templates(root: Path, sources: dict[tuple[str, str], str]) -> dict:
    """Each submission graded once, for real, by a worker's code in this process: the results
    the simulated cluster hands back."""
    from grader import course
    from grader.grading import gradebook, parallel

    names = {lab.name: lab.student.name for lab in course.labs(root)}
    files = gradebook.course_bundle(root)
    graded = {}
    for (lab, kind), source in sources.items():
        _progress(f"grading the {kind} {lab} once")
        result = parallel.grade_task(files, parallel.Task("template", lab, names[lab], source),
                                     sandbox=False, timeout=None)
        if not result.ok:
            raise SystemExit(f"the {kind} {lab} could not be graded: {result.error}\n"
                             f"{result.log[-2000:]}")
        graded[lab, kind] = result
    return graded


def submit(root: Path, notebooks: int, sources: dict[tuple[str, str], str]) -> int:
    """`notebooks` submissions under submitted/: students r000001 (right answers) and b000002
    (blank), alternately, each submitting every lab, with a timestamp.txt. Returns how many."""
    from grader import course

    names = {lab.name: lab.student.name for lab in course.labs(root)}
    labs = sorted({lab for lab, _ in sources})
    students = -(-notebooks // len(labs))
    for number in range(1, students + 1):
        kind = "right" if number % 2 else "blank"
        for lab in labs:
            folder = root / "submitted" / f"{kind[0]}{number:06d}" / lab
            folder.mkdir(parents=True)
            (folder / names[lab]).write_text(sources[lab, kind], encoding="utf-8")
            (folder / "timestamp.txt").write_text(TIMESTAMP)
    return students * len(labs)


def answering_at_once(graded: dict, asked: list[float]):
    """A stand-in for parallel.run: a cluster whose every task is finished already, so results
    come back as fast as the client takes them (students r... right, b... blank). `asked` gets
    the time the client sent its tasks, once it had staged every submission."""
    def run(files, tasks, **options):
        asked.append(time.perf_counter())
        for task in tasks:
            kind = "right" if task.student.startswith("r") else "blank"
            yield dataclasses.replace(graded[task.lab, kind], student=task.student)
    return run


def one_at_a_time():
    """The intake as it was: each result saved by nbgrader's code as it stands, its
    preprocessors each opening the gradebook and committing every change."""
    from grader.grading import intake

    return functools.partial(intake.save, by_nbgrader=True)


@dataclasses.dataclass
class Intake:
    database: str
    notebooks: int
    wall: float
    cpu: float  # the client process's own CPU time (not the database server's)
    staging: float  # of the wall time, staging every submission, before any task is sent

    @property
    def rate(self) -> float:
        return self.notebooks / self.wall

    @property
    def results_rate(self) -> float:
        """Results taken in a second once the tasks are sent: saved, ledger, grades.csv."""
        return self.notebooks / (self.wall - self.staging)


def intake(base: Path, name: str, database: str, template: Path, graded: dict, notebooks: int,
           sources: dict, server, before: bool = False) -> Intake:
    """A copy of the course with its class of `notebooks`, graded by the simulated cluster
    into `database`: the whole of grade_class timed."""
    from grader.grading import grade, gradebook, parallel

    root = base / name
    shutil.copytree(template, root)
    if database == "postgresql":
        url = server.database(name.replace("-", "_"))
        with (root / "nbgrader_config.py").open("a") as file:
            file.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
        (root / "gradebook.db").unlink()
        gradebook.ensure_gradebook(root)  # the labs' cells, released into it by nbgrader
        gradebook.course_bundle(root)  # the workers' cells, made again for the new config
    count = submit(root, notebooks, sources)
    asked: list[float] = []
    patches = [mock.patch.object(parallel, "run", answering_at_once(graded, asked))]
    if before:
        patches.append(mock.patch.object(grade.intake, "save", one_at_a_time()))
    _progress(f"{name}: {count} notebooks into {database}")
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        started, cpu = time.perf_counter(), time.process_time()
        outcomes = grade.grade_class(root, sandbox=False, progress=False)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    faults = [o for o in outcomes if o.is_fault]
    if faults or len(outcomes) != count:
        raise SystemExit(f"{name}: {len(outcomes)} outcomes of {count}, {len(faults)} faults: "
                         f"{faults[:3]}")
    shutil.rmtree(root)
    return Intake(database, count, wall, cpu, asked[0] - started)


def report(now: list[Intake], before: list[Intake]) -> list[str]:
    lines = []
    for run in now:
        shown = "SQLite" if run.database == "sqlite" else "PostgreSQL"
        line = (f"intake into {shown + ':':12} {run.notebooks} notebooks in {run.wall:6.1f} s   "
                f"{run.rate:6.1f} notebooks/s   (client CPU {1000 * run.cpu / run.notebooks:.1f} "
                f"ms a notebook; staging {run.staging:.1f} s, then the results at "
                f"{run.results_rate:.1f} notebooks/s")
        old = [b for b in before if b.database == run.database]
        if old:
            line += (f"; before, one at a time: {old[0].rate:.1f} notebooks/s on "
                     f"{old[0].notebooks}; {run.rate / old[0].rate:.1f}x")
        lines.append(line + ")")
    return lines


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/intake.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=DEFAULT_NOTEBOOKS,
                        help=f"notebooks in the class (default {DEFAULT_NOTEBOOKS})")
    parser.add_argument("--before", type=int, default=DEFAULT_BEFORE, metavar="N",
                        help="notebooks in the class saved one at a time, as before "
                             f"(default {DEFAULT_BEFORE}; 0: skip)")
    parser.add_argument("--labs", nargs="+", default=DEFAULT_LABS, metavar="LAB",
                        help=f"labs each student submits (default: {' '.join(DEFAULT_LABS)})")
    parser.add_argument("--databases", nargs="+", default=list(DATABASES), choices=DATABASES)
    args = parser.parse_args(argv)
    if args.notebooks < 1:
        parser.error("--notebooks must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from tests import postgres_server

    args = parse(argv)
    if "postgresql" in args.databases and postgres_server.missing():
        raise SystemExit(f"cannot time PostgreSQL: {postgres_server.missing()}")
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as folder, \
            contextlib.ExitStack() as stack:
        base = Path(folder)
        sources = make_course(base / "course", args.labs)
        graded = grade_templates(base / "course", sources)
        server = stack.enter_context(postgres_server.running()) \
            if "postgresql" in args.databases else None
        now, before = [], []
        for database in args.databases:
            if args.before:
                before.append(intake(base, f"before-{database}", database, base / "course",
                                     graded, args.before, sources, server, before=True))
            now.append(intake(base, f"now-{database}", database, base / "course", graded,
                              args.notebooks, sources, server))
        for line in report(now, before):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
