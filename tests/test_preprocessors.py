"""Our preprocessors in nbgrader's autograde pipeline (grader/grading/autograde.py), each on small
synthetic notebooks against a released lab of three cells, as nbgrader tests its own; and the
sandbox's command line (grader/grading/sandbox.py), read without running it. No kernel."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.grading import autograde, sandbox, upstream


def nbgrader(grade_id: str, *, grade=False, solution=False, points=0) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "grade": grade, "solution": solution,
                         "locked": not solution, "points": points, "schema_version": 3}}


def released() -> nbformat.NotebookNode:
    """A lab as released: prose, an answer cell, its test, and another answer with its test."""
    return new_notebook(cells=[
        new_markdown_cell("Write f.", id="prose"),
        new_code_cell("# YOUR CODE HERE", id="ex1-answer",
                      metadata=nbgrader("ex1-answer", solution=True)),
        new_code_cell("assert f(1) == 2", id="ex1-test",
                      metadata=nbgrader("ex1-test", grade=True, points=1)),
        new_markdown_cell("Now g.", id="more-prose"),
        new_code_cell("# YOUR CODE HERE", id="ex2-answer",
                      metadata=nbgrader("ex2-answer", solution=True)),
        new_code_cell("assert g(1) == 3", id="ex2-test",
                      metadata=nbgrader("ex2-test", grade=True, points=2)),
    ])


def course(tmp_path: Path) -> tuple[str, dict]:
    """A course root with the released lab, and the resources nbgrader gives a preprocessor."""
    folder = tmp_path / "notebooks" / "lab"
    folder.mkdir(parents=True)
    nbformat.write(released(), folder / "lab.ipynb")
    return str(tmp_path), upstream.autograde_resources("sqlite://", "lab", "ada", "lab")


def submission() -> nbformat.NotebookNode:
    """The released lab, answered."""
    nb = released()
    nb.cells[1].source, nb.cells[4].source = "f = lambda x: 2 * x", "g = lambda x: 3 * x"
    return nb


def ids(nb) -> list[str]:
    return [cell.id for cell in nb.cells]


def grade_ids(nb) -> list:
    return [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]


# --- DropForeignMetadata -------------------------------------------------------------------

def test_a_grade_cell_the_student_invented_becomes_an_ordinary_cell(tmp_path):
    root, resources = course(tmp_path)
    nb = submission()
    nb.cells.append(new_code_cell("assert True", id="mine",
                                  metadata=nbgrader("free-points", grade=True, points=100)))
    nb, _ = autograde.DropForeignMetadata(course_root=root).preprocess(nb, resources)
    assert grade_ids(nb) == [None, "ex1-answer", "ex1-test", None, "ex2-answer", "ex2-test",
                             None]


def test_a_duplicated_test_cell_keeps_its_metadata_once(tmp_path):
    root, resources = course(tmp_path)
    nb = submission()
    nb.cells.insert(3, nbformat.from_dict(dict(nb.cells[2], id="twin")))
    nb, _ = autograde.DropForeignMetadata(course_root=root).preprocess(nb, resources)
    assert grade_ids(nb).count("ex1-test") == 1
    assert nb.cells[2].metadata["nbgrader"]["grade_id"] == "ex1-test"  # the first one keeps it
    assert "nbgrader" not in nb.cells[3].metadata


def test_a_submission_as_released_is_left_alone(tmp_path):
    root, resources = course(tmp_path)
    nb, _ = autograde.DropForeignMetadata(course_root=root).preprocess(submission(), resources)
    assert nb == submission()


# --- RestoreMissingCells -------------------------------------------------------------------

def test_a_cell_stripped_of_its_metadata_gets_it_back_by_its_id(tmp_path):
    root, resources = course(tmp_path)
    nb = submission()
    del nb.cells[2].metadata["nbgrader"]
    nb, _ = autograde.RestoreMissingCells(course_root=root).preprocess(nb, resources)
    assert nb.cells[2].metadata["nbgrader"] == released().cells[2].metadata["nbgrader"]
    assert len(nb.cells) == 6


def test_deleted_cells_come_back_after_their_predecessor_even_two_in_a_row(tmp_path):
    root, resources = course(tmp_path)
    nb = submission()
    del nb.cells[4:6]  # ex2's answer and its test: nbgrader's add_missing_cells fails here
    nb, _ = autograde.RestoreMissingCells(course_root=root).preprocess(nb, resources)
    assert ids(nb) == ids(released())
    assert nb.cells[4].source == "# YOUR CODE HERE"  # an answer comes back as its stub


def test_a_restored_cell_never_takes_an_id_already_used(tmp_path):
    root, resources = course(tmp_path)
    nb = submission()
    del nb.cells[5]
    nb.cells.append(new_markdown_cell("my notes", id="ex2-test"))  # its id, on another kind
    nb, _ = autograde.RestoreMissingCells(course_root=root).preprocess(nb, resources)
    assert ids(nb)[5:] == ["ex2-test-restored", "ex2-test"]
    assert grade_ids(nb)[5] == "ex2-test" and len(set(ids(nb))) == len(nb.cells)


# --- RestoreTestCells ----------------------------------------------------------------------

def test_a_moved_test_cell_goes_back_after_the_cell_before_it_in_the_lab(tmp_path):
    root, resources = course(tmp_path)
    nb = submission()
    nb.cells.insert(0, nb.cells.pop(2))  # ex1's test moved to the top, before its answer
    nb.cells.append(nb.cells.pop(nb.cells.index(next(c for c in nb.cells
                                                     if c.id == "ex2-test"))))
    nb.cells.insert(1, new_code_cell("x = 1", id="students-own"))
    nb, _ = autograde.RestoreTestCells(course_root=root).preprocess(nb, resources)
    assert ids(nb) == ["students-own", "prose", "ex1-answer", "ex1-test", "more-prose",
                       "ex2-answer", "ex2-test"]


def test_test_cells_are_found_by_grade_id_when_the_ids_are_gone(tmp_path):
    root, resources = course(tmp_path)
    nb = submission()
    for cell in nb.cells:  # an old nbformat has no cell ids
        cell.id = f"new-{cell.id}"
    nb.cells.insert(0, nb.cells.pop(5))
    nb, _ = autograde.RestoreTestCells(course_root=root).preprocess(nb, resources)
    assert grade_ids(nb) == grade_ids(released())


# --- sandbox_command -----------------------------------------------------------------------

def pairs(argv: list[str], option: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == option]


def test_the_sandbox_command_hides_the_course_and_the_grader_but_two_modules(tmp_path):
    scratch, course_root = tmp_path / "scratch", Path(sandbox.GRADER_DIR).parent
    scratch.mkdir()
    argv = sandbox.sandbox_command(["python", "-m", "ipykernel_launcher"], scratch, course_root,
                                   sandbox.Limits(), uid=12345)
    assert argv[0] == "bwrap" and argv[-3:] == ["python", "-m", "ipykernel_launcher"]
    for option in ("--unshare-net", "--unshare-pid", "--clearenv", "--die-with-parent"):
        assert option in argv
    read_only = [target for _, target in pairs(argv, "--ro-bind")]
    grader_files = {t for t in read_only if Path(t).is_relative_to(sandbox.GRADER_DIR)}
    assert grader_files == {str(sandbox.GRADER_DIR / name) for name in sandbox.KERNEL_MODULES}
    assert not any(Path(t) == course_root or Path(t).is_relative_to(course_root / "solutions")
                   for t in read_only)
    assert pairs(argv, "--bind") == [(str(scratch), str(scratch))]  # the one writable place
    assert "--reuid=12345" in argv and "--no-new-privs" in argv
    limits = argv[argv.index("prlimit"):argv.index("--", argv.index("prlimit"))]
    assert sorted(a.split("=")[0] for a in limits[1:]) == \
        ["--as", "--cpu", "--fsize", "--nofile", "--nproc"]


def test_the_kernels_environment_is_only_what_the_sandbox_gives_it(tmp_path):
    argv = sandbox.sandbox_command(["true"], tmp_path, tmp_path, sandbox.Limits())
    names = {name for name, _ in pairs(argv, "--setenv")}
    assert names == set(sandbox.kernel_environment(tmp_path, sandbox.Limits()))
    assert "JPY_PARENT_PID" in names and not names & {"USER", "SUDO_USER", "DASK_CONFIG"}
