"""nbgrader preprocessors for releasing a lab, added to generate_assignment by configuration."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

CI_ONLY = "ci-only"


class DropCIOnlyCells(NbGraderPreprocessor):
    """Leave out of the student version the code cells tagged `ci-only`.

    Such a cell asserts a result that the prose states (`assert slope == 11.0`), so that the
    solution notebook, re-run by CI, stops if the two ever disagree. A student learns nothing
    from it, so it stays in the solution only. It may define nothing that a later cell uses:
    the solution's re-run and the student lab's run (`make validate`) both check that.
    """

    def preprocess(self, nb, resources):
        nb.cells = [cell for cell in nb.cells
                    if not (cell.cell_type == "code" and CI_ONLY in cell.metadata.get("tags", []))]
        return nb, resources
