"""Shared fixtures. Running a notebook costs a kernel start and `import torch` (seconds), so each
notebook is validated by nbgrader once per test session and the result shared."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from grader import course

LABS = course.labs()


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
