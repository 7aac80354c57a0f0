"""nbgrader's configuration for this course (nbgrader_config.py, with the course's root and the
grading options of this run), and where its gradebook is."""

from __future__ import annotations

import math
from pathlib import Path


def config(root: Path, sandbox: bool, timeout: int | None = None):
    """nbgrader's configuration for this course."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    cfg.merge(Config({"JudgedExecute": _instructors_timeout(cfg)}))
    cfg.merge(Config({
        "CourseDirectory": {"root": str(root),
                            "submitted_directory": str(root / "submitted")},
        "JudgedExecute": {"sandbox": sandbox, "course_root": str(root),
                          **({"timeout": timeout} if timeout else {})},
        "RestoreTestCells": {"course_root": str(root)},
        "RestoreMissingCells": {"course_root": str(root)},
        "DropForeignMetadata": {"course_root": str(root)},
    }))
    return cfg


def _instructors_timeout(cfg) -> dict:
    """nbgrader's cell time limit, where the course's configuration sets one: JudgedExecute
    takes the place of nbgrader's Execute, so `c.Execute.timeout` (or ExecutePreprocessor's)
    is the limit of a cell and of a judged test. None (no limit) leaves the notebook's budget
    as the only one."""
    for section in ("ExecutePreprocessor", "Execute"):
        if section in cfg and "timeout" in cfg[section]:
            value = cfg[section]["timeout"]
            if value is None or value <= 0:
                budget = cfg.get("JudgedExecute", {}).get("notebook_budget", 300)
                return {"timeout": int(budget)}
            return {"timeout": int(math.ceil(value))}
    return {}


def db_url(root: Path) -> str:
    """The gradebook: nbgrader_config.py's CourseDirectory.db_url (PostgreSQL, say), or
    gradebook.db at the course root."""
    url = config(root, sandbox=True).get("CourseDirectory", {}).get("db_url")
    return str(url) if url else f"sqlite:///{root / 'gradebook.db'}"
