"""The sandbox, proved from inside: each test runs code in a sandboxed kernel and looks at what
it could do. Most share one kernel on a fake course made in tmp_path; one uses the real course.
Every test runs twice: with a cold kernel (started by bwrap) and with a warm one (forked from
grader/grading/warm.py's zygote into a sandbox of its own), which must be held in exactly as
tightly.

bubblewrap is installed by `make env`, so a machine without it fails here: it does not skip.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from grader.course import ROOT
from grader.grading import sandbox

pytestmark = [pytest.mark.slow, pytest.mark.root]

# A small task limit, so that the fork bomb stops quickly; enough for a kernel with torch.
LIMITS = sandbox.Limits(processes=64)


def run(kc, code: str, timeout: float = 60) -> dict:
    """Run code in the kernel; its status, what it printed, and its error, if any."""
    out, error = [], None

    def hook(msg):
        nonlocal error
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            error = msg["content"]["ename"] + ": " + msg["content"]["evalue"]

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return {"status": reply["content"]["status"], "out": "".join(out), "error": error}


def answer(kc, code: str, timeout: float = 60):
    """The JSON that code printed last in the kernel."""
    result = run(kc, code, timeout)
    assert result["status"] == "ok", result
    return json.loads(result["out"].strip().splitlines()[-1])


def require_sandbox() -> None:
    problem = sandbox.sandbox_problem()
    if problem:
        pytest.fail(f"the sandbox cannot start on this machine: {problem}", pytrace=False)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    (root / "solutions").mkdir()
    (root / "solutions" / "secret.ipynb").write_text("the answers")
    (root / "gradebook.db").write_text("every grade")
    (root / "submitted" / "other_student").mkdir(parents=True)
    (root / "submitted" / "other_student" / "x.ipynb").write_text("someone else's work")
    (root / "build" / "scratch").mkdir(parents=True)
    return root


@pytest.fixture(scope="module", params=["cold", "warm"])
def start(request):
    """Where a test's kernel comes from: started cold by bwrap, or forked warm."""
    return request.param


@pytest.fixture(scope="module")
def kernel(course, start):
    require_sandbox()
    scratch = course / "build" / "scratch" / f"student-{start}"
    with sandbox.start_sandboxed_kernel(scratch, course, LIMITS, warm=start == "warm") \
            as (km, kc):
        yield km, kc, scratch


def test_the_sandbox_can_start_here():
    assert sandbox.sandbox_problem() is None, sandbox.sandbox_problem()


def test_a_missing_bwrap_is_reported_with_its_fix(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda tool: None)
    assert "apt-get install bubblewrap" in sandbox.sandbox_problem.__wrapped__()


def test_cannot_read_the_solutions_the_gradebook_or_another_submission(kernel, course):
    km, kc, _ = kernel
    seen = answer(kc, f"""
import json, os
root = {str(course)!r}
found = {{}}
for name in ["solutions/secret.ipynb", "gradebook.db", "submitted/other_student/x.ipynb"]:
    try:
        found[name] = open(os.path.join(root, name)).read()
    except OSError as error:
        found[name] = type(error).__name__
print(json.dumps([found, sorted(os.listdir(root))]))
""")
    assert seen == [dict.fromkeys(["solutions/secret.ipynb", "gradebook.db",
                                   "submitted/other_student/x.ipynb"], "FileNotFoundError"),
                    ["build"]]  # only the way to the scratch directory


def test_runs_as_a_uid_of_its_own_without_capabilities_in_its_own_namespaces(kernel):
    km, kc, _ = kernel
    seen = answer(kc, """
import json, os
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
caps = {k: int(v, 16) for k, v in status.items() if k.startswith("Cap")}
print(json.dumps([os.getuid(), os.getgid(), os.getgroups(), caps, status["NoNewPrivs"].strip(),
                  sorted(int(p) for p in os.listdir("/proc") if p.isdigit())]))
""")
    uid, gid, groups, caps, no_new_privs, pids = seen
    assert (uid, gid, groups) == (km.uid, km.uid, []) and uid in sandbox.KERNEL_UIDS
    assert caps == dict.fromkeys(["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"], 0)
    assert no_new_privs == "1"
    assert len(pids) < 10, pids  # the sandbox's own few: not the grader, not the zygote


LOOK_AROUND = """
import json, os, torch
processes = [open(f"/proc/{p}/cmdline").read().replace("\\0", " ").strip()
             for p in os.listdir("/proc") if p.isdigit()]
print(json.dumps([hasattr(torch, "secret"), os.listdir("/dev/shm"), os.listdir(".."), processes]))
"""


def test_a_warm_kernel_starts_with_the_labs_slow_first_imports_done(tmp_path):
    """The zygote imports what a lab would import on first use (sympy through torch.fx for
    backward(gradient=...), ipywidgets for the sliders), so the fork starts with them. That the
    kernel starts at all shows the warm-up left the zygote one thread: it refuses to fork else."""
    require_sandbox()
    with sandbox.start_sandboxed_kernel(tmp_path / "a", tmp_path, LIMITS, warm=True) as (km, kc):
        seen = answer(kc, """
import json, sys
print(json.dumps([m in sys.modules for m in
                  ("torch", "sympy", "torch.fx.experimental.symbolic_shapes", "ipywidgets")]))
""")
    assert seen == [True, True, True, True]


def test_warm_kernels_share_nothing(tmp_path):
    """Two kernels forked from the same zygote, one after the other: what the first leaves in
    its memory, its /dev/shm, or as a process left running reaches nothing of the second."""
    require_sandbox()
    with sandbox.start_sandboxed_kernel(tmp_path / "a", tmp_path, LIMITS, warm=True) as (km, kc):
        run(kc, """
import subprocess, torch
torch.secret = 42
subprocess.Popen(["sleep", "299"], start_new_session=True)
open("/dev/shm/left-behind", "w").write("hello")  # may be refused to nobody: fine too
""")
        first = answer(kc, LOOK_AROUND)
    with sandbox.start_sandboxed_kernel(tmp_path / "b", tmp_path, LIMITS, warm=True) as (km, kc):
        second = answer(kc, LOOK_AROUND)
    assert first[0] is True and "sleep 299" in first[3], first  # the probe sees what it looks for
    secret, shm, siblings, processes = second
    assert (secret, shm) == (False, [])
    assert siblings == ["b"]  # the first kernel's scratch directory is not even there
    assert "sleep 299" not in processes, processes


def test_writes_only_to_its_scratch_directory(kernel, course):
    km, kc, scratch = kernel
    name = f"written-by-sandbox-{time.time_ns()}"
    places = [str(course), "/tmp", "/var/tmp", sys.prefix, str(sandbox.GRADER_DIR), "/root",
              "/etc", str(scratch)]
    seen = answer(kc, f"""
import json, os
result = {{}}
for place in {places!r}:
    try:
        with open(os.path.join(place, {name!r}), "w") as f:
            f.write("hello")
        result[place] = "written"
    except OSError as error:
        result[place] = type(error).__name__
print(json.dumps(result))
""")
    assert seen.pop(str(scratch)) == "written"
    assert (scratch / name).read_text() == "hello"
    # EACCES or EROFS, or the place is not there at all
    assert set(seen.values()) <= {"PermissionError", "OSError", "FileNotFoundError"}, seen
    assert not any((Path(place) / name).exists() for place in seen)


@pytest.fixture
def host_secrets():
    """Files in places no list names: another checkout of the course beside ours, /srv, /opt,
    /var, /mnt. The sandbox shows what the kernel needs, not all but a list of places."""
    stamp = time.time_ns()
    folders = [ROOT.parent / f"other-checkout-{stamp}" / "solutions", Path(f"/srv/course-{stamp}"),
               Path(f"/opt/course-{stamp}"), Path(f"/var/lib/course-{stamp}"),
               Path(f"/mnt/course-{stamp}")]
    made = []
    try:
        for folder in folders:
            folder.mkdir(parents=True)
            made.append(folder)
            (folder / "secret.txt").write_text("hidden tests")
            (folder / "secret.txt").chmod(0o644)
            for parent in [folder, *folder.parents]:  # readable by anyone on the machine
                if parent.is_relative_to(ROOT.parent) or parent == folder:
                    parent.chmod(parent.stat().st_mode | 0o005)
        yield [folder / "secret.txt" for folder in folders]
    finally:
        for folder in made:
            shutil.rmtree(folder.parent if folder.name == "solutions" else folder)


def test_a_file_anywhere_else_on_the_machine_cannot_be_read(kernel, host_secrets):
    km, kc, _ = kernel
    seen = answer(kc, f"""
import json
result = {{}}
for path in {[str(p) for p in host_secrets]!r}:
    try:
        result[path] = open(path).read()
    except OSError as error:
        result[path] = type(error).__name__
print(json.dumps(result))
""")
    assert seen == dict.fromkeys(map(str, host_secrets), "FileNotFoundError")


def test_has_no_network(kernel):
    km, kc, _ = kernel
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    try:
        seen = answer(kc, f"""
import json, socket
result = {{"interfaces": [name for _, name in socket.if_nameindex()]}}
try:
    socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=5).close()
    result["tcp"] = "connected"
except OSError as error:
    result["tcp"] = type(error).__name__
try:
    socket.getaddrinfo("example.com", 80)
    result["dns"] = "resolved"
except OSError as error:
    result["dns"] = type(error).__name__
print(json.dumps(result))
""")
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    assert seen == {"interfaces": ["lo"], "tcp": "ConnectionRefusedError", "dns": "gaierror"}


def test_a_20_gb_allocation_fails_and_the_kernel_lives_on(kernel):
    km, kc, _ = kernel
    seen = answer(kc, """
import json, torch
result = []
for allocate in (lambda: bytearray(20 * 2**30), lambda: torch.ones(5 * 2**30)):
    try:
        allocate()
        result.append("allocated")
    except (MemoryError, RuntimeError) as error:
        result.append(type(error).__name__)
print(json.dumps(result))
""")
    assert seen == ["MemoryError", "RuntimeError"]
    assert answer(kc, "print(6 * 7)") == 42


def test_a_file_larger_than_the_limit_cannot_be_written(kernel):
    km, kc, scratch = kernel
    seen = answer(kc, f"""
import errno, json
try:
    with open("big", "wb") as f:
        for _ in range({LIMITS.file_size // 2**20 + 1}):
            f.write(bytes(2**20))
    print(json.dumps("written"))
except OSError as error:
    print(json.dumps(errno.errorcode[error.errno]))
""")
    assert seen == "EFBIG"
    assert (scratch / "big").stat().st_size == LIMITS.file_size
    (scratch / "big").unlink()


def test_a_fork_bomb_is_stopped(kernel):
    km, kc, _ = kernel
    # Bounded: at most 200 forks; each child only sleeps, and is killed right after.
    seen = answer(kc, """
import errno, json, os, signal, time
children, stopped_by = [], None
for _ in range(200):
    try:
        pid = os.fork()
    except OSError as error:
        stopped_by = errno.errorcode[error.errno]
        break
    if pid == 0:
        time.sleep(20)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print(json.dumps([len(children), stopped_by]))
""")
    forked, stopped_by = seen
    assert stopped_by == "EAGAIN" and forked < LIMITS.processes, seen
    assert answer(kc, "print(6 * 7)") == 42


def test_torch_and_matplotlib_work_normally(kernel):
    km, kc, scratch = kernel
    seen = answer(kc, """
import json, torch, matplotlib.pyplot as plt
x = torch.tensor(3.0, requires_grad=True)
(x ** 2).backward()
plt.plot([1, 2, 3]); plt.savefig("plot.png")
print(json.dumps(x.grad.item()))
""")
    assert seen == 6.0
    assert (scratch / "plot.png").stat().st_size > 0


def test_an_endless_loop_can_be_interrupted(kernel):
    km, kc, _ = kernel
    # as the grader sends cells and calls: an error must not make ipykernel abort what follows
    msg_id = kc.execute("while True: pass", stop_on_error=False)
    time.sleep(1)
    started = time.monotonic()
    run_sync(km.interrupt_kernel)()
    reply = kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 5
    assert answer(kc, "print(6 * 7)") == 42


def test_the_cpu_limit_ends_a_kernel_that_spins(tmp_path, start):
    require_sandbox()
    with sandbox.start_sandboxed_kernel(tmp_path / "scratch", tmp_path,
                                        sandbox.Limits(cpu_seconds=3), warm=start == "warm"
                                        ) as (km, kc):
        kc.execute("while True: pass")
        deadline = time.monotonic() + 20
        while run_sync(km.is_alive)() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not run_sync(km.is_alive)()


def test_nbclient_runs_a_notebook_and_interrupts_a_cell_that_times_out(tmp_path, start):
    require_sandbox()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in
                                         ("x = 6 * 7", "while True: pass", "print(x)")])
    scratch = tmp_path / "scratch"
    km = sandbox.SandboxedKernelManager(scratch=scratch, course_root=tmp_path,
                                        warm=start == "warm")
    try:
        NotebookClient(nb, km=km, timeout=3, interrupt_on_timeout=True, allow_errors=True,
                       error_on_timeout={"ename": "TimeoutError", "evalue": "", "traceback": []},
                       resources={"metadata": {"path": str(scratch)}}).execute()
    finally:
        run_sync(km.shutdown_kernel)()
        km.release_uid()
    assert [o.ename for o in nb.cells[1].outputs] == ["KeyboardInterrupt"]
    assert nb.cells[2].outputs[0].text == "42\n"  # the kernel lived on after the interrupt


def test_the_course_checks_and_references_are_hidden_but_torch_and_the_grader_import(tmp_path,
                                                                                    start):
    require_sandbox()
    with sandbox.start_sandboxed_kernel(tmp_path / "scratch", ROOT, sandbox.Limits(),
                                        warm=start == "warm") as (km, kc):
        seen = answer(kc, f"""
import json, os
import torch, grader
from grader import kernel_side
answers = []
for name in ("checks", "reference"):
    try:
        __import__("grader." + name)
        answers.append("imported")
    except ImportError:
        answers.append("ImportError")

root = {str(ROOT)!r}
print(json.dumps([sorted(os.listdir(root)), os.path.exists(os.path.join(root, "solutions")),
                  os.path.exists(os.path.join(root, "gradebook.db")), grader.__file__, answers,
                  sorted(os.listdir(os.path.dirname(grader.__file__)))]))
""")
    listing, solutions, gradebook, grader_file, answers, modules = seen
    assert not solutions and not gradebook
    assert set(listing) <= {".venv", "grader"}, listing
    assert grader_file == str(sandbox.GRADER_DIR / "__init__.py")
    # the references that answer the exercises, and the checks, are not there for a graded kernel
    assert answers == ["ImportError", "ImportError"]
    assert set(modules) - {"__pycache__"} == set(sandbox.KERNEL_MODULES)


def test_a_warm_kernels_inherited_file_objects_still_own_their_descriptors(tmp_path):
    """matplotlib keeps font files open. The kernel once closed their descriptors at birth, and
    ZeroMQ reused the numbers; when a cell then dropped a font, its file object closed ZeroMQ's
    descriptor and the kernel died ("Bad file descriptor (src/signaler.cpp)"): correct Lab 5
    and Lab 6 notebooks scored 0/7, now and then, more often on a busy machine."""
    require_sandbox()
    with sandbox.start_sandboxed_kernel(tmp_path / "a", tmp_path, LIMITS, warm=True) as (km, kc):
        seen = answer(kc, """
import gc, io, json, os, warnings
warnings.simplefilter("ignore")  # isinstance on every object wakes deprecated torch names
gc.unfreeze()  # the zygote froze what it had: look at all of it
files = [o for o in gc.get_objects() if isinstance(o, io.FileIO) and not o.closed
         and o.fileno() > 2 and isinstance(o.name, str)]
def target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "closed"
print(json.dumps([[os.path.realpath(o.name), target(o.fileno())] for o in files]))
""")
    assert seen, "the zygote's fonts should be among them"
    assert all(name == target for name, target in seen), seen
