"""What grading a MOOC takes: each lab's cost per notebook on one core, a worker's memory, and
the workers and memory a class of N notebooks needs to be graded within a deadline.

    python bench/cluster.py [--students 3] [--workers 2] [--notebooks 100000] [--hours 6]

A class of right, blank and half-done submissions of every lab (bench/grading.py's make_class)
is graded by the workers of a local Dask cluster, one per core, exactly as `grader grade` sends
them (parallel.run), without the client's gradebook writes (bench/intake.py measures those).
Each worker reports how long each notebook took it; a sampler adds up the proportional memory
(PSS) of every process under this one (workers, zygotes, kernels) once a second.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def memory_under_this_process() -> int:
    """The PSS of every process under this one (workers, zygotes, kernels), added up."""
    from grading import _tree  # bench/grading.py

    return sum(_pss(pid) for pid in _tree(os.getpid(), any_owner=True)[1:])


def _pss(pid: int) -> int:
    """A process's proportional set size in bytes (shared pages divided among their sharers)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def tasks_of(root: Path):
    """The class's submissions as grader grade sends them to its workers."""
    from grader.grading import parallel
    from grader.grading.submissions import stage_safely, submissions, timestamp_of

    found, _ = submissions(root)
    staged = [stage_safely(folder, lab) for _, lab, folder in found]
    return [parallel.Task(s.student, s.lab.name, s.lab.student.name, nbformat.writes(s.nb),
                          timestamp_of(root, s)) for s in staged]


def parse(argv):
    parser = argparse.ArgumentParser(prog="python bench/cluster.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=3,
                        help="students, each submitting every lab (default 3)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="workers, one per core (default: this machine's cores)")
    parser.add_argument("--notebooks", type=int, default=100_000,
                        help="the MOOC's notebooks, for the arithmetic (default 100000)")
    parser.add_argument("--hours", type=float, default=6.0,
                        help="the deadline for grading them, in hours (default 6)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from grading import Sampler, make_class  # bench/grading.py

    from grader import course
    from grader.grading import gradebook, parallel, sandbox

    args = parse(argv)
    problem = sandbox.sandbox_problem()
    if problem:
        print(f"cannot grade in the sandbox here: {problem}", file=sys.stderr)
        return 2
    labs = [lab.name for lab in course.labs(REPO)]
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as base:
        root = Path(base) / "class"
        make_class(root, args.students, labs)
        files, tasks = gradebook.course_bundle(root), tasks_of(root)
        started = time.perf_counter()
        with Sampler(measure=memory_under_this_process) as memory:
            results = list(parallel.run(files, tasks, sandbox=True, timeout=None,
                                        workers=args.workers))
        wall = time.perf_counter() - started
    return report(args, results, wall, max(memory.samples, default=0))


def report(args, results, wall: float, peak: int) -> int:
    failed = [r for r in results if not r.ok]
    per_lab: dict[str, list[float]] = defaultdict(list)
    for result in results:
        per_lab[result.lab].append(result.seconds)
    print(f"class: {args.students} students x {len(per_lab)} labs = {len(results)} notebooks, "
          f"{args.workers} workers on {os.cpu_count()} cores, in the sandbox")
    print(f"{'lab':24} {'notebooks':>9} {'s per notebook in a worker':>27} {'slowest':>8}")
    for lab, seconds in sorted(per_lab.items()):
        print(f"{lab:24} {len(seconds):9d} {sum(seconds) / len(seconds):27.2f} "
              f"{max(seconds):8.2f}")
    busy = sum(r.seconds for r in results)
    per_notebook = wall * args.workers / len(results)  # core-seconds, start-up included
    print(f"all labs: {busy / len(results):.2f} s per notebook in a worker; wall {wall:.1f} s, "
          f"{len(results) / wall:.2f} notebooks/s, so {per_notebook:.2f} core-seconds per "
          f"notebook with the cluster's start")
    worker_memory = peak / args.workers
    print(f"memory: at most {peak / 2**30:.2f} GiB for the {args.workers} workers at once "
          f"(PSS of workers, zygotes and kernels), {worker_memory / 2**30:.2f} GiB per worker")
    needed = math.ceil(args.notebooks * per_notebook / (args.hours * 3600))
    print(f"a MOOC of {args.notebooks} notebooks in {args.hours:g} hours: {needed} workers "
          f"(one core each) and {needed * worker_memory / 2**30:.0f} GiB in all")
    for result in failed:
        print(f"not graded: {result.student}/{result.lab}: {result.error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
