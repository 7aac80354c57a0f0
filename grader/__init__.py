"""The course's grader: the checks that graded test cells call, and the instructor's tools.

In a lab's test cell:

    from grader import checks, reference
    checks.check_function("dy/dx", student_fn, reference.derivative(lambda x: x**2), [2.0])

At the end of a lab, `grader.progress()` lists which checks pass. It is the one thing a
student's kernel uses from the grader when the lab is graded, where only this file and
kernel_side.py are there: the checks and the references run outside the student's kernel.
"""


def progress() -> None:
    """Print which of this lab's checks pass so far (each check cell records its result)."""
    try:
        from grader import checks
    except ImportError:  # graded: the tests ran outside this kernel
        print("This lab is being graded: its checks run outside your notebook, and your "
              "feedback shows each one.")
        return
    checks.summary()


def __getattr__(name: str):
    """`from grader import checks` (or `reference`): the module, where it is; where it is not
    (a kernel grading a lab), an ImportError that says why."""
    if name in ("checks", "reference"):
        import importlib

        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{__name__}.{name}":
                raise
            raise ImportError(
                f"grader.{name} is the grader's own, and it is not there while a lab is "
                "graded: an answer does its work with torch (one that uses the grader scores 0 "
                "for its exercise).", name=f"{__name__}.{name}") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
