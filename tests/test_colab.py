"""A lab where Colab runs it: a Python that has torch and the rest, but not the course.

The environment here is the student install and nothing else: a new venv that sees only the
distributions of pyproject.toml's `dependencies` (and theirs), linked from this environment, so
its torch is this machine's 2.13.0 and there is no `grader`, nbgrader or Dask. A stand-in for
`google.colab` is imported when its kernel starts, as on Colab. nbval then runs Labs 1 and 7
(the first lab, and the one that needs torchviz) there, checking their outputs: their first cell
must install the course's package with `--no-deps` (from this checkout instead of GitHub, the one
change to the cell), leaving torch alone, and everything after it must work as in JupyterLab.
Meanwhile the grader's code and the labs' cells are refused POSIX-only modules, as on Windows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_student_install import BLOCKER, POSIX_ONLY, student_closure

from grader import course
from grader.course import colab

pytestmark = pytest.mark.slow

LABS = ("01_derivatives", "07_backprop")


# Colab's torch is not the course's: its metadata here says this, so that a `pip install` with
# dependencies would replace it (as on Colab) where one without them leaves it.
COLABS_TORCH = "2.12.1"


def student_site(target: Path) -> Path:
    """A folder holding a link to every file and folder of the student install's distributions,
    but for torch's metadata, which names Colab's version."""
    target.mkdir()
    for name in sorted(student_closure()):
        dist = metadata.distribution(name)
        for top in {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source = Path(dist.locate_file(top))
            if source.suffix == ".pth" or not source.exists() or (target / top).exists():
                continue
            if name == "torch" and top.endswith(".dist-info"):
                info = target / f"torch-{COLABS_TORCH}.dist-info"
                shutil.copytree(source, info)
                text = (info / "METADATA").read_text()
                (info / "METADATA").write_text(
                    text.replace(f"Version: {dist.version}\n", f"Version: {COLABS_TORCH}\n", 1))
            else:
                (target / top).symlink_to(source)
    return target


def run(*args, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """A command, from a folder away from this checkout (whose grader/ would be importable)."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, **kwargs)


@pytest.fixture(scope="module")
def colab_like(tmp_path_factory):
    """(root, the venv's python, its environment) of a Colab-like student environment."""
    root = tmp_path_factory.mktemp("colab")
    site = student_site(root / "site")
    venv = root / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=root).returncode == 0
    python = venv / "bin" / "python"
    own_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=root).stdout.strip())
    (own_site / "student-install.pth").write_text(f"{site}\n")

    # google.colab, imported at the kernel's start as on Colab, and the POSIX-only guard
    (root / "stub" / "google" / "colab").mkdir(parents=True)
    (root / "stub" / "google" / "colab" / "__init__.py").write_text('"""Colab, in name."""\n')
    startup = root / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    guarded = (str(own_site / "grader"), os.path.join(tempfile.gettempdir(), "ipykernel_"))
    (startup / "00-colab.py").write_text(
        f"import sys\nsys.path.insert(0, {str(root / 'stub')!r})\nimport google.colab\n"
        + BLOCKER.format(posix_only=POSIX_ONLY, grader=guarded))
    kernel = root / "jupyter" / "kernels" / "colab"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python",
        "env": {"IPYTHONDIR": str(root / "ipython"), "PYTHONPATH": "", "MPLBACKEND": "Agg"}}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["JUPYTER_PATH"] = str(root / "jupyter")
    return root, python, env


def course_source(target: Path) -> Path:
    """What the first cell installs from: this checkout's package, copied (a pip build in the
    checkout itself would leave its files there)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(course.ROOT / name, target / name)
    shutil.copytree(course.ROOT / "grader", target / "grader",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return target


def labs_installing_from(source: Path, target: Path) -> list[Path]:
    """Labs 1 and 7 as solutions, their first cell installing from `source`, not GitHub."""
    github = f'COURSE = "autograd-labs @ git+{colab.repository()}@main"'
    copies = []
    for lab in course.course_labs():
        if lab.name in LABS:
            nb = nbformat.read(lab.solution, as_version=4)
            setup = next(c for c in nb.cells if c.cell_type == "code")
            assert github in setup.source
            setup.source = setup.source.replace(
                github, f'COURSE = "autograd-labs @ {source.as_uri()}"')
            (target / lab.name).mkdir(parents=True)
            nbformat.write(nb, target / lab.name / lab.solution.name)
            copies.append(target / lab.name / lab.solution.name)
    return copies


def test_labs_run_on_colab_with_its_own_torch(colab_like, monkeypatch):
    root, python, env = colab_like
    before = run(python, "-c", "import grader", env=env, cwd=root)
    assert before.returncode != 0 and "No module named 'grader'" in before.stderr
    which_torch = ("from importlib import metadata; import torch; "
                   "print(metadata.version('torch'), torch.__file__)")
    torch_before = run(python, "-c", which_torch, env=env, cwd=root).stdout
    assert torch_before.startswith(f"{COLABS_TORCH} {root / 'site'}"), torch_before
    notebooks = labs_installing_from(course_source(root / "src"), root / "labs")

    ran = run(sys.executable, "-m", "pytest", "--nbval", "--nbval-kernel-name=colab",
              "--nbval-cell-timeout=300", "-p", "no:cacheprovider", "-q",
              "--nbval-sanitize-with", course.ROOT / "tests" / "nbval-sanitize.cfg",
              *notebooks, cwd=root, env=env)
    assert ran.returncode == 0, ran.stdout[-4000:]

    # the course came in; torch is still the environment's own, not a download
    installed = run(python, "-c", "from importlib import metadata; "
                    "print(metadata.version('autograd-labs'))", env=env, cwd=root)
    assert installed.stdout.strip() == "0.1.0", installed.stderr
    assert run(python, "-c", which_torch, env=env, cwd=root).stdout == torch_before

    # the instructor's verbs say what is missing, with their own status
    validate = run(python, "-m", "grader", "validate", env=env, cwd=root)
    assert validate.returncode == 4, validate.stderr
    assert "this is the student install, without cloudpickle, cryptography" in validate.stderr
    assert "pip install -c requirements.lock -e '.[grader]'" in validate.stderr
    lab = run(python, "-m", "grader", "lab", env=env, cwd=root)  # installed away from a checkout
    assert lab.returncode == 4 and "has no notebooks/" in lab.stderr, lab.stderr

    # a cell to play with draws its plain figure: Colab does not show the course's widgets
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import ipywidgets as widgets\n"
        "from grader import figures\n"
        "box = widgets.BoundedFloatText(value=2.0, min=-2.5, max=2.5, description='x₀')\n"
        "figures.interact(lambda x0: print('drawn at', x0), x0=box);\n"
        "import sys\n"
        "print('guard:', type(sys.meta_path[0]).__name__)")])
    monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])
    NotebookClient(nb, timeout=120, kernel_name="colab",
                   resources={"metadata": {"path": str(root)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "Colab does not show this cell's controls, so here is the figure at x₀ = 2.0" in text
    assert "drawn at 2.0" in text
    assert "guard: WindowsHasNone" in text  # the POSIX-only guard was there all along

