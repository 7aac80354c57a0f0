"""The student install: what a student's machine needs, on any OS and the Pythons students have.

pyproject.toml's `dependencies` are the student's (the labs' runtime and the checks); its
`[grader]` extra is the instructor's. These tests hold the two apart, hold requires-python to
what the pinned packages admit, keep POSIX-only modules out of what a student runs, and check the
torch gate of each lab's first cell. tests/test_colab.py runs labs in a student-only environment.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from grader import course, require
from grader.course import colab, notebooks

PYPROJECT = tomllib.loads((course.ROOT / "pyproject.toml").read_text())["project"]
# The student side of the package: what a lab imports, in JupyterLab and on Colab.
STUDENT_MODULES = ("grader", "grader.checks", "grader.reference", "grader.figures",
                   "grader.require")
# Modules that exist on Linux and macOS only: a student on Windows has none of them.
POSIX_ONLY = ("resource", "fcntl", "pwd", "grp", "termios", "tty", "pty", "syslog", "posix",
              "crypt", "nis", "spwd", "_posixshmem")
INSTRUCTOR_ONLY = ("nbgrader", "distributed", "dask", "cloudpickle", "latex2mathml", "pytest",
                   "nbval", "ruff", "playwright", "cryptography")


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def closure(requirements: list[str]) -> set[str]:
    """Every distribution a list of requirements installs here, dependencies of dependencies
    included (extras only where asked for; markers false on this machine left out)."""
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        for extra in ("", *sorted(req.extras)):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            found.add(name)
            for line in metadata.requires(name) or []:
                dep = Requirement(line)
                if dep.marker is None or dep.marker.evaluate({"extra": extra}):
                    todo.append(dep)
    return found


def student_closure() -> set[str]:
    return closure(PYPROJECT["dependencies"])


def test_requires_python_admits_what_every_pinned_package_admits():
    """Read each pinned package's own Requires-Python: ours admits exactly the Pythons that all
    of them admit (here 3.11 and newer: CI runs 3.11, students have 3.12 and 3.13 too)."""
    pins = PYPROJECT["dependencies"] + sum(PYPROJECT["optional-dependencies"].values(), [])
    pythons = [f"3.{minor}" for minor in range(6, 20)]
    admitted = set(pythons)
    for pin in pins:
        spec = metadata.metadata(Requirement(pin).name).get("Requires-Python") or ""
        admitted &= set(SpecifierSet(spec).filter(pythons))
    ours = set(SpecifierSet(PYPROJECT["requires-python"]).filter(pythons))
    assert ours == admitted
    assert {"3.11", "3.12", "3.13"} <= ours


def test_the_student_install_has_nothing_of_the_instructors():
    students = student_closure()
    assert not students & set(INSTRUCTOR_ONLY), students & set(INSTRUCTOR_ONLY)
    assert {"nbgrader", "distributed", "latex2mathml"} <= names(
        PYPROJECT["optional-dependencies"]["grader"])


def imported_modules(source: str) -> set[str]:
    """The top-level modules a piece of Python imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def student_code() -> dict[str, str]:
    """Every piece of code a student runs: each student lab's code cells and the student side's
    modules."""
    code = {}
    for lab in course.course_labs():
        nb = nbformat.read(lab.student, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                code[f"{lab.name}#{cell.id}"] = "\n".join(
                    line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
    for module in STUDENT_MODULES:
        path = course.ROOT / (module.replace(".", "/") +
                              ("/__init__.py" if module == "grader" else ".py"))
        code[module] = path.read_text()
    return code


def test_everything_a_student_imports_comes_with_the_student_install():
    """A lab that imported nbgrader, say, would run for the instructor and fail for a student."""
    provided = student_closure()
    by_module = metadata.packages_distributions()
    missing = {}
    for where, source in student_code().items():
        for module in imported_modules(source) - set(sys.stdlib_module_names) - {"grader"}:
            dists = {canonicalize_name(d) for d in by_module.get(module, [])}
            if not dists & provided:
                missing[where] = module
    assert not missing, f"imported, but not in the student install: {missing}"


def test_no_student_code_imports_a_posix_only_module():
    found = {where: sorted(imported_modules(source) & set(POSIX_ONLY))
             for where, source in student_code().items()}
    assert not {k: v for k, v in found.items() if v}


BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    POSIX_ONLY = set({posix_only!r})
    GRADER = {grader!r}

    class WindowsHasNone(importlib.abc.MetaPathFinder):
        '''Refuse a POSIX-only module to the grader's own code, as Windows would.'''
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] not in POSIX_ONLY:
                return None
            frame = sys._getframe(1)
            while frame and "importlib" in frame.f_code.co_filename:
                frame = frame.f_back
            if frame and frame.f_code.co_filename.startswith(GRADER):
                raise ModuleNotFoundError(f"no module named {{name!r}} (as on Windows)",
                                          name=name)
            return None

    sys.meta_path.insert(0, WindowsHasNone())
    for name in POSIX_ONLY:
        sys.modules.pop(name, None)
""")


def test_the_student_side_runs_without_posix_only_modules():
    """Import the student side, and use it (a check, a figure, the torch gate), with every
    POSIX-only module refused to the grader's code; none of the instructor's modules comes in."""
    script = BLOCKER.format(posix_only=POSIX_ONLY, grader=str(course.ROOT / "grader")) + \
        textwrap.dedent(f"""
        import importlib, json
        import matplotlib
        matplotlib.use("Agg")
        for name in {STUDENT_MODULES!r}:
            importlib.import_module(name)
        from grader import checks, figures, reference, require
        require.torch()
        figures.use()
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="y = x")
        figures.show(fig, alt="A straight line from (0, 0) to (1, 1).")
        checks.check_function("dy/dx", lambda x: 2 * x,
                              reference.derivative(lambda x: x ** 2), [1.0, 2.0])
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in {INSTRUCTOR_ONLY!r}
                                or m.startswith(("grader.grading", "grader.course")))))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=course.ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_blocker_refuses_a_posix_only_module_to_the_grader(tmp_path):
    """The test above could pass by blocking nothing: code under the guarded folder that
    imports `resource` is refused (here a folder of the test's own stands for grader/)."""
    (tmp_path / "posix_spy.py").write_text("import resource\n")
    script = BLOCKER.format(posix_only=POSIX_ONLY, grader=str(tmp_path)) + (
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import resource\n"
        "del sys.modules['resource']\n"
        "import posix_spy\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode != 0
    assert "posix_spy.py" in done.stderr  # the script's own `import resource` went through
    assert "no module named 'resource' (as on Windows)" in done.stderr


# The torch gate of a lab's first cell.

def first_cell(lab) -> str:
    nb = nbformat.read(lab.student, as_version=4)
    return next(cell.source for cell in nb.cells if cell.cell_type == "code")


VERSIONS = {"2.0.1": True, "1.13.1+cu117": True, "2.1.0": False, "2.14.0a0+git5f3e": False}


def test_the_first_cell_says_in_one_line_that_torch_is_too_old(tmp_path):
    """Lab 1's first cell, run after torch's version is made to look like each of VERSIONS (one
    kernel for all: a kernel importing torch costs seconds)."""
    cells, gate = [], first_cell(course.course_labs()[0])
    for version in VERSIONS:
        cells += [f"import torch\ntorch.__version__ = {version!r}", gate,
                  f"print('the lab goes on with', {version!r})"]
    nb = notebooks.execute(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells]), cwd=tmp_path,
        allow_errors=True)
    for index, (version, too_old) in enumerate(VERSIONS.items()):
        ran, after = nb.cells[3 * index + 1], nb.cells[3 * index + 2]
        errors = [o for o in ran.outputs if o.output_type == "error"]
        assert after.outputs[0].text == f"the lab goes on with {version}\n"  # errors allowed
        if not too_old:
            assert not errors, version
            continue
        (error,) = errors
        assert error.ename == "TooOldTorch"
        assert len(error.traceback) == 1
        assert "need torch 2.1 or newer" in error.traceback[0]
        assert f"this kernel has {version}" in error.traceback[0]


def test_every_lab_starts_with_the_same_gate():
    firsts = {lab.name: first_cell(lab) for lab in course.course_labs()}
    assert set(firsts.values()) == {colab.cells(course.course_labs()[0])[1].source}


@pytest.mark.parametrize("version, release", [("2.13.0+cpu", (2, 13)), ("2.1.0", (2, 1)),
                                              ("2.14.0a0+git5f3e", (2, 14)), ("10.0", (10, 0))])
def test_release_reads_torch_versions(version, release):
    assert require.release(version) == release


def test_release_refuses_what_is_not_a_version():
    with pytest.raises(ValueError, match="not a torch version"):
        require.release("unknown")


def test_the_readme_shows_the_line_an_old_torch_gets():
    readme = (course.ROOT / "README.md").read_text()
    assert f"TooOldTorch: {require.problem('2.0.1')}" in readme.replace("\n  ", " ")
    oldest = ".".join(map(str, require.OLDEST_TORCH))
    assert f"the labs need torch {oldest} or newer" in readme


# Colab: the link and the two cells after each lab's title.

@pytest.mark.parametrize("lab", course.course_labs(), ids=lambda lab: lab.name)
def test_every_lab_opens_with_where_to_run_it_and_the_set_up(lab):
    for path in (lab.solution, lab.student):
        nb = nbformat.read(path, as_version=4)
        assert [(c.id, c.source) for c in nb.cells[1:3]] == \
            [(c.id, c.source) for c in colab.cells(lab)], f"{path}: run `make release`"


def test_the_colab_link_opens_the_student_lab_on_github():
    lab = course.course_labs()[0]
    owner_and_name = colab.repository().removeprefix("https://github.com/")
    assert colab.link(lab) == ("https://colab.research.google.com/github/"
                               f"{owner_and_name}/blob/main/notebooks/{lab.name}/"
                               f"{lab.student.name}")
    assert f"]({colab.link(lab)})" in colab.cells(lab)[0].source


def test_placing_the_cells_replaces_old_ones_and_is_idempotent():
    lab = course.course_labs()[0]
    nb = nbformat.read(lab.student, as_version=4)
    nb.cells[2].source = "an older set-up"
    assert colab.placed(nb, lab)
    count = len(nb.cells)
    assert not colab.placed(nb, lab)
    assert len(nb.cells) == count and nb.cells[2].source == colab.cells(lab)[1].source


def test_a_repository_colab_cannot_open_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[project.urls]\nRepository = "https://gitlab.com/a/b"\n')
    with pytest.raises(ValueError, match="https://github.com/<owner>/<name>"):
        colab.repository(tmp_path)


def test_no_lab_calls_ipywidgets_interact_itself():
    """A cell to play with goes through figures.interact, which draws a plain figure on Colab."""
    cells = {where: source for where, source in student_code().items() if "#" in where}
    assert any("figures.interact(" in source for source in cells.values())
    for where, source in cells.items():
        assert "widgets.interact(" not in source, where
