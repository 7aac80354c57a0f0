"""Grading in parallel: on a Dask cluster of its own (several worker processes on 127.0.0.1),
with the same scores as grading one submission after another in this process; and the warm
kernels' zygote, which must refuse to fork once it has more than one thread.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import course, grading
from grader.course import notebooks
from grader.grading import parallel, sandbox

LAB = course.labs()[0]  # 01_derivatives, 7 points


def make_class(root: Path) -> None:
    """A right, a blank and a half-right submission of Lab 1, in a copy of the course."""
    root.mkdir()
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    for kind in ("solutions", "notebooks"):
        shutil.copytree(course.ROOT / kind / LAB.name, root / kind / LAB.name)
    half = notebooks.read(LAB.solution)
    answer = next(c for c in half.cells if c.metadata.get("nbgrader", {}).get("solution"))
    answer.source = "# YOUR CODE HERE\nraise NotImplementedError()"
    for student, nb in (("right", notebooks.read(LAB.solution)),
                        ("blank", notebooks.read(LAB.student)), ("half", half)):
        folder = root / "submitted" / student / LAB.name
        folder.mkdir(parents=True)
        notebooks.write(nb, folder / LAB.student.name)


def grades(root: Path) -> dict[tuple[str, str], float]:
    """Every grade cell's score in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(grading.configuration.db_url(root)) as gb:
        return {(student.id, grade.name): grade.score
                for student in gb.students
                for grade in gb.find_submission_notebook(
                    LAB.student.stem, LAB.name, student.id).grades}


@pytest.mark.slow
@pytest.mark.root
def test_a_dask_cluster_grades_as_this_process_does(tmp_path):
    """The same class graded twice: inline (workers=0) and on a separate local Dask cluster
    reached by its scheduler's address, as `grader grade --scheduler ADDRESS` does."""
    from distributed import LocalCluster

    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    inline, on_dask = tmp_path / "inline", tmp_path / "dask"
    for root in (inline, on_dask):
        make_class(root)
    here = grading.grade.grade_class(inline, progress=False, workers=0)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        there = grading.grade.grade_class(on_dask, progress=False,
                                    scheduler=cluster.scheduler_address)
    assert [(o.student, o.score, o.status) for o in here] == \
        [(o.student, o.score, o.status) for o in there]
    assert {o.student: o.score for o in here} == {"blank": 0.0, "half": 5.0, "right": 7.0}
    assert grades(inline) == grades(on_dask)
    assert len(grades(inline)) == 3 * 4  # three students, four grade cells each
    assert (on_dask / "autograded" / "right" / LAB.name / LAB.student.name).is_file()


def test_a_task_that_fails_in_its_worker_comes_back_as_not_graded():
    task = parallel.Task("alice", LAB.name, LAB.student.name, "{}")

    def broken(course, task, *args):
        raise RuntimeError("disk full")

    graded = parallel._graded_or_fault(broken, parallel.CourseFiles({}), task, True, None)
    assert (graded.ok, graded.error) == (False, "RuntimeError: disk full")


def zygote(env_extra: dict[str, str]) -> subprocess.Popen:
    env = dict(os.environ, **env_extra)
    return subprocess.Popen([sys.executable, "-I", "-m", "grader.grading.warm"], cwd="/", env=env,
                            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_the_zygote_refuses_to_fork_with_more_than_one_thread():
    """numpy's OpenBLAS starts its threads at import unless told to use one: the zygote then
    has two threads, says so when it is ready, and refuses every fork."""
    process = zygote({"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
    try:
        ready = json.loads(process.stdout.readline())
        process.stdin.write(json.dumps({"holder": 1}) + "\n")
        process.stdin.flush()
        reply = json.loads(process.stdout.readline())
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    assert ready == {"ready": 2}
    assert reply == {"error": "the zygote has 2 threads: forking is not safe"}


def test_the_zygote_is_single_threaded_as_the_grader_starts_it():
    process = zygote({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"})
    try:
        ready = json.loads(process.stdout.readline())
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    assert ready == {"ready": 1}
    assert process.returncode == 0  # it ends when its input does: with the grader


def test_the_local_cluster_refuses_a_client_without_its_certificates():
    """Its workers run as root: a client that could submit work to them would be root."""
    from distributed import Client
    from distributed.security import Security

    with parallel.dask_client(1, None) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3  # with them: works
        # plain TCP, and TLS with certificates of its own: both refused by the scheduler
        for stranger, security in ((address.replace("tls://", "tcp://"), None),
                                   (address, Security.temporary())):
            with pytest.raises(OSError):
                Client(stranger, security=security, timeout="3s")
