"""`make lab` serves the student labs: start it for real on 127.0.0.1, ask the server which
notebooks it has, then stop it."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from grader import course

pytestmark = pytest.mark.slow

TOKEN = "make-lab-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_make_lab_serves_every_student_lab():
    port = free_port()
    # The server stops by itself after two idle minutes, should this test die before stopping it.
    args = (f"--no-browser --IdentityProvider.token={TOKEN} "
            "--ServerApp.shutdown_no_activity_timeout=120")
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_ARGS={args}"],
        cwd=course.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}/api/contents"
        deadline = time.monotonic() + 90
        while True:
            try:
                top = get_json(f"{base}?token={TOKEN}")
                break
            except OSError:
                assert server.poll() is None, f"make lab exited: {server.stderr.read()}"
                assert time.monotonic() < deadline, "make lab did not answer within 90 s"
                time.sleep(0.5)
        served = set()
        for folder in top["content"]:
            if folder["type"] == "directory":
                listing = get_json(f"{base}/{folder['name']}?token={TOKEN}")
                served |= {f"{folder['name']}/{c['name']}" for c in listing["content"]}
        expected = {f"{lab.name}/{lab.student.name}" for lab in course.labs()}
        assert expected <= served

        # a student's first screen is the first lab: no news pop-up, no update check
        origin = f"http://127.0.0.1:{port}"
        assert get_json(f"{origin}/lab/api/update?token={TOKEN}")["notification"] is None
        with urllib.request.urlopen(f"{origin}/?token={TOKEN}", timeout=5) as response:
            first = course.course_labs()[0]
            path = urllib.parse.urlsplit(response.url).path
            assert path == f"/lab/tree/{first.name}/{first.student.name}"
        with urllib.request.urlopen(f"{origin}/lab?token={TOKEN}", timeout=5) as response:
            page = response.read().decode()
        data = page.split('id="jupyter-config-data" type="application/json">', 1)[1]
        config = json.loads(data.split("</script>")[0])
        assert config["news"] == {"disabled": True}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
