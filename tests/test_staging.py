"""Staging: whatever a submitted file holds, it becomes a notebook nbgrader can grade (the blank
lab if nothing else), with a status that says what was done, and nothing raises. Fast: no
kernel runs here, except in the one test that grades the whole fuzzed class."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from grader import course, grading
from grader.course import notebooks
from grader.grading import sandbox

LAB = course.labs()[0]
BLANK = nbformat.writes(notebooks.read(LAB.student))


def solution_json() -> dict:
    return json.loads(nbformat.writes(notebooks.read(LAB.solution)))


def with_every_cell(change) -> str:
    data = solution_json()
    for cell in data["cells"]:
        change(cell)
    return json.dumps(data)


def deep(levels: int) -> str:
    return '{"cells": ' + "[" * levels + "]" * levels + "}"


# name -> the file's content (str or bytes), for files that must be graded as blank
FUZZ: dict[str, str | bytes] = {
    "deep-nesting": deep(100_000),
    "deep-nesting-in-metadata": json.dumps({**solution_json(), "metadata": {}})[:-1].replace(
        '"metadata": {}', '"metadata": {"x": ' + "[" * 50_000 + "]" * 50_000 + "}") + "}",
    "binary": bytes(range(256)) * 64,
    "nul-bytes": b"\0" * 4096,
    "utf16": BLANK.encode("utf-16"),
    "empty": b"",
    "json-list": "[1, 2, 3]",
    "json-string": '"a notebook"',
    "cells-not-a-list": json.dumps({**solution_json(), "cells": "none"}),
    "cell-not-an-object": json.dumps({**solution_json(), "cells": [1, "two", None]}),
    "metadata-a-string": json.dumps({**solution_json(), "metadata": "meta"}),
    "huge": b'{"cells": [], "x": "' + b"a" * (grading.submissions.MAX_NOTEBOOK_BYTES + 10) + b'"}',
}

def without_cells(*grade_ids: str) -> str:
    data = solution_json()
    data["cells"] = [c for c in data["cells"]
                     if c["metadata"].get("nbgrader", {}).get("grade_id") not in grade_ids]
    return json.dumps(data)


def with_ex1_answer_metadata_stripped() -> str:
    data = solution_json()
    for cell in data["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "ex1-answer":
            cell["metadata"] = {}
    return json.dumps(data)


# name -> content of files that can be graded as the notebook they are, malformed metadata and
# all: the solution's answers must still count
MALFORMED_BUT_GRADABLE = {
    "ex1-answer-metadata-stripped": with_ex1_answer_metadata_stripped(),
    "nbgrader-metadata-a-string": with_every_cell(
        lambda c: c["metadata"].update(nbgrader="grade me")),
    "nbgrader-metadata-a-list": with_every_cell(lambda c: c["metadata"].update(nbgrader=[1])),
    "tags-a-string": with_every_cell(lambda c: c["metadata"].update(tags="solution")),
    "tags-of-numbers": with_every_cell(lambda c: c["metadata"].update(tags=[1, 2])),
}


def submit(root: Path, student: str, content: str | bytes) -> Path:
    folder = root / "submitted" / student / LAB.name
    folder.mkdir(parents=True)
    path = folder / LAB.student.name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return folder


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_a_file_that_is_no_notebook_is_staged_as_the_blank_lab(tmp_path, name):
    staged = grading.submissions.stage_safely(submit(tmp_path, name, FUZZ[name]), LAB)
    assert nbformat.writes(staged.nb) == BLANK
    assert staged.problems and staged.problems[-1].endswith("graded as blank"), staged.problems


@pytest.mark.parametrize("name", sorted(MALFORMED_BUT_GRADABLE))
def test_malformed_cell_metadata_is_dropped_and_the_answers_kept(tmp_path, name):
    folder = submit(tmp_path, name, MALFORMED_BUT_GRADABLE[name])
    staged = grading.submissions.stage_safely(folder, LAB)
    assert staged.problems == []
    answers = [c.source for c in staged.nb.cells if "YOUR CODE" not in c.source]
    assert any("backward()" in a for a in answers)
    for cell in staged.nb.cells:
        assert isinstance(cell.metadata.get("nbgrader", {}), dict)
        assert all(isinstance(t, str) for t in cell.metadata.get("tags", []))


def test_a_link_to_the_solution_is_not_followed(tmp_path):
    folder = tmp_path / "submitted" / "linker" / LAB.name
    folder.mkdir(parents=True)
    (folder / LAB.student.name).symlink_to(LAB.solution)
    staged = grading.submissions.stage_safely(folder, LAB)
    assert nbformat.writes(staged.nb) == BLANK
    assert staged.problems[0] == f"links ignored: {LAB.student.name}"


def test_a_lab_folder_or_student_folder_that_is_a_link_is_not_graded(tmp_path):
    classmate = submit(tmp_path, "classmate", nbformat.writes(notebooks.read(LAB.solution)))
    (tmp_path / "submitted" / "copycat").mkdir()
    (tmp_path / "submitted" / "copycat" / LAB.name).symlink_to(classmate, True)
    (tmp_path / "submitted" / "mirror").symlink_to(tmp_path / "submitted" / "classmate", True)
    for kind in ("solutions", "notebooks"):
        shutil.copytree(course.ROOT / kind / LAB.name, tmp_path / kind / LAB.name)
    found, skipped = grading.submissions.submissions(tmp_path)
    assert [(s, lab.name) for s, lab, _ in found] == [("classmate", LAB.name)]
    assert f"copycat/{LAB.name}: a link, ignored" in skipped
    assert "mirror: a link, not a folder of submissions: ignored" in skipped


def test_a_file_that_cannot_be_read_at_all_is_staged_as_blank(tmp_path):
    folder = submit(tmp_path, "unreadable", "{}")
    path = folder / LAB.student.name
    path.unlink()
    os.mkfifo(path)  # a pipe: reading would block forever; it is not a file
    staged = grading.submissions.stage_safely(folder, LAB)
    assert nbformat.writes(staged.nb) == BLANK
    assert staged.problems == [f"not files, ignored: {LAB.student.name}",
                               "no notebook submitted: graded as blank"]


@pytest.mark.root
@pytest.mark.slow
def test_a_fuzzed_class_is_graded_to_the_end(tmp_path):
    """Every fuzzed file beside a right submission: the class is graded, each file scores what
    a blank scores, the malformed-but-gradable ones full marks, and no grader error."""
    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    shutil.copy(course.ROOT / "nbgrader_config.py", tmp_path)
    for kind in ("solutions", "notebooks"):
        shutil.copytree(course.ROOT / kind / LAB.name, tmp_path / kind / LAB.name)
    for name, content in {**FUZZ, **MALFORMED_BUT_GRADABLE}.items():
        submit(tmp_path, name, content)
    submit(tmp_path, "right", nbformat.writes(notebooks.read(LAB.solution)))
    # the answer and the test of ex1 deleted: ex1 scores nothing, the rest counts
    submit(tmp_path, "ex1-answer-and-test-deleted", without_cells("ex1-answer", "ex1-test"))
    outcomes = {o.student: o for o in grading.grade.grade_class(tmp_path, progress=False)}
    assert not [o for o in outcomes.values() if o.is_fault]
    assert {s: o.score for s, o in outcomes.items()} == {
        **dict.fromkeys(FUZZ, 0.0), **dict.fromkeys(MALFORMED_BUT_GRADABLE, 7.0), "right": 7.0,
        "ex1-answer-and-test-deleted": 5.0}
