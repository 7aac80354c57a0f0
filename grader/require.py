"""What the labs need of the machine they run on, checked by each lab's first cell.

A student may open a lab on a torch older than the course's (a laptop's old install, a hosted
runtime). Without a check, such a lab runs for half an hour and then fails in the middle of an
exercise with an error about a keyword argument. `torch()` says so at once, in one line.

The oldest torch is decided by what the labs use: `torch.func` and `Function.setup_context`
(Labs 5, 6, 8) came in torch 2.0, and `torch.autograd.grad(..., materialize_grads=True)` (Labs 6
and 7) in 2.1. CI runs the labs on the pinned torch only (pyproject.toml), not on 2.1.

This module imports nothing at import time: it runs before anything else of a lab, and it must
work in a kernel whose torch is too old for the rest of the course.
"""

from __future__ import annotations

import re

OLDEST_TORCH = (2, 1)
WHY = "materialize_grads in torch.autograd.grad, which Labs 6 and 7 use, came in 2.1"


class TooOldTorch(RuntimeError):
    """Shown by IPython as its one-line message, without a traceback: there is nothing in the
    traceback for a student to read, and the remedy is in the message."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def release(version: str) -> tuple[int, int]:
    """(major, minor) of a torch version string: '2.13.0+cpu' and '2.14.0a0+git5f3e' alike."""
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        raise ValueError(f"not a torch version: {version!r}")
    return int(found[1]), int(found[2])


def problem(version: str) -> str | None:
    """What is wrong, in one sentence, with a torch of this version for the labs; None if
    nothing is."""
    if release(version) >= OLDEST_TORCH:
        return None
    oldest = ".".join(map(str, OLDEST_TORCH))
    return (f"these labs need torch {oldest} or newer ({WHY}), and this kernel has {version}: "
            "install a newer torch (the README says how).")


def torch() -> None:
    """Raise TooOldTorch, in one line, where this kernel's torch is older than the labs need."""
    import torch as installed

    message = problem(installed.__version__)
    if message:
        raise TooOldTorch(message)
