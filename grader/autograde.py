"""nbgrader preprocessors for safe autograding, added to nbgrader's pipeline by configuration.

`JudgedExecute` takes the place of nbgrader's `Execute` (see nbgrader_config.py). It runs the
student's cells in a kernel of their own, in the sandbox, and hands every grade cell to the judge
(grader/judge.py), which runs the trusted test outside that kernel. Whatever happens in the
kernel (a time-out, a crash, a flood of output), every grade cell ends with a verdict: nbgrader
gives full marks to a grade cell without an error output, so a cell never run must say so.

`DropForeignMetadata` and `RestoreTestCells` give a submission exactly the lab's test cells.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from grader import judge

MAX_OUTPUT_CHARS = 100_000  # per cell: a runaway print loop is cut here, in the grader's memory


class JudgingClient(NotebookClient):
    """nbclient's executor, except that grade cells go to the judge."""

    remote = None
    dead = ""
    timed_out = False
    warmed = False

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        if cell.cell_type != "code":
            return cell
        if not self.warmed:
            await self._warm_up()
        if utils.is_grade(cell):
            # Not asyncio.to_thread: it would copy this context, and with it jupyter_core's
            # record of this thread's running loop, into the worker.
            outputs = await asyncio.get_running_loop().run_in_executor(None, self._judge,
                                                                       cell.source)
            cell.outputs = [nbformat.from_dict(o) for o in outputs]
            return cell
        if self.dead:
            cell.outputs = []
            return cell
        self._chars, self.timed_out = 0, False
        try:
            await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self.dead = "the kernel died while running this cell"
            cell.outputs.append(_error("KernelDied", self.dead))
            return cell
        if self.timed_out:
            cell.outputs.append(_error("TimeoutError",
                                       f"this cell ran for more than {self.timeout} s"))
        if self.timed_out and not await self._responsive():
            self.dead = "the kernel did not stop after a time-out, so it was ended"
            cell.outputs.append(_error("KernelDied", self.dead))
            await self.km.shutdown_kernel(now=True)
        return cell

    def on_comm_open_jupyter_widget(self, msg):
        """No live mirror of the student's widgets: grading needs no widget state.

        nbclient mirrors each Output widget (`interact` makes one) and sends its outputs back to
        the kernel as a comm message on the shell channel. Grading on Dask workers, the next
        cell then sometimes started 30 s late (3 of 4 runs of 24 notebooks, each time right
        after a lab's `interact` cell); without the mirror it did not happen in 6 runs, and
        the plot that `interact` draws lands in the cell's own outputs instead.
        """
        return None

    async def _warm_up(self):
        """Import what the judge's calls need before any student code runs and any clock runs:
        an interrupt that lands in the middle of an import can leave the kernel broken."""
        self.warmed = True
        msg_id = self.kc.execute("import cloudpickle, grader.kernel_side", silent=True,
                                 store_history=False)
        while (await self.kc.get_shell_msg(timeout=120))["parent_header"].get("msg_id") != msg_id:
            pass

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    async def _responsive(self, seconds: float = 10) -> bool:
        """Whether the kernel answers again after an interrupt (some code ignores it)."""
        msg_id = self.kc.kernel_info()
        try:
            while True:
                reply = await self.kc.get_shell_msg(timeout=seconds)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return True
        except Empty:
            return False

    def _judge(self, source: str) -> list[dict]:
        if self.dead and self.remote is None:
            return [_error("KernelGone", f"not run: {self.dead}")]
        if self.remote is None:
            self.remote = judge.RemoteKernel(self.km, timeout=self.timeout, kill=self._kill)
        if self.dead:
            self.remote.gone = self.remote.gone or self.dead
        return judge.judge_cell(source, self.remote)

    def _kill(self):
        """End the kernel from the judge's thread (its process, whatever it is doing)."""
        self.km.provisioner.process.kill()

    def output(self, outs, msg, display_id, cell_index):
        """Keep a cell's output only up to MAX_OUTPUT_CHARS, then one line saying so."""
        size = len(str(msg.get("content", {}).get("text", ""))) + \
            sum(len(str(v)) for v in msg.get("content", {}).get("data", {}).values())
        self._chars = getattr(self, "_chars", 0) + size
        if self._chars > MAX_OUTPUT_CHARS:
            if self._chars - size <= MAX_OUTPUT_CHARS:
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[output cut: more than {MAX_OUTPUT_CHARS} characters]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _error(name: str, message: str):
    return nbformat.v4.new_output("error", ename=name, evalue=message,
                                  traceback=[f"{name}: {message}"])


class JudgedExecute(NbGraderPreprocessor):
    """Run a submission with its grade cells judged outside the student's kernel."""

    timeout = Integer(30, help="Seconds a cell (or one call of a student's function) may take"
                      ).tag(config=True)
    sandbox = Bool(True, help="Run the student's kernel in the bubblewrap sandbox. Set to "
                   "False only for code you trust (the course's own tests do, for speed)."
                   ).tag(config=True)
    course_root = Unicode("", help="The course root, hidden from the student's kernel"
                          ).tag(config=True)
    memory_gb = Float(6.0, help="Address space the student's kernel may use, in GB"
                      ).tag(config=True)
    warm = Bool(True, help="Fork each sandboxed kernel from a process that has imported torch "
                "already (grader/warm.py) instead of starting it cold: the same sandbox, "
                "without three seconds of imports per submission").tag(config=True)

    def preprocess(self, nb, resources):
        with tempfile.TemporaryDirectory(prefix="grading-") as scratch:
            km = self._kernel_manager(Path(scratch))
            client = JudgingClient(
                nb, km=km, timeout=self.timeout, allow_errors=True, interrupt_on_timeout=True,
                error_on_timeout={"ename": "TimeoutError", "traceback": [],
                                  "evalue": f"this cell ran for more than {self.timeout} s"},
                resources={"metadata": {"path": scratch}})
            try:
                client.execute()
            except DeadKernelError:
                pass  # died between cells: what ran is graded, the rest says why not
            finally:
                if client.remote is not None:
                    client.remote.close()
                run_sync(km.shutdown_kernel)(now=True)
            for cell in nb.cells:  # grade cells after a death were never reached
                if utils.is_grade(cell) and cell.cell_type == "code" and not cell.outputs:
                    cell.outputs = [
                        _error("KernelGone", f"not run: {client.dead or 'the kernel stopped'}")]
        return nb, resources

    def _kernel_manager(self, scratch: Path):
        from jupyter_client.manager import AsyncKernelManager

        if not self.sandbox:
            return AsyncKernelManager(kernel_name="python3")
        from grader import sandbox

        problem = sandbox.sandbox_problem()
        if problem:
            raise RuntimeError(f"cannot grade safely: {problem}. To grade without the "
                               "sandbox (only code you trust), pass --no-sandbox.")
        limits = sandbox.Limits(memory=int(self.memory_gb * 2**30))
        return sandbox.SandboxedKernelManager(scratch=scratch, limits=limits, warm=self.warm,
                                              course_root=Path(self.course_root or ".").resolve())


def _released(resources, course_root: str):
    info = resources["nbgrader"]
    return nbformat.read(Path(course_root or ".") / "notebooks" / info["assignment"] /
                         f"{info['notebook']}.ipynb", as_version=4)


class DropForeignMetadata(NbGraderPreprocessor):
    """Keep nbgrader metadata only on the cells the released lab has, once each.

    Runs before nbgrader's own sanitizers: a cell a student made into a "grade cell", or a test
    cell they duplicated, becomes an ordinary cell. (nbgrader's DeduplicateIds leaves a twin an
    empty `nbgrader` entry, on which OverwriteCells.add_missing_cells then fails.)
    """

    course_root = Unicode("", help="The course root (holds notebooks/)").tag(config=True)

    def preprocess(self, nb, resources):
        known = {_grade_id(c) for c in _released(resources, self.course_root).cells} - {None}
        seen = set()
        for cell in nb.cells:
            if "nbgrader" in cell.metadata and _grade_id(cell) not in known - seen:
                del cell.metadata["nbgrader"]
            seen.add(_grade_id(cell))
        return nb, resources


class RestoreTestCells(NbGraderPreprocessor):
    """Put test cells that a student moved back where the released lab has them.

    nbgrader's OverwriteCells restores each grade cell's source (and, with add_missing_cells,
    the deleted ones) but leaves a moved cell where the student put it. Here each test cell goes
    back after the cell that comes before it in the released lab.
    """

    course_root = Unicode("", help="The course root (holds notebooks/)").tag(config=True)

    def preprocess(self, nb, resources):
        released = _released(resources, self.course_root)
        tests = {_grade_id(c): c for c in nb.cells if _is_test(c)}
        cells = [c for c in nb.cells if not _is_test(c)]
        for index, original in enumerate(released.cells):
            if not _is_test(original) or _grade_id(original) not in tests:
                continue
            anchors = set().union(*(_keys(c) for c in released.cells[:index]))
            where = max((i for i, c in enumerate(cells) if _keys(c) & anchors), default=-1)
            cells.insert(where + 1, tests.pop(_grade_id(original)))
        nb.cells = cells + list(tests.values())
        return nb, resources


def _keys(cell) -> set:
    """What identifies a cell across a student's edits: its id (lost when a notebook goes
    through an old nbformat), its grade_id, or its source."""
    return {("id", cell.get("id")), ("grade_id", _grade_id(cell)), ("source", cell.source)} - \
        {("id", None), ("grade_id", None), ("source", "")}


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_test(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)
