"""The one piece of the grader that runs inside the student's kernel, at grading time.

The judge (grader/grading/judge.py) runs each test cell in the grader's own process. When a test
calls a student's function, reads one of the student's values or uses one of the student's objects,
the judge sends the call here: what to call (a name, a handle, an operator, or a test helper to run
next to the student's code) and the arguments. This module makes the call and answers with plain
JSON: values of the built-in kinds, tensors and arrays as numbers, and a handle for any other object
(it stays here; the judge uses it through more calls). Nothing here decides a grade, so a student
who redefines this module, `torch.allclose` or anything else gains nothing: the answer is only data,
and the comparison happens elsewhere.
"""

from __future__ import annotations

import base64
import json
import pickle
import traceback
import types
import warnings
from dataclasses import dataclass

MAX_ELEMENTS = 100_000  # numbers and items in one answer: past it, a part goes as a handle
MAX_NESTING = 8  # containers in containers: deeper ones go as handles
MAX_TEXT = 100_000  # characters of a str (or bytes) sent as a value
MAX_KEYS = 10_000  # items of a set, keys of a dict, sent as values (the judge's limit too)
MAX_ANSWER_BYTES = 4 * 2**20  # an answer's JSON; the judge refuses a longer message

# The student's objects that the judge holds a handle to (their values stay here): a function,
# an instance of the student's class, a generator. Handles live as long as the kernel.
HANDLES: dict[int, object] = {}
# The student's namespace of the call being run (handles and names resolve in it).
NAMESPACE: dict = {}


class Answer:
    """The JSON answer, shown by IPython exactly as it is (its repr is the JSON), so the judge
    reads it with a JSON decoder and nothing else."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Ref:
    """A name in the student's namespace, like `tangent_line` or `Cube.apply`."""

    path: str

    def resolve(self, namespace: dict):
        head, *rest = self.path.split(".")
        if head not in namespace:
            raise NameError(f"name '{head}' is not defined: run the cell that defines it")
        value = namespace[head]
        for attribute in rest:
            value = getattr(value, attribute)
        return value


@dataclass(frozen=True)
class Handle:
    """One of the student's objects that the judge holds (see HANDLES)."""

    number: int

    def resolve(self, namespace: dict):
        return HANDLES[self.number]


class _Unpickler(pickle.Unpickler):
    """Unpickles the judge's request; a handle or name in it becomes the student's object."""

    def persistent_load(self, pid):
        if not isinstance(pid, (Ref, Handle)):
            raise pickle.UnpicklingError("unknown reference")
        return pid.resolve(NAMESPACE)


def call(request: str, namespace: dict) -> Answer:
    """Run one call the judge asked for; always answer with JSON, whatever happens."""
    import io

    global NAMESPACE
    NAMESPACE = namespace
    caught: list = []
    try:
        import cloudpickle  # noqa: F401  (cloudpickle's functions are unpickled through it)

        target, args, kwargs = _Unpickler(io.BytesIO(base64.b64decode(request))).load()
        fn, *args = [_seeing_the_students_names(a, namespace) if _from_a_test(a) else a
                     for a in (target, *args)]
        fn = fn.resolve(namespace) if isinstance(fn, (Ref, Handle)) else fn
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn(*args, **kwargs)
        answer = {"ok": encode(result)}
    except BaseException as error:  # SystemExit and KeyboardInterrupt are answers too
        answer = {"error": _describe(error)}
    answer["warnings"] = [str(w.message)[:500] for w in caught[:5]]
    text = json.dumps(answer)
    if len(text) > MAX_ANSWER_BYTES:
        text = json.dumps({"error": {"type": "ValueError", "function": "", "builtin": "ValueError",
                                     "message": "the answer is too large to check"}})
    return Answer(text)


# What the judge asks of the student's namespace and objects (each one call).

def lookup(name: str):
    """The value of one of the student's names."""
    if name not in NAMESPACE:
        raise NameError(f"name '{name}' is not defined")
    return NAMESPACE[name]


def assign(name: str, value) -> None:
    """A test gives one of the student's names a value (a test restoring a function, say)."""
    NAMESPACE[name] = value


def delete(name: str) -> None:
    """A test deletes one of the student's names (to check that a function uses another)."""
    del NAMESPACE[name]


def global_names() -> list:
    """The names the student's namespace defines."""
    return [name for name in NAMESPACE if isinstance(name, str)][:100_000]


def next_item(iterator) -> tuple:
    """(True, the next item) or (False, None) at the end."""
    try:
        return True, next(iterator)
    except StopIteration:
        return False, None


def parameter_names(fn) -> tuple:
    """The names of a student's function's parameters, for the judge's messages."""
    import inspect

    return tuple(inspect.signature(fn).parameters)


def _from_a_test(value) -> bool:
    """A function a test cell defined (a lambda passed to a student's function, a helper that
    runs beside the student's code): it sees the student's names."""
    return isinstance(value, types.FunctionType) and value.__module__ == "__grade_cell__"


def _seeing_the_students_names(helper, namespace: dict):
    """A test helper that sees the student's names, as if it were defined in the notebook."""
    names = dict(namespace)
    names.update(helper.__globals__)
    return types.FunctionType(helper.__code__, names, helper.__name__, helper.__defaults__,
                              helper.__closure__)


def encode(value, depth: int = 0, budget: list | None = None) -> dict:
    """An answer as data the judge can check without trusting any object of the student's.

    Values of the built-in kinds (exactly those types: a subclass could be anything) go as
    values: None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict, and
    tensors and NumPy arrays as dtype, shape and numbers. Anything else (a function, an object
    of the student's class, a module, something too big) goes as a handle the judge can call.
    """
    budget = [MAX_ELEMENTS] if budget is None else budget
    kind = type(value)
    if value is None:
        return {"t": "none"}
    if kind in (bool, float):
        return {"t": kind.__name__, "v": value}
    if kind is int and -10**4000 < value < 10**4000:
        return {"t": "int", "v": value}
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    if kind is str and len(value) <= MAX_TEXT:
        return {"t": "str", "v": value}
    if kind is bytes and len(value) <= MAX_TEXT:
        return {"t": "bytes", "v": base64.b64encode(value).decode()}
    array = _array(value, budget)
    if array is not None:
        return array
    if kind is types.ModuleType:
        return {**_handle(value), "t": "module", "name": str(value.__name__)[:200]}
    if kind in (set, frozenset) and len(value) > MAX_KEYS:
        return _handle(value)
    if kind in (list, tuple, set, frozenset) and depth < MAX_NESTING and len(value) <= budget[0]:
        budget[0] -= len(value)
        return {"t": kind.__name__, "items": [encode(v, depth + 1, budget) for v in value]}
    if kind is dict and depth < MAX_NESTING and len(value) <= min(budget[0], MAX_KEYS) and \
            all(type(k) in (str, int, float, bool, type(None)) for k in value):
        budget[0] -= len(value)
        return {"t": "dict", "items": [[encode(k), encode(v, depth + 1, budget)]
                                       for k, v in value.items()]}
    return _handle(value)


def _array(value, budget: list) -> dict | None:
    """A tensor or a NumPy array (or scalar) of numbers, as values; None for anything else."""
    import sys

    torch, numpy = sys.modules.get("torch"), sys.modules.get("numpy")
    if torch is not None and isinstance(value, torch.Tensor):
        plain = torch.Tensor.detach(value)
        if plain.is_complex() or plain.numel() > budget[0] or plain.layout != torch.strided:
            return None
        budget[0] -= plain.numel()
        return {"t": "tensor", "dtype": str(plain.dtype).removeprefix("torch."),
                "shape": list(plain.shape), "v": _numbers(plain.flatten().tolist()),
                "requires_grad": bool(value.requires_grad)}
    if numpy is not None and type(value) is numpy.ndarray and value.dtype.kind in "biuf" and \
            value.size <= budget[0]:
        budget[0] -= value.size
        return {"t": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                "v": _numbers(value.ravel().tolist())}
    if numpy is not None and isinstance(value, numpy.generic) and value.dtype.kind in "biuf":
        return {"t": "npscalar", "dtype": value.dtype.str, "v": _numbers([value.item()])[0]}
    return None


def _numbers(values: list) -> list:
    return [v if type(v) in (int, float, bool) else float(v) for v in values]


def _handle(value) -> dict:
    number = len(HANDLES) + 1
    HANDLES[number] = value
    try:
        name = type(value).__name__
    except Exception:
        name = "object"
    return {"t": "handle", "h": number, "type": str(name)[:80]}


def _describe(error: BaseException) -> dict:
    frames = traceback.extract_tb(error.__traceback__)
    builtin = next(c.__name__ for c in type(error).__mro__ if c.__module__ == "builtins")
    return {"type": type(error).__name__[:80], "message": str(error)[:2000], "builtin": builtin,
            "function": frames[-1].name if frames else "",
            "not_implemented": isinstance(error, NotImplementedError)}
