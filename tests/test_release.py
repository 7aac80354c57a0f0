"""The student labs in notebooks/ are what `make release` makes from solutions/, nothing else."""

import shutil

import pytest

from grader import course, grading
from grader.course import notebooks
from tests.conftest import LABS


def test_there_are_four_labs_in_teaching_order():
    names = [lab.name for lab in LABS]
    assert names == sorted(names) and len(names) >= 4
    assert names[:4] == ["01_derivatives", "02_partial_derivatives", "03_sum_trick", "04_relu"]


def test_committed_student_labs_are_exactly_what_release_generates(tmp_path):
    course.generate_student_versions(tmp_path / "release", f"sqlite:///{tmp_path / 'gb.db'}")
    generated = sorted(p.relative_to(tmp_path / "release")
                       for p in (tmp_path / "release").rglob("*.ipynb"))
    committed = sorted(p.relative_to(course.ROOT / "notebooks")
                       for p in (course.ROOT / "notebooks").rglob("*.ipynb"))
    assert committed == generated, "run `make release` and commit notebooks/"
    for rel in generated:
        fresh = (tmp_path / "release" / rel).read_text()
        assert (course.ROOT / "notebooks" / rel).read_text() == fresh, \
            f"notebooks/{rel} differs from its solution: run `make release` and commit it"


def test_solutions_and_student_labs_are_normalized(lab):
    for path in (lab.solution, lab.student):
        assert notebooks.is_normalized(path), f"{path}: run `make release` to normalize it"


def test_student_labs_hold_no_solution_and_no_hidden_test(lab):
    nb = notebooks.read(lab.student)
    sources = "\n".join(cell.source for cell in nb.cells)
    assert "### BEGIN SOLUTION" not in sources and "HIDDEN TESTS" not in sources
    assert not any(cell.get("outputs") for cell in nb.cells)


@pytest.mark.slow
def test_a_release_records_the_cells_so_the_first_grading_makes_none(tmp_path):
    """`make release` writes the student versions, the course's first gradebook and the
    workers' cells-only one in one nbgrader run; a gradebook with students in it is updated
    and keeps them."""
    from nbgrader.api import Gradebook

    shutil.copy(course.ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(course.ROOT / "solutions" / "01_derivatives",
                    tmp_path / "solutions" / "01_derivatives")
    grading.gradebook.release(tmp_path)
    assert (tmp_path / "notebooks" / "01_derivatives" / "derivatives.ipynb").is_file()
    cells = tmp_path / "build" / "cells.db"
    made = cells.stat().st_mtime_ns
    grading.gradebook.course_bundle(tmp_path)  # what grading needs: already there
    assert cells.stat().st_mtime_ns == made
    with Gradebook(grading.configuration.db_url(tmp_path)) as gb:
        assert [n.name for n in gb.find_assignment("01_derivatives").notebooks] == \
            ["derivatives"]
        gb.add_student("ada")
    grading.gradebook.release(tmp_path)
    with Gradebook(grading.configuration.db_url(tmp_path)) as gb:
        assert [s.id for s in gb.students] == ["ada"]
        assert gb.find_assignment("01_derivatives").notebooks
    assert not (tmp_path / "build" / "release").exists()
