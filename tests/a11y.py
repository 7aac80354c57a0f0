"""axe-core, the accessibility engine, in headless Chromium: the WCAG 2.1 A and AA rules over a
page, or over a part of one.

axe-core comes from npm, pinned in package-lock.json (`make test` runs `npm ci`). Each finding
says which rule, how serious, where (a CSS selector and the element's HTML) and whose it is: the
course's own content (text, figures, widgets, outputs), or the application around it (JupyterLab's
editors, prompts and toolbars), which the course reports but cannot fix.
"""
from __future__ import annotations

from dataclasses import dataclass

from grader import course

AXE = course.ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Rules outside WCAG's tags that its success criteria still ask for on a page of prose:
# headings in order (1.3.1) and one H1 to start from (2.4.6).
STRUCTURE = ["heading-order", "page-has-heading-one"]
# What in a page is the course's: rendered Markdown, outputs and widgets.
CONTENT = (".jp-RenderedMarkdown, .jp-RenderedHTMLCommon, .jp-OutputArea-output, "
           ".jupyter-widgets, .widget-output")


@dataclass(frozen=True)
class Finding:
    rule: str
    impact: str
    help: str
    target: str
    html: str
    ours: bool  # in the course's content, not the application around it
    why: str = ""  # axe-core's own words, e.g. the two colours and their ratio

    def __str__(self) -> str:
        return (f"{self.rule} ({self.impact}): {self.help}\n    at {self.target}: {self.html}"
                + (f"\n    {self.why}" if self.why else ""))


_RUN = """async ([context, runOnly, content]) => {
  const result = await axe.run(context ? document.querySelector(context) : document,
                               {runOnly, resultTypes: ['violations']});
  const findings = [];
  for (const rule of result.violations) {
    for (const node of rule.nodes) {
      const target = node.target.map(String).join(' >>> ');
      const element = typeof node.target[0] === 'string'
        ? document.querySelector(node.target[0]) : null;
      findings.push({rule: rule.id, impact: rule.impact || '', help: rule.help, target,
                     html: node.html.slice(0, 300),
                     why: (node.any[0] || node.all[0] || node.none[0] || {}).message || '',
                     ours: !context || !!(element && element.closest(content))});
    }
  }
  return findings;
}"""


def _with_axe(page) -> None:
    """axe-core in the page, once."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        assert AXE.exists(), f"{AXE} is missing: `npm ci` installs it (make test does)"
        page.add_script_tag(path=str(AXE))


def audit(page, within: str | None = None, structure: bool = False) -> list[Finding]:
    """Every violation of WCAG 2.1 A and AA in the page (or in the element `within` selects,
    where only what is inside the course's content counts as ours); with `structure`, the
    heading rules too."""
    _with_axe(page)
    found = page.evaluate(_RUN, [within, {"type": "tag", "values": WCAG_21_AA}, CONTENT])
    if structure:
        found += page.evaluate(_RUN, [within, {"type": "rule", "values": STRUCTURE}, CONTENT])
    return [Finding(**f) for f in found]


# The alt text a front end puts in when a figure has none: nbconvert's, and JupyterLab's for
# an image in HTML.
PLACEHOLDERS = ("No description has been provided for this image", "Image")

_UNNAMED = """([within, content, placeholders]) => {
  const root = within ? document.querySelector(within) : document;
  const found = [];
  for (const img of root.querySelectorAll('img, [role=img]')) {
    if (within && !img.closest(content)) continue;
    const alt = (img.getAttribute('alt') ?? img.getAttribute('aria-label') ?? '').trim();
    if (alt.length < 10 || placeholders.includes(alt))
      found.push({rule: 'figure-text-alternative', impact: 'critical',
                  help: 'A figure says what it shows in words (alt text of 10 characters or more)',
                  target: img.outerHTML.slice(0, 80), html: `alt=${JSON.stringify(alt)}`,
                  ours: true});
  }
  axe.setup(document);  // the accessible names below are axe's own computation
  const controls = 'input, select, textarea, button, [role=slider], [role=spinbutton]';
  for (const control of root.querySelectorAll(`.jupyter-widgets :is(${controls})`)) {
    if (control.type === 'hidden' || control.closest('[hidden]')) continue;
    const name = axe.commons.text.accessibleText(control).trim();
    if (!name)
      found.push({rule: 'widget-name', impact: 'serious',
                  help: 'Every control of a widget has an accessible name (its description)',
                  target: `${control.tagName.toLowerCase()} ${control.getAttribute('role') || ''}`,
                  html: control.outerHTML.slice(0, 300), ours: true});
  }
  axe.teardown();
  return found;
}"""


def unnamed(page, within: str | None = None) -> list[Finding]:
    """Figures without a real text alternative (none, too short, or a front end's placeholder)
    and widget controls without an accessible name, in the course's content. axe-core passes a
    placeholder; a student who cannot see the figure learns nothing from it."""
    _with_axe(page)
    return [Finding(**f) for f in page.evaluate(_UNNAMED, [within, CONTENT, list(PLACEHOLDERS)])]


def axe_version(page) -> str:
    return page.evaluate("axe.version")
