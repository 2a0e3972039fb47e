"""Write the editors' generated files from the grammar and the op registry (issue 19):

    .venv/bin/python scripts/render_editors.py           # rewrite editors/vscode/syntaxes/cnn.tmLanguage.json
    .venv/bin/python scripts/render_editors.py --check   # exit 1 if it is out of date (tests/test_editors.py)

The keywords come from grammar/cnn.lark and the op names and symbols from cnndsl.ops.REGISTRY
(cnndsl/highlight.py), so a new keyword or op needs only this script run again.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TEXTMATE = ROOT / "editors" / "vscode" / "syntaxes" / "cnn.tmLanguage.json"


def rendered() -> str:
    from cnndsl.highlight import textmate
    return json.dumps(textmate(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    text = rendered()
    if "--check" in sys.argv[1:]:
        if not TEXTMATE.exists() or TEXTMATE.read_text(encoding="utf-8") != text:
            print(f"{TEXTMATE.relative_to(ROOT)} is out of date: run scripts/render_editors.py")
            return 1
        return 0
    TEXTMATE.parent.mkdir(parents=True, exist_ok=True)
    TEXTMATE.write_text(text, encoding="utf-8")
    print(f"wrote {TEXTMATE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
