"""Judging grade cells outside the student's kernel.

The student's code runs in its own kernel (in a sandbox when grading), and everything in that
process is the student's to change: `torch.allclose`, the grader's checks, IPython's traceback
printer. So a grade cell never runs there. The judge runs the cell's trusted source (restored
from the gradebook) here, in the grader's process, where every name the cell takes from the
student (`tangent_line`, `Cube`) is a `RemoteRef`. Calling one sends the call to the kernel
(grader/kernel_side.py) and gets back plain data, which becomes plain numbers and tensors here.
The references are computed here, and the checks compare here: the kernel never sees either.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import inspect
import io
import json
import math
import time
import traceback
import warnings
from queue import Empty

import cloudpickle
import torch
import zmq

from grader import checks
from grader.kernel_side import Ref, parameter_names

DTYPES = {name: getattr(torch, name) for name in
          ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
           "uint8", "bool", "complex64", "complex128")}
MAX_REPLY_BYTES = 8 * 2**20  # a message from the kernel (an answer is at most 4 MiB)
MAX_DEPTH = 16  # nesting of an answer's JSON (the kernel side writes at most 8)


class StudentError(Exception):
    """An error raised by the student's code in the kernel, brought back by name and message."""

    function = ""


class StudentNotImplemented(NotImplementedError):
    """The student's function still raises NotImplementedError."""

    def __init__(self, function: str):
        super().__init__()
        self.function = function


class GraderFault(RuntimeError):
    """Something went wrong that says nothing about the student's work: the submission is not
    graded this time (status "grader error"), and `make grade` tries it again next time."""


class KernelGone(Exception):
    """The student's kernel died or stopped answering; nothing more can be asked of it."""


class RemoteKernel:
    """Calls into the student's kernel, with a time limit per call.

    It talks to the kernel through a blocking client of its own (it runs in a worker thread,
    beside nbclient's event loop), and `kill` ends the kernel when an interrupt is not enough.
    """

    grace = 10.0  # seconds an interrupted call has to stop before the kernel is ended

    def __init__(self, km, timeout: float, kill, deadline: float = math.inf):
        self.timeout, self.kill, self.gone = timeout, kill, ""
        self.deadline = deadline  # the notebook's: no call waits past it
        self.died = False  # the kernel ended by itself (not killed by us after a time-out)
        self.client = km.blocking_client()
        self._connect()

    def call(self, target, args: tuple):
        if self.gone:
            raise KernelGone(self.gone)
        try:  # nothing here depends on the student: a failure is the grader's
            request = base64.b64encode(cloudpickle.dumps((target, args))).decode()
            code = ("__grader_answer__ = __import__('grader.kernel_side', fromlist=['call'])"
                    f".call({request!r}, globals())")
            msg_id = self.client.execute(code, silent=True, store_history=False,
                                         allow_stdin=False,
                                         user_expressions={"answer": "__grader_answer__"})
        except Exception as error:
            raise GraderFault(f"the judge could not send a call: {type(error).__name__}: "
                              f"{error}") from error
        reply, timed_out = self._reply(msg_id)
        if timed_out:
            raise _error({"type": "TimeoutError",
                          "message": f"it did not finish within {self.timeout:g} s"})
        answer = read_answer(reply)
        for message in answer.get("warnings", [])[:5]:
            warnings.warn(str(message), stacklevel=2)
        if "error" in answer:
            raise _error(answer["error"])
        return decode(answer.get("ok"))

    def _connect(self) -> None:
        """Start the client's channels with a cap on every message from the kernel: ZeroMQ
        drops a longer one (and the connection) before any of it is in the grader's memory."""
        self.client.context.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_BYTES)
        self.client.start_channels()

    def _reply(self, msg_id: str):
        """(The kernel's reply, whether the call ran out of time). Out of time, the kernel is
        interrupted; if it does not answer even then, it is shut down and given up.

        Each wait has an absolute deadline: a kernel that keeps sending other messages (one
        every few seconds, say) does not make it wait again from the start."""
        for attempt in ("wait", "interrupted"):
            deadline = time.monotonic() + (self.timeout if attempt == "wait" else self.grace)
            if attempt == "wait":
                deadline = min(deadline, self.deadline)
            try:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Empty
                    reply = self.client.get_shell_msg(timeout=left)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return reply, attempt == "interrupted"
            except Empty:
                if not self.client.is_alive():
                    self.gone, self.died = "the kernel died", True
                    raise KernelGone(self.gone) from None
                if attempt == "wait":  # ipykernel interrupts itself on this message
                    self.client.control_channel.send(
                        self.client.session.msg("interrupt_request", content={}))
        self.gone = "the kernel did not stop after a time-out, so it was ended"
        self.kill()
        return None, True

    def close(self):
        self.client.stop_channels()


def read_answer(reply: dict) -> dict:
    """The kernel's answer to a judged call: one JSON object, read by a strict JSON decoder
    with limits on its size and depth. Anything else is the student's answer being unreadable."""
    expressions = reply.get("content", {}).get("user_expressions", {})
    text = expressions.get("answer", {}).get("data", {}).get("text/plain", "") \
        if isinstance(expressions, dict) and isinstance(expressions.get("answer"), dict) else ""
    if not isinstance(text, str) or len(text) > MAX_REPLY_BYTES:
        raise StudentError("the answer is too large to check")
    try:
        answer = json.loads(text)  # past ~1000 levels the decoder stops (RecursionError)
    except (ValueError, RecursionError):
        raise StudentError("the kernel's answer could not be read") from None
    if not isinstance(answer, dict) or _depth(answer) > MAX_DEPTH:
        raise StudentError("the kernel's answer could not be read")
    return answer


def _depth(value) -> int:
    """How deep lists and objects nest in decoded JSON."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


class RemoteRef:
    """A name in the student's namespace, seen from the judge. Calling it calls it there."""

    def __init__(self, kernel: RemoteKernel, path: str):
        self._kernel, self._path = kernel, path

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return RemoteRef(self._kernel, f"{self._path}.{name}")

    def __call__(self, *args):
        return self._kernel.call(Ref(self._path), tuple(_to_refs(a) for a in args))

    @property
    def __signature__(self) -> inspect.Signature:
        """The student's parameter names, for messages like 'not right at x = 2.0'."""
        names = self._kernel.call(parameter_names, (Ref(self._path),))
        return inspect.Signature([inspect.Parameter(str(n), inspect.Parameter.POSITIONAL_ONLY)
                                  for n in (names or ())])

    def __repr__(self):
        return f"<the student's {self._path}>"


def _to_refs(arg):
    if isinstance(arg, RemoteRef):
        return Ref(arg._path)
    if isinstance(arg, tuple):
        return tuple(_to_refs(a) for a in arg)
    return arg


def run_in_student_kernel(kernel: RemoteKernel, fn, args: tuple):
    """For checks.in_student_kernel: run a test helper next to the student's code."""
    return kernel.call(fn, tuple(_to_refs(a) for a in args))


# Modules that test cells may use without importing them (the labs import them at the top):
# in the judge they are the grader's own, whatever the student's notebook bound to the names.
TRUSTED_NAMES = {"torch": torch, "math": math}


class StudentNamespace(dict):
    """Globals for a test cell: a name the cell does not define is the student's."""

    def __init__(self, kernel: RemoteKernel):
        super().__init__(__builtins__=builtins, __name__="__grade_cell__", **TRUSTED_NAMES)
        self.kernel = kernel

    def __missing__(self, name: str):
        if hasattr(builtins, name):
            raise KeyError(name)  # Python then looks in builtins
        return RemoteRef(self.kernel, name)


def decode(data):
    """The student's answer, rebuilt from data as plain Python and torch objects."""
    if not isinstance(data, dict):
        return _opaque("unreadable", repr(data)[:80])
    kind = data.get("t")
    if kind == "none":
        return None
    if kind == "number" and isinstance(data.get("v"), (int, float)):
        return float(data["v"])
    if kind == "tensor":
        return _tensor(data)
    if kind == "seq" and isinstance(data.get("items"), list):
        return tuple(decode(item) for item in data["items"][:16])
    if kind == "other" and data.get("type") == "bool":
        return data.get("repr") == "True"
    return _opaque(str(data.get("type", "unknown")), str(data.get("repr", "")))


def _tensor(data: dict):
    dtype, shape, values = DTYPES.get(data.get("dtype")), data.get("shape"), data.get("v")
    if dtype is None or not isinstance(shape, list) or not isinstance(values, list) or \
            not all(isinstance(n, int) and n >= 0 for n in shape) or \
            math.prod(shape) != len(values) or \
            not all(isinstance(v, (int, float)) for v in values):
        return _opaque("tensor", "a tensor that could not be read")
    return torch.tensor(values, dtype=torch.float64).reshape(shape).to(dtype)


def _opaque(type_name: str, text: str):
    """An object that is not a number or a tensor: only its type name and repr come back."""
    cls = type(type_name.strip() or "object", (), {"__repr__": lambda self: text[:80]})
    return cls()


def _error(data) -> BaseException:
    data = data if isinstance(data, dict) else {}
    if data.get("not_implemented"):
        return StudentNotImplemented(str(data.get("function", "")))
    name = str(data.get("type", "Error"))
    error = type(name if name.isidentifier() else "Error", (StudentError,), {})(
        str(data.get("message", "")))
    error.function = str(data.get("function", ""))
    return error


def judge_cell(source: str, kernel: RemoteKernel) -> list[dict]:
    """Run a grade cell's trusted source against the student's kernel; return its outputs.

    The outputs are what nbgrader scores: a printed line per passing check, and an error output
    if any check failed (nbgrader gives a grade cell with an error no points).
    """
    stdout = io.StringIO()
    checks.RESULTS.clear()
    try:
        with contextlib.redirect_stdout(stdout), checks.remote_kernel(kernel):
            exec(compile(source, "<test cell>", "exec"), StudentNamespace(kernel))
        error = None
    except (GraderFault, SyntaxError):  # ours (a test cell that does not compile, say): loud
        raise
    except Exception as caught:
        error = caught
    outputs = []
    if stdout.getvalue():
        outputs.append({"output_type": "stream", "name": "stdout", "text": stdout.getvalue()})
    if error is not None:
        outputs.append({"output_type": "error", "ename": type(error).__name__,
                        "evalue": str(error), "traceback": _traceback(error)})
    return outputs


def _traceback(error: Exception) -> list[str]:
    if isinstance(error, (checks.WrongAnswer, StudentError, KernelGone)):
        return [f"{type(error).__name__}: {error}"]
    return traceback.format_exception(error)
