"""nbgrader configuration for this course, so that plain `nbgrader ...` commands work from here.

Instructors write each lab once, in solutions/<lab>/<notebook>.ipynb, with its solutions and hidden
tests; `make release` turns that into the student version in notebooks/<lab>/<notebook>.ipynb.
"""

c = get_config()  # noqa: F821  (nbgrader provides get_config when it loads this file)

c.CourseDirectory.course_id = "autograd-labs"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# The stubs that students replace.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# nbgrader scores a test cell zero if it wrote anything on stderr. PyTorch prints UserWarnings
# there (a non-leaf .grad, NNPACK on some CPUs) for answers that are right, so such warnings are
# dropped before scoring. The check helpers also silence Python warnings raised inside the
# student's functions; this catches what they cannot (warnings printed from C++).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(UserWarning|NNPACK|\[W[0-9]+)"
