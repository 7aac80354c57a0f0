"""The accessibility checks themselves (tests/a11y.py) in Chromium: they fail on what they must
(a figure without a text alternative or with a front end's placeholder, a widget's control
without a name, faint text) and pass what is right, so that a clean report means something."""
import pytest

from tests import a11y
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, missing_tools

pytestmark = pytest.mark.browser

PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
         "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def browser():
    if message := missing_tools():
        pytest.fail(message, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def findings(browser, body: str) -> set[str]:
    page = browser.new_page()
    try:
        page.set_content(f'<!DOCTYPE html><html lang="en"><head><title>t</title></head>'
                         f'<body><main><h1>Lab</h1>{body}</main></body></html>')
        return {f.rule for f in a11y.audit(page, structure=True) + a11y.unnamed(page)}
    finally:
        page.close()


def output(html: str) -> str:
    return f'<div class="jp-OutputArea-output">{html}</div>'


def test_a_figure_with_its_text_alternative_and_a_named_widget_pass(browser):
    assert findings(browser, output(
        f'<img src="{PIXEL}" alt="The parabola y = x², lowest at x = 0.">'
        '<div class="jupyter-widgets"><label for="x0">x₀</label>'
        '<input id="x0" type="number" value="1"></div>')) == set()


@pytest.mark.parametrize("alt", [None, "", "Image",
                                 "No description has been provided for this image"])
def test_a_figure_without_a_real_text_alternative_fails(browser, alt):
    attribute = "" if alt is None else f' alt="{alt}"'
    assert "figure-text-alternative" in findings(browser,
                                                 output(f'<img src="{PIXEL}"{attribute}>'))


def test_a_slider_without_a_name_fails_as_ipywidgets_draws_it(browser):
    """ipywidgets' FloatSlider: a label beside a noUiSlider handle that it does not name."""
    found = findings(browser, output(
        '<div class="jupyter-widgets widget-slider"><label class="widget-label">x₀</label>'
        '<div class="noUi-handle" role="slider" tabindex="0" aria-valuemin="0" '
        'aria-valuemax="1" aria-valuenow="0.5"></div></div>'))
    assert {"widget-name", "aria-input-field-name"} <= found


def test_faint_text_and_headings_out_of_order_fail(browser):
    assert "color-contrast" in findings(browser, '<p style="color:#999">faint</p>')
    assert "heading-order" in findings(browser, "<h3>skips a level</h3>")
