"""The student labs in notebooks/ are what `make release` makes from solutions/, nothing else."""

from grader import course, notebooks
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
