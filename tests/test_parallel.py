"""Grading in parallel: a task that fails in its worker comes back as a grader error, the local
cluster refuses clients without its certificates, and the warm kernels' zygote refuses to fork
once it has more than one thread. (A cluster of its own, started with Dask's command-line tools
as the README says, is test_cluster.py's.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grader import course
from grader.grading import parallel

LAB = course.labs()[0]  # 01_derivatives, 7 points


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
