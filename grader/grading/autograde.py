"""nbgrader preprocessors for safe autograding, added to nbgrader's pipeline by configuration.

`JudgedExecute` takes the place of nbgrader's `Execute` (see nbgrader_config.py). It runs the
student's cells in a kernel of their own, in the sandbox, and hands every grade cell to the judge
(grader/grading/judge.py), which runs the trusted test outside that kernel. Whatever happens in the
kernel (a time-out, a crash, a flood of output), every grade cell ends with a verdict: nbgrader
gives full marks to a grade cell without an error output, so a cell never run must say so.

`DropForeignMetadata` and `RestoreTestCells` give a submission exactly the lab's test cells.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import math
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from grader.grading import judge, upstream
from grader.grading.judge import GraderFault

# Per cell: a runaway print loop is cut here, in the grader's memory. A course figure counts about
# twice (figures.show sends the PNG as itself and in HTML with its alt text): Lab 2's contour
# plot is 166,000 characters, so the cap leaves room for two such figures in one cell.
MAX_OUTPUT_CHARS = 400_000
MAX_NOTEBOOK_OUTPUT_CHARS = 5_000_000  # all outputs of a graded notebook, whatever made them
# Files the student's code writes, brought beside the graded notebook: at most these, per notebook
MAX_SIDE_FILES, MAX_SIDE_BYTES, MAX_SIDE_ENTRIES = 100, 20_000_000, 10_000
# The one thread that judges grade cells, in this process, for every notebook: one notebook's
# judge at a time needs no more, and a pool that grows keeps an event loop per thread.
JUDGE_THREAD = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge")


class JudgingClient(upstream.NoticesTimeouts, upstream.SeesDisplayUpdates, NotebookClient):
    """nbclient's executor, except that grade cells go to the judge."""

    remote = None
    dead = ""
    died_at = None  # the id of the cell during which the kernel died by itself, if it did
    death = ""  # what the grader knows of that death: for its log, never for the student
    warmed = False
    deadline = math.inf  # time.monotonic() by which the whole notebook must be done
    beside = Path(".")  # the folder of the assignment's files, the tests' working directory
    scratch = Path("/nonexistent")  # the student's kernel's folder
    side_files = None  # a SideFiles that brings what the kernel writes to `beside`

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.judged: set[int] = set()  # indices of the test cells the judge ran

    def cell_timeout(self, cell=None) -> int:
        """A cell's time limit: its own, or what is left of the notebook's budget."""
        return max(1, math.ceil(min(self.timeout, self.deadline - time.monotonic())))

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        if cell.cell_type != "code":
            return cell
        if not self.warmed:
            await self._warm_up()
        if not self.dead and time.monotonic() >= self.deadline:
            self.dead = f"the notebook used up its time budget ({self.budget:g} s)"
            await self.km.shutdown_kernel(now=True)
        if is_test(cell):  # the instructor's test; an answer cell (even a graded one) is code
            # of the student's, and runs only in the student's kernel, below.
            # Not asyncio.to_thread: it would copy this context, and with it jupyter_core's
            # record of this thread's running loop, into the worker.
            drain = asyncio.ensure_future(self._drain_iopub())
            try:
                outputs = await asyncio.get_running_loop().run_in_executor(
                    JUDGE_THREAD, self._judge, cell.source, cell.get("id", str(cell_index)))
            finally:
                drain.cancel()
            cell.outputs = [nbformat.from_dict(o) for o in outputs]
            self.judged.add(cell_index)
            return cell
        if self.dead:
            cell.outputs = []
            return cell
        self._chars, self.timed_out, self._limit = 0, False, self.cell_timeout()
        try:
            await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self.dead = "the kernel died while running this cell"
            self.record_death(cell.get("id", str(cell_index)))
            cell.outputs.append(_error("KernelDied", self.dead))
            return cell
        if self.timed_out:
            cell.outputs.append(_error("TimeoutError",
                                       f"this cell ran for more than {self._limit} s"))
        if self.timed_out and not await self._responsive():
            self.dead = "the kernel did not stop after a time-out, so it was ended"
            cell.outputs.append(_error("KernelDied", self.dead))
            await self.km.shutdown_kernel(now=True)
        return cell

    async def _drain_iopub(self) -> None:
        """While the judge calls into the kernel, read and drop what the kernel publishes:
        nothing of it is shown, and unread it would pile up in this process."""
        while True:
            try:
                await self.kc.get_iopub_msg(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:  # a message that could not be read: the next one can
                await asyncio.sleep(0.01)

    def record_death(self, where: str) -> None:
        """Note where the kernel died by itself, and what its process and log say of it."""
        if self.died_at is not None:
            return
        self.died_at = where
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        how = getattr(process, "ended", "") or f"exit status {getattr(process, 'returncode', '?')}"
        self.death = f"the kernel died in cell {where}: {how}\n{_kernel_log(self.km)}"

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
        await self.kc.execute("import cloudpickle, grader.kernel_side", silent=True,
                              store_history=False, reply=True, timeout=120)
        # Before any student code: the kernel's sockets are made, so their folder becomes
        # root's, and the judge connects to them now, never to a path the student has touched.
        if hasattr(self.km, "lock_sockets"):
            self.km.lock_sockets()
        if self.remote is None:
            await asyncio.get_running_loop().run_in_executor(JUDGE_THREAD, self._connect_judge)

    def _connect_judge(self) -> None:
        self.remote = judge.RemoteKernel(self.km, timeout=self.timeout, kill=self._kill,
                                         deadline=self.deadline)
        if self.side_files is not None:  # files a call wrote, for the test's next line
            self.remote.after_call = lambda: self.side_files.bring(self.scratch)

    async def _responsive(self, seconds: float = 10) -> bool:
        """Whether the kernel answers again after an interrupt (some code ignores it)."""
        msg_id = self.kc.kernel_info()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                reply = await self.kc.get_shell_msg(timeout=deadline - time.monotonic())
                if reply["parent_header"].get("msg_id") == msg_id:
                    return True
        except Empty:
            pass
        return False

    def _judge(self, source: str, cell_id: str) -> list[dict]:
        if self.dead and self.remote is None:
            return [_error("KernelGone", f"not run: {self.dead}")]
        if self.remote is None:
            self._connect_judge()
        if self.dead:
            self.remote.gone = self.remote.gone or self.dead
        # A test opens the assignment's files (data.txt) where nbgrader put them: the grader's
        # copy, which the student's kernel cannot change (never its scratch directory, where a
        # student could leave a link to a file only the grader may read). The files the
        # student's code wrote are brought there first, as plain copies.
        if self.side_files is not None:
            self.side_files.bring(self.scratch)
        with contextlib.chdir(self.beside):
            outputs = judge.judge_cell(source, self.remote)
        if self.remote.died:  # by itself, while the judge was calling into it
            self.dead = self.dead or self.remote.gone
            self.record_death(cell_id)
        return outputs

    def _kill(self):
        """End the kernel from the judge's thread (its process, whatever it is doing)."""
        upstream.kill_now(self.km)

    def on_display_update(self, msg: dict, places: int) -> None:
        """An update shows its data in every output that has its display id: it counts once
        for each against the cell's cap (40 outputs sharing an id and one 5 MB update once
        made a 200 MB graded notebook)."""
        data = msg.get("content", {}).get("data", {})
        self._chars = getattr(self, "_chars", 0) + \
            sum(len(str(v)) for v in data.values()) * max(places, 1)
        if self._chars > MAX_OUTPUT_CHARS:
            msg["content"]["data"] = {
                "text/plain": f"[output cut: more than {MAX_OUTPUT_CHARS} characters]"}
            msg["content"]["metadata"] = {}

    def output(self, outs, msg, display_id, cell_index):
        """Keep a cell's output only up to MAX_OUTPUT_CHARS, then a note saying so. An error
        is always kept (it says the cell failed), its message and traceback cut as the judge
        cuts its own."""
        content = msg.get("content", {})
        if msg.get("msg_type") == "error" or msg.get("header", {}).get("msg_type") == "error":
            content["evalue"] = judge.capped(str(content.get("evalue", "")),
                                             judge.MAX_ERROR_CHARS)
            content["traceback"] = [judge.capped(str(line), judge.MAX_ERROR_CHARS) for line in
                                    list(content.get("traceback", []))[-judge.MAX_TRACEBACK_LINES:]]
            return super().output(outs, msg, display_id, cell_index)
        size = len(str(msg.get("content", {}).get("text", ""))) + \
            sum(len(str(v)) for v in msg.get("content", {}).get("data", {}).values())
        self._chars = getattr(self, "_chars", 0) + size
        if self._chars > MAX_OUTPUT_CHARS:
            if self._chars - size <= MAX_OUTPUT_CHARS:
                outs.append(nbformat.from_dict(judge.cut_note(
                    f"[output cut: more than {MAX_OUTPUT_CHARS} characters]")))
            return None
        return super().output(outs, msg, display_id, cell_index)


class SideFiles:
    """The files a student's code writes (a CSV, a saved figure), copied beside the graded
    notebook, where stock nbgrader's kernel would have written them: a test that reads one
    finds it there, and the instructor sees it in autograded/.

    Everything in the kernel's folder is the student's to shape, so only regular files are
    copied, each opened without following a link, never over a file the grader put beside the
    notebook (a released data file, the notebook itself), never a dotfile or the kernel's own
    files, and at most MAX_SIDE_FILES files and MAX_SIDE_BYTES bytes in all.
    """

    SKIP = {"kernel.json", "kernel.log", "timestamp.txt"}

    def __init__(self, beside: Path):
        self.beside = beside
        self.sizes: dict[str, int] = {}  # what was brought: relative path -> bytes
        # and the file it was read from (inode, size, mtime): an unchanged big file is not read
        # again, though this runs after every call a test makes into the kernel
        self.seen: dict[str, tuple] = {}

    def bring(self, scratch: Path) -> None:
        for relative in self._candidates(scratch):
            self._copy(scratch, relative)

    def _candidates(self, scratch: Path) -> list[str]:
        found, seen = [], 0
        for folder, dirs, files in os.walk(scratch):  # never into a linked folder
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            seen += len(dirs) + len(files)
            if seen > MAX_SIDE_ENTRIES:
                break
            for name in sorted(files):
                relative = os.path.relpath(os.path.join(folder, name), scratch)
                if not name.startswith(".") and name not in self.SKIP and \
                        not name.endswith(".ipynb"):
                    found.append(relative)
        return found

    def _copy(self, scratch: Path, relative: str) -> None:
        target = self.beside / relative
        if relative not in self.sizes and (os.path.lexists(target) or
                                           len(self.sizes) >= MAX_SIDE_FILES):
            return
        room = MAX_SIDE_BYTES - sum(self.sizes.values()) + self.sizes.get(relative, 0)
        try:
            signature, content = _read_regular(scratch, relative, room,
                                               unless=self.seen.get(relative))
            if content is None:
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as file:
                file.write(content)
            self.sizes[relative], self.seen[relative] = len(content), signature
        except OSError:  # a name or a folder the grader's side cannot take: left behind
            return


def _read_regular(folder: Path, relative: str, limit: int,
                  unless: tuple | None = None) -> tuple[tuple, bytes | None]:
    """(The file's signature, the content of the regular file at `folder/relative` if it has
    at most `limit` bytes and its signature is not `unless`; else None). Each part of the path
    is opened without following a link, so a folder swapped for a link while this runs cannot
    lead outside `folder`."""
    *parents, name = relative.split(os.sep)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parents:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        inner = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        os.close(fd)
        fd = inner
        status = os.fstat(fd)
        signature = (status.st_ino, status.st_size, status.st_mtime_ns)
        # a small file is read again all the same: a file's times change only every few
        # milliseconds, and a test may write and read it back faster than that
        unchanged = signature == unless and status.st_size > 65_536
        if not stat.S_ISREG(status.st_mode) or status.st_size > limit or unchanged:
            return signature, None
        content = os.read(fd, limit + 1)
        return signature, (content if len(content) <= limit else None)
    finally:
        os.close(fd)


def fit(nb, limit: int) -> bool:
    """Cut the largest outputs of `nb` until all of them together take at most `limit`
    characters (as JSON); whether anything was cut. An error output stays an error (nbgrader
    scores a grade cell by it), with its text shortened; any other becomes a line saying why."""
    sizes = sorted(((len(json.dumps(out)), i, j) for i, cell in enumerate(nb.cells)
                    for j, out in enumerate(cell.get("outputs", []))), reverse=True)
    total = sum(size for size, _, _ in sizes)
    for size, i, j in sizes:
        if total <= limit:
            break
        out = nb.cells[i].outputs[j]
        if out.get("output_type") == "error":
            small = nbformat.v4.new_output(
                "error", ename=str(out.get("ename", ""))[:200],
                evalue=str(out.get("evalue", ""))[:2000],
                traceback=[str(line)[:2000] for line in out.get("traceback", [])[-20:]])
        else:
            small = nbformat.from_dict(judge.cut_note(
                f"[output cut: the graded notebook would be over {limit} characters]"))
        nb.cells[i].outputs[j] = small
        total -= size - len(json.dumps(small))
    return bool(sizes) and total < sum(size for size, _, _ in sizes)


def _copy_files(source: Path, target: Path) -> None:
    """The assignment's files (not notebooks, not links) from `source` into `target`."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_symlink() or not path.is_file() or path.suffix == ".ipynb" or \
                path.name == "timestamp.txt" or ".ipynb_checkpoints" in relative.parts:
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)


def _kernel_log(km, limit: int = 4000) -> str:
    """The end of a warm kernel's own log (its stderr: a Python traceback, a C library's last
    words). The file is in the student's scratch directory, so it is opened without following
    a link, and only its last `limit` bytes are read."""
    path = Path(getattr(km, "scratch", "") or "/nonexistent") / "kernel.log"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return "(no kernel log)"
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):  # a pipe or a device the student put there
            return "(the kernel log is not a file)"
        os.lseek(fd, max(0, status.st_size - limit), os.SEEK_SET)
        return "kernel log, last lines:\n" + os.read(fd, limit).decode("utf-8", "replace")
    except OSError as error:
        return f"(the kernel log could not be read: {error})"
    finally:
        os.close(fd)


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
    notebook_budget = Integer(300, help="Seconds a whole notebook may take, its cells and its "
                              "judged tests together: past it the kernel is ended, and what ran "
                              "is graded").tag(config=True)
    warm = Bool(True, help="Fork each sandboxed kernel from a process that has imported torch "
                "already (grader/grading/warm.py) instead of starting it cold: the same sandbox, "
                "without three seconds of imports per submission").tag(config=True)

    def preprocess(self, nb, resources):
        """Run the submission; if its kernel died by itself, run it once more in a new kernel.

        A death the student's code causes (os._exit, a crash in a C library it called) happens
        again at the same cell, and is then final: what ran is graded. A death that does not
        happen again was not the student's doing (a fault of ours once killed correct kernels
        now and then: see warm._owned_descriptors), so the second run is the one graded; and two
        deaths at different cells are a grader error, never a score.

        Whatever the student's code printed or displayed, the graded notebook's outputs stay
        under MAX_NOTEBOOK_OUTPUT_CHARS (see `fit`).
        """
        nb, resources = self._preprocess(nb, resources)
        fit(nb, MAX_NOTEBOOK_OUTPUT_CHARS)
        return nb, resources

    def _preprocess(self, nb, resources):
        original = copy.deepcopy(nb)
        beside = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        self.side_files = SideFiles(beside)
        first = self._run(nb, beside)
        if first.died_at is None:
            return nb, resources
        self.log.warning("%s\nRunning the notebook again.", first.death)
        again = copy.deepcopy(original)
        second = self._run(again, beside)
        if second.died_at not in (None, first.died_at):
            raise GraderFault(f"the kernel died at different cells in two runs "
                              f"({first.died_at}, then {second.died_at}):\n"
                              f"{first.death}\n{second.death}")
        if second.died_at is not None:
            self.log.warning("%s\nIt died again in the same cell: the student's code ends it.",
                             second.death)
        nb.cells = again.cells
        return nb, resources

    def _run(self, nb, beside: Path) -> JudgingClient:
        """Run every cell of `nb` (in place) in a new kernel, judging its grade cells. The
        kernel's folder gets a copy of the files in `beside` (nbgrader put the assignment's
        data files there)."""
        with tempfile.TemporaryDirectory(prefix="grading-") as scratch:
            _copy_files(beside, Path(scratch))
            km = self._kernel_manager(Path(scratch))
            client = JudgingClient(
                nb, km=km, timeout=self.timeout, allow_errors=True, interrupt_on_timeout=True,
                # After a cell's reply, nbclient waits this long for the rest of its output, then
                # drops it (4 s by default): under load an output flood lost its "[output cut]"
                # line that way, and a student's printed output its end.
                iopub_timeout=max(60, self.timeout),
                error_on_timeout={"ename": "TimeoutError", "traceback": [],
                                  "evalue": f"this cell ran for more than {self.timeout} s"},
                resources={"metadata": {"path": scratch}})
            client.budget, client.beside = self.notebook_budget, beside
            client.scratch, client.side_files = Path(scratch), self.side_files
            client.deadline = time.monotonic() + self.notebook_budget
            client.timeout_func = client.cell_timeout
            try:
                client.execute()
            except DeadKernelError:  # died between cells: what ran is graded
                client.record_death("between cells")
            finally:
                self._release(client, km)
                if self.side_files is not None:
                    self.side_files.bring(Path(scratch))
            for index, cell in enumerate(nb.cells):  # test cells after a death were not reached
                if is_test(cell) and index not in client.judged:
                    cell.outputs = [
                        _error("KernelGone", f"not run: {client.dead or 'the kernel stopped'}")]
        return client

    @staticmethod
    def _release(client: JudgingClient, km) -> None:
        """End the kernel and free everything that talked to it. nbclient stops its own client's
        channels only for a kernel manager it made itself; left running, each graded notebook
        kept a heartbeat thread, a ZeroMQ context and a dozen file descriptors in the worker,
        until select() failed past FD_SETSIZE after a hundred notebooks."""
        try:
            if client.remote is not None:
                client.remote.close()
            if client.kc is not None:
                client.kc.stop_channels()
                client.kc = None
        finally:
            run_sync(km.shutdown_kernel)(now=True)
            if hasattr(km, "release_uid"):
                km.release_uid()

    def _kernel_manager(self, scratch: Path):
        from jupyter_client.manager import AsyncKernelManager

        if not self.sandbox:
            return AsyncKernelManager(kernel_name="python3")
        from grader.grading import sandbox

        problem = sandbox.sandbox_problem()
        if problem:
            raise RuntimeError(f"cannot grade safely: {problem}. To grade without the "
                               "sandbox (only code you trust), pass --no-sandbox.")
        limits = sandbox.Limits(memory=int(self.memory_gb * 2**30))
        return sandbox.SandboxedKernelManager(scratch=scratch, limits=limits, warm=self.warm,
                                              course_root=Path(self.course_root or ".").resolve())


def _released(resources, course_root: str):
    assignment, notebook = upstream.assignment_and_notebook(resources)
    return nbformat.read(Path(course_root or ".") / "notebooks" / assignment /
                         f"{notebook}.ipynb", as_version=4)


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


class RestoreMissingCells(NbGraderPreprocessor):
    """Give back the released lab's nbgrader cells that a submission lost, before nbgrader's
    OverwriteCells looks for them.

    A cell that kept its id but lost its nbgrader metadata (a tool that strips metadata, a cell
    copied into a new notebook) gets it back from the released cell of that id. A cell missing
    altogether comes back as released (an answer cell as its stub), after the cell that comes
    before it in the released lab. nbgrader's own add_missing_cells can only put a missing cell
    after its predecessor, and fails (KeyError) when that one is missing too.
    """

    course_root = Unicode("", help="The course root (holds notebooks/)").tag(config=True)

    def preprocess(self, nb, resources):
        released = _released(resources, self.course_root)
        by_id = {c.get("id"): c for c in released.cells if _grade_id(c) is not None}
        for cell in nb.cells:
            original = by_id.get(cell.get("id"))
            if original is not None and "nbgrader" not in cell.metadata and \
                    cell.cell_type == original.cell_type:
                cell.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
        present = {_grade_id(c) for c in nb.cells}
        for index, original in enumerate(released.cells):
            if _grade_id(original) is None or _grade_id(original) in present:
                continue
            anchors = set().union(*(_keys(c) for c in released.cells[:index]))
            where = max((i for i, c in enumerate(nb.cells) if _keys(c) & anchors), default=-1)
            restored = copy.deepcopy(original)
            restored.id = _free_id(nb, original.get("id") or _grade_id(original))
            nb.cells.insert(where + 1, restored)
            present.add(_grade_id(original))
        return nb, resources


def _free_id(nb, wanted: str) -> str:
    taken = {c.get("id") for c in nb.cells}
    while wanted in taken:
        wanted += "-restored"
    return wanted


class RestoreTestCells(NbGraderPreprocessor):
    """Put test cells that a student moved back where the released lab has them.

    nbgrader's OverwriteCells restores each grade cell's source (and, with add_missing_cells,
    the deleted ones) but leaves a moved cell where the student put it. Here each test cell goes
    back after the cell that comes before it in the released lab.
    """

    course_root = Unicode("", help="The course root (holds notebooks/)").tag(config=True)

    def preprocess(self, nb, resources):
        released = _released(resources, self.course_root)
        tests = {_grade_id(c): c for c in nb.cells if is_test(c)}
        cells = [c for c in nb.cells if not is_test(c)]
        for index, original in enumerate(released.cells):
            if not is_test(original) or _grade_id(original) not in tests:
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


def is_test(cell) -> bool:
    """An instructor's test: a grade cell that is not also an answer (the judge runs it)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)
