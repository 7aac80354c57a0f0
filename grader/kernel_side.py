"""The one piece of the grader that runs inside the student's kernel, at grading time.

The judge (grader/judge.py) runs each test cell in the grader's own process. When a test calls a
student's function, the judge sends the call here: the function's name (or a test helper to run
next to the student's code) and the arguments. This module makes the call and answers with
plain JSON: numbers, shapes, dtypes, type names, error messages. Nothing here decides a grade,
so a student who redefines this module, `torch.allclose` or anything else gains nothing: the
answer is only data, and the comparison happens elsewhere.
"""

from __future__ import annotations

import base64
import json
import traceback
import warnings
from dataclasses import dataclass

MAX_ELEMENTS = 100_000  # a larger answer is reported by its type, not its values
MAX_ITEMS = 16  # items of a tuple or list answer
MAX_ANSWER_BYTES = 4 * 2**20  # an answer's JSON; the judge refuses a longer message


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


def call(request: str, namespace: dict) -> Answer:
    """Run one call the judge asked for; always answer with JSON, whatever happens."""
    import cloudpickle

    caught: list = []
    try:
        target, args = cloudpickle.loads(base64.b64decode(request))
        fn = target.resolve(namespace) if isinstance(target, Ref) else _beside(target, namespace)
        args = [_resolve(a, namespace) for a in args]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn(*args)
        answer = {"ok": encode(result)}
    except BaseException as error:  # SystemExit and KeyboardInterrupt are answers too
        answer = {"error": _describe(error)}
    answer["warnings"] = [str(w.message)[:500] for w in caught[:5]]
    text = json.dumps(answer)
    if len(text) > MAX_ANSWER_BYTES:
        text = json.dumps({"error": {"type": "ValueError", "function": "",
                                     "message": "the answer is too large to check"}})
    return Answer(text)


def parameter_names(fn) -> tuple:
    """The names of a student's function's parameters, for the judge's messages."""
    import inspect

    return tuple(inspect.signature(fn).parameters)


def _beside(helper, namespace: dict):
    """A test helper that sees the student's names, as if it were defined in the notebook."""
    import types

    names = dict(namespace)
    names.update(helper.__globals__)
    return types.FunctionType(helper.__code__, names, helper.__name__, helper.__defaults__,
                              helper.__closure__)


def _resolve(arg, namespace):
    if isinstance(arg, Ref):
        return arg.resolve(namespace)
    if isinstance(arg, tuple):
        return tuple(_resolve(a, namespace) for a in arg)
    return arg


def encode(value, depth: int = 0) -> dict:
    """An answer as data the judge can check without trusting any object of the student's."""
    import torch

    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "other", "type": "bool", "repr": repr(bool(value))}
    if isinstance(value, (int, float)):
        return {"t": "number", "v": float(value)}
    if isinstance(value, torch.Tensor) and value.numel() <= MAX_ELEMENTS:
        plain = torch.Tensor.detach(value)
        values = plain.to(torch.float64).flatten().tolist() if not plain.is_complex() else []
        return {"t": "tensor", "dtype": str(plain.dtype).removeprefix("torch."),
                "shape": list(plain.shape), "v": values}
    if isinstance(value, (tuple, list)) and depth < 3:
        return {"t": "seq", "items": [encode(v, depth + 1) for v in value[:MAX_ITEMS]]}
    return {"t": "other", "type": type(value).__name__[:80], "repr": repr(value)[:200]}


def _describe(error: BaseException) -> dict:
    frames = traceback.extract_tb(error.__traceback__)
    return {"type": type(error).__name__[:80], "message": str(error)[:2000],
            "function": frames[-1].name if frames else "",
            "not_implemented": isinstance(error, NotImplementedError)}
