"""The README's path for a class too big for one machine, run as an instructor would run it.

`dask scheduler` and `dask worker`s are started as separate processes with the commands the
README gives (TLS certificates made by its openssl command), each worker in a directory of its
own, with a bare environment, and in a mount namespace of its own where the course directory is
an empty tmpfs: what a worker needs comes with its tasks. A class of right, blank and half-done
submissions of every lab is graded there and on this machine's local cluster, and must score the
same in every grade cell. The client is killed after six results and started again, and in the
resumed run a worker is killed with a notebook half run and a fresh worker joins: nothing is
lost, and nothing is written twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grader import course, grading
from grader.course import notebooks
from grader.grading import parallel, sandbox

README = (course.ROOT / "README.md").read_text(encoding="utf-8")
DASK = Path(sys.executable).with_name("dask")
# The README's commands (the test's file names and addresses put in).
OPENSSL = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
           "-subj", "/CN=autograd-labs-grading", "-keyout", "grading.key", "-out", "grading.pem"]
TLS = ["--tls-ca-file", "grading.pem", "--tls-cert", "grading.pem", "--tls-key", "grading.key"]
BARE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_the_readme_gives_the_commands_this_test_runs():
    for command in (OPENSSL, ["dask", "scheduler", "--protocol", "tls", *TLS],
                    ["dask", "worker", "tls://10.0.0.5:8786", "--nthreads", "1", *TLS],
                    ["--scheduler", "tls://10.0.0.5:8786", *TLS]):
        assert " ".join(command) in README.replace("\\\n", "").replace("  ", " ")


# ---------------------------------------------------------------------------------------------
# What the client refuses before it sends anything


def test_a_scheduler_without_tls_is_refused_before_anything_is_sent():
    with pytest.raises(parallel.ClusterProblem, match="not tls://"):
        list(parallel.run(parallel.CourseFiles({}), [], sandbox=True, timeout=None,
                          scheduler="tcp://127.0.0.1:8786"))


def test_a_client_without_certificates_is_refused(monkeypatch):
    import dask

    with dask.config.set({"distributed.comm.tls.ca-file": None,
                          "distributed.comm.tls.client.cert": None}), \
            pytest.raises(parallel.ClusterProblem, match="--tls-ca-file"):
        list(parallel.run(parallel.CourseFiles({}), [], sandbox=True, timeout=None,
                          scheduler="tls://127.0.0.1:8786"))


def test_the_command_line_says_why_and_exits_with_its_own_status(tmp_path, capsys):
    from grader import cli

    root = tmp_path / "course"
    make_class(root, labs=course.labs()[:1], students=("right",))
    status = _cli_in(root, ["grade", "--scheduler", "tcp://127.0.0.1:8786"])
    assert status == cli.CLUSTER_PROBLEM == 5
    assert "nothing graded: the scheduler's address tcp://127.0.0.1:8786 is not tls://" in \
        capsys.readouterr().err
    assert not (root / "build" / "graded.jsonl").exists()


def _cli_in(root: Path, argv: list[str]) -> int:
    from grader import cli

    saved = course.ROOT
    course.ROOT = root
    try:
        return cli.main(argv)
    finally:
        course.ROOT = saved


def test_a_worker_that_differs_from_the_client_is_named_with_what_differs():
    here = parallel.environment()
    other = tuple(sorted({**here, "torch": "2.12.1"}.items()))
    assert parallel.unfit(other, False, 1) == \
        f"its environment is not the client's: torch {here['torch']} here, 2.12.1 on the client"
    assert parallel.unfit(tuple(sorted(here.items())), False, 1) is None
    assert "grader code" in here and len(here["grader code"]) == 16


def test_a_worker_with_more_than_one_thread_is_refused():
    assert "--nthreads 1" in parallel.unfit(tuple(sorted(parallel.environment().items())),
                                            False, 2)


# ---------------------------------------------------------------------------------------------
# The class, and the cluster


def make_class(root: Path, labs: list[course.Lab] | None = None,
               students: tuple[str, ...] = ("right", "blank", "half")) -> None:
    """Every lab's right, blank and half-done (the first half of its answers) submission."""
    root.mkdir(parents=True)
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    for lab in labs or course.labs():
        for kind in ("solutions", "notebooks"):
            shutil.copytree(course.ROOT / kind / lab.name, root / kind / lab.name)
        solution, blank = notebooks.read(lab.solution), notebooks.read(lab.student)
        answers = [i for i, c in enumerate(blank.cells)
                   if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
        half = nbformat.from_dict(blank)
        for i in answers[:len(answers) // 2]:
            half.cells[i].source = solution.cells[i].source
        made = {"right": solution, "blank": blank, "half": half}
        for student in students:
            folder = root / "submitted" / student / lab.name
            folder.mkdir(parents=True)
            notebooks.write(made[student], folder / lab.student.name)


def grade_cells(root: Path) -> dict[tuple[str, str, str], float]:
    from nbgrader.api import Gradebook

    with Gradebook(grading.configuration.db_url(root)) as gb:
        return {(s.student_id, a.name, g.name): float(g.score)
                for a in gb.assignments for s in a.submissions
                for nb in s.notebooks for g in nb.grades}


def ledger(root: Path) -> list[tuple[str, str]]:
    """The (student, lab) of every whole line of the run's ledger, in order."""
    path = root / "build" / "graded.jsonl"
    found = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            found.append((json.loads(line)["student"], json.loads(line)["lab"]))
        except ValueError:
            continue  # the line a kill cut short
    return found


class Cluster:
    """A scheduler and workers, each a process group of its own, stopped at the end."""

    def __init__(self, base: Path, hidden: Path):
        self.base, self.hidden, self.workers = base, hidden, {}
        self.certificates = base / "certificates"
        self.certificates.mkdir()
        subprocess.run(OPENSSL, cwd=self.certificates, check=True, capture_output=True)
        self.tls = [str(self.certificates / a) if a.startswith("grading.") else a for a in TLS]
        # --idle-timeout and --death-timeout: both stop by themselves if this test dies
        self.scheduler = self._start(["scheduler", "--protocol", "tls", *self.tls,
                                      "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--idle-timeout", "600", "--scheduler-file",
                                      str(base / "scheduler.json")], cwd=base)
        deadline = time.monotonic() + 60
        while not (base / "scheduler.json").exists():
            assert self.scheduler.poll() is None and time.monotonic() < deadline, \
                "the scheduler did not start"
            time.sleep(0.2)
        time.sleep(0.5)  # the file is written whole only once it is listening
        self.address = json.loads((base / "scheduler.json").read_text())["address"]

    def _start(self, command: list[str], cwd: Path, wrap: list[str] = (),
               env: dict | None = None) -> subprocess.Popen:
        env = {"PATH": BARE_PATH, "HOME": str(cwd), "LANG": "C.UTF-8", **(env or {})}
        log = (cwd / f"{command[0]}.log").open("wb")
        return subprocess.Popen([*wrap, str(DASK), *command], cwd=cwd, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_worker(self, name: str, threads: int = 1, env: dict | None = None) -> None:
        """A worker in a directory of its own, in a mount namespace where `hidden` is empty."""
        folder = self.base / name
        folder.mkdir()
        hide = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs none "$0" && exec "$@"', str(self.hidden)]
        self.workers[name] = self._start(
            ["worker", self.address, "--nthreads", str(threads), *self.tls, "--name", name,
             "--death-timeout", "60"], cwd=folder, wrap=hide, env=env)

    def start_outdated_worker(self, name: str) -> None:
        """A worker whose grader is another checkout's (one comment more)."""
        outdated = self.base / "outdated"
        shutil.copytree(Path(parallel.__file__).parents[1], outdated / "grader",
                        ignore=shutil.ignore_patterns("__pycache__"))
        with (outdated / "grader" / "checks.py").open("a") as file:
            file.write("# a checkout older or newer than the client's\n")
        self.start_worker(name, env={"PYTHONPATH": str(outdated)})

    def kill(self, name: str) -> None:
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def config(self) -> dict:
        ca, cert, key = (str(self.certificates / f) for f in
                         ("grading.pem", "grading.pem", "grading.key"))
        return {"distributed.comm.tls.ca-file": ca, "distributed.comm.tls.client.cert": cert,
                "distributed.comm.tls.client.key": key}

    def client(self):
        import dask
        from distributed import Client

        with dask.config.set(self.config()):
            client = Client(self.address, timeout=30)
        return client

    def stop(self) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _session_of(pid: int) -> set[int]:
    """Every process left in the session `pid` led."""
    left = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getsid(int(entry.name)) == pid:
                left.add(int(entry.name))
        except OSError:
            continue
    return left


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The class graded here (local cluster) and on the cluster: there, the client killed after
    six results and started again, and a worker killed mid-notebook in the resumed run."""
    import dask

    if sandbox.sandbox_problem():
        pytest.fail(sandbox.sandbox_problem(), pytrace=False)
    base = tmp_path_factory.mktemp("cluster")
    here, there = base / "local" / "course", base / "classes" / "course"
    make_class(here)
    grading.gradebook.course_bundle(here)  # the labs' cells, recorded once for both copies
    shutil.copytree(here, there)
    local = grading.grade.grade_class(here, progress=False, workers=2)
    found = {"local": local, "local cells": grade_cells(here), "root": there}
    cluster = Cluster(base, hidden=there.parent)
    try:
        cluster.start_worker("w1")
        cluster.start_worker("w2")
        monitor = cluster.client()
        monitor.wait_for_workers(2, timeout=120)
        found["sees"] = monitor.run(lambda: (os.getcwd(), os.listdir(there.parent)))
        found["names"] = {info["name"]: address
                          for address, info in monitor.scheduler_info()["workers"].items()}
        env = {**os.environ, **{"DASK_" + k.upper().replace(".", "__").replace("-", "_"): v
                                for k, v in cluster.config().items()}}

        def client() -> subprocess.Popen:
            """`grader grade --scheduler` on the class, as a process of its own."""
            return subprocess.Popen(
                [sys.executable, "-c", "import sys; from pathlib import Path; from grader import "
                 "grading; grading.grade.grade_class(Path(sys.argv[1]), progress=False, "
                 "scheduler=sys.argv[2])", str(there), cluster.address],
                env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                stderr=(base / "client.log").open("ab"))

        first = client()
        deadline = time.monotonic() + 600
        while len(ledger(there)) < 6:
            assert first.poll() is None and time.monotonic() < deadline, \
                (base / "client.log").read_text()[-3000:]
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        found["before resume"] = ledger(there)
        second = client()
        while not monitor.processing(workers=[found["names"]["w1"]]).get(found["names"]["w1"]):
            assert second.poll() is None and time.monotonic() < deadline, "nothing sent"
            time.sleep(0.1)
        cluster.start_outdated_worker("w5")  # joins once the client has checked the workers
        found["killed key"], found["killed pid"] = _kill_a_worker_mid_notebook(
            cluster, monitor, found["names"]["w1"], second, there)
        cluster.start_worker("w3")
        assert second.wait(timeout=900) == 0, (base / "client.log").read_text()[-3000:]
        found["w5"] = cluster.workers["w5"].wait(timeout=60)
        found["log of w5"] = (base / "w5" / "worker.log").read_text()
        with dask.config.set(cluster.config()):  # everything is in the ledger: nothing to do
            found["cluster"] = grading.grade.grade_class(there, progress=False,
                                                         scheduler=cluster.address)
        found["cluster cells"] = grade_cells(there)
        cluster.start_worker("w4", threads=2)
        monitor.wait_for_workers(3, timeout=120)
        with dask.config.set(cluster.config()), \
                pytest.raises(parallel.ClusterProblem) as refused:
            list(parallel.run(parallel.CourseFiles({}), [], sandbox=True, timeout=None,
                              scheduler=cluster.address))
        found["refused"] = str(refused.value)
        monitor.close()
        yield found
    finally:
        cluster.stop()


def _kill_a_worker_mid_notebook(cluster, monitor, address, client, root) -> tuple:
    """Kill w1 (its process group: nanny, worker, zygote, kernels) once it has been running a
    notebook of this client's for a second; that notebook's (student, lab), and w1's pid."""
    done = set(ledger(root))
    deadline = time.monotonic() + 600
    while True:
        assert client.poll() is None and time.monotonic() < deadline, "w1 never ran a notebook"
        running = [key for key in monitor.processing(workers=[address]).get(address, [])
                   if _student_and_lab(key) not in done]
        if running:
            time.sleep(1.0)
            if running[0] in monitor.processing(workers=[address]).get(address, []):
                break
        time.sleep(0.1)
    pid = cluster.workers["w1"].pid
    cluster.kill("w1")
    return _student_and_lab(running[0]), pid


def _student_and_lab(key: str) -> tuple[str, str]:
    """From a task's key, grade-<student>-<lab>-<i>-<run>."""
    _, student, rest = key.split("-", 2)
    return student, rest.rsplit("-", 2)[0]


@pytest.mark.slow
@pytest.mark.root
def test_each_worker_works_in_its_own_directory_and_cannot_see_the_course(run):
    assert sorted(Path(cwd).name for cwd, _ in run["sees"].values()) == ["w1", "w2"]
    assert [listing for _, listing in run["sees"].values()] == [[], []]


@pytest.mark.slow
@pytest.mark.root
def test_the_cluster_scores_every_grade_cell_as_this_machine_does(run):
    assert run["cluster cells"] == run["local cells"]
    assert [(o.student, o.lab, o.score, o.status) for o in run["cluster"]] == \
        [(o.student, o.lab, o.score, o.status) for o in run["local"]]
    full = {o.lab: o.max_score for o in run["local"]}
    assert {(o.student, o.lab): o.score for o in run["local"] if o.student != "half"} == \
        {(s, lab): full[lab] if s == "right" else 0.0 for s in ("right", "blank") for lab in full}
    assert 0 < sum(o.score for o in run["local"] if o.student == "half") < sum(full.values())
    assert all(o.status == "ok" for o in run["local"])


@pytest.mark.slow
@pytest.mark.root
def test_a_worker_killed_mid_notebook_loses_nothing_and_leaves_nothing_running(run):
    killed, graded = run["killed key"], ledger(run["root"])
    assert killed not in run["before resume"] and graded.count(killed) == 1
    assert _session_of(run["killed pid"]) == set()


@pytest.mark.slow
@pytest.mark.root
def test_a_client_killed_mid_run_resumes_and_writes_nothing_twice(run):
    before, after = run["before resume"], ledger(run["root"])
    assert 0 < len(before) < len(after), "the client should be killed half way"
    assert after[:len(before)] == before
    assert sorted(after) == sorted(set(after)) and len(after) == len(run["local"])


@pytest.mark.slow
@pytest.mark.root
def test_a_worker_that_joins_mid_run_with_another_grader_is_sent_away_and_grades_nothing(run):
    """Its tasks went to the others (every submission is graded, above, and right)."""
    assert run["w5"] is not None  # it stopped, since the scheduler removed it
    assert "Reason: scheduler-remove-worker" in run["log of w5"]
    assert all(o.status == "ok" for o in run["cluster"])


@pytest.mark.slow
@pytest.mark.root
def test_a_worker_that_runs_two_threads_stops_the_run_before_anything_is_graded(run):
    assert run["refused"].startswith("grading workers that cannot grade as this machine would:")
    assert "it runs 2 threads" in run["refused"]
    assert run["refused"].count("tls://") == 1  # only w4
