"""Every item of grader/grading/upstream.py on the installed nbgrader, nbclient, jupyter_client
and ipykernel: an upgrade that changes one of these internals fails here, by name.

Plain (unsandboxed) kernels: the fast tier runs all but the one that makes a gradebook."""

import asyncio
import inspect
import subprocess
import sys
import time

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager, KernelManager, start_new_kernel
from jupyter_client.provisioning import LocalProvisioner
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from grader import course
from grader.grading import upstream


def grade_cell(source: str, grade_id: str, points: float = 1) -> nbformat.NotebookNode:
    return new_code_cell(source, id=grade_id, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": grade_id,
        "points": points, "schema_version": 3}})


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="python3")
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


# --- nbgrader ------------------------------------------------------------------------------

def test_validate_both_ways_reports_passed_and_failed_cells_from_one_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = new_notebook(cells=[new_code_cell("x = 2", id="setup"),
                             grade_cell("assert x == 2", "right"),
                             grade_cell("assert x == 3", "wrong")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    passed, failed, executed = upstream.validate_both_ways(nb)
    ids = lambda cells: [c.metadata["nbgrader"]["grade_id"] for c in cells]  # noqa: E731
    assert (ids(passed), ids(failed)) == (["right"], ["wrong"])
    assert executed.cells[2].outputs[0]["ename"] == "AssertionError"


@pytest.mark.slow  # a new gradebook runs alembic: 20 s
def test_autograde_resources_are_what_save_autogrades_reads(tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import SaveAutoGrades

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with course.nbgrader_in_process(), Gradebook(url) as gb:
        gb.add_assignment("hw")
        gb.add_notebook("nb", "hw")
        gb.add_grade_cell("right", "nb", "hw", max_score=2, cell_type="code")
        gb.add_grade_cell("wrong", "nb", "hw", max_score=3, cell_type="code")
        gb.add_student("ada")
        gb.add_submission("hw", "ada")
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}
    nb = new_notebook(cells=[grade_cell("assert True", "right", 2),
                             grade_cell("assert False", "wrong", 3)])
    nb.cells[1].outputs = [nbformat.from_dict(error)]
    with course.nbgrader_in_process():
        SaveAutoGrades().preprocess(nb, upstream.autograde_resources(url, "hw", "ada", "nb"))
    with course.nbgrader_in_process(), Gradebook(url) as gb:
        assert gb.find_submission_notebook("nb", "hw", "ada").score == 2


def test_assignment_and_notebook_are_read_from_what_nbgrader_gives_preprocessors():
    from nbgrader.converters.base import BaseConverter

    source = inspect.getsource(BaseConverter.init_single_notebook_resources)
    assert "'assignment'" in source or '"assignment"' in source
    assert "'notebook'" in source or '"notebook"' in source
    resources = upstream.autograde_resources("sqlite://", "hw", "ada", "nb")
    assert upstream.assignment_and_notebook(resources) == ("hw", "nb")


# --- nbclient ------------------------------------------------------------------------------

class Watching(upstream.NoticesTimeouts, upstream.SeesDisplayUpdates, NotebookClient):
    updates: list

    def on_display_update(self, msg, places):
        self.updates.append((msg["content"]["data"]["text/plain"], places))


def run_cells(tmp_path, *sources, **options) -> Watching:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    client = Watching(nb, kernel_name="python3", allow_errors=True,
                      resources={"metadata": {"path": str(tmp_path)}}, **options)
    client.updates = []
    client.execute()
    return client


def test_read_notebook_gives_what_nbformats_reader_gives():
    """A lab with outputs (multi-line text, images, metadata nbformat strips), a v3 notebook
    (nbformat's own path), and text that is no JSON (nbformat's own error)."""
    for lab in course.course_labs()[:2]:
        nb = nbformat.read(lab.solution, as_version=4)
        nb.cells[0].metadata["collapsed"] = True  # transient: nbformat's reader drops it
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
        text = nbformat.writes(nb)
        assert any(c.get("outputs") for c in nb.cells)
        assert upstream.read_notebook(text) == nbformat.reader.reads(text)
    old = nbformat.writes(nbformat.v3.new_notebook(), version=3)
    assert upstream.read_notebook(old) == nbformat.reader.reads(old)
    with pytest.raises(nbformat.reader.NotJSONError):
        upstream.read_notebook("{not json")


@pytest.mark.parametrize("method, late, score, expected", [
    ("zero", 3600.0, 5.0, 5.0), ("zero", 3600.0, 0.0, 0.0), ("none", 3600.0, 5.0, None)])
def test_late_penalty_is_what_assign_late_penalties_gives(method, late, score, expected):
    from traitlets.config import Config

    cfg = Config({"LateSubmissionPlugin": {"penalty_method": method}})
    assert upstream.late_penalty(cfg, "ada", score, late) == expected


def test_notices_timeouts_sees_a_cell_run_past_its_limit(tmp_path):
    client = run_cells(tmp_path, "import time\ntime.sleep(30)", timeout=1,
                       interrupt_on_timeout=True)
    assert client.timed_out
    assert not run_cells(tmp_path, "1 + 1", timeout=10, interrupt_on_timeout=True).timed_out


def test_sees_display_updates_with_the_number_of_outputs_they_change(tmp_path):
    client = run_cells(tmp_path, "\n".join([
        "from IPython.display import display, update_display",
        "display('a', display_id='shared')",
        "display('b', display_id='shared')",
        "update_display('new', display_id='shared')",
    ]), timeout=30)
    assert client.updates == [("'a'", 0), ("'b'", 1), ("'new'", 2)]
    assert [o["data"]["text/plain"] for o in client.nb.cells[0].outputs] == ["'new'", "'new'"]


# --- jupyter_client ------------------------------------------------------------------------

def test_kill_now_ends_the_kernel_process_from_another_thread():
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        import threading

        thread = threading.Thread(target=upstream.kill_now, args=(km,))
        thread.start()
        thread.join()
        deadline = time.monotonic() + 10
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not km.is_alive()
    finally:
        km.shutdown_kernel(now=True)


def test_launch_cwd_is_the_folder_the_kernel_is_started_in(tmp_path):
    seen = []

    class Recording(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            seen.append(upstream.launch_cwd(self))
            return super().format_kernel_cmd(extra_arguments)

    km = Recording(kernel_name="python3")
    asyncio.run(km.start_kernel(cwd=str(tmp_path)))
    try:
        assert seen == [str(tmp_path)]
    finally:
        asyncio.run(km.shutdown_kernel(now=True))


def test_own_kernel_spec_is_the_one_the_kernel_is_started_with(tmp_path):
    marker = tmp_path / "started"

    class Own(upstream.OwnKernelSpec, KernelManager):
        pass

    km = Own(kernel_name="no-such-kernel-anywhere")
    km.own_kernel_spec = KernelSpec(
        argv=[sys.executable, "-c", f"open({str(marker)!r}, 'w').write('{{connection_file}}')"],
        display_name="own", language="python")
    assert km.format_kernel_cmd()[:2] == [sys.executable, "-c"]
    km.start_kernel()
    try:
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.read_text() == km.connection_file
    finally:
        km.shutdown_kernel(now=True)


def test_adopt_process_lets_a_local_provisioner_manage_a_process_it_did_not_start():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    provisioner = LocalProvisioner(kernel_id="k", kernel_spec=None, parent=None)
    upstream.adopt_process(provisioner, process, process.pid, "/")
    assert provisioner.has_process
    assert asyncio.run(provisioner.poll()) is None
    asyncio.run(provisioner.kill())
    assert process.wait(timeout=10) != 0
    assert asyncio.run(provisioner.poll()) is not None


def test_send_interrupt_stops_a_running_cell(kernel):
    _, kc = kernel
    msg_id = kc.execute("import time\ntime.sleep(30)")
    time.sleep(1)
    upstream.send_interrupt(kc)
    started = time.monotonic()
    while True:
        reply = kc.get_shell_msg(timeout=15)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 15


# --- ipykernel -----------------------------------------------------------------------------

def test_a_parent_pid_of_1_means_no_parent_to_watch():
    from ipykernel.kernelapp import IPKernelApp

    (name, value), = upstream.NO_PARENT_TO_WATCH.items()
    app = IPKernelApp(parent_handle=int(value))
    app.poller = None
    app.init_poller()
    assert app.poller is None  # with any other pid, a ParentPollerUnix that quits when it goes
    app.parent_handle = 2**22 + 1
    app.init_poller()
    assert app.poller is not None
    assert name in inspect.getsource(IPKernelApp)
