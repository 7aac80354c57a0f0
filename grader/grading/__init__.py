"""Grading a class: `python -m grader grade`. Start reading at grade.py.

- grade.py: the whole run: stage every submission, grade them in parallel, save, export.
- submissions.py: finding submissions under submitted/ (or in an LMS zip) and staging each one
  as a notebook nbgrader can grade, without ever changing the student's file.
- parallel.py: the workers (Dask): nbgrader's autograde of one submission in a private copy of
  the course.
- autograde.py: the preprocessors nbgrader_config.py adds to nbgrader's autograde, and the
  executor whose test cells run in the judge.
- judge.py: runs a test cell in the grader's process, calling into the student's kernel.
- sandbox.py, warm.py: each kernel in a bubblewrap sandbox of its own, forked warm from a zygote.
- configuration.py: nbgrader's configuration for this course, and where the gradebook is.
- gradebook.py: the gradebook: the labs' cells, grades.csv, feedback.
- intake.py: the workers' results saved into the gradebook, many in one transaction, with the
  rows nbgrader's SaveAutoGrades and AssignLatePenalties would write.
- outcomes.py: what grading a submission came to, and the ledger that lets a run resume.
- report.py: the table and plot `make grade` prints.
- upstream.py: what we use of nbgrader, nbclient, jupyter_client and ipykernel that is not
  their public API, each with why.

A module is imported when first used (`grading.grade.grade_class(...)` after
`from grader import grading`), never all at once: the zygote (warm.py) imports only what it
needs, and nbgrader and Dask stay out of it.
"""

import importlib

MODULES = ("autograde", "configuration", "grade", "gradebook", "intake", "judge", "outcomes",
           "parallel", "report", "sandbox", "submissions", "upstream", "warm")


def __getattr__(name: str):
    if name in MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
