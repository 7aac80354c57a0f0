"""nbgrader configuration for this course, so that plain `nbgrader ...` commands work from here.

Instructors write each lab once, in solutions/<lab>/<notebook>.ipynb, with its solutions and hidden
tests; `make release` turns that into the student version in notebooks/<lab>/<notebook>.ipynb.
"""

c = get_config()  # noqa: F821  (nbgrader provides get_config when it loads this file)

c.CourseDirectory.course_id = "autograd-labs"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Releasing a lab: nbgrader's generate_assignment, with one step first: cells tagged `ci-only`
# (asserts of what the prose states, for CI) stay in the solution (grader/course/release.py).
c.GenerateAssignment.preprocessors = [
    "grader.course.release.DropCIOnlyCells",
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# The stubs that students replace.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# nbgrader scores a test cell zero if it wrote anything on stderr. PyTorch prints UserWarnings
# there (a non-leaf .grad, NNPACK on some CPUs) for answers that are right, so such warnings are
# dropped before scoring. The check helpers also silence Python warnings raised inside the
# student's functions; this catches what they cannot (warnings printed from C++).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(UserWarning|NNPACK|\[W[0-9]+)"

# Autograding. nbgrader's own pipeline, with two changes:
# - grader.grading.autograde.DropForeignMetadata turns grade cells a student invented or
#   duplicated into ordinary cells; grader.grading.autograde.RestoreMissingCells gives back the
#   lab's cells a student deleted or stripped of metadata (nbgrader's add_missing_cells, kept as
#   a backstop, fails when two in a row are gone); grader.grading.autograde.RestoreTestCells puts
#   moved test cells back;
# - grader.grading.autograde.JudgedExecute replaces nbgrader's Execute: the student's code runs
#   in a sandboxed kernel, and each test runs outside it, in the grader (see
#   grader/grading/judge.py), so nothing a submission does in its own kernel can change whether
#   a test passed.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "grader.grading.autograde.DropForeignMetadata",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "grader.grading.autograde.RestoreMissingCells",
    "nbgrader.preprocessors.OverwriteCells",
    "grader.grading.autograde.RestoreTestCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "grader.grading.autograde.JudgedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Time limits of grading: a cell (and each call of a student's function by a test) may take
# `timeout` seconds; a whole notebook, cells and tests together, `notebook_budget` seconds. Past
# the budget the kernel is ended and what ran is graded. A lab takes a few seconds.
c.JudgedExecute.timeout = 30
c.JudgedExecute.notebook_budget = 300

# Feedback pages every student can use (WCAG 2.1 AA): nbgrader's feedback page, extended by the
# course's template (a language, an H1 first, links and code at 4.5:1, formulas as MathML so that
# they read offline). grader/course/pages.py; the browser tests check it with axe-core.
c.GenerateFeedback.exporter_class = "grader.course.pages.FeedbackPage"
# Pygments' "xcode" colours are 5:1 or more on white; its default style's are not.
c.CSSHTMLHeaderPreprocessor.style = "xcode"
