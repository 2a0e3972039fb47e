"""Regenerate cnndsl/_grammar_tables.py, the parser tables shipped in the package.

    python scripts/build_parser.py          # after every change to grammar/cnn.lark

`cnndsl check` does not import lark: cnndsl/parser.py drives these tables itself. They are made by
lark from grammar/cnn.lark (cnndsl/_build_tables.py says what they hold). The module keeps the
grammar's text: when grammar/cnn.lark differs from it, cnndsl builds the same tables with lark at
run time, and tests/test_parser_tables.py fails until this script is run again.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "cnndsl" / "_grammar_tables.py"


def main() -> None:
    from cnndsl._build_tables import render
    from cnndsl.parser import _grammar_text
    OUT.write_text(render(_grammar_text()), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
