"""The release step of our own (grader/course/release.py), on small synthetic notebooks."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import course
from grader.course.release import CI_ONLY, DropCIOnlyCells


def notebook():
    return new_notebook(cells=[
        new_markdown_cell("The slope is 11.", id="prose"),
        new_code_cell("slope = 11.0", id="example"),
        new_code_cell("assert slope == 11.0", id="asserts", metadata={"tags": [CI_ONLY]}),
        new_markdown_cell("tagged prose stays", id="md", metadata={"tags": [CI_ONLY]}),
        new_code_cell("print(slope)", id="other-tags", metadata={"tags": ["nbval-ignore-output"]}),
    ])


def test_ci_only_code_cells_are_left_out_and_everything_else_kept_in_order():
    nb, _ = DropCIOnlyCells().preprocess(notebook(), {})
    assert [cell.id for cell in nb.cells] == ["prose", "example", "md", "other-tags"]


def test_no_released_lab_holds_a_ci_only_cell_and_each_solution_keeps_its_own():
    for lab in course.labs():
        if lab.student.exists():
            student = nbformat.read(lab.student, as_version=4)
            assert not [c.id for c in student.cells if c.cell_type == "code"
                        and CI_ONLY in c.metadata.get("tags", [])], lab.student
