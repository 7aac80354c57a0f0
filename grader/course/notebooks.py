"""Notebooks as code: run them, and keep them diff-friendly.

A notebook saved from JupyterLab carries metadata that changes from one save to the next (Python's
patch version, execution timings, collapsed and scrolled flags). `normalize` keeps only what the
course needs, so that a commit shows the change a person made and nothing else:

- notebook metadata: the kernelspec and the language's name;
- cell metadata: nbgrader's and the tags;
- outputs: only where nbval compares them. A cell tagged `nbval-ignore-output` (a plot, say)
  keeps none, since nbval would not look at them;
- execution counts: 1, 2, 3... in order, as a top-to-bottom run gives;
- consecutive outputs to one stream as one output;
- no trace of the machine that ran it: memory addresses become 0xADDRESS, ipykernel's file
  for a cell /tmp/ipykernel/cell.py (nbval's sanitizer, tests/nbval-sanitize.cfg, reads both
  the same way), and the Python environment's paths in a traceback <env>/....
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
KEPT_CELL_METADATA = ("nbgrader", "tags", "deletable", "editable")
IGNORE_OUTPUT = "nbval-ignore-output"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 120,
            allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run every cell in order in a fresh kernel; only cells tagged raises-exception may fail,
    unless errors are allowed."""
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with only what the course keeps (see the module docstring)."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    seen: set[str] = set()
    count = 0
    for index, cell in enumerate(nb.cells):
        cell.id = _stable_id(cell, index, seen)
        cell.metadata = {k: cell.metadata[k] for k in KEPT_CELL_METADATA if k in cell.metadata}
        if "tags" in cell.metadata:
            cell.metadata["tags"] = sorted(set(cell.metadata["tags"]))
        if "attachments" in cell and not cell.attachments:
            del cell["attachments"]
        if cell.cell_type != "code":
            continue
        count += 1
        if IGNORE_OUTPUT in cell.metadata.get("tags", ()):
            cell.outputs = []
        cell.outputs = _coalesced(cell.outputs)
        ran = bool(cell.outputs) or cell.execution_count is not None
        cell.execution_count = count if ran else None
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = cell.execution_count
            _scrub_output(output)
    return nb


MACHINE_TRACES = [
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0xADDRESS"),
    (re.compile(r"/tmp/ipykernel_[0-9]+/[0-9]+\.py"), "/tmp/ipykernel/cell.py"),
]
ENVIRONMENT = re.compile("|".join(re.escape(p.rstrip("/") + "/") for p in sorted(
    {sys.prefix, sys.base_prefix, sys.exec_prefix}, key=len, reverse=True)))


def _coalesced(outputs: list) -> list:
    """Consecutive outputs to the same stream as one, however the kernel happened to split them
    into messages (as nbval compares them)."""
    merged: list = []
    for output in outputs:
        if output.output_type == "stream" and merged and \
                merged[-1].output_type == "stream" and merged[-1].name == output.name:
            merged[-1].text += output.text
        else:
            merged.append(output)
    return merged


def _scrub(text: str, traceback: bool = False) -> str:
    for pattern, replacement in MACHINE_TRACES:
        text = pattern.sub(replacement, text)
    return ENVIRONMENT.sub("<env>/", text) if traceback else text


def _scrub_output(output) -> None:
    """What an output says of the machine that ran it, replaced (see the module docstring)."""
    if "text" in output:
        output.text = _scrub(output.text)
    if "text/plain" in output.get("data", {}):
        output.data["text/plain"] = _scrub(output.data["text/plain"])
    if "traceback" in output:
        output.traceback = [_scrub(line, traceback=True) for line in output.traceback]


def _stable_id(cell, index: int, seen: set[str]) -> str:
    """Keep a cell's id; give a cell without one an id from its grade_id or its content."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    cell_id = cell.get("id") or grade_id or \
        "c-" + hashlib.sha1(f"{index}:{cell.source}".encode()).hexdigest()[:8]
    while cell_id in seen:
        cell_id += "-2"
    seen.add(cell_id)
    return cell_id


def is_normalized(path: Path) -> bool:
    nb = read(path)
    return nbformat.writes(normalize(read(path))) == nbformat.writes(nb)
