"""What `make grade` prints: a table per lab, the submissions with something to know, the ones
the grader failed on, and a plot of the scores. Every string from a submission is shown safely."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from grader import course
from grader.grading.outcomes import Outcome


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

    from grader import figures

    figures.use()  # the course's colours: the bars are 5.77:1 on white
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
