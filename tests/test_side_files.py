"""Files a student's code writes while graded: brought beside the graded notebook as stock
nbgrader leaves them, and nothing else (autograde.SideFiles, parallel._side_files,
grading.gradebook.write_side_files). Everything in the kernel's folder is the student's to shape."""

from __future__ import annotations

import os

import pytest

from grader import grading
from grader.grading import autograde, parallel


@pytest.fixture
def folders(tmp_path):
    scratch, beside = tmp_path / "scratch", tmp_path / "beside"
    scratch.mkdir()
    beside.mkdir()
    return scratch, beside


def test_files_and_folders_the_students_code_wrote_are_brought(folders):
    scratch, beside = folders
    (scratch / "out.csv").write_text("1,2\n")
    (scratch / "figs").mkdir()
    (scratch / "figs" / "loss.png").write_bytes(b"\x89PNG")
    autograde.SideFiles(beside).bring(scratch)
    assert (beside / "out.csv").read_text() == "1,2\n"
    assert (beside / "figs" / "loss.png").read_bytes() == b"\x89PNG"


def test_a_file_written_again_is_brought_again(folders):
    scratch, beside = folders
    files = autograde.SideFiles(beside)
    (scratch / "out.txt").write_text("first")
    files.bring(scratch)
    (scratch / "out.txt").write_text("second")
    files.bring(scratch)
    assert (beside / "out.txt").read_text() == "second"


def test_links_dotfiles_notebooks_and_the_kernels_own_files_stay(folders, tmp_path):
    scratch, beside = folders
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("only the grader may read this")
    (scratch / "link").symlink_to(secret / "key")
    (scratch / "linked-folder").symlink_to(secret)
    (scratch / ".ipython").mkdir()
    (scratch / ".ipython" / "history").write_text("x")
    for name in ("kernel.json", "kernel.log", "answers.ipynb", "timestamp.txt", ".hidden"):
        (scratch / name).write_text("x")
    os.mkfifo(scratch / "pipe")
    autograde.SideFiles(beside).bring(scratch)
    assert sorted(os.listdir(beside)) == []


def test_a_file_the_grader_put_beside_the_notebook_is_never_overwritten(folders):
    scratch, beside = folders
    (beside / "data.txt").write_text("the instructor's data")
    (scratch / "data.txt").write_text("the student's data")
    autograde.SideFiles(beside).bring(scratch)
    assert (beside / "data.txt").read_text() == "the instructor's data"


def test_a_folder_swapped_for_a_link_leads_nowhere(folders, tmp_path):
    """_read_regular opens each part of the path without following a link: a student's
    thread that swaps a folder for a link after the walk cannot make the grader read outside."""
    scratch, _ = folders
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "key").write_text("secret")
    (scratch / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        autograde._read_regular(scratch, os.path.join("sub", "key"), 1000)


def test_an_unchanged_file_is_not_read_again(folders, monkeypatch):
    """Files are brought after every call a test makes into the kernel: a big file that did not
    change costs a stat, not a copy."""
    scratch, beside = folders
    (scratch / "big.bin").write_bytes(b"x" * 1_000_000)
    files = autograde.SideFiles(beside)
    files.bring(scratch)
    reads = []
    real = os.read
    monkeypatch.setattr(autograde.os, "read", lambda fd, n: reads.append(n) or real(fd, n))
    for _ in range(5):
        files.bring(scratch)
    assert reads == []
    (scratch / "big.bin").write_bytes(b"y" * 10)
    files.bring(scratch)
    assert len(reads) == 1 and (beside / "big.bin").read_bytes() == b"y" * 10


def test_at_most_so_many_files_and_bytes(folders, monkeypatch):
    scratch, beside = folders
    monkeypatch.setattr(autograde, "MAX_SIDE_FILES", 3)
    monkeypatch.setattr(autograde, "MAX_SIDE_BYTES", 25)
    for i in range(6):
        (scratch / f"f{i}.txt").write_text("x" * 10)
    files = autograde.SideFiles(beside)
    files.bring(scratch)
    assert sorted(os.listdir(beside)) == ["f0.txt", "f1.txt"]  # a third would pass 25 bytes
    monkeypatch.setattr(autograde, "MAX_SIDE_BYTES", 1000)
    files.bring(scratch)
    assert sorted(os.listdir(beside)) == ["f0.txt", "f1.txt", "f2.txt"]


def test_a_workers_graded_folder_sends_back_only_what_the_student_wrote(tmp_path):
    graded, released = tmp_path / "graded", tmp_path / "released"
    graded.mkdir()
    released.mkdir()
    for name in ("lab.ipynb", "timestamp.txt", "data.txt", "out.txt"):
        (graded / name).write_text(name)
    (released / "data.txt").write_text("data")
    assert parallel._side_files(graded, released) == {"out.txt": b"out.txt"}


@pytest.mark.parametrize("name", ["../escape", "/etc/escape", ".bashrc", "a/../../escape",
                                  "lab.ipynb", "timestamp.txt", ""])
def test_the_client_writes_a_side_file_only_under_a_plain_name(tmp_path, name):
    target = tmp_path / "student" / "lab"
    target.mkdir(parents=True)
    grading.gradebook.write_side_files(target, {name: b"x", "fine/ok.txt": b"y"})
    assert (target / "fine" / "ok.txt").read_bytes() == b"y"
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {os.path.join("student", "lab", "fine", "ok.txt")}
