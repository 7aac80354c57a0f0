"""What grading one submission came to (an Outcome), and the ledger of them that lets a run
that was stopped go on where it stopped."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: a staged submission is what the ledger is asked of
    from grader.grading.submissions import Staged

FAULT = "grader error"  # the status of a submission the grader failed to grade


@dataclass
class Outcome:
    """What grading one student's notebook of one assignment came to."""

    student: str
    lab: str  # the lab's (assignment's) name
    score: float
    max_score: float
    status: str
    digest: str = ""
    notebook: str = ""  # its file name (an assignment may have several notebooks)

    @property
    def is_fault(self) -> bool:
        """The grader failed, so this is no grade: it is graded again by the next run."""
        return self.status.startswith((FAULT, "not graded"))


class Ledger:
    """build/graded.jsonl: one line per graded submission, so a killed run can resume."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[tuple[str, str, str], Outcome] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    outcome = Outcome(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line cut short by a kill: that submission is graded again
                self.done[outcome.student, outcome.lab, outcome.notebook] = outcome

    def is_done(self, staged: Staged) -> bool:
        previous = self.done.get(staged.key)
        if previous is None and len(staged.lab.siblings) <= 1:  # a line from before notebooks
            previous = self.done.get((staged.student, staged.lab.name, ""))
        return previous is not None and previous.digest == staged.digest and \
            not previous.is_fault

    def record(self, outcome: Outcome) -> None:
        self.record_all([outcome])

    def record_all(self, outcomes: list[Outcome]) -> None:
        """A line per outcome, on disk (one fsync for them all) before this returns."""
        for outcome in outcomes:
            self.done[outcome.student, outcome.lab, outcome.notebook] = outcome
        with self.path.open("a") as file:
            file.write("".join(json.dumps(asdict(outcome)) + "\n" for outcome in outcomes))
            file.flush()
            os.fsync(file.fileno())
