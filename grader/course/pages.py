"""The course's HTML pages: a lab, or a student's feedback, as a page every student can use.

nbconvert's and nbgrader's pages load MathJax from a CDN (offline, a student reads raw TeX), draw
code and links below WCAG's contrast, and nbgrader's feedback page has no language and opens with
an H4. The course's pages use two templates of their own (grader/course/templates/) and write
formulas as MathML, which browsers draw without a script and screen readers read aloud.

    python -m grader page NB...   a saved notebook as <NB>.html beside it (CoursePage)
    make feedback                 each student's feedback (nbgrader_config.py picks FeedbackPage)
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.ansi import ansi2html
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

TEMPLATES = Path(__file__).with_name("templates")


def mathml(tex: str, display: str = "inline") -> str:
    """`tex` as MathML; TeX that cannot be converted stays, as code, visible and unchanged."""
    from latex2mathml.converter import convert

    try:
        return convert(tex, display=display)
    except Exception:  # latex2mathml raises its own kinds and Python's for input it cannot read
        return f'<code class="tex">{html.escape(tex)}</code>'


_INLINE_COLOUR = re.compile(r"color: rgb\((\d+),(\d+),(\d+)\)")


def readable_ansi2html(text: str) -> str:
    """nbconvert's ansi2html, with every colour it writes inline (IPython's tracebacks use the
    256 terminal colours: a red of 3.7:1 on white, a grey-green of 4:1) darkened, keeping its
    hue, until it reaches 4.5:1 on white."""
    return _INLINE_COLOUR.sub(_darkened, ansi2html(text))


def _darkened(match: re.Match) -> str:
    from grader.figures import TEXT, contrast

    rgb = [int(c) for c in match.groups()]
    while contrast("#{:02x}{:02x}{:02x}".format(*rgb)) < TEXT:
        rgb = [int(c * 0.9) for c in rgb]
    return "color: rgb({},{},{})".format(*rgb)


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with formulas written as MathML instead of left for
    MathJax."""

    def inline_math(self, body: str) -> str:
        return mathml(body)

    def block_math(self, body: str) -> str:
        return mathml(body, display="block")

    def latex_environment(self, name: str, body: str) -> str:
        return mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display="block")


class CoursePage(HTMLExporter):
    """A lab as an HTML page: nbconvert's lab template with the course's changes
    (templates/course_lab), its formulas in MathML."""

    def __init__(self, **kwargs):
        kwargs.update(template_name=self._course_template,
                      extra_template_basedirs=[str(TEMPLATES), *self._upstream_templates()],
                      extra_template_paths=[str(TEMPLATES), *self._upstream_files()])
        super().__init__(**kwargs)

    _course_template = "course_lab"

    def _upstream_templates(self) -> list[str]:
        return []

    def _upstream_files(self) -> list[str]:
        return []

    def default_filters(self):
        yield from super().default_filters()
        yield ("ansi2html", readable_ansi2html)

    @pass_context
    def markdown2html(self, context, source):
        """nbconvert's markdown2html, with MathMLRenderer."""
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)


class FeedbackPage(CoursePage):
    """nbgrader's feedback page (its template extended by templates/course_feedback), for
    GenerateFeedback.exporter_class. It takes the place of the HTMLExporter nbgrader configures
    with its own template."""

    _course_template = "course_feedback"

    def _upstream_templates(self) -> list[str]:
        return [str(_nbgrader_templates())]

    def _upstream_files(self) -> list[str]:
        """nbgrader's templates (ours extends feedback/index.html.j2) and its Bootstrap."""
        templates = _nbgrader_templates()
        bootstrap = templates.parent / "static/node_modules/bootstrap/dist/css"
        return [str(templates), str(bootstrap)]


def _nbgrader_templates() -> Path:
    import nbgrader

    return Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"

