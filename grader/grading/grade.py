"""Grading a whole class: `python -m grader grade`.

Submissions live where nbgrader expects them: submitted/<student>/<lab>/<notebook>.ipynb. Each
one is first *staged* (submissions.py): read, repaired where it can be (an old nbformat, a wrong
file name), so the student's file is never changed. A file that cannot be read as a notebook is
replaced by the blank lab, so it scores what a blank scores, and its status says why. Then
workers grade the staged submissions in parallel (parallel.py: nbgrader's autograde, with the
preprocessors that nbgrader_config.py names, the judge and the sandbox among them), and this
process alone saves the results in the gradebook (intake.py), several at a time: those that
came back while it saved the last ones, up to BATCH, in one transaction, so that a cluster's
results are taken in as fast as it sends them (bench/intake.py measures it).

Every graded submission is recorded in build/graded.jsonl (outcomes.Ledger: one line, flushed to
disk, after its grades are committed), so a run that is killed and started again goes on where
it stopped, and a second run over the same submissions changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from grader import course
from grader.grading import intake, parallel
from grader.grading.configuration import config
from grader.grading.gradebook import course_bundle, ensure_gradebook, export, save_missing
from grader.grading.outcomes import Ledger, Outcome
from grader.grading.report import shown
from grader.grading.submissions import Staged, stage_safely, submissions, timestamp_of

# Results saved in one transaction, at most; and how long the first of them may wait for more.
# Each transaction costs a commit (a disk sync), so a batch of a second's results makes a fast
# cluster's intake cost about a commit a second; a slow one's is saved as it comes.
BATCH = 200
BATCH_SECONDS = 1.0


def grade_class(root: Path = course.ROOT, *, sandbox: bool = True, force: bool = False,
                progress: bool = True, timeout: int | None = None, workers: int | None = None,
                scheduler: str | None = None) -> list[Outcome]:
    """Grade every submission under submitted/; write grades.csv; return each outcome.

    workers: grading processes on this machine (default: one per core; 0 grades here, one
    after another); scheduler: the address of a Dask scheduler to grade on instead.
    """
    from tqdm import tqdm

    if sandbox and not scheduler:  # on a cluster, each worker checks its own
        from grader.grading import sandbox as sandbox_module

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
        staged = stage_safely(folder, lab).lightened()
        if not force and ledger.is_done(staged):
            outcomes[staged.key] = ledger.done.get(staged.key) or \
                ledger.done[staged.student, lab.name, ""]
        elif staged.missing:
            outcomes[staged.key] = save_missing(root, staged)
            ledger.record(outcomes[staged.key])
        else:
            todo[staged.key] = staged
    if todo:
        tasks = [parallel.Task(s.student, s.lab.name, s.lab.student.name, s.source,
                               timestamp_of(root, s))
                 for s in todo.values()]
        cfg = config(root, sandbox, timeout)
        bar = tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress)
        results = parallel.run(course_bundle(root), tasks, sandbox=sandbox, timeout=timeout,
                               workers=workers, scheduler=scheduler)
        outcomes.update(_take(root, results, todo, ledger, cfg, bar.update))
        bar.close()
    export(root)
    for line in skipped:
        print(shown(line, limit=500))
    return [outcomes[student, lab.name, lab.student.name] for student, lab, _ in found]


def _take(root: Path, results: Iterable[parallel.Graded], todo: dict[tuple, Staged], ledger,
          cfg, each) -> dict[tuple, Outcome]:
    """Every result saved, BATCH at most in a transaction: a batch is saved once it is full or
    its first result has waited BATCH_SECONDS (seen when the next one comes, or at the end).
    Only then are its ledger lines written, so the ledger never holds a result whose grades
    were not committed. If the run stops early (Ctrl-C, a lost scheduler), the results that
    came back are saved before it stops. `each()` is called as each result comes."""
    outcomes, pending, first = {}, [], 0.0

    def save_pending() -> None:
        batch = [(todo[graded.student, graded.lab, graded.notebook], graded)
                 for graded in pending]
        pending.clear()
        saved = intake.save(root, batch, cfg)
        ledger.record_all([o for o in saved if not o.is_fault])  # a fault: graded again
        outcomes.update({(o.student, o.lab, o.notebook): o for o in saved})

    try:
        for graded in results:
            first = first if pending else time.monotonic()
            pending.append(graded)
            each()
            if len(pending) >= BATCH or time.monotonic() - first >= BATCH_SECONDS:
                save_pending()
    finally:
        if pending:
            save_pending()
    return outcomes
