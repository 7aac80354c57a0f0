"""The sandbox a student's kernel runs in while it is graded.

A submission is untrusted code: it could read the solutions or the gradebook, change another
student's work, phone home, or take the machine down. So its kernel runs under bubblewrap
(`bwrap`), which gives it namespaces of its own, and under resource limits:

- files: only what the kernel needs, read-only (an allowlist, SHOWN and SHOWN_ETC: the
  system's programs and libraries, a few files of /etc, the Python environment and the
  modules of the `grader` package it imports, KERNEL_MODULES); nothing else of the machine is
  there (not grader.reference or grader.checks), wherever the course or another
  checkout of it lies. Only the submission's scratch directory is writable; it is also the
  kernel's cwd, HOME and TMPDIR;
- no network (its own network namespace, with only a loopback); the kernel talks to the grader
  over unix sockets (transport "ipc") in a folder of their own, which becomes root's as soon as
  the kernel has made them, before any student code runs (`lock_sockets`);
- its own pid, ipc and uts namespaces, its own session, and it dies with the grader;
- it runs as a uid of its own (KERNEL_UIDS: no account has it, no other kernel running at the
  same time shares it), with no capabilities and no_new_privs: as root the kernel would be
  exempt from RLIMIT_NPROC, and any file it could reach would be its own;
- rlimits on address space, CPU time, file size, tasks and open files (`Limits`).

The grader must run as root for this: dropping to another uid needs it (bubblewrap's own user
namespace would map the kernel to root, which the kernel exempts from RLIMIT_NPROC).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jupyter_client import AsyncKernelManager, BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_core.utils import run_sync

from grader.grading import upstream

GRADER_DIR = Path(__file__).resolve().parents[1]  # the grader package
# The sandbox probe runs as nobody; each kernel runs as a uid of its own from KERNEL_UIDS.
NOBODY = 65534
# uids no account on the machine has (far above any Debian range and the usual subuid ranges):
# each kernel that runs at the same time, in any grading process on this machine, gets its
# own, so the limits counted per user (RLIMIT_NPROC) are its own too. A uid is taken with a
# lock file in UID_LOCKS and only while no process of that uid is left.
KERNEL_UIDS = range(2_100_000_000, 2_100_004_096)
UID_LOCKS = Path("/run/autograd-labs-kernel-uids")
# All the kernel sees of the machine, read-only (an allowlist: a course checked out anywhere
# else, /srv or /work, say, is simply not there): the system's programs and libraries, the
# parts of /etc that the C library, Python and matplotlib read, and the CPUs' description
# (torch reads it). Besides these: the Python environment and KERNEL_MODULES (read-only),
# its scratch directory and its sockets' folder.
SHOWN = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
         "/sys/devices/system/cpu")
# What a kernel may import of the grader: the package (a lab's progress cell calls
# grader.progress()), what the judge's calls need, the figures' style (a lab shows its plots
# with grader.figures) and the torch check of a lab's first cell. Not the checks, nor the
# references, which answer the exercises: a graded answer that imports them fails.
KERNEL_MODULES = ("__init__.py", "kernel_side.py", "figures.py", "require.py")
# The graded kernel's own arguments. ipykernel sends a message frame of 64 KiB or more without
# copying it, and pyzmq then starts a thread to track it: a submission that has taken every
# thread its uid may have leaves none, the send fails halfway, and the half message reached the
# grader as an "Invalid Signature" (a grader error for a right notebook: a course figure, shown
# with its alt text, is over 64 KiB). Copying every frame, as ipykernel does below 64 KiB, needs
# no thread.
KERNEL_ARGS = ("--Session.copy_threshold=2147483647",)
SHOWN_ETC = ("alternatives", "fonts", "group", "host.conf", "hosts", "ld.so.cache", "ld.so.conf",
             "ld.so.conf.d", "locale.alias", "localtime", "mime.types", "nsswitch.conf",
             "os-release", "passwd", "protocols", "services", "ssl", "ca-certificates",
             "timezone", "matplotlibrc")
GiB, MiB = 2**30, 2**20


@dataclass(frozen=True)
class Limits:
    """What one student's kernel may use. Each is an rlimit, set on the kernel process.

    memory: address space (RLIMIT_AS), which counts what is reserved, not only what is used.
        Measured in this sandbox: a kernel that ran a whole lab reserved 1.4-1.5 GiB (using
        0.3-0.4 GiB); `python -c "import torch, matplotlib"` alone needs 1 GiB (0.5 GiB is too
        little for OpenBLAS). 4 GiB leaves room for a student's larger tensors and stops a
        runaway allocation long before the machine's memory runs out. An allocation over it is
        a MemoryError (RuntimeError from torch), and the kernel lives on.
    cpu_seconds: CPU time of the kernel (RLIMIT_CPU); past it the kernel gets SIGXCPU and dies.
        It counts over the whole notebook, so it is an upper bound, not a per-cell time-out.
    file_size: the largest file the kernel may write (RLIMIT_FSIZE); a bigger write is an
        OSError (Python ignores SIGXFSZ).
    processes: tasks (processes and threads) of the kernel's uid (RLIMIT_NPROC). It is
        counted per user, and each kernel has a uid of its own (KERNEL_UIDS), so no other
        submission can use it up. A kernel that ran a lab had 12-16 threads; the limit stops
        a fork bomb.
    open_files: file descriptors (RLIMIT_NOFILE).
    threads: threads each numeric library starts (OMP/OpenBLAS/MKL_NUM_THREADS). They default
        to one per core, and each takes address space and a task: a fixed number makes the two
        limits above mean the same on any machine.
    """

    memory: int = 4 * GiB
    cpu_seconds: int = 600
    file_size: int = 64 * MiB
    processes: int = 256
    open_files: int = 1024
    threads: int = 2

    def prlimit(self) -> list[str]:
        """util-linux's prlimit, setting these limits and then running the command after it
        (its options are the rlimits' names: --as, --cpu, --fsize, --nproc, --nofile)."""
        return ["prlimit", *(f"--{rlimit.lower()}={value}"
                             for rlimit, value in limit_values(self).items()), "--"]


# Each rlimit a kernel gets: the field of Limits that holds it -> its name (RLIMIT_<name>).
RLIMITS = {"memory": "AS", "cpu_seconds": "CPU", "file_size": "FSIZE", "processes": "NPROC",
           "open_files": "NOFILE"}


def sandbox_command(command: list[str], scratch: Path, course_root: Path, limits: Limits,
                    cwd: Path | None = None, uid: int = NOBODY,
                    sockets: Path | None = None) -> list[str]:
    """`command` wrapped to run in the sandbox: bwrap, then drop to `uid`, then the limits.
    `sockets` is the folder where the kernel makes its ipc sockets, shown read-write.

    Not `--unshare-all`: as root that adds a user namespace mapping the kernel to root, which
    the kernel exempts from RLIMIT_NPROC and which owns every root-owned file. Instead the same
    namespaces less the user one, and setpriv switches to `uid` before anything else runs.
    """
    scratch = scratch.resolve()
    cwd = cwd.resolve() if cwd and cwd.resolve().is_relative_to(scratch) else scratch
    return [
        "bwrap", "--die-with-parent", "--new-session",
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--dev", "/dev", "--proc", "/proc",
        *_mounts(course_root.resolve(), scratch, sockets), "--chdir", str(cwd),
        "--clearenv", *_environment(scratch, limits),
        # setpriv needs these three to change uid; it then drops every capability.
        "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        "--cap-add", "CAP_SETPCAP",
        "--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
        *limits.prlimit(), *command,
    ]


def _mounts(course_root: Path, scratch: Path, sockets: Path | None = None) -> list[str]:
    """The kernel's view of the filesystem, made from nothing: SHOWN and SHOWN_ETC, the Python
    environment (a venv, and the Python it was made from, which pyenv keeps under /root) and the
    grader package (which an editable install imports from the checkout by its absolute path),
    all read-only; the scratch directory and the sockets' folder read-write. Nothing else of
    the machine is there: not the course (`course_root`, wherever it is), not the grader's
    checkout, not homes, services' sockets or other users' files."""
    system = [Path(p) for p in SHOWN if os.path.lexists(p)] + \
        [Path("/etc") / name for name in SHOWN_ETC if (Path("/etc") / name).exists()]
    args = []
    for path in system:
        if path.is_symlink():  # /bin -> usr/bin on a merged-/usr system
            args += ["--symlink", os.readlink(path), str(path)]
        else:
            args += [*_parents(path, system), "--ro-bind", str(path), str(path)]
    shown = sorted({Path(p).resolve() for p in
                    (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)})
    for path in shown:
        args += [*_parents(path, system), "--ro-bind", str(path), str(path)]
    # Of the grader package, only the modules a kernel imports (KERNEL_MODULES): never the
    # references, which answer the exercises, nor the checks (an installed package, inside a
    # prefix above, is hidden first).
    if any(GRADER_DIR.is_relative_to(p) for p in shown):
        args += ["--tmpfs", str(GRADER_DIR)]
    else:
        args += [*_parents(GRADER_DIR, system), "--perms", "0755", "--dir", str(GRADER_DIR)]
    for name in KERNEL_MODULES:
        args += ["--ro-bind", str(GRADER_DIR / name), str(GRADER_DIR / name)]
    shown.append(GRADER_DIR)
    # a course kept inside a folder shown above (/usr/local/course, say) is hidden again
    hidden = [course_root] if any(course_root.is_relative_to(p) for p in system + shown) else []
    args += [arg for place in hidden for arg in ("--tmpfs", str(place))]
    for place in [scratch] + ([sockets.resolve()] if sockets else []):
        args += [*_parents(place, system, hidden), "--bind", str(place), str(place)]
    return args


def _parents(path: Path, system: list[Path], hidden: list[Path] = ()) -> list[str]:
    """Directories to make (mode 0755) on the way to `path` where none is yet (outside the
    system folders shown, or inside a hidden place): bwrap would make them 0700, which the
    kernel's uid cannot enter."""
    return [arg for parent in reversed(path.parents) if parent != Path("/")
            and (not any(parent.is_relative_to(place) for place in system) or
                 any(parent != place and parent.is_relative_to(place) for place in hidden))
            for arg in ("--perms", "0755", "--dir", str(parent))]


def _environment(scratch: Path, limits: Limits) -> list[str]:
    return [arg for name, value in kernel_environment(scratch, limits).items()
            for arg in ("--setenv", name, value)]


def kernel_environment(scratch: Path, limits: Limits) -> dict[str, str]:
    """The kernel's whole environment: none of the grader's variables (tokens, paths) leak in."""
    threads = str(limits.threads)
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8",
        "MPLCONFIGDIR": str(scratch / ".matplotlib"), "IPYTHONDIR": str(scratch / ".ipython"),
        **upstream.NO_PARENT_TO_WATCH,  # its parent is bwrap, pid 1 of its pid namespace
        "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
        # a kernel that crashes (SIGSEGV, SIGABRT...) says where in its log, for the grader's
        "PYTHONFAULTHANDLER": "1",
        # as stock nbgrader sets it, so that a notebook can tell grading from a student's run
        "NBGRADER_EXECUTION": "autograde",
    }


def limit_values(limits: Limits) -> dict[str, int]:
    """The rlimits, by their names (AS, CPU...): for prlimit, and for a warm kernel to set on
    itself (grader/grading/warm.py)."""
    return {rlimit: getattr(limits, field) for field, rlimit in RLIMITS.items()}


class KernelUid:
    """A uid of KERNEL_UIDS held by this process for one kernel: an exclusive lock on its lock
    file (released by the kernel, or by the system when the process holding it ends), taken only
    while no process of that uid is alive, so a kernel never inherits what its predecessor left.
    """

    def __init__(self):
        UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
        running = _uids_in_use()
        for uid in KERNEL_UIDS:
            if uid in running:
                continue
            fd = os.open(UID_LOCKS / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError(f"all {len(KERNEL_UIDS)} kernel uids are in use")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _uids_in_use() -> set[int]:
    """The real uids of every process on the machine (as /proc shows them here)."""
    uids = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                uids.add(entry.stat().st_uid)
    return uids


def start_holder(scratch: Path, course_root: Path, limits: Limits, timeout: float = 30,
                 uid: int = NOBODY, sockets: Path | None = None
                 ) -> tuple[subprocess.Popen, int]:
    """A sandbox exactly like a cold kernel's, holding only `sleep`, for a warm kernel to join.

    Returns the bwrap process and the pid (as seen here) of the sandbox's first process, whose
    namespaces and root the warm kernel enters. It says "ready" once bwrap has set up every
    mount, so the kernel never joins a half-made sandbox.
    """
    info_read, info_write = os.pipe()
    command = sandbox_command(["sh", "-c", "echo ready && exec sleep infinity"], scratch,
                              course_root, limits, uid=uid, sockets=sockets)
    command[1:1] = ["--info-fd", str(info_write)]
    holder = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              pass_fds=(info_write,))
    os.close(info_write)
    try:
        info = _read_json(info_read, timeout)
        if not wait_readable(holder.stdout.fileno(), timeout) or \
                holder.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the sandbox did not start (bwrap exit status {holder.poll()})")
        return holder, int(info["child-pid"])
    except BaseException:
        holder.kill()
        holder.wait()
        raise
    finally:
        os.close(info_read)


def wait_readable(fd: int, timeout: float) -> bool:
    """Whether `fd` has something to read within `timeout` seconds. poll(), not select():
    select() cannot watch a descriptor numbered past 1023 (FD_SETSIZE)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    return bool(poller.poll(timeout * 1000))


def _read_json(fd: int, timeout: float) -> dict:
    """The one JSON object bwrap writes on its --info-fd."""
    text = b""
    while True:
        if not wait_readable(fd, timeout):
            raise RuntimeError("bwrap said nothing on its info pipe")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"bwrap's info pipe closed early: {text!r}")
        text += chunk
        try:
            return json.loads(text)
        except ValueError:
            continue


def give_to_kernel(scratch: Path, uid: int = NOBODY) -> None:
    """Make the scratch directory (and what the grader put in it) the kernel's, so the kernel
    can write there. Symlinks are not followed: a kernel could have left one pointing anywhere."""
    scratch.mkdir(parents=True, exist_ok=True)
    scratch.chmod(0o711)  # bwrap, root without capabilities by then, must enter it to chdir
    os.chown(scratch, uid, uid, follow_symlinks=False)
    for folder, dirs, files in os.walk(scratch):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


@functools.cache
def sandbox_problem() -> str | None:
    """Why a sandboxed kernel cannot start on this machine, in one line; None if it can.

    Checked once per process by starting the sandbox for real, with the kernel's Python
    importing the grader, so that a missing tool, a container that forbids namespaces or an
    environment the sandbox hides all show up before any submission is graded.
    """
    if os.geteuid() != 0:
        return (f"the sandbox needs root, to run each kernel as a uid of its own (running as uid "
                f"{os.geteuid()})")
    for tool, package in (("bwrap", "bubblewrap"), ("setpriv", "util-linux"),
                          ("prlimit", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: apt-get install {package}"
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as scratch:
        give_to_kernel(Path(scratch))
        command = sandbox_command([sys.executable, "-c", "import grader, ipykernel"],
                                  Path(scratch), GRADER_DIR.parent, Limits())
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return "a test run of the sandbox did not finish in 60 s"
    if run.returncode != 0:
        said = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        return f"bwrap cannot run a kernel here: {said}"
    return None


class SandboxedKernelManager(upstream.OwnKernelSpec, AsyncKernelManager):
    """A kernel manager whose kernel (ipykernel) runs in the sandbox; for nbclient's `km=`.

    The kernel spec is the usual `python -m ipykernel_launcher -f {connection_file}`, and
    format_kernel_cmd wraps it in `sandbox_command`, so starts and restarts go through the
    sandbox. Interrupts are sent as messages: jupyter_client would signal the process it
    launched, which is bwrap, and bwrap does not pass signals on.

    It is an AsyncKernelManager, as nbclient makes for itself: given a synchronous one, nbclient
    gets a blocking client and waits for output inside its event loop, so a cell that prints
    nothing never times out. From synchronous code, call its methods through
    jupyter_core.utils.run_sync, and talk to the kernel through blocking_client(). nbclient
    leaves a kernel it was given running: shut it down after.

    PR_SET_PDEATHSIG (bwrap's --die-with-parent) fires when the *thread* that started the kernel
    ends: start kernels from a thread that outlives them (nbclient's runner thread does).
    """

    def __init__(self, *, scratch: Path, course_root: Path, limits: Limits | None = None,
                 warm: bool = False, **kwargs):
        scratch = Path(scratch).resolve()
        self.kernel_uid = KernelUid()
        give_to_kernel(scratch, self.kernel_uid.uid)
        # The kernel's sockets are not in its scratch directory: there the student's code could
        # put a link in their place, and the grader (root) would connect where it points.
        # They are in a folder of their own, the kernel's while it makes them, root's after
        # (lock_sockets), which the kernel sees as a mount point it cannot move.
        self.sockets = Path(tempfile.mkdtemp(prefix="kernel-sockets-")).resolve()
        os.chown(self.sockets, self.kernel_uid.uid, self.kernel_uid.uid)
        kwargs.setdefault("kernel_name", "python3")
        super().__init__(transport="ipc", ip=str(self.sockets / "kernel"),
                         connection_file=str(scratch / "kernel.json"), **kwargs)
        self.scratch, self.course_root = scratch, Path(course_root)
        self.limits = limits or Limits()
        self.own_kernel_spec = KernelSpec(
            argv=["python", "-m", "ipykernel_launcher", "-f", "{connection_file}", *KERNEL_ARGS],
            display_name="Python 3 (sandboxed)", language="python", interrupt_mode="message",
            # a warm kernel is a fork of grader/grading/warm.py's zygote, in a sandbox of its own
            metadata={"kernel_provisioner": {"provisioner_name": "grader-warm-sandbox"}}
            if warm else {})

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cwd = upstream.launch_cwd(self)
        return sandbox_command(super().format_kernel_cmd(extra_arguments), self.scratch,
                               self.course_root, self.limits, Path(cwd) if cwd else None,
                               uid=self.uid, sockets=self.sockets)

    @property
    def uid(self) -> int:
        return self.kernel_uid.uid

    def lock_sockets(self) -> None:
        """Once the kernel has made its sockets, and before any student code runs: the folder
        becomes root's, so the kernel can no longer put anything else in their place."""
        os.chown(self.sockets, 0, 0)
        self.sockets.chmod(0o755)

    def release_uid(self) -> None:
        """After the kernel is shut down: its uid may go to another kernel, and its sockets'
        folder goes."""
        self.kernel_uid.release()
        shutil.rmtree(self.sockets, ignore_errors=True)

    def write_connection_file(self, **kwargs) -> None:
        """The connection file is written 0600 by root: the kernel, with its own uid, must
        read it."""
        super().write_connection_file(**kwargs)
        os.chown(self.connection_file, self.uid, self.uid)


@contextlib.contextmanager
def start_sandboxed_kernel(scratch: Path, course_root: Path, limits: Limits | None = None,
                           timeout: float = 60, warm: bool = False
                           ) -> Iterator[tuple[SandboxedKernelManager, BlockingKernelClient]]:
    """A started sandboxed kernel and a blocking client ready to talk to it; after, the kernel
    is asked to shut down (killed if it does not within 5 s, or is dead already)."""
    km = SandboxedKernelManager(scratch=scratch, course_root=course_root, limits=limits,
                                warm=warm)
    run_sync(km.start_kernel)()
    kc = km.blocking_client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=timeout)
        yield km, kc
    finally:
        kc.stop_channels()
        try:
            run_sync(km.shutdown_kernel)(now=not run_sync(km.is_alive)())
        finally:
            km.release_uid()
