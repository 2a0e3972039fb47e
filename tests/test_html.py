"""cnndsl draw -o x.html in a real headless Chromium (Debian's `chromium`, driven by Playwright without its
own browser download): the page loads with no console errors, a click opens and closes a block in place,
hovering shows a layer's details and spec line, and the search box finds layers. For a seed network, a
keras.applications network and a .keras file."""
from __future__ import annotations

import shutil

import pytest

from conftest import SPECS, run_cli

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("the browser tests need Debian's chromium package (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"fetched {r.url}") if not r.url.startswith(("file:", "data:")) else None)
    page.goto(f"file://{path}")
    page.wait_for_function("window.cnndslReady !== undefined", timeout=120_000)
    return page, errors


def _draw(tmp_path, spec, *args):
    out = tmp_path / "model.html"
    r = run_cli("draw", spec, "-o", out, *args)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "src=" not in text   # self-contained
    return out


def test_a_seed_network_opens_and_closes_blocks_in_place(browser, tmp_path):
    page, errors = _open(browser, _draw(tmp_path, SPECS / "googlenet.cnn", "--depth", "0"))
    # depth 0: the inception blocks are folded boxes
    folded = page.locator('g.node[id="f:inception_1"]')
    assert folded.count() == 1 and page.locator('g.node[id^="b:inception_3a_"]').count() == 0
    before = page.locator("g.node").count()
    folded.click()
    page.wait_for_function("window.cnndslState.open.includes('inception_1')")
    inside = page.locator('g.node[id^="b:inception_3a_"]')
    assert inside.count() == 8 and page.locator("g.node").count() == before + 7   # 8 boxes replace 1
    # hover: the layer's op, shapes, params and its spec line with the source text
    inside.first.hover()
    tip = page.locator("#cnndsl-tip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert "inception_3a_1x1" in text and "(None, 28, 28, 192) → (None, 28, 28, 64)" in text
    assert "googlenet.cnn:23:9" in text and 'conv(c1, 1, name="{name}_1x1")' in text
    # closing it again folds it back
    page.locator('g.cluster[id="c:inception_1"]').click(position={"x": 5, "y": 5})
    page.wait_for_function("!window.cnndslState.open.includes('inception_1')")
    assert page.locator('g.node[id^="b:inception_3a_"]').count() == 0 and page.locator("g.node").count() == before
    assert errors == []


def test_a_zoo_network_search_opens_the_blocks_around_a_layer(browser, tmp_path):
    page, errors = _open(browser, _draw(tmp_path, SPECS / "applications" / "resnet.cnn", "-n", "resnet50", "--depth", "0"))
    assert page.locator('g.node[id*="conv4_block3"]').count() == 0
    page.fill("#cnndsl-search", "conv4_block3_2_conv")
    page.wait_for_function("document.getElementById('cnndsl-found').textContent === '1 match'")
    hit = page.locator("g.node.hit")
    assert hit.count() == 1 and "conv4_block3_2_conv" in hit.get_attribute("id")
    # pan and zoom move the drawing
    before = page.eval_on_selector("#cnndsl-canvas", "e => e.style.transform")
    page.mouse.move(700, 500)
    page.mouse.wheel(0, -300)
    assert page.eval_on_selector("#cnndsl-canvas", "e => e.style.transform") != before
    assert errors == []


def test_a_keras_file(browser, tmp_path):
    model = tmp_path / "lenet.keras"
    assert run_cli("compile", SPECS / "lenet5.cnn", "-o", model).returncode == 0
    page, errors = _open(browser, _draw(tmp_path, model))
    assert page.locator("g.node").count() >= 8 and errors == []
    page.locator("g.node").nth(1).hover()
    assert "params" in page.locator("#cnndsl-tip").inner_text()


def test_the_notebook_display_is_the_page_in_an_iframe():
    import cnndsl
    html = cnndsl.check(SPECS / "lenet5.cnn")._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "cnndsl-model" in html


def test_a_diff_page_colours_the_changes_and_folds_the_rest(browser, tmp_path):
    from test_sweep_diff import A, B
    (tmp_path / "a.cnn").write_text(A)
    (tmp_path / "b.cnn").write_text(B)
    out = tmp_path / "diff.html"
    assert run_cli("diff", tmp_path / "a.cnn", tmp_path / "b.cnn", "--format", "html", "-o", out).returncode == 0
    page, errors = _open(browser, out)
    assert page.locator('g.node[id="f:unit_1"]').count() == 1            # unchanged: folded
    added = page.locator('g.node[id="b:unit_3-conv_1"] path, g.node[id="b:unit_3-conv_1"] polygon').first
    changed = page.locator('g.node[id="b:unit_2-conv_1"] path, g.node[id="b:unit_2-conv_1"] polygon').first
    assert added.get_attribute("fill") == "#c9efc4" and changed.get_attribute("fill") == "#ffe0b2"
    assert errors == []
