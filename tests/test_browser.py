"""The labs as students and instructors meet them: in JupyterLab, in a real browser.

JupyterLab serves a copy of the course on 127.0.0.1 (running a notebook changes it, and JupyterLab
saves it), and headless Chromium, driven by Playwright, opens every lab, runs all its cells from
the Run menu and checks what it got:

- a solution runs without an error, but in the cells tagged raises-exception;
- a student lab fails only in the practice: the `NotImplementedError` stubs, the cells that call
  them, and the checks that need them (JupyterLab stops at an error, so the test runs on from
  the next cell, as a student would);
- every plot cell shows its figure, and an interactive cell shows a live widget that redraws its
  figure when the widget is moved;
- nbgrader's Validate button is in the notebook's toolbar, and on a solution it reports success;
- every solution meets WCAG 2.1 AA as axe-core finds it (tests/a11y.py): its notebook panel live
  in JupyterLab after running all cells, and the notebook as JupyterLab saved it, exported by the
  course's page exporter (grader/course/pages.py). The course's content fails the test;
  JupyterLab's own controls are reported, with their upstream issues, in
  artifacts/accessibility/<lab>.txt.

Lab 1, as a student and as a solution, also runs in the Notebook 7 interface (/notebooks/<path>,
on the same server), where its check cells must show the same: their pass messages in the
solution, and in the student lab their WrongAnswer with a traceback of the student's cell only.

Two browsers work side by side, taking the labs from one queue, to keep the test short. A
screenshot of each lab goes to artifacts/screenshots/<lab>-<kind>.png (and
<lab>-<kind>-notebook7.png).
Chromium comes from Debian (`apt-get install chromium`), Playwright from PyPI; `make test`
installs both, and this test fails, rather than skips, where either is missing.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import course
from grader.course import notebooks
from grader.course.pages import CoursePage
from tests import a11y
from tests.conftest import LABS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
# Headless, as root in a container, on a machine that reaches no network but 127.0.0.1.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
TOKEN = "browser-test-token"
SCREENSHOTS = course.ROOT / "artifacts" / "screenshots"
ACCESSIBILITY = course.ROOT / "artifacts" / "accessibility"
KINDS = ("solution", "student")
BROWSERS = 2  # side by side, one per core

# JupyterLab's settings for the test: no news feed and no update check (no network here),
# closing a notebook shuts its kernel down, and every cell is laid out (JupyterLab skips those out
# of view, which a screen reader, and axe-core, would then miss).
SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"kernelShutdown": True, "windowingMode": "none"},
}
# JupyterLab's own controls that axe-core finds wanting, inside a notebook panel, with the
# upstream issue that tracks each: reported, not failed (the course cannot fix them).
JUPYTERLAB_ISSUES = {
    "aria-input-field-name": "https://github.com/jupyterlab/jupyterlab/issues/10347 "
                             "(a cell's editor has no accessible name)",
    "aria-allowed-attr": "https://github.com/jupyterlab/jupyterlab/issues/16891 "
                         "(aria-pressed on toolbar buttons)",
    "button-name": "https://github.com/jupyterlab/jupyterlab/issues/16890 "
                   "(the collapse-heading button has no name)",
    "aria-required-children": "https://github.com/jupyterlab/jupyterlab/issues/16891 "
                              "(the cell list's role=feed)",
}

NOTEBOOK = "#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)"
NOTEBOOK7 = "#main-panel .jp-NotebookPanel"  # the Notebook 7 interface: one notebook a page
CODE_CELLS = f"{NOTEBOOK} .jp-Notebook .jp-CodeCell"
STDERR = "[data-mime-type='application/vnd.jupyter.stderr']"  # errors, and stderr
VALIDATION_SUCCESS = "Success! Your notebook passes all the tests."


def missing_tools() -> str:
    """What the browser test needs and does not find, as a message; empty if nothing."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install it into .venv at the version "
                       "pyproject.toml pins)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    return ("the browser test needs " + " and ".join(missing) + "; `make test` installs both"
            if missing else "")


def test_playwright_and_chromium_are_installed():
    if message := missing_tools():
        pytest.fail(message, pytrace=False)


# ---------------------------------------------------------------------------------------------
# JupyterLab, and a page of it in Chromium


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """JupyterLab on 127.0.0.1 serving a copy of the course, for as long as the `with` lasts."""

    def __init__(self, tmp: Path):
        self.tmp, self.root = tmp, tmp / "course"
        for folder in ("solutions", "notebooks"):
            shutil.copytree(course.ROOT / folder, self.root / folder,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        # nbgrader's Validate reads its configuration from the server's working directory.
        shutil.copy(course.ROOT / "nbgrader_config.py", self.root)
        for plugin, values in SETTINGS.items():
            path = tmp / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.base = f"http://127.0.0.1:{free_port()}"

    def __enter__(self) -> JupyterLab:
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(self.tmp / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "workspaces"))
        # The server stops by itself after two idle minutes, should this test die first.
        args = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.base.rsplit(':', 1)[1]}",
                f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.root}",
                "--ServerApp.shutdown_no_activity_timeout=120"]
        if os.getuid() == 0:
            args.append("--allow-root")  # Jupyter refuses root (containers often are) otherwise
        self.log = self.tmp / "jupyterlab.log"
        with self.log.open("w") as log:
            self.server = subprocess.Popen(args, cwd=self.root, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_until_up(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={TOKEN}", timeout=5)
                return
            except OSError:
                assert self.server.poll() is None, \
                    f"JupyterLab exited:\n{self.log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"JupyterLab did not answer in {timeout} s"
                time.sleep(0.3)

    def __exit__(self, *exc) -> None:
        os.killpg(self.server.pid, signal.SIGTERM)
        self.server.wait(timeout=30)


def menu(page, title: str, command: str, submenu: str = "") -> None:
    """Choose a command from the menu bar, as a person would. A dialog left open (JupyterLab's
    "Select Kernel" after a kernel died, once) fails at once, saying what it asks, instead of
    a click that waits 60 s under it."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        try:
            dialog.first.wait_for(state="hidden", timeout=3000)  # one closing goes in a moment
        except Exception:
            raise AssertionError(f"a dialog is open: {dialog.first.inner_text()[:300]!r}") \
                from None
    page.click(f"#jp-MainMenu .lm-MenuBar-itemLabel:text-is('{title}')")
    if submenu:
        page.hover(f".lm-Menu-item:visible .lm-Menu-itemLabel:text-is('{submenu}')")
    page.click(f".lm-Menu-item[data-command='{command}']:visible")


def open_notebook(page, path: str, cells: int) -> None:
    """File > Open from Path, then wait for every cell and for the kernel."""
    menu(page, "File", "filebrowser:open-path")
    entry = page.locator(".jp-Dialog input")
    entry.fill(path)
    entry.press("Enter")
    page.wait_for_function(
        f"document.querySelectorAll(\"{NOTEBOOK} .jp-Notebook .jp-Cell\").length === {cells}")
    page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           state="attached")
    if page.locator("#jp-left-stack").is_visible():  # opening a file shows the file browser
        menu(page, "View", "application:toggle-left-area", submenu="Appearance")


def close_notebook(page) -> None:
    """Close the notebook's tab; that shuts its kernel down (the kernelShutdown setting)."""
    if page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").count():
        save(page)
    menu(page, "File", "application:close")
    page.wait_for_selector(NOTEBOOK, state="detached")


def save(page) -> None:
    menu(page, "File", "docmanager:save")
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)", state="attached")


def prompts(page, notebook: str = NOTEBOOK) -> list[str]:
    # textContent, not innerText: JupyterLab does not render the cells out of view.
    return [p.strip() for p in
            page.locator(f"{notebook} .jp-Notebook .jp-CodeCell .jp-InputPrompt")
            .all_text_contents()]


def wait_until_run(page, timeout: float = 120, notebook: str = NOTEBOOK) -> None:
    """Until no cell is queued or running and the kernel has stayed idle for a moment."""
    deadline, idle_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        status = page.get_attribute(f"{notebook} .jp-Notebook-ExecutionIndicator", "data-status")
        if status == "idle" and not any("*" in p for p in prompts(page, notebook)):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 0.3:
                return
        else:
            idle_since = None
        time.sleep(0.1)
    raise AssertionError(f"the cells did not finish within {timeout:g} s: "
                         f"{prompts(page, notebook)}")


def run_every_cell(page, notebook: str = NOTEBOOK) -> int:
    """Run > Run All, then, since JupyterLab stops at an error, Run Selected Cell and All Below
    from the first cell that did not run, until every cell ran. Returns how often it ran on.
    The Notebook 7 interface has the same Run menu: `notebook` says where its notebook is."""
    menu(page, "Run", "runmenu:run-all")
    wait_until_run(page, notebook=notebook)
    for again in range(50):
        not_run = [i for i, p in enumerate(prompts(page, notebook)) if not re.search(r"\d", p)]
        if not not_run:
            return again
        page.locator(f"{notebook} .jp-Notebook .jp-CodeCell").nth(not_run[0]) \
            .locator(".jp-InputPrompt").click()
        menu(page, "Run", "notebook:run-all-below")
        wait_until_run(page, notebook=notebook)
    raise AssertionError(f"cells still not run: {prompts(page, notebook)}")


def scroll_to_top(page, element) -> None:
    """Scroll the notebook so that the element starts at the top of the view. JupyterLab lays
    out the cells out of view lazily, so the position settles only at a second scroll."""
    for _ in range(2):
        element.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)


# ---------------------------------------------------------------------------------------------
# What each lab must show


def errors(cell) -> list[str]:
    return [o.ename for o in cell.get("outputs", []) if o.output_type == "error"]


def unexpected_errors(nb, kind: str) -> list[str]:
    """What went wrong in the notebook as the browser ran and saved it, cell by cell."""
    problems = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags, nbgrader = cell.metadata.get("tags", []), cell.metadata.get("nbgrader", {})
        found = errors(cell)
        if [o for o in cell.outputs if o.get("name") == "stderr"]:
            problems.append(f"{cell.id} wrote on stderr")
        if "raises-exception" in tags:
            allowed = [found] if len(found) == 1 else []
        elif kind == "solution":
            allowed = [[]]
        elif nbgrader.get("grade"):
            allowed = [["WrongAnswer"], ["NameError"]]
        else:
            allowed = [[], ["NotImplementedError"]]
        if found not in allowed:
            problems.append(f"{cell.id}: errors {found}, expected one of {allowed}")
    return problems


def check_widget_redraws(page, cell) -> None:
    """Move the widget of an interactive cell, and wait for its figure to change."""
    widget = cell.locator(".widget-interact")
    assert widget.count() == 1, "the interactive cell shows no widget"
    before = widget.locator("img").get_attribute("src")
    if widget.locator("select").count():
        select = widget.locator("select")
        current = select.input_value()
        select.select_option(next(o for o in select.locator("option").all_text_contents()
                                  if o != current))
    elif widget.locator("input[type=number]").count():  # a number box: a step up, then Enter
        box = widget.locator("input[type=number]")
        box.focus()
        box.press("ArrowUp")
        box.press("Enter")
    else:
        handle = widget.locator(".noUi-handle")
        handle.focus()
        handle.press("ArrowRight")
    page.wait_for_function(
        "([el, src]) => { const img = el.querySelector('img'); return img && img.src !== src; }",
        arg=[widget.element_handle(), before], timeout=30_000)


@dataclass
class Outcome:
    log: list[str] = field(default_factory=list)
    failure: str = ""
    # What axe-core found in the course's content: "live" (the notebook panel) and "page" (the
    # exported page); a key is missing when the run did not get that far.
    accessibility: dict[str, list[a11y.Finding]] = field(default_factory=dict)


def check_accessibility(page, server: JupyterLab, lab: course.Lab, saved: Path,
                        found: dict) -> str:
    """axe-core over the notebook panel as it is, then over the saved notebook exported by the
    course's page exporter (opened from a file: a page a student keeps works offline). Fills
    `found` with the course's findings; writes every finding to the lab's report."""
    live = a11y.audit(page, NOTEBOOK) + a11y.unnamed(page, NOTEBOOK)
    found["live"] = [f for f in live if f.ours]
    exported = server.tmp / "pages" / f"{lab.name}.html"
    exported.parent.mkdir(exist_ok=True)
    exported.write_text(CoursePage().from_filename(str(saved))[0])
    reader = page.context.browser.new_page()
    try:
        reader.goto(exported.as_uri())
        found["page"] = a11y.audit(reader, structure=True) + a11y.unnamed(reader)
        version = a11y.axe_version(reader)
    finally:
        reader.close()
    theirs = [f for f in live if not f.ours]
    lines = [f"axe-core {version}, WCAG 2.1 A and AA, {lab.name} (solution)", "",
             f"The course's content, live in JupyterLab: {len(found['live'])} violations"]
    lines += [f"  {f}" for f in found["live"]]
    lines += ["", f"The exported page: {len(found['page'])} violations"]
    lines += [f"  {f}" for f in found["page"]]
    lines += ["", f"JupyterLab's own controls in the notebook panel (reported, not failed): "
              f"{len(theirs)}"]
    for rule in sorted({f.rule for f in theirs}):
        same = [f for f in theirs if f.rule == rule]
        lines.append(f"  {rule}: {len(same)} elements; upstream: "
                     f"{JUPYTERLAB_ISSUES.get(rule, 'no upstream issue known')}")
        lines.append(f"    e.g. {same[0]}")
    ACCESSIBILITY.mkdir(parents=True, exist_ok=True)
    (ACCESSIBILITY / f"{lab.name}.txt").write_text("\n".join(lines) + "\n")
    return (f"axe-core: {len(found['live'])} violations in the content live, "
            f"{len(found['page'])} in the exported page, {len(theirs)} of JupyterLab reported")


def check_lab(page, server: JupyterLab, lab: course.Lab, kind: str, validate: bool,
              log: list[str], accessibility: dict | None = None) -> None:
    """Open one lab, run every cell, check what it shows, then close it."""
    source = lab.solution if kind == "solution" else lab.student
    path = source.relative_to(course.ROOT).as_posix()
    nb = notebooks.read(source)
    code = [c for c in nb.cells if c.cell_type == "code"]
    plots = [i for i, c in enumerate(code) if "nbval-ignore-output" in c.metadata.get("tags", [])]
    interactive = [i for i, c in enumerate(code) if "figures.interact(" in c.source]
    # a lab with widgets has cells to play with: none is left unmoved by a renamed call
    assert bool(interactive) == any("import ipywidgets" in c.source for c in code), path
    progress = [i for i, c in enumerate(code) if c.get("id") == "progress"]
    started = time.monotonic()

    def step(what: str) -> None:
        log.append(f"{time.monotonic() - started:6.1f} s  {what}")

    open_notebook(page, path, len(nb.cells))
    step(f"opened {path}, kernel idle")
    cells = page.locator(CODE_CELLS)
    try:
        step(f"ran every cell, running on {run_every_cell(page)} times after an error")
        save(page)
        ran = notebooks.read(server.root / path)
        problems = unexpected_errors(ran, kind)
        assert not problems, f"{path} in JupyterLab:\n" + "\n".join(problems)
        # The page agrees: it shows an error in exactly the cells that failed.
        red = [i for i in range(len(code)) if cells.nth(i).locator(STDERR).count()]
        failed = [i for i, c in enumerate(c for c in ran.cells if c.cell_type == "code")
                  if errors(c)]
        assert red == failed, f"the page shows errors in cells {red}, the notebook in {failed}"

        figures = [cells.nth(i).locator(".jp-OutputArea-output img").count() for i in plots]
        blank = [code[i].id for i, n in zip(plots, figures, strict=True) if not n]
        assert not blank, f"plot cells that show no figure: {blank}"
        assert page.locator(f"{CODE_CELLS} .jp-OutputArea-output img").count() >= len(plots)
        step(f"{len(failed)} cells failed, as they should; {len(plots)} plot cells, each with "
             "its figure")

        if kind == "solution":
            for i in interactive:
                check_widget_redraws(page, cells.nth(i))
            step(f"moved {len(interactive)} widgets, each redrew its figure")
            if accessibility is not None:
                save(page)
                step(check_accessibility(page, server, lab, server.root / path, accessibility))

        button = page.locator(f"{NOTEBOOK} .jp-Toolbar-item:has-text('Validate')")
        assert button.count() == 1, "nbgrader's Validate button is not in the toolbar"
        if validate:
            button.click()
            dialog = page.locator(".jp-Dialog")
            dialog.locator(".jp-Dialog-header:has-text('Validation Results')").wait_for(
                timeout=120_000)
            assert VALIDATION_SUCCESS in dialog.inner_text(), dialog.inner_text()
            step("Validate reported success")
            dialog.locator("button.jp-mod-accept").click()
    finally:
        # A solution is shown at its last interactive cell, a student lab at its progress.
        shown = (interactive if kind == "solution" else progress) or plots or [0]
        scroll_to_top(page, cells.nth(shown[-1]))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{lab.name}-{kind}.png")
        close_notebook(page)
        step("closed")


def kernel_sessions(server: JupyterLab, path: str) -> list[dict]:
    with urllib.request.urlopen(f"{server.base}/api/sessions?token={TOKEN}", timeout=10) as r:
        return [s for s in json.loads(r.read()) if s["path"] == path]


def shut_down_kernel(server: JupyterLab, path: str) -> None:
    """Notebook 7 leaves a notebook's kernel running when its page closes: shut it down."""
    for session in kernel_sessions(server, path):
        url = f"{server.base}/api/sessions/{session['id']}?token={TOKEN}"
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30).close()


def save_in_notebook7(page, copy: Path):
    """File > Save Notebook, and the notebook as saved: once the file changed and reads whole
    (the server writes it in place, so it can be read half written)."""
    before = copy.stat().st_mtime_ns
    menu(page, "File", "docmanager:save")
    deadline = time.monotonic() + 30
    while True:
        if copy.stat().st_mtime_ns != before:
            try:
                return notebooks.read(copy)
            except ValueError:  # not JSON yet: still being written
                pass
        assert time.monotonic() < deadline, "File > Save Notebook saved nothing in 30 s"
        time.sleep(0.2)


def check_lab_in_notebook7(browser, server: JupyterLab, lab: course.Lab, kind: str,
                           log: list[str]) -> None:
    """Open one lab in the Notebook 7 interface, run every cell from its Run menu, and check
    what its check cells show. It runs a copy of the lab, which JupyterLab may have open too."""
    source = lab.solution if kind == "solution" else lab.student
    path = f"notebook7/{source.relative_to(course.ROOT).as_posix()}"
    copy = server.root / path
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, copy)
    nb = notebooks.read(source)
    code = [c for c in nb.cells if c.cell_type == "code"]
    graded = [i for i, c in enumerate(code) if c.metadata.get("nbgrader", {}).get("grade")]
    started = time.monotonic()

    def step(what: str) -> None:
        log.append(f"{time.monotonic() - started:6.1f} s  {what}")

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(60_000)
    cells = page.locator(f"{NOTEBOOK7} .jp-Notebook .jp-CodeCell")
    try:
        page.goto(f"{server.base}/notebooks/{path}?token={TOKEN}")
        page.wait_for_function(
            f"document.querySelectorAll(\"{NOTEBOOK7} .jp-Notebook .jp-Cell\").length "
            f"=== {len(nb.cells)}")
        deadline = time.monotonic() + 60
        while not any(s["kernel"]["execution_state"] == "idle"
                      for s in kernel_sessions(server, path)):
            assert time.monotonic() < deadline, "the notebook's kernel did not start in 60 s"
            time.sleep(0.3)
        step(f"opened {path} in Notebook 7, kernel idle")
        step(f"ran every cell, running on {run_every_cell(page, NOTEBOOK7)} times after an "
             "error")
        ran = save_in_notebook7(page, copy)
        problems = unexpected_errors(ran, kind)
        assert not problems, f"{path} in Notebook 7:\n" + "\n".join(problems)
        red = [i for i in range(len(code)) if cells.nth(i).locator(STDERR).count()]
        failed = [i for i, c in enumerate(c for c in ran.cells if c.cell_type == "code")
                  if errors(c)]
        assert red == failed, f"the page shows errors in cells {red}, the notebook in {failed}"

        # What each check cell shows (textContent: cells out of view may not be laid out).
        shown = {code[i].id: cells.nth(i).locator(".jp-OutputArea").text_content() or ""
                 for i in graded}
        if kind == "solution":
            wrong = [cell for cell, text in shown.items() if "✓" not in text]
            assert not wrong, f"check cells that show no pass message: {wrong}"
            step(f"{len(graded)} check cells, each with its pass message")
        else:
            wrong = [cell for cell, text in shown.items() if "WrongAnswer" not in text]
            assert not wrong, f"check cells that show no WrongAnswer: {wrong}"
            inside = [cell for cell, text in shown.items() if "checks.py" in text]
            assert not inside, f"check cells whose traceback shows grader/checks.py: {inside}"
            step(f"{len(graded)} check cells, each with its WrongAnswer and the student's cell "
                 "as its only frame")
    finally:
        if graded:
            scroll_to_top(page, cells.nth(graded[0]))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{lab.name}-{kind}-notebook7.png")
        shut_down_kernel(server, path)
        page.close()
        step("kernel shut down, page closed")


def browse(server: JupyterLab, jobs: queue.SimpleQueue, outcomes: dict) -> None:
    """One browser, taking labs from `jobs` until none is left; records each outcome in
    `outcomes` and never raises."""
    from playwright.sync_api import sync_playwright

    job = None
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(60_000)
            server.wait_until_up()
            page.goto(f"{server.base}/lab?token={TOKEN}&reset")
            page.wait_for_selector("#jp-MainMenu .lm-MenuBar-itemLabel:text-is('Run')")
            while True:
                try:
                    job = interface, lab, kind, validate = jobs.get_nowait()
                except queue.Empty:
                    break
                outcome = outcomes[interface, lab.name, kind] = Outcome()
                try:
                    if interface == "notebook7":
                        check_lab_in_notebook7(browser, server, lab, kind, outcome.log)
                    else:
                        check_lab(page, server, lab, kind, validate, outcome.log,
                                  outcome.accessibility)
                except AssertionError as error:  # a check failed: its message says which
                    outcome.failure = str(error)
                except Exception:
                    outcome.failure = traceback.format_exc()
            browser.close()
    except Exception:  # the browser itself failed: this lab, and any left, fail with it
        left = [job] if job else []
        while not jobs.empty():
            left.append(jobs.get_nowait())
        for interface, lab, kind, _ in left:
            outcome = outcomes.setdefault((interface, lab.name, kind), Outcome())
            outcome.failure = outcome.failure or traceback.format_exc()


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict:
    """The labs of the tests that run, run in JupyterLab by a few browsers side by side."""
    if missing_tools():
        return {}
    # The accessibility tests read what the JupyterLab run of each solution found.
    runs = {}
    for item in request.session.items:
        name = getattr(item, "originalname", "")
        if name in INTERFACES or name in ACCESSIBILITY_TESTS:
            lab = item.callspec.params["lab"]
            kind = item.callspec.params.get("kind", "solution")
            interface = INTERFACES.get(name, "jupyterlab")
            runs[interface, lab.name, kind] = (interface, lab, kind)
    wanted = list(runs.values())
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    # The student labs first: they take longest (JupyterLab stops at each error); the shorter
    # Notebook 7 runs last. Validate runs a whole notebook again in the server, which answers
    # nothing else meanwhile: once, on the first solution, is enough here
    # (tests/test_grading.py validates every lab).
    first_solution = next((lab for interface, lab, kind in wanted
                           if interface == "jupyterlab" and kind == "solution"), None)
    for interface, lab, kind in sorted(wanted, key=lambda case: (case[0] == "notebook7",
                                                                  case[2] == "solution")):
        jobs.put((interface, lab, kind,
                  interface == "jupyterlab" and kind == "solution" and lab == first_solution))
    found: dict = {}
    with JupyterLab(tmp_path_factory.mktemp("browser")) as server:
        workers = [threading.Thread(target=browse, args=(server, jobs, found))
                   for _ in range(BROWSERS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return found


CASES = [(lab, kind) for lab in LABS for kind in KINDS]
NOTEBOOK7_CASES = [(LABS[0], kind) for kind in KINDS]
INTERFACES = {"test_lab_runs_in_jupyterlab": "jupyterlab",
              "test_lab_runs_in_notebook7": "notebook7"}


ACCESSIBILITY_TESTS = {"test_lab_meets_wcag_live_in_jupyterlab", "test_lab_page_meets_wcag"}


def report(outcomes: dict, interface: str, lab: course.Lab, kind: str, where: str) -> None:
    if message := missing_tools():
        pytest.fail(message, pytrace=False)
    outcome = outcomes[interface, lab.name, kind]
    print("\n".join(outcome.log))  # shown if the test fails: how far it got, and when
    if outcome.failure:
        pytest.fail(f"{lab.name} ({kind}) in {where}:\n{outcome.failure}", pytrace=False)


@pytest.mark.parametrize(("lab", "kind"), CASES, ids=[f"{lab.name}-{k}" for lab, k in CASES])
def test_lab_runs_in_jupyterlab(outcomes, lab, kind):
    report(outcomes, "jupyterlab", lab, kind, "JupyterLab")


@pytest.mark.parametrize(("lab", "kind"), NOTEBOOK7_CASES,
                         ids=[f"{lab.name}-{k}" for lab, k in NOTEBOOK7_CASES])
def test_lab_runs_in_notebook7(outcomes, lab, kind):
    report(outcomes, "notebook7", lab, kind, "the Notebook 7 interface")


def report_accessibility(outcomes: dict, lab: course.Lab, where: str) -> None:
    if message := missing_tools():
        pytest.fail(message, pytrace=False)
    outcome = outcomes["jupyterlab", lab.name, "solution"]
    print("\n".join(outcome.log))
    if where not in outcome.accessibility:
        pytest.fail(f"{lab.name}: the JupyterLab run stopped before axe-core ran:\n"
                    f"{outcome.failure}", pytrace=False)
    findings = outcome.accessibility[where]
    assert not findings, (f"{lab.name} ({where}): {len(findings)} violations of WCAG 2.1 AA:\n"
                          + "\n".join(str(f) for f in findings))


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_lab_meets_wcag_live_in_jupyterlab(outcomes, lab):
    """The notebook panel of a solution, after running all cells and moving its widgets: no
    violation in the course's content (text, figures, widgets, outputs)."""
    report_accessibility(outcomes, lab, "live")


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_lab_page_meets_wcag(outcomes, lab):
    """The solution as JupyterLab saved it, exported by the course's page exporter, opened from
    a file: no violation, headings in order, every figure with its text alternative."""
    report_accessibility(outcomes, lab, "page")
