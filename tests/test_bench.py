"""The grading benchmark (bench/grading.py) runs, and stock nbgrader and ours give every grade
cell the same score. It is a benchmark, not a test: here it only runs on a tiny class; its
figures are not checked, only printed."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import nbformat
import pytest

from grader import course

pytestmark = [pytest.mark.slow, pytest.mark.root]

BENCH = course.ROOT / "bench" / "grading.py"


def load_bench(script: str = "grading"):
    """bench/<script>.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{script}", BENCH.parent / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_make_class_writes_a_valid_deterministic_class_with_a_spread_of_answers(tmp_path):
    bench = load_bench()
    made = bench.make_class(tmp_path / "a", students=6, labs=["01_derivatives", "04_relu"],
                            seed=3)
    again = bench.make_class(tmp_path / "b", students=6, labs=["01_derivatives", "04_relu"],
                             seed=3)
    assert len(made) == 12
    assert [s.path.read_bytes() for s in made] == [s.path.read_bytes() for s in again]
    assert {lab.name for lab in course.labs(tmp_path / "a")} == {"01_derivatives", "04_relu"}
    assert (tmp_path / "a" / "nbgrader_config.py").is_file()
    for submission in made:
        assert submission.path == (tmp_path / "a" / "submitted" / submission.student /
                                   submission.lab / submission.path.name)
        nb = nbformat.read(submission.path, as_version=4)
        nbformat.validate(nb)
        assert all(not c.outputs and c.execution_count is None for c in nb.cells
                   if c.cell_type == "code")
    assert {s.student for s in made if s.answered == s.exercises} == {"s0001", "s0004"}
    assert any(s.answered == 0 for s in made)


def test_a_fully_correct_submission_has_the_solutions_code_and_a_blank_one_the_stubs(tmp_path):
    bench = load_bench()
    lab = course.labs()[0]
    made = bench.make_class(tmp_path, students=1, labs=[lab.name], seed=0)
    answers = [c.source for c in nbformat.read(made[0].path, as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("solution")]
    solutions = [c.source for c in nbformat.read(lab.solution, as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == len(solutions) == made[0].exercises == made[0].answered
    for answer, solution in zip(answers, solutions, strict=True):
        assert "### BEGIN SOLUTION" not in answer and "NotImplementedError" not in answer
        assert answer.splitlines()[0] == solution.splitlines()[0]  # the same def


def test_the_bench_runs_on_a_tiny_class_and_every_score_matches():
    run = subprocess.run([sys.executable, str(BENCH), "--students", "2", "--labs",
                          "01_derivatives", "--steady", "3"], capture_output=True, text=True,
                         timeout=900, cwd=course.ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    for figure in (r"class: 2 students x 1 lab = 2 notebooks",
                   r"stock nbgrader autograde +wall +[\d.]+ s +[\d.]+ notebooks/s",
                   r"ours \(grader grade\) +wall +[\d.]+ s +[\d.]+ notebooks/s",
                   r"ratio +[\d.]+x",
                   r"floor \(cells in a warm interpreter\) +[\d.]+ s per notebook",
                   r"steady: 3 notebooks graded by ours in [\d.]+ s",
                   r"steady: the grader's processes held \d+ file descriptors and \d+ threads "
                   r"early, \d+ and \d+ at the end",
                   r"steady: 0 grader errors"):
        assert re.search(figure, out), f"no line like {figure!r} in:\n{out}"
    scores = re.search(r"scores: (?:all )?(?:(\d+) of )?(\d+) grade cells of (\d+) "
                       r"submissions? match", out)
    assert scores, out
    matched, total, submissions = scores.group(1) or scores.group(2), scores.group(2), \
        scores.group(3)
    assert int(matched) == int(total) == 2 * 4 and int(submissions) == 2, out


def test_the_intake_bench_prints_its_rates_for_sqlite_and_postgresql():
    """bench/intake.py on a tiny class: a line per database, with the rate now and before."""
    run = subprocess.run([sys.executable, str(BENCH.parent / "intake.py"), "--notebooks", "12",
                          "--before", "4"], capture_output=True, text=True, timeout=900,
                         cwd=course.ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    for database in ("SQLite", "PostgreSQL"):
        line = rf"intake into {database}: +12 notebooks in +[\d.]+ s +[\d.]+ notebooks/s +" \
               rf"\(client CPU [\d.]+ ms a notebook; staging [\d.]+ s, then the results at " \
               rf"[\d.]+ notebooks/s; before, one at a time: [\d.]+ notebooks/s " \
               rf"on 4; [\d.]+x\)"
        assert re.search(line, run.stdout), f"no line like {line!r} in:\n{run.stdout}"
