"""The course's figure style and `figures.show`: every line the style draws is dark enough to see
(WCAG 1.4.11), lines differ in style as well as colour (1.4.1), and a figure reaches the notebook
only with its text alternative (1.1.1), carried where JupyterLab and nbconvert read it."""
import base64
import html
import sys

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from grader import figures  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    """What `figures.show` displays: (bundle, metadata) per call."""
    calls = []
    monkeypatch.setattr("IPython.display.display",
                        lambda data, raw, metadata: calls.append((data, metadata)))
    figures.use()
    yield calls
    plt.close("all")
    matplotlib.rcdefaults()


def test_every_colour_of_the_style_reaches_the_contrast_text_needs():
    for name, colour in figures.COLOURS.items():
        assert figures.contrast(colour) >= figures.TEXT, name
    assert round(figures.contrast("#FF800E"), 2) == 2.52  # tableau-colorblind10's orange
    assert round(figures.contrast("#777777"), 2) == 4.48  # WCAG's own example of a near miss


def test_the_style_gives_each_line_its_own_colour_and_line_style():
    figures.use()
    try:
        cycle = list(matplotlib.rcParams["axes.prop_cycle"])
        assert len({c["color"] for c in cycle}) == len(cycle) == len(figures.COLOURS)
        assert len({str(c["linestyle"]) for c in cycle}) == len(cycle)
    finally:
        matplotlib.rcdefaults()


def test_a_figure_in_the_style_has_no_faint_part(shown):
    fig, ax = plt.subplots()
    xs = np.linspace(0, 1, 5)
    for shift in range(len(figures.COLOURS)):
        ax.plot(xs, xs + shift, marker="o", label=f"line {shift}")
    ax.fill_between(xs, xs, alpha=0.2)  # a shaded area is not held to 3:1
    ax.set_title("title")
    ax.legend()
    assert figures.faint_parts(fig) == []


def test_faint_lines_markers_contours_and_text_are_named(shown):
    fig, ax = plt.subplots()
    xs = np.linspace(0, 1, 5)
    ax.plot(xs, xs, color="#FF800E", label="orange")
    ax.plot(xs, xs, linestyle="none", marker="o", color="#ABABAB", label="grey dots")
    ax.contour(*np.meshgrid(xs, xs), np.add.outer(xs, xs))  # viridis' light upper levels
    ax.text(0.5, 0.5, "pale", color="#999999")
    faint = figures.faint_parts(fig)
    assert any(part.startswith("line 'orange': 2.52:1") for part in faint), faint
    assert any(part.startswith("markers of 'grey dots': 2.30:1") for part in faint), faint
    assert any(part.startswith("QuadContourSet") for part in faint), faint
    assert any(part.startswith("text 'pale'") for part in faint), faint
    with pytest.raises(ValueError, match="too faint to see"):
        figures.show(fig, alt="four things too faint to see")
    assert shown == []


def test_show_carries_the_alt_text_in_html_metadata_and_text(shown):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="y = x")
    alt = 'The line y = x, rising from (0, 0) to (1, 1) & "straight".'
    figures.show(fig, alt=alt)
    (bundle, metadata), = shown
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG")
    assert bundle["text/html"] == (f'<img src="data:image/png;base64,{bundle["image/png"]}" '
                                   f'alt="{html.escape(alt)}">')
    assert bundle["text/plain"] == f"[Figure: {alt}]"
    assert metadata == {"image/png": {"alt": alt}}
    assert not plt.get_fignums(), "the figure is closed, so the inline backend shows it once"


def test_show_draws_an_svg_with_its_alt_text(shown):
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    figures.show(svg, alt="An empty drawing, ten pixels square.")
    (bundle, metadata), = shown
    assert bundle["image/svg+xml"] == svg
    assert 'alt="An empty drawing, ten pixels square."' in bundle["text/html"]
    assert base64.b64encode(svg.encode()).decode() in bundle["text/html"]


@pytest.mark.parametrize("alt", [None, "", "   ", "plot"])
def test_a_figure_without_a_real_text_alternative_is_refused(shown, alt):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(ValueError, match="needs its text alternative"):
        figures.show(fig, alt=alt)
    assert shown == []


def test_show_displays_through_ipython():
    """The real display path: the bundle reaches IPython's display publisher as given."""
    shell = InteractiveShell.instance()
    published = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: published.append(
        (data, metadata))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    figures.show(fig, alt="A line falling from 1 to 0.")
    (data, metadata), = published
    assert set(data) == {"image/png", "text/html", "text/plain"}
    assert metadata == {"image/png": {"alt": "A line falling from 1 to 0."}}


def test_interact_on_colab_draws_once_at_each_controls_value(monkeypatch, capsys):
    """Colab's front end does not show the course's widgets: the function runs once, at the
    controls' values, and the student is told how to try another."""
    import types

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = []
    box = types.SimpleNamespace(description="x₀", value=2.0)
    menu = types.SimpleNamespace(description="f(x) =", value="sigmoid")
    assert figures.interact(lambda x0, name: calls.append((x0, name)), x0=box, name=menu) is None
    assert calls == [(2.0, "sigmoid")]
    said = capsys.readouterr().out
    assert "here is the figure at x₀ = 2.0, f(x) = sigmoid." in said
    assert "change it in the code above" in said


def test_interact_elsewhere_is_ipywidgets_interact(monkeypatch):
    import ipywidgets

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    calls = []
    box = ipywidgets.BoundedFloatText(value=1.5, min=0.0, max=3.0, description="x₀")
    shown = figures.interact(lambda x0: calls.append(x0), x0=box)
    assert calls == [1.5]  # interact calls it once with the initial value
    assert hasattr(shown, "widget")  # what ipywidgets.interact returns: the function, with its UI
