"""How long the students' instant checks take: each must answer well under a second.

For each lab, the solution's code cells run in order in this interpreter (in a namespace of their
own, in a temporary directory, with matplotlib drawing off screen). At each graded test cell, what
the student runs instead is timed: the cell as the student lab in notebooks/ has it, without the
hidden tests. Each is run a few times; the first run, which pays for any import, counts too.

    python bench/checks.py [--labs 01_derivatives ...] [--repeats 5]

prints one line per lab (its number of checks, the median and the slowest time of a check, in
ms) and one for all, and exits with 1 if any check took 1 s or more.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ["MPLBACKEND"] = "Agg"  # before matplotlib is imported, here or by a cell
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the course's grader package

from grader import course
from grader.course import notebooks  # noqa: E402

BOUND = 1.0  # seconds: the "well under a second", as a hard limit


def is_check(cell) -> bool:
    return cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade", False)


def run_cell(source: str, name: str, namespace: dict) -> None:
    exec(compile(source, name, "exec"), namespace)


def time_lab(lab: course.Lab, repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each visible check of one lab, by the check cell's id."""
    import matplotlib.pyplot as plt

    visible = {cell.id: cell.source for cell in notebooks.read(lab.student).cells
               if is_check(cell)}
    namespace: dict = {"__name__": "__main__"}
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp), \
            contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-interactive.*")  # plt.show() on Agg
        for cell in notebooks.read(lab.solution).cells:
            if cell.cell_type != "code":
                continue
            name = f"<{lab.name}:{cell.id}>"
            if is_check(cell):
                if cell.id not in visible:
                    raise SystemExit(f"{lab.name}: check cell {cell.id} is not in {lab.student}")
                runs = times[cell.id] = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    run_cell(visible[cell.id], name, namespace)
                    runs.append(time.perf_counter() - start)
            elif "raises-exception" in cell.metadata.get("tags", []):
                with contextlib.suppress(Exception):
                    run_cell(cell.source, name, namespace)
            else:
                run_cell(cell.source, name, namespace)
            plt.close("all")
    return times


def main(argv: list[str] | None = None) -> int:
    labs = course.labs()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labs", nargs="+", metavar="LAB", choices=[lab.name for lab in labs],
                        help="only these labs (default: every lab)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each check (default 5)")
    args = parser.parse_args(argv)
    if args.labs:
        labs = [lab for lab in labs if lab.name in args.labs]

    print(f"{'lab':24} {'checks':>6} {'median ms':>10} {'max ms':>10}", flush=True)
    every: list[float] = []
    slow: list[str] = []
    count = 0
    for lab in labs:
        times = time_lab(lab, args.repeats)
        runs = [t for ts in times.values() for t in ts]
        print(f"{lab.name:24} {len(times):6d} {statistics.median(runs) * 1e3:10.2f} "
              f"{max(runs) * 1e3:10.2f}", flush=True)
        every += runs
        count += len(times)
        slow += [f"{lab.name}/{cell_id}: {max(ts):.2f} s" for cell_id, ts in times.items()
                 if max(ts) >= BOUND]
    print(f"{'all':24} {count:6d} {statistics.median(every) * 1e3:10.2f} "
          f"{max(every) * 1e3:10.2f}   ({args.repeats} runs of each check)")
    if slow:
        print(f"checks that took {BOUND:g} s or more:\n  " + "\n  ".join(slow))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
