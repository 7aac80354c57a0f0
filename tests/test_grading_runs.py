"""Grading runs lose nothing: a run killed with kill -9 resumes and keeps every saved grade, a
second run changes nothing, manual scores survive a regrade; feedback, collect and the
formgrader's API work on the same gradebook."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader import course, grading
from grader.course import notebooks

pytestmark = pytest.mark.slow

LAB = course.labs()[0]
STUDENTS = {"ada": "solution", "bob": "student", "cy": "solution", "dee": "student"}


def make_course(root: Path) -> None:
    for name in ("solutions", "notebooks"):  # Lab 1 only: no other lab's cells to record
        shutil.copytree(course.ROOT / name / LAB.name, root / name / LAB.name)
    shutil.copy(course.ROOT / "nbgrader_config.py", root)
    for student, kind in STUDENTS.items():
        folder = root / "submitted" / student / LAB.name
        folder.mkdir(parents=True)
        shutil.copy(getattr(LAB, kind), folder / LAB.student.name)


def grades(root: Path) -> dict[str, float]:
    with (root / "grades.csv").open() as file:
        return {r["student_id"]: float(r["score"]) for r in csv.DictReader(file)
                if r["assignment"] == LAB.name}


GRADE = [sys.executable, "-c", "import sys; from pathlib import Path; from grader import grading; "
         "grading.grade.grade_class(Path(sys.argv[1]), sandbox=False, progress=False)"]


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """A class graded by a process killed with SIGKILL after its first saved grade, then
    graded again to the end."""
    root = tmp_path_factory.mktemp("course")
    make_course(root)
    ledger = root / "build" / "graded.jsonl"
    run = subprocess.Popen([*GRADE, str(root)], start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (ledger.exists() and ledger.read_text().count("\n") >= 1):
        assert run.poll() is None and time.monotonic() < deadline, "grading did not start"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    saved_before = ledger.read_text().splitlines()
    assert 1 <= len(saved_before) < len(STUDENTS), "the kill should land half way"
    started = time.monotonic()
    outcomes = grading.grade.grade_class(root, sandbox=False, progress=False)
    return root, saved_before, outcomes, time.monotonic() - started


def test_a_killed_run_resumes_keeps_what_was_saved_and_finishes(killed_and_resumed):
    root, saved_before, outcomes, _ = killed_and_resumed
    assert root.joinpath("build", "graded.jsonl").read_text().splitlines()[:len(saved_before)] \
        == saved_before
    assert {o.student: o.score for o in outcomes} == {"ada": 7.0, "bob": 0.0, "cy": 7.0,
                                                      "dee": 0.0}
    assert grades(root) == {"ada": 7.0, "bob": 0.0, "cy": 7.0, "dee": 0.0}
    with sqlite3.connect(root / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_grading_again_changes_nothing_and_grades_nothing_again(killed_and_resumed):
    root, _, _, _ = killed_and_resumed
    before = (root / "grades.csv").read_text()
    lines = (root / "build" / "graded.jsonl").read_text()
    again = grading.grade.grade_class(root, sandbox=False, progress=False)
    assert (root / "grades.csv").read_text() == before
    assert (root / "build" / "graded.jsonl").read_text() == lines  # nothing was regraded
    assert {o.student: o.score for o in again} == grades(root)


def test_a_manual_score_survives_a_forced_regrade(killed_and_resumed):
    from nbgrader.api import Gradebook

    root, _, _, _ = killed_and_resumed
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(db_url) as gb:  # what the formgrader does when an instructor overrides
        grade = gb.find_grade("ex1-test", LAB.solution.stem, LAB.name, "bob")
        grade.manual_score = 1.5
        gb.db.commit()
    grading.grade.grade_class(root, sandbox=False, progress=False, force=True)
    with Gradebook(db_url) as gb:
        assert gb.find_grade("ex1-test", LAB.solution.stem, LAB.name, "bob").manual_score == 1.5
        assert gb.find_submission(LAB.name, "bob").score == 1.5
    assert grades(root)["bob"] == 1.5


def test_the_formgraders_api_sees_the_graded_submissions(killed_and_resumed):
    from nbgrader.apps import NbGraderAPI

    root, _, _, _ = killed_and_resumed
    api = NbGraderAPI(config=grading.configuration.config(root, sandbox=False))
    submissions = {s["student"]: s for s in api.get_submissions(LAB.name)}
    assert set(submissions) == set(STUDENTS)
    assert all(s["autograded"] for s in submissions.values())


def test_the_plot_a_slider_draws_is_kept_in_its_cell(killed_and_resumed):
    """The grader mirrors no widget (autograde.JudgingClient): the figure that `interact` draws
    is an output of the slider's own cell in the graded notebook, where feedback shows it."""
    root, _, _, _ = killed_and_resumed
    for student in STUDENTS:
        graded = notebooks.read(root / "autograded" / student / LAB.name / LAB.student.name)
        slider = [c for c in graded.cells if "figures.interact(" in c.source]
        assert len(slider) == 1
        assert any("image/png" in o.get("data", {}) for o in slider[0].outputs), student


def test_feedback_is_written_for_every_student_with_the_failing_checks(killed_and_resumed):
    root, _, _, _ = killed_and_resumed
    paths = grading.gradebook.feedback(root)
    assert {p.parts[-3] for p in paths} == set(STUDENTS)
    html = (root / "feedback" / "dee" / LAB.name / f"{LAB.student.stem}.html").read_text()
    assert "is not written yet" in html


@pytest.mark.browser
@pytest.mark.parametrize("student", ["ada", "dee"])
def test_feedback_page_meets_wcag(killed_and_resumed, student):
    """A feedback page, full marks (ada) and failing checks (dee), opened from a file in
    Chromium: axe-core finds no violation of WCAG 2.1 AA, headings start with an H1 and go in
    order, every figure has its text alternative, and nothing is fetched from a CDN (formulas are
    MathML: offline, a student still reads them)."""
    from playwright.sync_api import sync_playwright

    from tests import a11y
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    root, _, _, _ = killed_and_resumed
    page_file = root / "feedback" / student / LAB.name / f"{LAB.student.stem}.html"
    if not page_file.exists():
        grading.gradebook.feedback(root)
    html = page_file.read_text()
    assert '<html lang="en">' in html
    assert "<math" in html and "mathjax" not in html.lower()
    requested = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.goto(page_file.as_uri())
        findings = a11y.audit(page, structure=True) + a11y.unnamed(page)
        headings = page.eval_on_selector_all("h1, h2, h3, h4, h5, h6",
                                             "hs => hs.map(h => h.tagName)")
        browser.close()
    assert not findings, "\n".join(str(f) for f in findings)
    assert headings[0] == "H1", headings
    assert all(url.startswith(("file:", "data:")) for url in requested), requested


def test_collect_fills_submitted_from_an_lms_zip_and_ignores_hostile_names(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    make_course(root)
    shutil.rmtree(root / "submitted")
    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.write(LAB.solution, f"eve__{LAB.name}__{LAB.student.name}")
        archive.write(LAB.student, f"fay__{LAB.name}__{LAB.student.name}")
        archive.write(LAB.student, f"..__{LAB.name}__{LAB.student.name}")
        archive.writestr("readme.txt", "not a submission")
    lines = grading.submissions.collect(download, root)
    assert f"{LAB.name}: 2 submissions in submitted/" in lines
    got = notebooks.read(root / "submitted" / "eve" / LAB.name / LAB.student.name)
    assert got.cells == notebooks.read(LAB.solution).cells
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["eve", "fay"]
    assert not (root / LAB.name).exists()
