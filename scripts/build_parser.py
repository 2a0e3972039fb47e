"""Regenerate cnndsl/grammar.tables, the parser tables shipped in the package.

    python scripts/build_parser.py          # after every change to grammar/cnn.lark

`cnndsl check` loads these tables (a pickle of lark's serialized parser, as lark's own cache holds)
instead of rebuilding the LALR tables from the grammar at every start. They are keyed (first line)
by the grammar's SHA-256 and lark's version: when either differs (an edited grammar, another lark),
cnndsl builds the tables from the grammar as before, and tests/test_parser_tables.py fails until
this script is run again. (Lark's table construction is not deterministic from run to run, so the
test compares what the tables parse with what a parser built from the grammar parses.)
"""
from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "cnndsl" / "grammar.tables"


def render() -> bytes:
    """One header line, ``<grammar's sha256> <lark version>``, then lark's serialized parser (a pickle
    of plain data, as lark's own cache holds)."""
    import lark
    from cnndsl.parser import GRAMMAR_OPTIONS, _grammar_text
    text = _grammar_text()
    parser = lark.Lark(text, **GRAMMAR_OPTIONS)
    data, memo = parser.memo_serialize([lark.grammar.Rule, lark.lexer.TerminalDef])
    header = f"{hashlib.sha256(text.encode('utf-8')).hexdigest()} {lark.__version__}\n".encode("ascii")
    return header + pickle.dumps({"data": data, "memo": memo}, protocol=4)


def main() -> None:
    OUT.write_bytes(render())
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
