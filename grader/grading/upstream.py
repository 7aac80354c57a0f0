"""What the grader uses of nbgrader, nbclient, jupyter_client and ipykernel that is not their
public API, in one place: each item says why there is no public way, and which version it was
checked against (the versions in requirements.lock). tests/test_upstream.py tests every item on
the installed versions, so an upgrade that breaks one fails there, by name, before it can
change a grade.

Checked against: nbgrader 0.9.6, nbclient 0.11.0, jupyter_client 8.10.0, ipykernel 7.4.0.
"""

from __future__ import annotations

import json
from typing import Any

# --- nbgrader ------------------------------------------------------------------------------


def validate_both_ways(notebook) -> tuple[list, list, Any]:
    """(The grade cells that pass, those that fail, the executed notebook), from one run.

    nbgrader's Validator reports either the failing cells or (with `invert`) the passing ones,
    each from a run of its own; its `_preprocess` (run the notebook) and `_get_passed_cells` /
    `_get_failed_cells` give both from one run. No public method does.
    """
    from nbgrader.validator import Validator

    validator = Validator()
    executed = validator._preprocess(notebook)
    return (validator._get_passed_cells(executed), validator._get_failed_cells(executed),
            executed)


def autograde_resources(db_url: str, assignment: str, student: str, notebook: str) -> dict:
    """The `resources` nbgrader's SaveAutoGrades and AssignLatePenalties read, for one graded
    notebook, as nbgrader's converters build it (BaseConverter.init_single_notebook_resources).
    The grader saves each worker's result itself, outside a converter, so it builds them here.
    """
    return {"nbgrader": {"db_url": db_url, "assignment": assignment, "student": student,
                         "notebook": notebook}}


def late_penalty(cfg, student: str, score: float, seconds_late: float) -> float | None:
    """The late penalty nbgrader's AssignLatePenalties gives a notebook that scored `score` and
    was submitted `seconds_late` seconds late (None: none): its configured plugin's
    (LateSubmissionPlugin.penalty_method, or an instructor's own plugin_class), kept between 0
    and the score as it does. The preprocessor computes it only inside preprocess(), which
    opens the gradebook and writes it itself; its plugin (`init_plugin`, `plugin_inst`) and its
    clamp (`_check_late_penalty`, which reads the notebook's `score`) are its internals.
    """
    from types import SimpleNamespace

    from nbgrader.preprocessors import AssignLatePenalties

    step = AssignLatePenalties(config=cfg)
    step.init_plugin()
    penalty = step.plugin_inst.late_submission_penalty(student, score, seconds_late)
    if penalty is None:
        return None
    return step._check_late_penalty(SimpleNamespace(score=score), penalty)


def assignment_and_notebook(resources: dict) -> tuple[str, str]:
    """(The assignment, the notebook's name without .ipynb) that nbgrader's autograde is
    working on: what its converters put in `resources` for the preprocessors."""
    info = resources["nbgrader"]
    return info["assignment"], info["notebook"]


def read_notebook(text: str):
    """What nbformat.reader.reads(text) gives (no conversion, no schema check), at json's
    speed for a notebook of format 4.

    nbformat's v4 reader parses the JSON, then builds its NotebookNode tree in Python, node by
    node, down to every line of every output (from_dict): half the time the client spends on
    a graded notebook. Here json builds the same nodes as it parses (object_hook), then the v4
    reader's own two steps follow (nbformat.v4.rwbase.rejoin_lines and strip_transient, what
    its JSONReader.to_notebook does after from_dict). Any other format goes through nbformat.
    """
    import nbformat
    from nbformat.notebooknode import NotebookNode
    from nbformat.v4.rwbase import rejoin_lines, strip_transient

    try:
        nb = json.loads(text, object_hook=NotebookNode)
    except ValueError:
        nb = None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        return nbformat.reader.reads(text)  # its own errors, for what is not v4 JSON
    return strip_transient(rejoin_lines(nb))


# --- nbclient ------------------------------------------------------------------------------


class NoticesTimeouts:
    """A NotebookClient mixin: `self.timed_out` becomes True when a cell runs past its time
    limit. nbclient interrupts the kernel and carries on (interrupt_on_timeout), but tells no
    one; its `_async_handle_timeout` is where it happens."""

    timed_out = False

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out = True
        return await super()._async_handle_timeout(timeout, cell)


class SeesDisplayUpdates:
    """A NotebookClient mixin: `on_display_update(msg, places)` is called for each output
    message that carries a display id, before nbclient applies it, with the number of outputs
    that show that id already (an update_display_data changes every one of them). nbclient
    does this in `_update_display_id`, from its `_display_id_map` (display id -> cell -> output
    indices); no public hook sees it."""

    def on_display_update(self, msg: dict, places: int) -> None:
        """Override: look at (or change) the message before it is applied."""

    def _update_display_id(self, display_id, msg):
        places = sum(len(indices) for indices in self._display_id_map.get(display_id, {}).values())
        self.on_display_update(msg, places)
        super()._update_display_id(display_id, msg)


# --- jupyter_client ------------------------------------------------------------------------


def kill_now(km) -> None:
    """Kill a kernel's process at once, from any thread. The judge runs in a thread of its own
    while the kernel manager's (async) methods belong to nbclient's event loop; the
    provisioner's `process` (a Popen, or warm.WarmProcess) has a plain, thread-safe kill()."""
    km.provisioner.process.kill()


def launch_cwd(km) -> str | None:
    """The working directory the kernel is being started in, while `format_kernel_cmd` runs
    (the sandbox's command needs it). jupyter_client keeps it in `_launch_args` only."""
    return (km._launch_args or {}).get("cwd")


class OwnKernelSpec:
    """A KernelManager mixin: the kernel spec is `self.own_kernel_spec`, never one looked up by
    name (a student's or a machine's `python3` spec could point anywhere). jupyter_client reads
    the spec through the `kernel_spec` property while starting a kernel; overriding that
    property is the only way to give a manager a spec that is not installed."""

    own_kernel_spec = None

    @property
    def kernel_spec(self):
        return self.own_kernel_spec


def adopt_process(provisioner, process, pid: int, cwd) -> None:
    """Make a LocalProvisioner manage a kernel process it did not start itself (a fork of the
    warm zygote): its poll, wait, send_signal, kill and cleanup use these attributes, which
    launch_kernel would have set."""
    provisioner.process, provisioner.pid, provisioner.pgid = process, pid, None
    provisioner.cwd = cwd


def send_interrupt(client) -> None:
    """Interrupt the kernel by a message on its control channel, as the Jupyter protocol
    defines for kernels whose spec says interrupt_mode "message". The kernel manager's
    interrupt_kernel() does the same, but it belongs to another thread's event loop, and the
    judge holds only a blocking client."""
    client.control_channel.send(client.session.msg("interrupt_request", content={}))


# --- ipykernel -----------------------------------------------------------------------------

# ipykernel watches the process named by JPY_PARENT_PID and quits when it is gone; "1" means no
# parent to watch (IPKernelApp.init_poller). A sandboxed kernel's parent is bwrap, pid 1 of its
# pid namespace, so the real one would look gone at once.
NO_PARENT_TO_WATCH = {"JPY_PARENT_PID": "1"}
