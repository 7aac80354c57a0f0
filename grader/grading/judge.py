"""Judging grade cells outside the student's kernel.

The student's code runs in its own kernel (in a sandbox when grading), and everything in that
process is the student's to change: `torch.allclose`, the grader's checks, IPython's traceback
printer. So a grade cell never runs there. The judge runs the cell's trusted source (restored
from the gradebook) here, in the grader's process, and lets it see the student's names as a
stock nbgrader test would (`StudentNamespace`): a name it reads is fetched from the kernel
(grader/kernel_side.py). Values of the built-in kinds, tensors and arrays come back as values,
decoded strictly (`decode`); any other object (a function, an object of the student's class)
comes back as a `RemoteObject`, and whatever the test does with it is one more call into the
kernel. The references are computed here, and the checks compare here: the kernel never sees
either, and nothing the kernel sends is more than data.
"""

from __future__ import annotations

import ast
import base64
import builtins
import collections
import contextlib
import inspect
import io
import json
import math
import operator
import time
import traceback
import warnings
from queue import Empty

import cloudpickle
import torch
import zmq

from grader import checks
from grader.grading import upstream
from grader.kernel_side import (
    Handle,
    assign,
    delete,
    global_names,
    lookup,
    next_item,
    parameter_names,
)

DTYPES = {name: getattr(torch, name) for name in
          ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
           "uint8", "bool", "complex64", "complex128")}
MAX_REPLY_BYTES = 8 * 2**20  # a message from the kernel (an answer is at most 4 MiB)
MAX_DEPTH = 40  # nesting of an answer's JSON (the kernel side writes at most 8 containers)


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
    cell_deadline = math.inf  # time.monotonic() by which the judged cell must be done
    after_call = None  # run after each call (the grader brings the files it wrote)

    def __init__(self, km, timeout: float, kill, deadline: float = math.inf):
        self.timeout, self.kill, self.gone = timeout, kill, ""
        self.deadline = deadline  # the notebook's: no call waits past it
        self.died = False  # the kernel ended by itself (not killed by us after a time-out)
        self.client = km.blocking_client()
        self._connect()

    def call(self, target, args: tuple = (), kwargs: dict | None = None):
        """target(*args, **kwargs) in the student's kernel; its result as a value or a handle."""
        if self.gone:
            raise KernelGone(self.gone)
        if time.monotonic() >= min(self.deadline, self.cell_deadline):
            # a test looping over a student's endless generator, say
            raise _error({"type": "TimeoutError", "builtin": "TimeoutError",
                          "message": f"the test ran for more than {self.timeout:g} s"})
        reply = self._exchange(_pickle((target, tuple(args), kwargs or {})))
        if self.after_call is not None:  # a file the call wrote, which the test may open next
            self.after_call()
        answer = read_answer(reply)
        for message in answer.get("warnings", [])[:5]:
            warnings.warn(str(message)[:500], stacklevel=2)
        if "error" in answer:
            raise _error(answer["error"])
        return decode(answer.get("ok"), self)

    def _exchange(self, request: str) -> dict:
        """Send one call to the kernel; its reply, within the time limit."""
        try:  # nothing here depends on the student: a failure is the grader's
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
        return reply

    def _connect(self) -> None:
        """Start the client's channels with a cap on every message from the kernel: ZeroMQ
        drops a longer one (and the connection) before any of it is in the grader's memory."""
        self.client.context.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_BYTES)
        # Nothing but replies: what the student's code publishes (iopub) is never read here,
        # so it cannot pile up in the grader (a flood of large messages once did).
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)

    def _reply(self, msg_id: str):
        """(The kernel's reply, whether the call ran out of time). Out of time, the kernel is
        interrupted; if it does not answer even then, it is shut down and given up.

        Each wait has an absolute deadline: a kernel that keeps sending other messages (one
        every few seconds, say) does not make it wait again from the start."""
        for attempt in ("wait", "interrupted"):
            deadline = time.monotonic() + (self.timeout if attempt == "wait" else self.grace)
            if attempt == "wait":
                deadline = min(deadline, self.deadline, self.cell_deadline + self.grace)
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
                if attempt == "wait":
                    upstream.send_interrupt(self.client)
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


def _pickle(value) -> str:
    """A request for the kernel. The student's objects in it (RemoteObjects, anywhere: in a
    list, in a lambda's closure) go as their handles, and become the objects there."""

    class Pickler(cloudpickle.CloudPickler):
        def persistent_id(self, obj):
            return object.__getattribute__(obj, "_target") if isinstance(obj, RemoteObject) \
                else None

    buffer = io.BytesIO()
    try:
        Pickler(buffer).dump(value)
    except Exception as error:
        raise GraderFault(f"the judge could not send a call: {type(error).__name__}: "
                          f"{error}") from error
    return base64.b64encode(buffer.getvalue()).decode()


def _remote(operation, reflected: bool = False):
    """A special method of RemoteObject that runs `operation` in the student's kernel."""
    def method(self, *args):
        operands = (*args, self) if reflected else (self, *args)
        return self._kernel.call(operation, operands)
    method.__name__ = getattr(operation, "__name__", "operation")
    return method


class RemoteObject:
    """One of the student's objects, seen from the judge: a function, a class, an instance of
    it, a generator, a module of theirs. Whatever a test does with it (call it, read or set an
    attribute, index it, compare it, iterate over it, ask its length) is done to the object in
    the student's kernel, and what comes back is a value again, or another RemoteObject."""

    __slots__ = ("_kernel", "_target", "_type")

    def __init__(self, kernel: RemoteKernel, target, type_name: str = "object"):
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_type", type_name)

    def __getattr__(self, name: str):
        if name.startswith("__") and name not in ("__name__", "__qualname__"):
            raise AttributeError(name)  # protocols the judge's own code probes (copy, numpy)
        return self._kernel.call(getattr, (self, name))

    def __setattr__(self, name: str, value):
        self._kernel.call(setattr, (self, name, value))

    def __delattr__(self, name: str):
        self._kernel.call(delattr, (self, name))

    def __call__(self, *args, **kwargs):
        return self._kernel.call(self, args, kwargs)

    def __iter__(self):
        iterator = self._kernel.call(iter, (self,))
        return iterator if isinstance(iterator, RemoteObject) else builtins.iter(iterator)

    def __next__(self):
        more, item = self._kernel.call(next_item, (self,))
        if not more:
            raise StopIteration
        return item

    def __instancecheck__(self, obj) -> bool:
        return bool(self._kernel.call(isinstance, (obj, self)))

    def __subclasscheck__(self, cls) -> bool:
        return bool(self._kernel.call(issubclass, (cls, self)))

    @property
    def __signature__(self) -> inspect.Signature:
        """The student's parameter names, for messages like 'not right at x = 2.0'."""
        names = self._kernel.call(parameter_names, (self,))
        return inspect.Signature([inspect.Parameter(str(n), inspect.Parameter.POSITIONAL_ONLY)
                                  for n in (names or ())])

    def __repr__(self):
        try:
            text = self._kernel.call(repr, (self,))
        except StudentError:
            text = None
        return text[:500] if isinstance(text, str) else f"<the student's {self._type}>"

    def __str__(self):
        text = self._kernel.call(str, (self,))
        return text if isinstance(text, str) else repr(self)

    def __dir__(self):
        names = self._kernel.call(dir, (self,))
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _operations() -> None:
    """RemoteObject's operators: each is done in the student's kernel (the reflected ones, like
    `2 * obj`, with the operands the other way round)."""
    for name, operation in {
        "__eq__": operator.eq, "__ne__": operator.ne, "__lt__": operator.lt,
        "__le__": operator.le, "__gt__": operator.gt, "__ge__": operator.ge,
        "__hash__": hash, "__bool__": bool, "__len__": len, "__contains__": operator.contains,
        "__getitem__": operator.getitem, "__setitem__": operator.setitem,
        "__delitem__": operator.delitem, "__float__": float, "__int__": int,
        "__index__": operator.index, "__complex__": complex, "__neg__": operator.neg,
        "__pos__": operator.pos, "__abs__": abs, "__invert__": operator.invert,
        "__add__": operator.add, "__sub__": operator.sub, "__mul__": operator.mul,
        "__truediv__": operator.truediv, "__floordiv__": operator.floordiv,
        "__mod__": operator.mod, "__pow__": operator.pow, "__matmul__": operator.matmul,
        "__and__": operator.and_, "__or__": operator.or_, "__xor__": operator.xor,
        "__lshift__": operator.lshift, "__rshift__": operator.rshift,
    }.items():
        setattr(RemoteObject, name, _remote(operation))
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
                 "or", "xor"):
        setattr(RemoteObject, f"__r{name}__", _remote(getattr(operator, f"{name}_", None) or
                                                      getattr(operator, name), reflected=True))


_operations()


# Modules that test cells may use without importing them (the labs import them at the top):
# in the judge they are the grader's own, whatever the student's notebook bound to the names.
TRUSTED_NAMES = {"torch": torch, "math": math}


class StudentNamespace(dict):
    """Globals for a test cell, which sees the student's names as stock nbgrader's tests do.

    A name the cell has not defined itself is read from the student's kernel, each time (a
    student's function may change it). A test that deletes one of the student's names deletes
    it there (to see that one function uses another), and one that gives a student's name back
    one of the student's objects sets it there (to restore it). A test's own values stay here,
    even under a name the student uses: nothing a test computes reaches the student's code
    through a name, and nothing it keeps comes back from the kernel. (Stock nbgrader's tests
    run in the student's kernel, where a test could also give a student's name a value of its
    own, a mock function say; here the student's code does not see it.)
    """

    def __init__(self, kernel: RemoteKernel):
        super().__init__(__builtins__=builtins, __name__="__grade_cell__", **TRUSTED_NAMES)
        self.kernel = kernel
        self._students: set | None = None

    def __missing__(self, name: str):
        if hasattr(builtins, name):
            raise KeyError(name)  # Python then looks in builtins
        try:
            return self.kernel.call(lookup, (name,))
        except NameError:
            raise KeyError(name) from None

    def __setitem__(self, name: str, value):
        if isinstance(value, RemoteObject) and self._is_students(name):
            self.kernel.call(assign, (name, value))
        super().__setitem__(name, value)

    def __delitem__(self, name: str):
        if self._is_students(name):
            self.kernel.call(delete, (name,))  # still the student's name, to restore
            super().pop(name, None)
        else:
            super().__delitem__(name)

    def _is_students(self, name: str) -> bool:
        if name.startswith("__"):
            return False
        if self._students is None:
            names = self.kernel.call(global_names)
            self._students = {n for n in names if isinstance(n, str)} \
                if isinstance(names, list) else set()
        return name in self._students


def decode(data, kernel: RemoteKernel | None = None, depth: int = 0):
    """The student's answer, rebuilt from data as plain Python, NumPy and torch objects, each
    of exactly the type the kernel says (and RemoteObjects for handles). The data is read
    strictly: anything malformed makes the whole answer unreadable."""
    if not isinstance(data, dict) or depth > MAX_DEPTH:
        raise _unreadable()
    kind, value = data.get("t"), data.get("v")
    if kind == "none":
        return None
    if kind in SCALARS and type(value) in SCALARS[kind][1]:
        return SCALARS[kind][0](value)
    if kind == "complex" and isinstance(value, list) and len(value) == 2 and \
            all(type(v) in (int, float) for v in value):
        return complex(*value)
    if kind == "bytes" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise _unreadable() from None
    if kind in ("tensor", "ndarray", "npscalar"):
        return _array(kind, data)
    if kind == "module" and isinstance(data.get("name"), str) and type(data.get("h")) is int:
        module = _module(data["name"])
        if module is None and kernel is None:
            raise _unreadable()
        return module or RemoteObject(kernel, Handle(data["h"]), "module")
    if kind in CONTAINERS and isinstance(data.get("items"), list):
        # a set's items are values only: hashing a handle would call into the kernel
        keyed = kind in ("set", "frozenset")
        if keyed and len(data["items"]) > MAX_KEYS:
            raise _unreadable()
        items = [decode(item, None if keyed else kernel, depth + 1) for item in data["items"]]
        if keyed:
            _refuse_colliding(items)
        return CONTAINERS[kind](items)
    if kind == "dict" and isinstance(data.get("items"), list) and \
            len(data["items"]) <= MAX_KEYS and \
            all(isinstance(p, list) and len(p) == 2 for p in data["items"]):
        keys = [decode(k, None, depth + 1) for k, _ in data["items"]]
        _refuse_colliding(keys)
        return dict(zip(keys, (decode(v, kernel, depth + 1) for _, v in data["items"]),
                        strict=True))
    if kind == "handle" and type(data.get("h")) is int and kernel is not None:
        return RemoteObject(kernel, Handle(data["h"]), str(data.get("type", "object"))[:80])
    raise _unreadable()


MAX_KEYS = 10_000  # items of a set, keys of a dict (the kernel side sends more as a handle)
MAX_SAME_HASH = 16
SCALARS = {"bool": (bool, (bool,)), "int": (int, (int,)), "float": (float, (float, int)),
           "str": (str, (str,))}
CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


def _refuse_colliding(keys: list) -> None:
    """Keys of a set or dict as the kernel sent them: hashable, and not many with one hash
    (ints that are multiples of 2**61 - 1 all hash alike, and a set of them takes quadratic
    time to build)."""
    try:
        hashes = collections.Counter(hash(k) for k in keys)
    except TypeError:  # an unhashable key
        raise _unreadable() from None
    if hashes and max(hashes.values()) > MAX_SAME_HASH:
        raise _unreadable()


def _unreadable() -> StudentError:
    return StudentError("the kernel's answer could not be read")


def _array(kind: str, data: dict):
    """A tensor or NumPy value, checked for a known dtype, a shape that fits the values, and
    numbers only."""
    shape, values = data.get("shape", []), data.get("v")
    values = [values] if kind == "npscalar" else values
    if not isinstance(shape, list) or not isinstance(values, list) or len(shape) > 32 or \
            not all(type(n) is int and 0 <= n < 2**31 for n in shape) or \
            math.prod(shape) != len(values) or \
            not all(type(v) in (int, float, bool) for v in values):
        raise _unreadable()
    if kind == "tensor":
        dtype = DTYPES.get(data.get("dtype"))
        if dtype is None:
            raise _unreadable()
        tensor = torch.tensor(values, dtype=dtype).reshape(shape)
        return tensor.requires_grad_(True) if data.get("requires_grad") is True and \
            tensor.is_floating_point() else tensor
    import numpy

    try:
        dtype = numpy.dtype(str(data.get("dtype")))
    except TypeError:
        raise _unreadable() from None
    if dtype.kind not in "biuf":
        raise _unreadable()
    array = numpy.array(values, dtype=dtype).reshape(shape)
    return array[()] if kind == "npscalar" else array


def _module(name: str):
    """The grader's own copy of a module the student's namespace holds, when the grader has
    imported it too (the student's `np` is then the real NumPy, whatever they did to theirs);
    None for any other (it is then the student's, used at a distance). The grader never
    imports a module because the kernel named it."""
    import sys

    return sys.modules.get(name)


# Errors the student's code may raise that the judge must not raise as they are: they would end
# the judge's thread or its iteration instead of failing the test.
NOT_RAISED_AS_IS = {"SystemExit", "KeyboardInterrupt", "GeneratorExit", "StopIteration",
                    "StopAsyncIteration", "BaseException", "BaseExceptionGroup"}


def _error(data) -> BaseException:
    """The student's error, as an exception of the same built-in class (a test's `except
    ValueError:` catches the student's ValueError), named as the student's class was."""
    data = data if isinstance(data, dict) else {}
    if data.get("not_implemented"):
        return StudentNotImplemented(str(data.get("function", "")))
    name, builtin = str(data.get("type", "Error")), str(data.get("builtin", ""))
    base = getattr(builtins, builtin, None)
    bases = (StudentError,)
    if isinstance(base, type) and issubclass(base, Exception) and base is not Exception and \
            builtin not in NOT_RAISED_AS_IS:
        bases = (base, StudentError)
    try:
        cls = type(name if name.isidentifier() else "Error", bases, {})
    except TypeError:  # a built-in class that cannot be mixed in
        cls = type(name if name.isidentifier() else "Error", (StudentError,), {})
    error = cls(str(data.get("message", "")))
    error.function = str(data.get("function", ""))
    return error


def judge_cell(source: str, kernel: RemoteKernel) -> list[dict]:
    """Run a grade cell's trusted source against the student's kernel; return its outputs.

    The outputs are what nbgrader scores: what the cell printed, the value of its last line if
    that is an expression (as IPython shows it: nbgrader reads a number there as partial
    credit), and an error output if the cell raised (nbgrader then gives it no points).
    """
    stdout, result = io.StringIO(), None
    checks.RESULTS.clear()
    body, last = _split_last_expression(source)
    # A test cell may take as long as any cell (nbgrader's tests run as cells), its calls into
    # the kernel and its own work together.
    kernel.cell_deadline = time.monotonic() + kernel.timeout
    try:
        with contextlib.redirect_stdout(stdout), checks.remote_kernel(kernel):
            namespace = StudentNamespace(kernel)
            exec(body, namespace)
            if last is not None:
                value = eval(last, namespace)
                result = None if value is None else repr(value)
        error = None
    except GraderFault:  # ours: loud (a test cell that does not compile fails before the try)
        raise
    except Exception as caught:
        error = caught
    finally:
        kernel.cell_deadline = math.inf
    outputs = []
    printed = stdout.getvalue()
    if printed:
        outputs.append({"output_type": "stream", "name": "stdout",
                        "text": printed[:MAX_TEXT_CHARS]})
    if len(printed) > MAX_TEXT_CHARS:
        outputs.append(cut_note(f"[output cut: more than {MAX_TEXT_CHARS} characters]"))
    if result is not None and error is None:
        outputs.append({"output_type": "execute_result", "execution_count": None,
                        "metadata": {}, "data": {"text/plain": capped(result)}})
    if error is not None:
        outputs.append({"output_type": "error", "ename": type(error).__name__[:200],
                        "evalue": capped(str(error), MAX_ERROR_CHARS),
                        "traceback": [capped(line, MAX_ERROR_CHARS)
                                      for line in _traceback(error)[-MAX_TRACEBACK_LINES:]]})
    return outputs


MAX_TEXT_CHARS = 100_000  # one output of a judged cell: a test may print a student's long value
MAX_ERROR_CHARS, MAX_TRACEBACK_LINES = 10_000, 100  # an error's message (a student's, often)


def cut_note(text: str) -> dict:
    """An output of its own that says output was cut. Never a line at the end of a stream:
    nbclient joins the streams of a cell, and nbgrader's LimitOutput then keeps their first
    1000 lines, so on a busy machine (where a flood comes in many small messages) the line
    was dropped, and with it the status "output cut". LimitOutput leaves display data alone."""
    return {"output_type": "display_data", "metadata": {}, "data": {"text/plain": text}}


def capped(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text`, cut after `limit` characters with a line saying so."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output cut: more than {limit} characters]\n"


def _split_last_expression(source: str):
    """The cell's code, compiled: all but a last expression statement, and that expression
    (None if the cell does not end with one)."""
    tree = ast.parse(source, "<test cell>")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), "<test cell>", "eval")
    return compile(tree, "<test cell>", "exec"), last


def _traceback(error: Exception) -> list[str]:
    if isinstance(error, (checks.WrongAnswer, StudentError, KernelGone)):
        return [f"{type(error).__name__}: {error}"]
    return traceback.format_exception(error)
