"""Warm kernels: a fresh sandboxed kernel per submission, without paying for `import torch`.

A cold kernel spends about three seconds importing ipykernel, torch and matplotlib before the
student's first cell runs, and the cells themselves take a fraction of that. So one process, the
*zygote*, imports all that once, and every kernel is a fork of it: a copy of an interpreter that
has imported everything and run nothing.

Each kernel still gets the whole sandbox of grader/grading/sandbox.py, fresh. The grader starts a
*holder* in bubblewrap exactly as for a cold kernel (its own mount, pid, network, ipc and uts
namespaces; the same mounts), except that the holder only sleeps. The zygote forks a child that
joins the holder's namespaces (setns, then chroot into the holder's root, as `nsenter` does),
forks once more so that the kernel is inside the new pid namespace, and there the kernel sets
its rlimits, takes the kernel's own uid with no capabilities and no_new_privs, and starts
ipykernel. When
the holder ends, the kernel ends with it: it is a process of the holder's pid namespace.

Why forking after `import torch` is safe here: a fork copies only the thread that calls it, so
it is safe in a process that has exactly one thread. The zygote checks that before every fork
(/proc/self/task must list one task) and refuses otherwise. It keeps itself single-threaded by
never running a torch operation (torch starts its OpenMP pool at the first parallel op; a pool
that exists before a fork hangs the child) and by loading OpenBLAS with one thread
(OPENBLAS_NUM_THREADS=1; numpy's OpenBLAS starts its threads at import). It creates no ZeroMQ
context either (not fork-safe): each kernel makes its own after the fork.

The zygote needs root, as the sandbox does (setns into a mount namespace, chroot, setuid).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import faulthandler
import gc
import io
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner

from grader.grading import upstream

NAMESPACES = ("ipc", "uts", "net", "cgroup", "pid", "mnt")  # mnt last: it changes what /proc is
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38


# The zygote's side -------------------------------------------------------------------------

def _warm_up() -> None:
    """Import what every kernel imports, so that its children start with it done; and what a
    lab's first use would import, measured in a forked kernel: torch's backward(gradient=...)
    imports sympy (0.6 s), a lab's slider imports ipywidgets (0.2 s), and the first figure
    drawn loads the fonts and mathtext (0.4 s). None of it runs a torch operation."""
    import io

    import matplotlib

    matplotlib.use("module://matplotlib_inline.backend_inline")
    import cloudpickle  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import ipywidgets  # noqa: F401
    import matplotlib.pyplot as plt
    import torch  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401  (what backward(gradient=) imports)

    import grader.kernel_side  # noqa: F401

    figure, axes = plt.subplots()
    axes.plot([0, 1], [0, 1], label="$x^2$")
    axes.set_title(r"$\frac{\partial y}{\partial x}$")
    axes.legend()
    figure.savefig(io.BytesIO(), format="png")
    plt.close(figure)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def serve() -> None:
    """The zygote's loop: one JSON request per line on stdin, one JSON answer per line on
    stdout. It ends when stdin closes, that is when the grader that started it ends."""
    _warm_up()
    # Garbage of the imports, collected here and now: left for a kernel's collector, a file
    # object among it would close its descriptor number in the kernel, by then another's. The
    # rest is frozen: never collected again, here or in a kernel (nor copied by the collector).
    global OWNED
    gc.collect()
    OWNED = frozenset(_owned_descriptors())  # before freezing: get_objects skips frozen ones
    gc.freeze()
    answer = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    print(json.dumps({"ready": _threads()}), file=answer, flush=True)
    for line in sys.stdin:
        if _threads() != 1:
            reply = {"error": f"the zygote has {_threads()} threads: forking is not safe"}
        else:
            try:
                reply = {"pid": _spawn(json.loads(line))}
            except Exception as error:  # the grader gets the reason, the zygote goes on
                reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), file=answer, flush=True)


def _spawn(request: dict) -> int:
    """Fork a kernel into the holder's namespaces; its pid as the grader sees it."""
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:  # joins the namespaces, forks the kernel, tells its pid, and goes
        status = 1
        try:
            os.close(read_end)
            _enter(request["holder"])
            kernel = os.fork()
            if kernel == 0:
                os.close(write_end)
                _become_kernel(request)
            os.write(write_end, json.dumps({"pid": kernel}).encode())
            status = 0
        except BaseException as error:
            os.write(write_end, json.dumps({"error": f"{type(error).__name__}: {error}"})
                     .encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read()
    os.waitpid(middle, 0)
    reply = json.loads(said or b'{"error": "the forked child said nothing"}')
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["pid"]


def _enter(holder: int) -> None:
    """Join every namespace of the holder process and take its root as ours."""
    libc = ctypes.CDLL(None, use_errno=True)
    files = {ns: os.open(f"/proc/{holder}/ns/{ns}", os.O_RDONLY) for ns in NAMESPACES}
    root = os.open(f"/proc/{holder}/root", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for ns, fd in files.items():
            if libc.setns(fd, 0) != 0:
                raise OSError(ctypes.get_errno(), f"setns({ns}) failed")
        os.fchdir(root)
        os.chroot(".")
    finally:
        for fd in [*files.values(), root]:
            os.close(fd)


def _become_kernel(request: dict) -> None:
    """In the kernel process: limits, then its own uid, then ipykernel. Never returns."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        os.setsid()
        os.chdir(request["cwd"])
        for name, value in request["limits"].items():  # sandbox.limit_values: AS, CPU...
            resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))
        for cap in range(64):  # the bounding set, as setpriv --bounding-set=-all
            libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
        os.setgroups([])
        os.setresgid(request["uid"], request["uid"], request["uid"])
        os.setresuid(request["uid"], request["uid"], request["uid"])  # drops every capability
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "no_new_privs failed")
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        _close_all_but(OWNED)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        faulthandler.enable()  # a crash says where, in the kernel's log (as PYTHONFAULTHANDLER)
        argv = ["-f", request["connection_file"], *request["kernel_args"]]
        sys.argv = ["ipykernel_launcher", *argv]
        from ipykernel.kernelapp import launch_new_instance

        launch_new_instance(argv=argv)
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


OWNED: frozenset[int] = frozenset()  # what _owned_descriptors found in the warm zygote


def _owned_descriptors() -> set[int]:
    """Descriptors that a live Python object of the zygote owns and will close one day: the
    font files matplotlib keeps open, for one. The kernel keeps them open (they are read-only
    files of the environment, which the kernel can read anyway). Closed under the object, the
    number would be reused, by ZeroMQ say, and the object's close would then close ZeroMQ's:
    a kernel died so, "Bad file descriptor (src/signaler.cpp)", when a lab's cell dropped a font.
    """
    owned = set()
    # isinstance asks some objects for their __class__, and a deprecated alias of torch's warns
    # then (a FutureWarning on the instructor's screen at every `make grade`): not ours to say.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for thing in gc.get_objects():
            if isinstance(thing, (io.FileIO, socket.socket, select.epoll)):
                with contextlib.suppress(ValueError, OSError):
                    if not getattr(thing, "closed", False) and getattr(thing, "closefd", True):
                        owned.add(thing.fileno())
    return {fd for fd in owned if fd >= 0}


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor from 3 up, except those in `keep`."""
    start = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 65536)


# The grader's side --------------------------------------------------------------------------

class Zygote:
    """The grader's handle on its zygote, started at the first kernel and ended with it."""

    _lock = threading.Lock()
    _process: subprocess.Popen | None = None

    @classmethod
    def spawn(cls, request: dict) -> int:
        with cls._lock:
            if cls._process is None or cls._process.poll() is not None:
                cls._process = cls._start(request["env"])
            cls._process.stdin.write(json.dumps(request) + "\n")
            cls._process.stdin.flush()
            reply = json.loads(cls._process.stdout.readline() or '{"error": "zygote died"}')
        if "error" in reply:
            raise RuntimeError(f"a warm kernel could not start: {reply['error']}")
        return reply["pid"]

    @staticmethod
    def _start(kernel_env: dict) -> subprocess.Popen:
        env = {name: value for name, value in kernel_env.items()
               if name not in ("HOME", "TMPDIR", "MPLCONFIGDIR", "IPYTHONDIR")}
        settings = tempfile.mkdtemp(prefix="zygote-matplotlib-")  # its font cache
        atexit.register(shutil.rmtree, settings, ignore_errors=True)  # once left by every run
        env.update(OPENBLAS_NUM_THREADS="1", MPLCONFIGDIR=settings,
                   HOME="/nonexistent", PYTHONDONTWRITEBYTECODE="1")
        process = subprocess.Popen([sys.executable, "-I", "-m", "grader.grading.warm"], cwd="/",
                                   env=env, text=True, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE)
        ready = json.loads(process.stdout.readline() or "{}")
        if ready.get("ready") != 1:
            process.kill()
            raise RuntimeError(f"the zygote did not start single-threaded: {ready}")
        return process


class WarmProcess:
    """The kernel as subprocess.Popen would show it, for jupyter_client: the kernel is the
    zygote's grandchild, not ours, so it is watched through a pidfd; the holder is ours."""

    def __init__(self, pid: int, holder: subprocess.Popen):
        self.pid, self.holder = pid, holder
        self.pidfd = os.pidfd_open(pid)
        self.returncode = None
        self.ended = ""  # how it ended, once it has: for the grader's log
        self.stdin = self.stdout = self.stderr = None

    def poll(self) -> int | None:
        from grader.grading import sandbox

        if self.returncode is None:
            if sandbox.wait_readable(self.pidfd, 0):
                self._end("the kernel process ended")
            elif self.holder.poll() is not None:
                self._end(f"its sandbox ended (bwrap exit status {self.holder.returncode})")
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.pidfd < 0:
            return  # ended already
        try:
            signal.pidfd_send_signal(self.pidfd, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        if self.returncode is None:
            self.send_signal(signal.SIGKILL)
            self._end("killed by the grader")

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def _end(self, how: str) -> None:
        """End the holder: with it go its pid namespace and anything left in it. The kernel is
        not our child, so its exit status is not ours to read: it counts as killed."""
        self.returncode, self.ended = -signal.SIGKILL, how
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait()
        if self.holder.stdout is not None:
            self.holder.stdout.close()
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1




class WarmSandboxProvisioner(LocalProvisioner):
    """A jupyter_client kernel provisioner whose kernels are forks of the warm zygote, each in a
    fresh sandbox. Its kernel manager is a grader.sandbox.SandboxedKernelManager(warm=True),
    which names this provisioner in its kernel spec."""

    async def launch_kernel(self, cmd: list[str], **kwargs) -> dict:
        from grader.grading import sandbox

        km = self.parent
        cwd = Path(kwargs.get("cwd") or km.scratch)
        holder, holder_pid = sandbox.start_holder(km.scratch, km.course_root, km.limits,
                                                  uid=km.uid, sockets=km.sockets)
        try:
            env = sandbox.kernel_environment(km.scratch, km.limits)
            request = {"holder": holder_pid, "connection_file": km.connection_file,
                       "cwd": str(cwd if cwd.resolve().is_relative_to(km.scratch)
                                  else km.scratch),
                       "limits": sandbox.limit_values(km.limits), "uid": km.uid,
                       "env": env, "log": str(km.scratch / "kernel.log"),
                       "kernel_args": list(sandbox.KERNEL_ARGS)}
            pid = Zygote.spawn(request)
        except BaseException:
            holder.kill()
            holder.wait()
            raise
        upstream.adopt_process(self, WarmProcess(pid, holder), pid, cwd)
        return self.connection_info

    async def send_signal(self, signum: int) -> None:
        if self.process:
            self.process.send_signal(signum)

    async def cleanup(self, restart: bool = False) -> None:
        if self.process:
            self.process.kill()
        await super().cleanup(restart)


if __name__ == "__main__":
    serve()
