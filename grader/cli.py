"""`python -m grader VERB`: the instructor's tasks, one verb each.

    release    run every solution, save its outputs, and regenerate the student labs
    validate   check that every solution scores full marks and every student lab zero
"""

from __future__ import annotations

import argparse
import sys

from grader import course


def release(args) -> int:
    for lab in course.labs():
        if not args.no_run:
            print(f"running   solutions/{lab.name}/{lab.solution.name}", flush=True)
            course.refresh_solution(lab)
    db = course.ROOT / "gradebook.db"
    course.generate_student_versions(course.ROOT / "notebooks", f"sqlite:///{db}")
    for lab in course.labs():
        print(f"released  notebooks/{lab.name}/{lab.student.name}")
    return 0


def validate(args) -> int:
    ok = True
    for lab in course.labs():
        for kind, path, want_pass in (("solution", lab.solution, True),
                                      ("student", lab.student, False)):
            result = course.validate(path)
            passed, failed = len(result.passed), len(result.failed)
            good = (failed == 0) if want_pass else (passed == 0)
            ok &= good
            verdict = "ok" if good else "WRONG"
            print(f"{verdict:5}  {kind:8}  {lab.name:24}  "
                  f"graded cells passing: {passed}/{passed + failed}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("release", help="regenerate the student labs from solutions/")
    p.add_argument("--no-run", action="store_true",
                   help="keep the solutions' saved outputs instead of running them again")
    p.set_defaults(run=release)
    verbs.add_parser("validate", help="full marks for solutions, zero for student labs") \
        .set_defaults(run=validate)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
