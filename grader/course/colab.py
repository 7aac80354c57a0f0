"""Each course lab on Google Colab: a link that opens it there, and a first cell that sets it up.

Colab has torch, matplotlib, NumPy, SymPy and ipywidgets, but not the course's checks (the
package `grader`) nor torchviz. A lab's first code cell installs those two on Colab only, with
`--no-deps`: a plain `pip install` of the course would replace Colab's torch with the course's
pinned one, a download of gigabytes. Everywhere, the cell then checks that torch is new enough
(grader/require.py).

Both cells come from here, with the repository named in pyproject.toml's [project.urls]; `make
release` puts them at the top of every course lab (after its title), so a course run from a fork
changes that one line. tests/test_student_install.py holds the labs to them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nbformat

from grader.course import ROOT, Lab, notebooks

COLAB = "https://colab.research.google.com/github"
WHERE_ID, SETUP_ID = "where-to-run", "setup"

SETUP = '''\
import importlib.util
import subprocess
import sys

COURSE = "autograd-labs @ git+{repository}@main"

if importlib.util.find_spec("grader") is None and "google.colab" in sys.modules:
    # Colab: the course's checks and torchviz, without their dependencies (Colab's torch stays)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    COURSE, "torchviz==0.0.3"], check=True)
    importlib.invalidate_caches()

from grader import require

require.torch()'''

WHERE = '''\
**Where to run this lab.** In JupyterLab on your own machine (the course's README says how to
install it), or in Google Colab with nothing to install: [open this lab in Colab]({link}).
Wherever you are, run the next cell first. On Colab it installs the course's checks beside
Colab's own PyTorch (a few seconds). Everywhere, it checks that your PyTorch is {oldest} or newer,
which these labs need, and says so in one line if it is not.'''


def repository(root: Path = ROOT) -> str:
    """The course's public repository, https://github.com/<owner>/<name>, from pyproject.toml."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    url = project["urls"]["Repository"].rstrip("/")
    if not url.startswith("https://github.com/") or url.count("/") != 4:
        raise ValueError(f"pyproject.toml's Repository must be https://github.com/<owner>/<name>"
                         f" (Colab opens notebooks from GitHub): {url}")
    return url


def link(lab: Lab, root: Path = ROOT) -> str:
    """The address that opens the lab's student version in Colab, from the main branch."""
    owner_and_name = repository(root).removeprefix("https://github.com/")
    return f"{COLAB}/{owner_and_name}/blob/main/{lab.student.relative_to(root).as_posix()}"


def cells(lab: Lab, root: Path = ROOT) -> list[nbformat.NotebookNode]:
    """The two cells that follow a course lab's title: where to run it, and the set-up."""
    from grader import require

    oldest = ".".join(map(str, require.OLDEST_TORCH))
    where = nbformat.v4.new_markdown_cell(WHERE.format(link=link(lab, root), oldest=oldest))
    setup = nbformat.v4.new_code_cell(SETUP.format(repository=repository(root)))
    where.id, setup.id = WHERE_ID, SETUP_ID
    return [where, setup]


def placed(nb: nbformat.NotebookNode, lab: Lab, root: Path = ROOT) -> bool:
    """Put the two cells right after the title (replacing older ones); True if anything changed."""
    wanted = cells(lab, root)
    kept = [cell for cell in nb.cells if cell.get("id") not in (WHERE_ID, SETUP_ID)]
    before = [(c.get("id"), c.source) for c in nb.cells]
    nb.cells = kept[:1] + wanted + kept[1:]
    return before != [(c.get("id"), c.source) for c in nb.cells]


def refresh(lab: Lab, root: Path = ROOT) -> bool:
    """Place the cells in a course lab's solution, saved only if they changed."""
    nb = notebooks.read(lab.solution)
    changed = placed(nb, lab, root)
    if changed:
        notebooks.write(notebooks.normalize(nb), lab.solution)
    return changed
