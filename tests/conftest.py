"""Shared fixtures. Running a notebook costs a kernel start and `import torch` (seconds), so each
notebook is validated by nbgrader once per test session and the result shared."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from grader import course

# nbgrader's own test notebooks and our own assignments in nbgrader's format are data for
# tests/test_nbgrader_corpus.py, not notebooks for nbval to run (their sources raise on purpose).
collect_ignore = ["nbgrader_files", "assignments"]

LABS = course.course_labs()  # the course's own: its rules apply to them


def pytest_runtest_setup(item):
    """A test marked `root` needs root (the sandbox runs kernels under other uids). In the fast
    tier (`make test-fast`, which sets TEST_TIER=fast) it is skipped for an ordinary user,
    with the reason; in `make test` it fails, so that CI never passes without it."""
    if item.get_closest_marker("root") and os.geteuid() != 0:
        reason = f"needs root: the sandbox runs kernels as other uids (uid {os.geteuid()})"
        if os.environ.get("TEST_TIER") == "fast":
            pytest.skip(reason)
        pytest.fail(reason, pytrace=False)


def pytest_collection_modifyitems(config, items):
    # nbval's cells run in one kernel per notebook; keep them together and first.
    items.sort(key=lambda item: 0 if item.nodeid.endswith(".ipynb") or ".ipynb::" in
               item.nodeid else 1)


@functools.cache
def validation(path: Path) -> course.Validation:
    return course.validate(path)


@pytest.fixture(params=LABS, ids=[lab.name for lab in LABS])
def lab(request) -> course.Lab:
    return request.param
