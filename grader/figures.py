"""The course's figures: one style every lab uses, and `show`, which puts words with a picture.

Why: a student who cannot see a figure learns from its text alternative (WCAG 1.1.1), a
colour-blind student from line styles and markers as well as colours (1.4.1), and everyone from
lines dark enough to see: 3:1 against the background for lines and markers (1.4.11), 4.5:1 for
text (1.4.3). `show` refuses a figure that breaks one of these, so a lab that draws a faint line
stops in CI instead of reaching a student.

    from grader import figures
    figures.use()                     # once, in a lab's imports cell
    fig, ax = plt.subplots()
    ax.plot(xs, ys, label="f")
    figures.show(fig, alt="The parabola f(x) = x², lowest at x = 0.")

A cell to play with uses `interact`, which falls back to the plain figure where no widget can
be shown. This module runs in a graded student's kernel too: it imports matplotlib and IPython
only (ipywidgets inside `interact`).
"""
from __future__ import annotations

import base64
import html
import io
import sys

import matplotlib as mpl
from cycler import cycler
from matplotlib.colors import to_rgba

# Colour-blind-safe (blue and orange apart for every common colour vision; grey, purple and
# green apart by lightness and style), each at least 4.5:1 against white.
COLOURS = {
    "blue": "#006BA4",    # 5.77:1
    "orange": "#C85200",  # 4.50:1
    "grey": "#595959",    # 7.00:1
    "purple": "#882255",  # 8.73:1
    "green": "#117733",   # 5.66:1
}
LINE_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v"]
LINES = 3.0    # 1.4.11: lines, markers and other graphical objects
TEXT = 4.5     # 1.4.3: text

STYLE = {
    "axes.prop_cycle": (cycler(color=list(COLOURS.values())) + cycler(linestyle=LINE_STYLES)),
    "lines.linewidth": 2.0,
    "lines.markersize": 6,
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "black",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "text.color": "black",
    "grid.color": "#767676",  # 4.54:1: a grid that is there is visible
    "grid.alpha": 0.5,
    "legend.framealpha": 1.0,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.dpi": 100,
}


def use() -> None:
    """Make the course's style matplotlib's: colours that reach 3:1, with a line style each."""
    mpl.rcParams.update(STYLE)


def contrast(colour, background="white") -> float:
    """WCAG's contrast ratio of `colour` (drawn over `background`, with its alpha) to it."""
    front, back = to_rgba(colour), to_rgba(background)
    alpha = front[3]
    seen = [alpha * f + (1 - alpha) * b for f, b in zip(front[:3], back[:3], strict=True)]
    light = sorted((_luminance(seen), _luminance(back[:3])), reverse=True)
    return (light[0] + 0.05) / (light[1] + 0.05)


def _luminance(rgb) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def faint_parts(fig) -> list[str]:
    """What in `fig` is too faint to see against its axes: lines and markers under 3:1,
    text under 4.5:1. Fills and areas are left alone (they shade; lines carry the data)."""
    faint = []
    for ax in fig.axes:
        back = ax.get_facecolor()
        for line in ax.get_lines():
            if line.get_visible() and line.get_linestyle() not in ("None", "", " "):
                _note(faint, f"line {line.get_label()!r}", line.get_color(), back, LINES)
            if line.get_visible() and line.get_marker() not in (None, "None", "", " "):
                _note(faint, f"markers of {line.get_label()!r}", line.get_markeredgecolor(),
                      back, LINES)
        for collection in ax.collections:
            if not collection.get_visible() or type(collection).__name__ in _AREAS:
                continue
            colours = list(collection.get_edgecolor()) if _has_edges(collection) else []
            colours = colours or list(collection.get_facecolor())
            for colour in colours:
                _note(faint, f"{type(collection).__name__} {collection.get_label()!r}",
                      colour, back, LINES)
        for text in ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label]:
            if text.get_visible() and text.get_text().strip():
                _note(faint, f"text {text.get_text()!r}", text.get_color(), back, TEXT)
    return faint


_AREAS = {"PolyCollection", "FillBetweenPolyCollection", "QuadMesh"}


def _has_edges(collection) -> bool:
    widths = collection.get_linewidth()
    return any(w > 0 for w in (widths if hasattr(widths, "__len__") else [widths]))


def _note(faint: list, what: str, colour, background, needed: float) -> None:
    ratio = contrast(colour, background)
    if to_rgba(colour)[3] > 0 and ratio < needed:
        faint.append(f"{what}: {ratio:.2f}:1, needs {needed}:1")


def show(picture, alt: str) -> None:
    """Show a matplotlib figure (or an SVG drawing, as text or bytes) with `alt`, its text
    alternative: a sentence that says what the picture shows, for a student who cannot see it.

    JupyterLab reads alt text only from HTML, so the output carries the picture three ways: as
    HTML with `alt` (JupyterLab, nbconvert, the feedback page), as the image itself with `alt`
    in its metadata (where a front end prefers images), and as text.
    """
    if not isinstance(alt, str) or len(alt.strip()) < 10:
        raise ValueError("a figure needs its text alternative: show(fig, alt='what it shows')")
    from IPython.display import display

    if isinstance(picture, (str, bytes)):
        kind, data = "image/svg+xml", picture.encode() if isinstance(picture, str) else picture
    else:
        faint = faint_parts(picture)
        if faint:
            raise ValueError("too faint to see (WCAG 2.1 AA): " + "; ".join(faint))
        kind, data = "image/png", _png(picture)
    inline = base64.b64encode(data).decode()
    bundle = {
        kind: data.decode() if kind == "image/svg+xml" else inline,  # as Jupyter carries each
        "text/html": f'<img src="data:{kind};base64,{inline}" alt="{html.escape(alt)}">',
        "text/plain": f"[Figure: {alt}]",
    }
    display(bundle, raw=True, metadata={kind: {"alt": alt}})


def interact(function, **controls):
    """`ipywidgets.interact(function, **controls)`, where the course's widgets can be shown.

    Colab's front end does not show them (it runs a widget manager of its own, for another
    ipywidgets), so there the function is called once with each control's value: the student
    still gets the figure and the sentence that goes with it, and is told how to try another
    value. A lab names the controls it offers with `description`, and says the value in words.
    """
    if "google.colab" not in sys.modules:
        import ipywidgets

        return ipywidgets.interact(function, **controls)
    values = ", ".join(f"{control.description.rstrip(' =')} = {control.value}"
                       for control in controls.values())
    print(f"Colab does not show this cell's controls, so here is the figure at {values}. "
          "To try another value, change it in the code above and run the cell again.")
    function(**{name: control.value for name, control in controls.items()})
    return None


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
