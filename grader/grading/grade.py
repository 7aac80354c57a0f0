"""Grading a whole class: `python -m grader grade`.

Submissions live where nbgrader expects them: submitted/<student>/<lab>/<notebook>.ipynb. Each
one is first *staged* (submissions.py): read, repaired where it can be (an old nbformat, a wrong
file name), so the student's file is never changed. A file that cannot be read as a notebook is
replaced by the blank lab, so it scores what a blank scores, and its status says why. Then
workers grade the staged submissions in parallel (parallel.py: nbgrader's autograde, with the
preprocessors that nbgrader_config.py names, the judge and the sandbox among them), and this
process alone saves each result in the gradebook (gradebook.py).

Every graded submission is recorded in build/graded.jsonl (outcomes.Ledger: one line, flushed to
disk, after its grades are saved), so a run that is killed and started again goes on where it
stopped, and a second run over the same submissions changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grader import course
from grader.grading import parallel
from grader.grading.configuration import config
from grader.grading.gradebook import course_bundle, ensure_gradebook, export, save, save_missing
from grader.grading.outcomes import Ledger, Outcome
from grader.grading.report import shown
from grader.grading.submissions import stage_safely, submissions, timestamp_of


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
        staged = stage_safely(folder, lab)
        if not force and ledger.is_done(staged):
            outcomes[staged.key] = ledger.done.get(staged.key) or \
                ledger.done[staged.student, lab.name, ""]
        elif staged.missing:
            outcomes[staged.key] = save_missing(root, staged)
            ledger.record(outcomes[staged.key])
        else:
            todo[staged.key] = staged
    if todo:
        tasks = [parallel.Task(s.student, s.lab.name, s.lab.student.name,
                               nbformat.writes(s.nb), timestamp_of(root, s))
                 for s in todo.values()]
        cfg = config(root, sandbox, timeout)
        bar = tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress)
        for graded in parallel.run(course_bundle(root), tasks, sandbox=sandbox,
                                   timeout=timeout, workers=workers, scheduler=scheduler):
            key = graded.student, graded.lab, graded.notebook
            outcome = save(root, todo[key], graded, cfg)
            if not outcome.is_fault:  # a grader error is tried again by the next run
                ledger.record(outcome)
            outcomes[key] = outcome
            bar.update()
        bar.close()
    export(root)
    for line in skipped:
        print(shown(line, limit=500))
    return [outcomes[student, lab.name, lab.student.name] for student, lab, _ in found]
