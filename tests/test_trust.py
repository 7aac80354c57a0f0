"""Grades a class can trust: nothing in the grader grows with the class, a kernel that dies by
itself is given a second chance before its death counts, and a fault of the grader is a loud
"grader error" (a log, a non-zero exit, tried again next run), never a score."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grader import cli, course, grading
from grader.course import notebooks
from grader.grading import parallel, sandbox, warm

LAB = course.labs()[0]  # 01_derivatives, 7 points: ex1 2, ex2 2, ex3 1 + 2
FULL = 7.0


def make_course(root: Path, submissions: dict[str, nbformat.NotebookNode]) -> None:
    """A copy of the course with Lab 1 only, and these submissions of it."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    for kind in ("solutions", "notebooks"):
        shutil.copytree(course.ROOT / kind / LAB.name, root / kind / LAB.name)
    for student, nb in submissions.items():
        folder = root / "submitted" / student / LAB.name
        folder.mkdir(parents=True)
        notebooks.write(nb, folder / LAB.student.name)


def solution_with_cell_after(cell_id: str, source: str) -> nbformat.NotebookNode:
    nb = notebooks.read(LAB.solution)
    index = next(i for i, c in enumerate(nb.cells) if c.get("id") == cell_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source, id=f"student-{cell_id}"))
    return nb


def dies_once(marker: Path) -> str:
    """A cell whose kernel dies the first time it runs, and not again (as load did)."""
    return (f"import os\nif not os.path.exists({str(marker)!r}):\n"
            f"    open({str(marker)!r}, 'w').close()\n    os._exit(1)")


# The kernel process, watched from outside -----------------------------------------------------

def test_a_killed_warm_kernel_reads_as_ended_and_can_be_killed_again():
    """kill() used to leave returncode None with the pidfd closed: the next poll() raised
    ValueError and the whole notebook was lost."""
    holder = subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE)
    kernel = subprocess.Popen(["sleep", "60"])
    process = warm.WarmProcess(kernel.pid, holder)
    try:
        assert process.poll() is None
        process.kill()
        assert process.poll() == -signal.SIGKILL
        assert process.ended == "killed by the grader"
        process.kill()  # twice is harmless
        assert process.wait(timeout=1) == -signal.SIGKILL
        assert holder.returncode is not None and holder.stdout.closed
        assert kernel.wait(timeout=10) == -signal.SIGKILL
    finally:
        for p in (holder, kernel):
            p.kill()
            p.wait()


def test_a_kernel_that_ends_by_itself_says_how():
    holder = subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE)
    kernel = subprocess.Popen(["sleep", "0.1"])
    process = warm.WarmProcess(kernel.pid, holder)
    try:
        kernel.wait()
        assert process.wait(timeout=10) == -signal.SIGKILL
        assert process.ended == "the kernel process ended"
        assert holder.poll() is not None  # its sandbox goes with it
    finally:
        holder.kill()
        holder.wait()


def test_the_sandbox_waits_on_descriptors_past_fd_setsize():
    """select() raised "filedescriptor out of range" past fd 1023; poll() has no such limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1500:
        pytest.skip(f"this process may not open descriptor 1500 (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    read_end, write_end = os.pipe()
    high = 1500
    os.dup2(read_end, high)
    try:
        assert not sandbox.wait_readable(high, 0.01)
        os.write(write_end, b"x")
        assert sandbox.wait_readable(high, 0.01)
    finally:
        for fd in (read_end, write_end, high):
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# Nothing grows with the class ------------------------------------------------------------------

GRADE_AGAIN_AND_AGAIN = """
import json, os, sys
from pathlib import Path
import nbformat
from grader import grading
from grader.course import notebooks
from grader.grading import parallel, warm
root, lab, student, times = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
bundle = grading.gradebook.course_bundle(root)
source = nbformat.writes(notebooks.read(root / "solutions" / lab / student))
task = parallel.Task("s", lab, student, source)

def descriptors(pid):
    return sorted(os.listdir(f"/proc/{pid}/fd"), key=int)

def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))

for _ in range(times):
    graded = parallel.grade_task(bundle, task, True, None)
    if not graded.ok:
        sys.exit(graded.error)
    zygote = warm.Zygote._process.pid
    mine = descriptors("self")
    nb = json.loads(graded.graded)
    earned = sum(c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
                 if c["metadata"].get("nbgrader", {}).get("grade")
                 and not any(o["output_type"] == "error" for o in c.get("outputs", [])))
    print(json.dumps({"earned": earned,
                      "counts": [len(mine), threads("self"),
                                 len(descriptors(zygote)), threads(zygote)],
                      "fds": {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in mine
                              if os.path.exists(f"/proc/self/fd/{fd}")}}), flush=True)
"""


@pytest.mark.root
@pytest.mark.slow
def test_file_descriptors_and_threads_stay_flat_from_one_notebook_to_the_next(tmp_path):
    """Each graded notebook used to leave a heartbeat thread, a ZeroMQ context and about a
    dozen descriptors behind, in the worker that graded it. The worker is a process of its own,
    so nothing else (another test's leftovers in pytest's process) is counted."""
    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    make_course(tmp_path, {})
    (tmp_path / "build").mkdir()
    (tmp_path / "tmp").mkdir()
    run = subprocess.run(
        [sys.executable, "-c", GRADE_AGAIN_AND_AGAIN, str(tmp_path), LAB.name,
         LAB.student.name, "24"], cwd=course.ROOT, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, TMPDIR=str(tmp_path / "tmp")))
    assert run.returncode == 0, run.stderr[-3000:]
    # and nothing is left in its temporary folder (the unpacked course, the zygote's settings)
    assert sorted(os.listdir(tmp_path / "tmp")) == []
    samples = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(samples) == 24 and all(s["earned"] == FULL for s in samples)
    settled = samples[3:]
    first = settled[0]["fds"]
    changed = [(i, {fd: (first.get(fd), s["fds"].get(fd)) for fd in first.keys() | s["fds"].keys()
                    if first.get(fd) != s["fds"].get(fd)})
               for i, s in enumerate(settled, 3) if s["counts"] != settled[0]["counts"]]
    assert not changed, (f"(fds, threads, zygote fds, zygote threads): "
                         f"{[s['counts'] for s in samples]}; descriptors that differ: {changed}")


# A death is final only when it happens again ---------------------------------------------------

@pytest.fixture(scope="module")
def deaths(tmp_path_factory):
    """A class graded without the sandbox (the markers live in a directory it would hide)."""
    root = tmp_path_factory.mktemp("deaths")
    markers = tmp_path_factory.mktemp("markers")
    make_course(root, {
        "dies-once": solution_with_cell_after("ex1-test", dies_once(markers / "a")),
        "dies-every-time": solution_with_cell_after("ex2-test", "import os\nos._exit(1)"),
        "dies-at-alternate-cells": dies_at_alternate_cells(markers / "runs"),
        "right": notebooks.read(LAB.solution),
    })
    outcomes = grading.grade.grade_class(root, sandbox=False, progress=False, workers=0)
    return root, {o.student: o for o in outcomes}


def dies_at_alternate_cells(counter: Path) -> nbformat.NotebookNode:
    """Counts its runs; dies after ex1's test in odd runs and after ex2's test in even ones."""
    nb = solution_with_cell_after("imports", (
        f"import os\nwith open({str(counter)!r}, 'a') as f:\n    f.write('.')\n"
        f"RUN = len(open({str(counter)!r}).read())"))
    for cell_id, parity in (("ex1-test", 1), ("ex2-test", 0)):
        index = next(i for i, c in enumerate(nb.cells) if c.get("id") == cell_id)
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(
            f"if RUN % 2 == {parity}:\n    os._exit(1)", id=f"student-{cell_id}"))
    return nb


@pytest.mark.slow
def test_a_death_that_does_not_happen_again_costs_nothing(deaths):
    _, outcomes = deaths
    assert (outcomes["dies-once"].score, outcomes["dies-once"].status) == (FULL, "ok")


@pytest.mark.slow
def test_a_death_that_happens_again_at_the_same_cell_is_final(deaths):
    _, outcomes = deaths
    outcome = outcomes["dies-every-time"]
    assert outcome.score == 4.0  # ex1 and ex2 ran before it
    assert "kernel died" in outcome.status and not outcome.is_fault


@pytest.mark.slow
def test_deaths_at_different_cells_are_a_grader_error_with_a_log(deaths):
    root, outcomes = deaths
    outcome = outcomes["dies-at-alternate-cells"]
    assert outcome.is_fault and outcome.status.startswith("grader error: ")
    assert "died at different cells" in outcome.status
    log = root / "build" / "grader-errors" / f"dies-at-alternate-cells__{LAB.name}.log"
    assert "the kernel died in cell student-ex1-test" in log.read_text()
    assert "the kernel died in cell student-ex2-test" in log.read_text()


@pytest.mark.slow
def test_the_others_are_graded_as_usual(deaths):
    _, outcomes = deaths
    assert (outcomes["right"].score, outcomes["right"].status) == (FULL, "ok")


# A fault of the grader is loud, and tried again ------------------------------------------------

@pytest.mark.slow
def test_a_grader_fault_is_no_score_exits_non_zero_and_is_graded_next_run(tmp_path, monkeypatch):
    make_course(tmp_path, {"lucky": notebooks.read(LAB.solution),
                           "unlucky": notebooks.read(LAB.solution)})
    real = parallel.grade_task

    def faulty(bundle, task, *args):
        if task.student == "unlucky":
            raise ConnectionResetError("the worker lost its scheduler")
        return real(bundle, task, *args)

    monkeypatch.setattr(parallel, "grade_task", faulty)
    first = {o.student: o for o in grading.grade.grade_class(tmp_path, sandbox=False,
                                                             progress=False, workers=0)}
    assert (first["lucky"].score, first["lucky"].status) == (FULL, "ok")
    unlucky = first["unlucky"]
    assert unlucky.is_fault and unlucky.status.startswith(
        "grader error: ConnectionResetError: the worker lost its scheduler (log: ")
    log = tmp_path / "build" / "grader-errors" / f"unlucky__{LAB.name}.log"
    assert "Traceback" in log.read_text() and "faulty" in log.read_text()
    assert cli.exit_status(first.values()) == cli.GRADER_ERROR
    report = grading.report.report(list(first.values()), tmp_path)
    assert "NOT GRADED: the grader failed on 1 submission(s)" in report
    assert "unlucky" not in (tmp_path / "grades.csv").read_text()  # no score, not even 0
    assert "unlucky" not in (tmp_path / "build" / "graded.jsonl").read_text()

    monkeypatch.setattr(parallel, "grade_task", real)  # the next run, without --force
    second = {o.student: o for o in grading.grade.grade_class(tmp_path, sandbox=False,
                                                        progress=False, workers=0)}
    assert (second["unlucky"].score, second["unlucky"].status) == (FULL, "ok")
    assert cli.exit_status(second.values()) == 0


def test_an_old_ledger_line_of_a_failure_is_graded_again(tmp_path):
    ledger = grading.outcomes.Ledger(tmp_path / "graded.jsonl")
    staged = grading.submissions.Staged("ada", LAB, notebooks.read(LAB.student), [])
    ledger.record(grading.outcomes.Outcome("ada", LAB.name, 0.0, FULL, "not graded: ValueError: x",
                                  staged.digest))
    assert not grading.outcomes.Ledger(tmp_path / "graded.jsonl").is_done(staged)
    ledger.record(grading.outcomes.Outcome("ada", LAB.name, 0.0, FULL, "ok", staged.digest))
    assert grading.outcomes.Ledger(tmp_path / "graded.jsonl").is_done(staged)


# No shared fate ----------------------------------------------------------------------------------

@pytest.mark.root
def test_kernels_running_at_once_have_uids_of_their_own():
    first, second = sandbox.KernelUid(), sandbox.KernelUid()
    try:
        assert first.uid != second.uid
        assert {first.uid, second.uid} <= set(sandbox.KERNEL_UIDS)
    finally:
        first.release()
        second.release()
    again = sandbox.KernelUid()  # released: free again
    again.release()
    assert again.uid == min(first.uid, second.uid)


@pytest.mark.root
def test_a_uid_with_a_process_left_is_not_given_out(tmp_path):
    taken = sandbox.KernelUid()
    taken.release()
    leftover = subprocess.Popen(["setpriv", f"--reuid={taken.uid}", f"--regid={taken.uid}",
                                 "--clear-groups", "sleep", "60"])
    try:
        for _ in range(100):  # until setpriv has switched
            if os.stat(f"/proc/{leftover.pid}").st_uid == taken.uid:
                break
            time.sleep(0.05)
        fresh = sandbox.KernelUid()
        fresh.release()
        assert fresh.uid != taken.uid
    finally:
        leftover.kill()
        leftover.wait()


HOG = """import subprocess, sys, threading, time
burners = []
for _ in range(4):  # children that burn CPU
    try:
        burners.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
    except OSError:
        break
stop, threads = threading.Event(), []
for _ in range(1000):  # as many threads as the limit allows, all sleeping
    try:
        thread = threading.Thread(target=stop.wait, daemon=True)
        thread.start()
        threads.append(thread)
    except RuntimeError:
        break
print(len(burners), "children,", len(threads), "threads")
time.sleep(25)"""


@pytest.mark.root
@pytest.mark.slow
def test_a_submission_that_takes_every_thread_it_can_costs_its_classmates_nothing(tmp_path):
    """It used to make the correct submissions graded beside it fail to start (they shared
    nobody's RLIMIT_NPROC): "not graded", no row in grades.csv."""
    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    submissions = {"a-hog": solution_with_cell_after("imports", HOG)}
    submissions.update({f"right-{i}": notebooks.read(LAB.solution) for i in range(4)})
    make_course(tmp_path, submissions)
    outcomes = {o.student: o
                for o in grading.grade.grade_class(tmp_path, progress=False, workers=2)}
    assert {s: (o.score, o.status) for s, o in outcomes.items()} == {
        s: (FULL, "ok") for s in submissions}


# The same class, the same grades, on a busy machine ----------------------------------------------

@pytest.mark.root
@pytest.mark.slow
def test_a_busy_machine_gives_the_same_scores_and_statuses(tmp_path):
    """The observed fault: correct Lab 5 and 6 notebooks scored 0/7 ("the kernel died") with
    two kernels at once beside four busy processes, and exit 0."""
    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    heavy = [lab for lab in course.labs() if lab.name[:2] in ("05", "06")]

    def graded(root: Path) -> dict:
        root.mkdir()
        shutil.copy(course.ROOT / "nbgrader_config.py", root)
        for lab in heavy:
            for kind in ("solutions", "notebooks"):
                shutil.copytree(course.ROOT / kind / lab.name, root / kind / lab.name)
            for student, source in (("right", lab.solution), ("blank", lab.student)):
                folder = root / "submitted" / student / lab.name
                folder.mkdir(parents=True)
                shutil.copy(source, folder / lab.student.name)
        return {(o.student, o.lab): (o.score, o.status)
                for o in grading.grade.grade_class(root, progress=False, workers=2)}

    quiet = graded(tmp_path / "quiet")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(2 * (os.cpu_count() or 1))]
    try:
        loaded = graded(tmp_path / "busy")
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert loaded == quiet
    assert {key: score for key, (score, _) in quiet.items()} == {
        (student, lab.name): 7.0 if student == "right" else 0.0
        for lab in heavy for student in ("right", "blank")}


@pytest.mark.parametrize("kind", ["file", "fifo", "link", "missing"])
def test_the_kernel_log_is_read_safely_whatever_the_student_left_there(tmp_path, kind):
    from grader.grading import autograde

    class Manager:
        scratch = tmp_path

    log = tmp_path / "kernel.log"
    if kind == "file":
        log.write_text("x" * 5000 + "Fatal Python error: Aborted")
    elif kind == "fifo":
        os.mkfifo(log)
    elif kind == "link":
        (tmp_path / "secret").write_text("the grader's secret")
        log.symlink_to(tmp_path / "secret")
    said = autograde._kernel_log(Manager(), limit=100)
    assert "secret" not in said
    if kind == "file":
        assert said.endswith("Fatal Python error: Aborted") and len(said) < 200
