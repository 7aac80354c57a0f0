"""Every byte a submission can make long is capped before it reaches the graded notebook, the
feedback or the terminal: a judged cell's outputs, display updates, the whole notebook, the
report's lines, and a timestamp.txt that is no date. Fast: no kernel runs here."""

from __future__ import annotations

import json
import os
import shutil

import nbformat
import pytest

from grader import course, grading
from grader.grading import autograde, judge
from tests.test_stock_semantics import judged

LAB = course.labs()[0]


def test_a_judged_cell_prints_and_shows_at_most_so_much():
    student = "def length():\n    return 1_000_000\n"
    printed, note = judged("print('x' * length())", student)
    shown, = judged("'x' * length()", student)
    assert len(printed["text"]) == judge.MAX_TEXT_CHARS
    assert "[output cut" in note["data"]["text/plain"]
    assert len(shown["data"]["text/plain"]) < judge.MAX_TEXT_CHARS + 100


def test_a_students_long_error_message_is_cut_and_stays_an_error():
    student = "def fails():\n    raise ValueError('y' * 5_000_000)\n"
    error, = judged("fails()", student)
    assert error["output_type"] == "error" and error["ename"] == "ValueError"
    assert len(error["evalue"]) < judge.MAX_ERROR_CHARS + 100
    assert sum(map(len, error["traceback"])) < judge.MAX_ERROR_CHARS * 3


def test_an_update_shown_in_many_outputs_counts_once_for_each():
    """40 outputs sharing a display id, then one 5 MB update: once 200 MB in the notebook."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "."})
                           for _ in range(40)]
    client = autograde.JudgingClient(nb)
    client._display_id_map = {"d": {0: list(range(40))}}
    client._chars = 0
    update = {"header": {"msg_type": "update_display_data"}, "msg_type": "update_display_data",
              "content": {"data": {"text/plain": "z" * 5_000_000}, "metadata": {},
                          "transient": {"display_id": "d"}}}
    client._update_display_id("d", update)
    assert len(json.dumps(nb)) < 10_000
    assert "[output cut" in nb.cells[0].outputs[0]["data"]["text/plain"]


def test_a_graded_notebook_is_cut_to_its_limit_and_keeps_its_errors():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("") for _ in range(3)])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="a" * 60_000)]
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="AssertionError",
                                                  evalue="b" * 50_000, traceback=["c" * 50_000])]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="small")]
    assert autograde.fit(nb, 20_000)
    assert len(json.dumps([c.outputs for c in nb.cells])) <= 20_000
    assert nb.cells[1].outputs[0]["output_type"] == "error"  # nbgrader scores by it
    assert nb.cells[2].outputs[0]["text"] == "small"  # the smallest kept
    assert not autograde.fit(nb, 20_000)  # nothing more to cut


@pytest.mark.parametrize(("name", "escaped"), [
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
    ("ok\n  alice/01_derivatives: 7/7: ok", "ok\\n  alice/01_derivatives: 7/7: ok"),
    ("\u202egnp.exe", "\\u202egnp.exe"),
    ("Zoë Ngũgĩ", "Zoë Ngũgĩ"),
])
def test_a_students_string_is_one_printable_line_in_the_report(tmp_path, name, escaped):
    assert grading.report.shown(name) == escaped
    outcome = grading.outcomes.Outcome(name, LAB.name, 0.0, 7.0, f"extra files ignored: {name}",
                                       "d", LAB.student.name)
    report = grading.report.report([outcome], root=tmp_path)
    line, = (line for line in report.splitlines() if "extra files" in line)
    assert escaped in line and all(ch.isprintable() for ch in line)


@pytest.mark.parametrize(("content", "problem"), [
    ("2026-12-01 10:00:00 UTC", None),
    ("not a date", "timestamp.txt is not a date: it is ignored"),
    ("x" * 1000, "timestamp.txt is not a short file: it is ignored"),
    (None, "links ignored: timestamp.txt"),
])
def test_a_timestamp_that_is_no_date_is_a_status(tmp_path, content, problem):
    folder = tmp_path / "alice" / LAB.name
    folder.mkdir(parents=True)
    shutil.copy(LAB.solution, folder / LAB.student.name)
    if content is None:
        os.symlink("/etc/hostname", folder / "timestamp.txt")
    else:
        (folder / "timestamp.txt").write_text(content)
    staged = grading.submissions.stage(folder, LAB)
    assert [p for p in staged.problems if "timestamp" in p] == ([problem] if problem else [])
    timestamp, _ = grading.submissions.read_timestamp(folder)
    assert timestamp == (content if problem is None else None)


def test_an_error_in_a_students_cell_is_kept_with_its_message_cut():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    client = autograde.JudgingClient(nb)
    client._chars, client.clear_before_next_output = 0, False
    outs = []
    message = {"msg_type": "error", "header": {"msg_type": "error"}, "parent_header": {},
               "metadata": {},
               "content": {"ename": "ValueError", "evalue": "v" * 5_000_000,
                           "traceback": ["t" * 5_000_000] * 500}}
    client.output(outs, message, None, 0)
    error, = outs
    assert error["output_type"] == "error" and error["ename"] == "ValueError"
    assert len(json.dumps(error)) < 2 * judge.MAX_ERROR_CHARS * (judge.MAX_TRACEBACK_LINES + 2)
    assert len(error["traceback"]) == judge.MAX_TRACEBACK_LINES


def test_a_flood_in_many_small_messages_still_says_it_was_cut(tmp_path):
    """On a busy machine a flood comes in many small messages: nbclient joined them with the
    "[output cut]" line into one stream, and nbgrader's LimitOutput kept its first 1000 lines,
    so the status "output cut" was lost (test_class failed under load). Forced here: small
    flushed prints first, then the flood."""
    from nbgrader.preprocessors import LimitOutput

    source = ("import sys, time\nfor i in range(1500):\n    print(i, flush=True)\n"
              f"time.sleep(0.5)\nprint('x' * {2 * autograde.MAX_OUTPUT_CHARS})")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, id="flood")])
    client = autograde.JudgingClient(nb, kernel_name="python3", timeout=60, allow_errors=True,
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:  # the judge's connection, as JudgedExecute._release closes it (left open, its
        if client.remote is not None:  # ZeroMQ context hung the next test when collected)
            client.remote.close()
    streams = [o for o in nb.cells[0].outputs if o["output_type"] == "stream"]
    assert streams and "1499" in "".join(o["text"] for o in streams)  # the small ones were kept
    nb, _ = LimitOutput().preprocess(nb, {})
    assert grading.gradebook.events_of(nb) == ["output cut (cell flood)"]
