"""The judge's side of the protocol, with the kernel mocked: what it accepts as an answer, and
that no kernel can keep a judged call waiting past its deadline."""

from __future__ import annotations

import json
import time
from queue import Empty

import pytest
import torch

from grader import kernel_side
from grader.grading import judge


def reply_with(text) -> dict:
    return {"parent_header": {"msg_id": "m"}, "content": {"user_expressions": {
        "answer": {"data": {"text/plain": text}}}}}


def test_an_answer_encoded_by_the_kernel_side_is_read_back():
    text = json.dumps({"ok": kernel_side.encode(torch.tensor([1.5, -2.0]))})
    decoded = judge.decode(judge.read_answer(reply_with(text))["ok"])
    assert torch.equal(decoded, torch.tensor([1.5, -2.0]))


def test_the_answer_is_shown_by_ipython_as_its_json():
    assert repr(kernel_side.Answer('{"ok": 1}')) == '{"ok": 1}'


@pytest.mark.parametrize("text", [
    "'{\"ok\": {\"t\": \"none\"}}'",  # a Python literal (what the judge used to eval)
    "[1, 2]",  # JSON, but not an object
    '{"ok": ' + "[" * 5000 + "]" * 5000 + "}",  # deeper than the decoder goes
    '{"ok": ' + "[" * (judge.MAX_DEPTH + 1) + "]" * (judge.MAX_DEPTH + 1) + "}",  # too deep
    "{'ok': 1}",
    "",
    None,
    12,
])
def test_anything_but_one_shallow_json_object_is_unreadable(text):
    with pytest.raises(judge.StudentError, match="could not be read|too large"):
        judge.read_answer(reply_with(text))


def test_an_answer_over_the_cap_is_refused_before_decoding():
    text = '{"ok": "' + "a" * judge.MAX_REPLY_BYTES + '"}'
    with pytest.raises(judge.StudentError, match="too large"):
        judge.read_answer(reply_with(text))


def test_the_kernel_side_refuses_to_send_a_too_large_answer(monkeypatch):
    monkeypatch.setattr(kernel_side, "MAX_ANSWER_BYTES", 1000)
    request = judge._pickle((kernel_side.Ref("f"), (), {}))
    answer = json.loads(repr(kernel_side.call(request, {"f": lambda: torch.zeros(300)})))
    assert answer["error"]["message"] == "the answer is too large to check"


class ChattyClient:
    """A kernel that never answers the call, but sends some other message every 0.2 s."""

    def __init__(self):
        self.interrupts = 0
        self.control_channel = self
        self.session = self

    def get_shell_msg(self, timeout):
        time.sleep(min(0.2, timeout))
        if timeout < 0.2:
            raise Empty
        return {"parent_header": {"msg_id": "someone else's"}}

    def is_alive(self):
        return True

    def msg(self, kind, content):
        return kind

    def send(self, message):
        self.interrupts += 1


def chatty_kernel(timeout: float, deadline: float = float("inf")):
    kernel = judge.RemoteKernel.__new__(judge.RemoteKernel)
    kernel.timeout, kernel.gone, kernel.died, kernel.deadline = timeout, "", False, deadline
    kernel.grace = 0.5
    kernel.client = ChattyClient()
    kernel.killed = False

    def kill():
        kernel.killed = True

    kernel.kill = kill
    return kernel


def test_stray_messages_do_not_restart_a_judged_calls_clock():
    kernel = chatty_kernel(timeout=1.0)
    started = time.monotonic()
    reply, timed_out = kernel._reply("mine")
    elapsed = time.monotonic() - started
    assert (reply, timed_out) == (None, True)
    assert kernel.client.interrupts == 1 and kernel.killed
    assert elapsed < 1.0 + 0.5 + 0.5, elapsed  # its time limit, the grace, one stray message


def test_a_judged_call_never_waits_past_the_notebooks_deadline():
    kernel = chatty_kernel(timeout=30.0, deadline=time.monotonic() + 0.6)
    started = time.monotonic()
    kernel._reply("mine")
    assert time.monotonic() - started < 0.6 + 0.5 + 0.5


def test_a_test_cell_that_does_not_compile_is_the_graders_fault_not_a_failed_check():
    with pytest.raises(SyntaxError):  # not an error output: nbgrader would score it 0
        judge.judge_cell("assert (", chatty_kernel(timeout=1.0))


def test_a_call_the_judge_cannot_send_is_a_grader_fault():
    kernel = chatty_kernel(timeout=1.0)

    def refuse(*args, **kwargs):
        raise OSError("the socket is gone")

    kernel.client.execute = refuse
    with pytest.raises(judge.GraderFault, match="could not send a call: OSError"):
        judge.judge_cell("f(1.0)", kernel)
