"""Grading submissions in parallel, on one machine or on a Dask cluster.

A *task* is one submission: its content, not its path, so a worker needs no shared filesystem.
A worker grades it with nbgrader's own `autograde` (our pipeline of nbgrader_config.py, judge and
sandbox included) inside a private copy of the course, whose gradebook holds only the labs'
cells, and sends back the graded notebook and each grade cell's score. Only the client writes
the real gradebook: it runs nbgrader's SaveAutoGrades and AssignLatePenalties on each graded
notebook that comes back, one at a time, so the gradebook (SQLite or PostgreSQL) never sees two
writers.

The course a worker needs (nbgrader_config.py, the released labs, the cells-only gradebook) is
a `CourseFiles` bundle sent to each worker once (Dask's scatter) and unpacked there once per
process.

    local:   a dask.distributed LocalCluster of `workers` processes on 127.0.0.1 (the default)
    cluster: `scheduler="tls://host:8786"`, a running Dask scheduler whose workers have this
             package installed, run as root with bubblewrap (for the sandbox), one thread each;
             TLS from Dask's configuration (`grader grade --tls-*` sets it)
    inline:  `workers=0`, every task in this process, one after another (debugging)

A worker elsewhere must grade exactly as this machine would: before the first task, and again
in every task (a worker can join mid-run), it compares its Python, the packages that run and
judge a lab, and the grader's own code with the client's, and checks that it can sandbox and
runs one thread. A worker that differs grades nothing: the run stops, saying which and why.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import platform
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Task:
    """One submission to grade, carried whole."""

    student: str
    lab: str  # the lab's (assignment's) name, like 01_derivatives
    notebook: str  # its file name, like derivatives.ipynb
    source: str  # the staged notebook's JSON
    timestamp: str | None = None


@dataclass
class Graded:
    """What a worker sends back."""

    student: str
    lab: str  # the lab's name
    notebook: str  # its file name
    ok: bool
    graded: str = ""  # the autograded notebook's JSON
    error: str = ""  # why it was not graded, in one line
    log: str = ""  # what the grader's log said, for the instructor (capped)
    files: dict[str, bytes] = field(default_factory=dict)  # what the student's code wrote
    seconds: float = 0.0  # the time the worker spent on it, from the task's start to its end
    worker: str = ""  # which worker: its Dask address (or host:pid outside Dask)


@dataclass(frozen=True)
class CourseFiles:
    """What a worker needs of the course, as files: {relative path: bytes}."""

    files: dict[str, bytes]

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()[:16]

    def unpack(self, place: Path) -> Path:
        for name, content in self.files.items():
            (place / name).parent.mkdir(parents=True, exist_ok=True)
            (place / name).write_bytes(content)
        return place


class ClusterProblem(Exception):
    """The cluster cannot grade as this machine would (no TLS, no workers, a worker that differs):
    nothing is graded, and `grader grade` says why and exits with its own status."""


# What a grade depends on besides the submission and the course: the packages that run a lab,
# judge it and score it. A worker with another torch, say, could print other digits.
GRADE_PACKAGES = ("torch", "numpy", "matplotlib", "sympy", "ipython", "ipykernel",
                  "jupyter_client", "nbclient", "nbconvert", "nbformat", "nbgrader", "traitlets",
                  "distributed", "cloudpickle")


@functools.cache
def environment() -> dict[str, str]:
    """This process's Python, the versions of GRADE_PACKAGES, and a digest of the grader's code."""
    from importlib import metadata

    found = {"python": platform.python_version(), "grader code": _code_digest()}
    for name in GRADE_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def _code_digest() -> str:
    """The grader package's files (code, templates), as one digest."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def worker_problem(expected: tuple[tuple[str, str], ...], sandbox: bool,
                   dask_worker=None) -> str | None:
    """Why this worker cannot grade exactly as the client would, in one line; None if it can.
    (Dask passes `dask_worker` to a function that `Client.run` runs; a task finds its own.)"""
    if dask_worker is None:
        from distributed import get_worker

        dask_worker = get_worker()
    return unfit(expected, sandbox, dask_worker.state.nthreads)


@functools.cache
def unfit(expected: tuple[tuple[str, str], ...], sandbox: bool, threads: int) -> str | None:
    """worker_problem's checks, for a process with `threads` task threads; cached, since what
    it checks does not change while the worker runs."""
    if threads != 1:
        return (f"it runs {threads} threads (start it with --nthreads 1: grading changes "
                "process-wide state, and a kernel is forked from a single-threaded zygote)")
    here = environment()
    differ = [f"{name} {here.get(name, 'missing')} here, {version} on the client"
              for name, version in expected if here.get(name) != version]
    if differ:
        return "its environment is not the client's: " + "; ".join(differ)
    if sandbox:
        from grader.grading import sandbox as sandbox_module

        problem = sandbox_module.sandbox_problem()
        if problem:
            return f"it cannot run the sandbox: {problem}"
    return None


_unpacked: dict[str, Path] = {}


def _unpacked_once(files: CourseFiles) -> Path:
    """The course unpacked once in this worker process, and removed when it ends."""
    digest = files.digest
    if digest not in _unpacked or not _unpacked[digest].is_dir():
        if not _unpacked:
            atexit.register(_remove_unpacked)
        _unpacked[digest] = files.unpack(Path(tempfile.mkdtemp(prefix=f"course-{digest}-")))
    return _unpacked[digest]


def _remove_unpacked() -> None:
    """Every `make grade` left one unpacked course per worker in /tmp (393 were found)."""
    for place in _unpacked.values():
        shutil.rmtree(place, ignore_errors=True)


def grade_task(files: CourseFiles, task: Task, sandbox: bool, timeout: int | None,
               expected: tuple[tuple[str, str], ...] | None = None) -> Graded:
    """Grade one submission with nbgrader's autograde in a private copy of the course; on a
    worker elsewhere (`expected`: the client's environment), only if it grades as the client
    would."""
    from nbgrader.apps import NbGraderAPI

    from grader.course import nbgrader_in_process
    from grader.grading.configuration import config

    problem = expected is not None and worker_problem(expected, sandbox)
    if problem:
        return Graded(task.student, task.lab, task.notebook, False,
                      error=f"{UNFIT}: {problem}")
    root = Path(tempfile.mkdtemp(prefix="task-"))
    try:
        shutil.copytree(_unpacked_once(files), root, dirs_exist_ok=True)
        (root / "solutions" / task.lab).mkdir(parents=True, exist_ok=True)
        folder = root / "submitted" / task.student / task.lab
        folder.mkdir(parents=True)
        (folder / task.notebook).write_text(task.source, encoding="utf-8")
        if task.timestamp:
            (folder / "timestamp.txt").write_text(task.timestamp)
        cfg = config(root, sandbox, timeout)
        cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"  # never the real one
        api = NbGraderAPI(config=cfg)
        for _attempt in range(2):  # once more if it failed: a kernel can fail to start under load
            with nbgrader_in_process():
                result = api.autograde(task.lab, task.student, force=True, create=True)
            if result.get("success"):
                break
        if not result.get("success"):
            return Graded(task.student, task.lab, task.notebook, False,
                          error=_reason(result),
                          log=_cap((result.get("log") or "") + (result.get("error") or "")))
        graded = root / "autograded" / task.student / task.lab / task.notebook
        return Graded(task.student, task.lab, task.notebook, True,
                      graded.read_text(encoding="utf-8"), log=_cap(result.get("log") or ""),
                      files=_side_files(graded.parent, root / "solutions" / task.lab))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _side_files(graded: Path, released: Path) -> dict[str, bytes]:
    """The files beside the graded notebook that the student's code wrote (autograde.SideFiles
    brought them there): neither a notebook, nor the timestamp, nor a released file."""
    from grader.grading.autograde import MAX_SIDE_BYTES

    files, size = {}, 0
    for path in sorted(graded.rglob("*")):
        relative = path.relative_to(graded)
        if path.is_symlink() or not path.is_file() or path.suffix == ".ipynb" or \
                str(relative) == "timestamp.txt" or (released / relative).exists():
            continue
        size += path.stat().st_size
        if size > MAX_SIDE_BYTES:
            break
        files[str(relative)] = path.read_bytes()
    return files


def _reason(result: dict) -> str:
    """The line of nbgrader's log that says why it could not grade."""
    log = (result.get("log") or "").splitlines()
    reason = [line for line in log if ("Error" in line or "Fault" in line)
              and "Please see" not in line] or (result.get("error") or "").strip().splitlines()
    return reason[-1].strip()[:300] if reason else "nbgrader failed"


MAX_LOG_CHARS = 64_000


def _cap(text: str) -> str:
    """A log, cut to its last MAX_LOG_CHARS characters (the end says what went wrong)."""
    return text if len(text) <= MAX_LOG_CHARS else "[cut]\n" + text[-MAX_LOG_CHARS:]


@contextlib.contextmanager
def dask_client(workers: int | None, scheduler: str | None) -> Iterator:
    """A Dask client: on the scheduler at `scheduler` (TLS from Dask's own configuration), or
    on a local cluster started here."""
    import dask
    from distributed import Client, LocalCluster
    from distributed.security import Security

    dask.config.set({"distributed.worker.daemon": False,  # workers start kernels (processes)
                     "distributed.scheduler.work-stealing": True,
                     "logging.distributed": "error"})
    if scheduler:
        with _cluster_client(scheduler) as client:
            yield client
        return
    # The workers run as root (the sandbox needs it), so whoever can submit work to them is
    # root: the local cluster speaks TLS with certificates made for this run only, and
    # refuses any client without them (another account on this machine, say).
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                      processes=True, host="127.0.0.1", dashboard_address=None,
                      protocol="tls://", security=Security.temporary(),
                      silence_logs=40) as cluster, Client(cluster) as client:
        yield client


# How long the client waits for the scheduler to answer, and for a first worker to join.
CONNECT_TIMEOUT = 30


@contextlib.contextmanager
def _cluster_client(scheduler: str) -> Iterator:
    """A client of the scheduler at `scheduler`, over TLS only: a worker runs as root whatever
    its scheduler sends it, so a cluster that takes plain TCP takes anyone's code."""
    from distributed import Client
    from distributed.security import Security

    if not scheduler.startswith("tls://"):
        raise ClusterProblem(
            f"the scheduler's address {scheduler} is not tls://: grading workers run as root, so "
            "the cluster must speak TLS (README, \"Grading a MOOC\")")
    security = Security()  # Dask's configuration: DASK_DISTRIBUTED__COMM__TLS__..., --tls-*
    if not (security.tls_ca_file and security.tls_client_cert):
        raise ClusterProblem(
            "no TLS certificates for the client: pass --tls-ca-file, --tls-cert and --tls-key "
            "(the cluster's CA, and a certificate and key it trusts)")
    try:
        client = Client(scheduler, security=security, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise ClusterProblem(f"cannot reach the scheduler at {scheduler}: "
                             f"{str(error).splitlines()[0][:300]}") from None
    with client:
        yield client


def _fit_workers(client, sandbox: bool) -> tuple[tuple[str, str], ...]:
    """The client's environment, once every worker there is has said it can grade as the client
    would; ClusterProblem, naming each worker that cannot, otherwise."""
    expected = tuple(sorted(environment().items()))
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        raise ClusterProblem(
            f"no grading worker joined the scheduler in {CONNECT_TIMEOUT} s") from None
    try:
        answers = client.run(worker_problem, expected, sandbox)
    except Exception as error:  # an older grader, say, without worker_problem
        raise ClusterProblem(f"a grading worker could not check itself ({type(error).__name__}: "
                             f"{str(error)[:300]}): is its grader this one?") from None
    problems = {worker: problem for worker, problem in answers.items() if problem}
    if problems:
        raise ClusterProblem("grading workers that cannot grade as this machine would:\n" +
                             "\n".join(f"  {w}: {p}" for w, p in sorted(problems.items())))
    return expected


def run(files: CourseFiles, tasks: list[Task], *, sandbox: bool, timeout: int | None,
        workers: int | None = None, scheduler: str | None = None) -> Iterable[Graded]:
    """Each task's result, as soon as it is ready (in no particular order)."""
    if workers == 0 and not scheduler:
        for task in tasks:
            yield _graded_or_fault(grade_task, files, task, sandbox, timeout)
        return
    from distributed import as_completed

    with dask_client(workers, scheduler) as client:
        expected = _fit_workers(client, sandbox) if scheduler else None
        shared = client.scatter(files, broadcast=True)
        run_id = uuid.uuid4().hex[:8]  # a killed run's tasks may still be running: never its keys
        sent = {}

        def send(task: Task, attempt: int = 0):
            key = f"grade-{task.student}-{task.lab}-{len(sent)}-{run_id}"
            future = client.submit(_graded_or_fault, grade_task, shared, task, sandbox, timeout,
                                   expected, pure=False, key=key)
            sent[future] = task, attempt
            return future

        pending = as_completed([send(task) for task in tasks])
        for future in pending:
            task, attempt = sent[future]
            try:
                graded = future.result()
            except Exception as error:  # the worker itself was lost: say so, go on
                yield Graded(task.student, task.lab, task.notebook, False,
                             error=f"the grading worker failed: {type(error).__name__}: "
                                   f"{str(error)[:200]}",
                             log=_cap("".join(traceback.format_exception(error))))
                continue
            if graded.error.startswith(UNFIT) and attempt < MAX_UNFIT_ATTEMPTS:
                # a worker that joined mid-run and differs: it leaves, the task goes elsewhere
                client.retire_workers([graded.worker], close_workers=True)
                pending.add(send(task, attempt + 1))
                continue
            yield graded


UNFIT = "this grading worker cannot grade as the client would"
MAX_UNFIT_ATTEMPTS = 3  # then the task is a grader error (every worker left may differ)


def _graded_or_fault(grade: Callable[..., Graded], files: CourseFiles, task: Task,
                     *args) -> Graded:
    """A task always comes back as a Graded, whatever went wrong in the worker; with the time
    it took there, and where."""
    started = time.perf_counter()
    try:
        graded = grade(files, task, *args)
    except Exception as error:
        graded = Graded(task.student, task.lab, task.notebook, False,
                        error=f"{type(error).__name__}: {str(error)[:200]}",
                        log=_cap("".join(traceback.format_exception(error))))
    graded.seconds = time.perf_counter() - started
    graded.worker = _this_worker()
    return graded


def _this_worker() -> str:
    """The Dask worker's address, or where this process runs outside a worker."""
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:
        return f"{platform.node()}:{os.getpid()}"
