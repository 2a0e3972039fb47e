"""The README's before/after pictures for "Already have a Keras model?" (issue 11).

    .venv/bin/python scripts/render_import_pictures.py     # needs pydot (pip install 'cnndsl[bench]')

- docs/img/import/plot_model_resnet50_top.svg: what keras.utils.plot_model draws for
  keras.applications.ResNet50 (show_shapes=True), cut to its first boxes: the DOT comes from
  keras.utils.model_to_dot, the function plot_model draws with, and keeps the first TOP nodes and the
  edges between them; the full picture's size is printed.
- docs/img/import/cnndsl_resnet50.svg: `cnndsl draw resnet50.keras -o ... --depth 1` of the same
  model saved as a .keras file.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "import"
TOP = 24


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import graphviz
    import keras
    model = keras.applications.ResNet50(weights=None)
    OUT.mkdir(parents=True, exist_ok=True)
    dot = keras.utils.model_to_dot(model, show_shapes=True)
    full = dot.to_string()
    nodes = re.findall(r"^(\d+) \[", full, flags=re.M)
    keep = set(nodes[:TOP])
    lines = []
    for line in full.splitlines():
        m = re.match(r"^(\d+) -> (\d+)", line) or re.match(r"^(\d+) \[", line)
        if m and not all(g in keep for g in m.groups()):
            continue
        lines.append(line)
    top = "\n".join(lines)
    (OUT / "plot_model_resnet50_top.svg").write_bytes(graphviz.Source(top).pipe(format="svg"))
    size = graphviz.Source(full).pipe(format="png")
    width, height = int.from_bytes(size[16:20], "big"), int.from_bytes(size[20:24], "big")
    print(f"plot_model's full picture: {len(nodes)} boxes in one column, {width}x{height} px")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "resnet50.keras")
        model.save(path)
        subprocess.run([sys.executable, "-m", "cnndsl", "draw", str(path), "-o", str(OUT / "cnndsl_resnet50.svg"),
                        "--depth", "1"], check=True)
    print(f"wrote {OUT / 'plot_model_resnet50_top.svg'} and {OUT / 'cnndsl_resnet50.svg'}")


if __name__ == "__main__":
    main()
