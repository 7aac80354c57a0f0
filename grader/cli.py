"""`python -m grader VERB`: the course's tasks, one verb each.

    lab        open the student labs in JupyterLab (the one verb of the student install)
    release    run every solution, save its outputs, and regenerate the student labs
    validate   check that every solution scores full marks and every student lab zero
    collect    fill submitted/ from a zip of submissions downloaded from an LMS
    grade      grade every submission under submitted/, write grades.csv and a report
    feedback   write each student's HTML feedback to feedback/
    export     write grades.csv from the gradebook (after manual grading, say)
    page       write a notebook, as it is saved, as an HTML page every student can use
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

GRADER_ERROR = 3  # `grade`'s exit status when the grader failed on a submission (see its log)
MISSING_INSTALL = 4  # a verb run where only the student install is, or away from a course
CLUSTER_PROBLEM = 5  # `grade --scheduler`: the cluster cannot grade as this machine would
# The packages of the instructor's install (pyproject.toml's [grader] extra), by import name.
INSTRUCTOR_PACKAGES = {"nbgrader", "nbclient", "nbformat", "nbconvert", "cloudpickle", "tqdm",
                       "distributed", "dask", "cryptography", "latex2mathml"}


# JupyterLab's news feed and update check ask the network at start and put a pop-up over the
# lab: a student's first screen is the lab.
QUIET_LAB = ("--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")


def lab(args, extra: list[str]) -> int:
    """JupyterLab on this machine only (127.0.0.1), on the student labs, opened at the first;
    `extra` goes to JupyterLab as it is (--no-browser, say)."""
    import os
    import subprocess

    from grader import course

    notebooks = course.ROOT / "notebooks"
    first = min(notebooks.glob("[0-9][0-9]_*/*.ipynb"), default=None)
    command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={args.port}", *QUIET_LAB]
    if first is not None:
        command.append(f"--LabApp.default_url=/lab/tree/{first.relative_to(notebooks).as_posix()}")
    if getattr(os, "getuid", lambda: None)() == 0:  # containers often run as root; Jupyter asks
        command.append("--allow-root")
    try:
        return subprocess.run([*command, *extra]).returncode
    except KeyboardInterrupt:  # Ctrl+C reached JupyterLab too, which stops by itself
        return 0


def release(args) -> int:
    from grader import course
    from grader.course import colab

    for lab in course.course_labs():
        if colab.refresh(lab):
            print(f"colab     solutions/{lab.name}/{lab.solution.name}: its first cells placed")
    for lab in course.labs():
        if not args.no_run:
            print(f"running   solutions/{lab.name}/{lab.solution.name}", flush=True)
            course.refresh_solution(lab)
    from grader import grading

    grading.gradebook.release(course.ROOT)
    for lab in course.labs():
        print(f"released  notebooks/{lab.name}/{lab.student.name}")
    return 0


def validate(args) -> int:
    from grader import course

    ok = True
    for lab in course.labs():
        for kind, path, want_pass in (("solution", lab.solution, True),
                                      ("student", lab.student, False)):
            result = course.validate(path)
            passed, failed = len(result.passed), len(result.failed)
            good = (failed == 0) if want_pass else (passed == 0)
            ok &= good
            verdict = "ok" if good else "WRONG"
            print(f"{verdict:5}  {kind:8}  {lab.unit:24}  "
                  f"graded cells passing: {passed}/{passed + failed}")
    return 0 if ok else 1


def grade(args) -> int:
    import dask

    from grader import course, grading

    dask.config.set({key: value for key, value in (
        ("distributed.comm.tls.ca-file", args.tls_ca_file),
        ("distributed.comm.tls.client.cert", args.tls_cert),
        ("distributed.comm.tls.client.key", args.tls_key)) if value})
    try:
        outcomes = grading.grade.grade_class(course.ROOT, sandbox=not args.no_sandbox,
                                             force=args.force,
                                             workers=args.workers, scheduler=args.scheduler)
    except grading.parallel.ClusterProblem as problem:
        print(f"grader grade: nothing graded: {problem}", file=sys.stderr)
        return CLUSTER_PROBLEM
    print(grading.report.report(outcomes, course.ROOT))
    return exit_status(outcomes)


def exit_status(outcomes) -> int:
    """0 when every submission has a grade; GRADER_ERROR when the grader failed on one."""
    return GRADER_ERROR if any(o.is_fault for o in outcomes) else 0


def feedback(args) -> int:
    from grader import course, grading

    for path in grading.gradebook.feedback():
        print(f"feedback  {path.relative_to(course.ROOT)}")
    return 0


def export(args) -> int:
    from grader import course, grading

    print(f"wrote {grading.gradebook.export(course.ROOT)}")
    return 0


def collect(args) -> int:
    from grader import grading

    for line in grading.submissions.collect(args.zip):
        print(line)
    return 0


def page(args) -> int:
    """Each notebook as an accessible page (grader/course/pages.py) next to it, or in --to."""
    import nbformat

    from grader.course.pages import CoursePage

    failed = 0
    for notebook in args.notebooks:
        target = (args.to or notebook.parent) / f"{notebook.stem}.html"
        try:
            body = CoursePage().from_notebook_node(nbformat.read(notebook, as_version=4))[0]
        except (OSError, ValueError, nbformat.reader.NotJSONError) as error:
            print(f"not a notebook we can read: {notebook}: {error}", file=sys.stderr)
            failed += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
        print(f"page      {target}")
    return 2 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("lab", help="open the student labs in JupyterLab (other options go to "
                                     "JupyterLab)")
    p.add_argument("--port", type=int, default=8888, help="the port (default: 8888)")
    p.set_defaults(run=lab)
    p = verbs.add_parser("release", help="regenerate the student labs from solutions/")
    p.add_argument("--no-run", action="store_true",
                   help="keep the solutions' saved outputs instead of running them again")
    p.set_defaults(run=release)
    verbs.add_parser("validate", help="full marks for solutions, zero for student labs") \
        .set_defaults(run=validate)
    p = verbs.add_parser("grade", help="grade every submission under submitted/")
    p.add_argument("--force", action="store_true", help="grade again what was graded before")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run students' code without the sandbox (only for code you trust)")
    p.add_argument("--workers", type=int, default=None,
                   help="grading processes on this machine (default: one per core; 0: none, "
                        "grade here one after another)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="grade on the Dask cluster whose scheduler is at ADDRESS "
                        "(tls://host:8786) instead of on this machine")
    for option, what in (("--tls-ca-file", "the cluster's CA certificate"),
                         ("--tls-cert", "this client's certificate"),
                         ("--tls-key", "this client's private key")):
        p.add_argument(option, metavar="FILE", default=None,
                       help=f"with --scheduler: {what} (PEM; default: Dask's configuration)")
    p.set_defaults(run=grade)
    verbs.add_parser("feedback", help="HTML feedback for every graded submission") \
        .set_defaults(run=feedback)
    verbs.add_parser("export", help="grades.csv from the gradebook").set_defaults(run=export)
    p = verbs.add_parser("collect", help="fill submitted/ from an LMS zip download")
    p.add_argument("zip", type=Path, help="the downloaded zip file")
    p.set_defaults(run=collect)
    p = verbs.add_parser("page", help="a notebook as an accessible HTML page (formulas offline)")
    p.add_argument("notebooks", type=Path, nargs="+", help="the .ipynb files, as saved")
    p.add_argument("--to", type=Path, default=None, help="the folder for the pages "
                   "(default: next to each notebook)")
    p.set_defaults(run=page)
    args, extra = parser.parse_known_args(argv)
    if args.verb == "lab":
        from grader import course

        if not (course.ROOT / "notebooks").is_dir():
            print(f"grader lab: {course.ROOT} has no notebooks/: install the course with "
                  "pip install -e from its checkout.", file=sys.stderr)
            return MISSING_INSTALL
        return lab(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    missing = sorted(name for name in INSTRUCTOR_PACKAGES if importlib.util.find_spec(name) is None)
    if missing:
        print(f"grader {args.verb}: this is the student install, without {', '.join(missing)}. "
              "The instructor's tools need the instructor's install, from the course's "
              "checkout: pip install -c requirements.lock -e '.[grader]'", file=sys.stderr)
        return MISSING_INSTALL
    if args.verb != "page":
        from grader import course

        if not (course.ROOT / "nbgrader_config.py").is_file():
            print(f"grader {args.verb}: {course.ROOT} is not a course (it has no "
                  "nbgrader_config.py). The grader works on the course's checkout: install it "
                  "from there with pip install -e.", file=sys.stderr)
            return MISSING_INSTALL
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
