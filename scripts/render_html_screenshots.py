"""The README's screenshots of the interactive diagram (docs/img/html_*.png), taken in headless Chromium.

    .venv/bin/python scripts/render_html_screenshots.py
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cnndsl
from cnndsl.backends.html import to_html

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"


def main() -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        # GoogLeNet at depth 0, one inception block opened, hovering a layer
        path = Path(tmp) / "googlenet.html"
        path.write_text(to_html(cnndsl.check(ROOT / "specs" / "googlenet.cnn"), 0))
        page.goto(f"file://{path}")
        page.wait_for_function("window.cnndslReady !== undefined")
        page.click('g.node[id="f:inception_4"]')
        page.wait_for_function("window.cnndslState.open.includes('inception_4')")
        page.click("#cnndsl-fit")
        page.hover('g.node[id$="_3x3"]')
        page.screenshot(path=str(OUT / "html_googlenet.png"))
        # ResNet-50 (keras.applications) at depth 1, searching for a layer
        path = Path(tmp) / "resnet50.html"
        path.write_text(to_html(cnndsl.check(ROOT / "specs" / "applications" / "resnet.cnn", "resnet50"), 0))
        page.goto(f"file://{path}")
        page.wait_for_function("window.cnndslReady !== undefined")
        page.fill("#cnndsl-search", "conv4_block2_2_conv")
        page.wait_for_function("document.getElementById('cnndsl-found').textContent === '1 match'")
        page.hover("g.node.hit")
        page.screenshot(path=str(OUT / "html_resnet50.png"))
        browser.close()
    print("wrote docs/img/html_googlenet.png, docs/img/html_resnet50.png")


if __name__ == "__main__":
    main()
