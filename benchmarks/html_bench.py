"""The interactive diagram on the largest zoo networks: load time in headless Chromium (Debian's chromium,
driven by Playwright), at depth 1 and at full depth, against the load of the same page holding a one-layer
network (the baseline: the layout engine's own start-up), measured in the same browser.

    .venv/bin/python benchmarks/html_bench.py
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import cnndsl
from cnndsl.backends.html import to_html

SPECS = Path(__file__).resolve().parent.parent / "specs"
CASES = [("nasnetlarge", SPECS / "applications" / "nasnet.cnn"), ("efficientnetb7", SPECS / "applications" / "efficientnet.cnn")]


def load(page, html: str, folder: Path) -> float:
    path = folder / "m.html"
    path.write_text(html)
    t = time.perf_counter()
    page.goto(f"file://{path}")
    page.wait_for_function("window.cnndslReady !== undefined", timeout=600_000)
    return time.perf_counter() - t


def main() -> None:
    from playwright.sync_api import sync_playwright
    chromium = shutil.which("chromium")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        base = load(page, to_html(cnndsl.check("network n(x: [8, 8, 3]) { conv(4, 3) }")), Path(tmp))
        print(f"baseline (one layer): {base:.2f} s")
        for name, spec in CASES:
            graph = cnndsl.check(spec, name)
            for depth in (1, None):
                t = load(page, to_html(graph, depth), Path(tmp))
                boxes = page.evaluate("window.cnndslState.boxes")
                print(f"{name} depth {depth if depth is not None else 'full'}: {graph.layers} layers, {boxes} boxes, "
                      f"loaded in {t:.2f} s ({t / base:.1f}x the baseline)")
            t = time.perf_counter()
            page.click("#cnndsl-collapse")
            page.click("#cnndsl-search")
            print(f"{name}: collapse all + redraw {time.perf_counter() - t:.2f} s")
        browser.close()


if __name__ == "__main__":
    main()
