"""The course's HTML pages (grader/course/pages.py): formulas as MathML, no script from a CDN,
the course's colours; nbgrader's feedback made with the course's template. The browser tests
check the pages themselves with axe-core; these check how they are made, in a moment."""
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.course import pages
from tests.conftest import LABS


def notebook():
    return new_notebook(cells=[
        new_markdown_cell("# Derivatives\n\nThe slope of $y = 3x^2$ is\n\n"
                          "$$\\frac{dy}{dx} = 6x$$\n\nand `$HOME` in code is not a formula."),
        new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")]),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})


def test_formulas_become_mathml_and_code_stays_code():
    html = pages.CoursePage().from_notebook_node(notebook())[0]
    assert html.count('<math display="inline"') == 1
    assert html.count('<math display="block"') == 1
    assert "<mfrac>" in html
    assert "<code>$HOME</code>" in html
    assert "$$" not in html and "\\frac" not in html


def test_a_course_page_loads_nothing_from_the_network_and_has_a_language():
    html = pages.CoursePage().from_notebook_node(notebook())[0]
    assert '<html lang="en">' in html
    assert "<script src=" not in html and "mathjax" not in html.lower()
    assert "The course's pages" in html  # course_page.css is in


def test_tex_that_cannot_be_converted_is_shown_as_it_was_written():
    assert pages.mathml("\\frac{1}{") == '<code class="tex">\\frac{1}{</code>'
    assert pages.mathml("<b>").startswith("<math")  # escaped by latex2mathml, not raw HTML
    assert "<b>" not in pages.mathml("<b>")


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_every_formula_of_a_lab_becomes_mathml(lab):
    """No formula of the course's labs falls back to TeX: each one reads offline."""
    html = pages.CoursePage().from_filename(str(lab.solution))[0]
    assert html.count("<math") > 10
    assert 'class="tex"' not in html, [line for line in html.splitlines() if 'class="tex"' in line]


def test_feedback_uses_the_course_template_on_top_of_nbgraders(tmp_path):
    """nbgrader_config.py names FeedbackPage; it renders the course's template, which extends
    nbgrader's feedback page."""
    from traitlets.config.loader import PyFileConfigLoader

    from grader import course

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course.ROOT)).load_config()
    assert config.GenerateFeedback.exporter_class == "grader.course.pages.FeedbackPage"
    exporter = pages.FeedbackPage()
    assert exporter.template_name == "course_feedback"
    assert exporter.template.filename.endswith("course_feedback/index.html.j2")
    nb = notebook()
    resources = {"nbgrader": {"notebook": "derivatives", "score": 3.0, "max_score": 4.0,
                              "late_penalty": 0.0}}
    html = exporter.from_notebook_node(nb, resources=resources)[0]
    assert '<html lang="en">' in html
    assert html.index("<h1") < html.index("Score: 3.0 out of 4.0")
    assert "<h4" not in html and "<math" in html and "mathjax" not in html.lower()
    assert html.count("<body") == 1 and html.count("<main") == 1
    nbformat.validate(nb)


def test_the_page_verb_writes_a_page_and_refuses_a_broken_notebook(tmp_path, capsys):
    from grader import cli

    good, broken = tmp_path / "lab.ipynb", tmp_path / "broken.ipynb"
    nbformat.write(notebook(), good)
    broken.write_text('{"cells": [')
    assert cli.main(["page", str(good), str(broken), "--to", str(tmp_path / "out")]) == 2
    assert "<math" in (tmp_path / "out" / "lab.html").read_text()
    assert not (tmp_path / "out" / "broken.html").exists()
    assert f"not a notebook we can read: {broken}" in capsys.readouterr().err


def test_traceback_colours_are_darkened_to_4_5_to_1_keeping_their_hue():
    from grader.figures import contrast

    html = pages.readable_ansi2html("\x1b[38;5;167mRuntimeError\x1b[0m and \x1b[38;5;28mok\x1b[0m")
    colours = re.findall(r"color: rgb\((\d+),(\d+),(\d+)\)", html)
    assert len(colours) == 2
    red, green = ("#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in colours)
    assert contrast(red) >= 4.5 and contrast(green) >= 4.5
    assert red != "#d75f5f" and int(colours[0][0]) > int(colours[0][1])  # still a red
    assert colours[1] == ("0", "135", "0")  # 4.7:1 already: left alone
    assert "RuntimeError" in html and "ok" in html
