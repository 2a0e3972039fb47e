"""The parser tables shipped in the package (cnndsl/grammar.tables) are the grammar's.

`cnndsl check` loads them instead of building lark's LALR tables at every start;
`python scripts/build_parser.py` writes them. Their first line names the grammar's SHA-256 and the
lark that built them. Lark's table construction is not the same from run to run (state numbers
differ), so the tables are also checked by what they do: every shipped spec, every fixture and many
broken prefixes of them parse to the same tree, or fail at the same place expecting the same
tokens, with the shipped tables as with a parser lark builds from grammar/cnn.lark now.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import lark
import pytest
from lark.exceptions import UnexpectedInput

from cnndsl import parser

ROOT = Path(__file__).resolve().parent.parent
TABLES = Path(parser.__file__).with_name(parser.TABLES_FILE)
STALE = ("cnndsl/grammar.tables was not built from grammar/cnn.lark by this lark: "
         "run `python scripts/build_parser.py` and commit cnndsl/grammar.tables")


def test_the_tables_name_this_grammar_and_this_lark():
    digest, version = TABLES.read_bytes().split(b"\n", 1)[0].decode("ascii").split(" ")
    assert digest == hashlib.sha256(parser._grammar_text().encode("utf-8")).hexdigest(), STALE
    assert version == lark.__version__, STALE


def test_check_loads_the_shipped_tables():
    assert parser._shipped_tables(parser._grammar_text()) is not None, STALE
    parser._lark.cache_clear()
    try:
        assert parser._lark().options.propagate_positions is True
    finally:
        parser._lark.cache_clear()


def test_stale_tables_are_not_used():
    assert parser._shipped_tables(parser._grammar_text() + "\n// edited\n") is None


def _texts() -> list:
    files = sorted(ROOT.glob("specs/**/*.cnn")) + sorted(ROOT.glob("tests/fixtures/**/*.cnn"))
    texts = [f.read_text(encoding="utf-8") for f in files]
    from test_grammar import INVALID, VALID
    texts += VALID + [src for src, *_ in INVALID]
    broken = []
    for text in texts:   # cut short at five places each: errors in many kinds of parser state
        step = max(1, len(text) // 5)
        broken += [text[:k] for k in range(step // 2, len(text), step)]
    return texts + broken


def _outcome(p: lark.Lark, text: str, start: str):
    try:
        tree = p.parse(text, start=start)
    except UnexpectedInput as e:
        expected = getattr(e, "expected", None) or getattr(e, "allowed", None) or ()
        token = getattr(e, "token", None)
        return (type(e).__name__, e.line, e.column, sorted(expected), token and (token.type, str(token)))
    tokens = [(t.type, str(t), t.line, t.column, t.end_line, t.end_column) for t in tree.scan_values(lambda v: True)
              if isinstance(t, lark.Token)]
    return tree, tokens


@pytest.fixture(scope="module")
def parsers():
    shipped = parser._shipped_tables(parser._grammar_text())
    assert shipped is not None, STALE
    return lark.Lark.load(shipped), lark.Lark(parser._grammar_text(), **parser.GRAMMAR_OPTIONS)


def test_the_shipped_tables_parse_as_the_grammar_does(parsers):
    shipped, built = parsers
    texts = _texts()
    assert len(texts) > 300
    for text in texts:
        for start in ("start", "test") if len(text) < 200 else ("start",):
            assert _outcome(shipped, text, start) == _outcome(built, text, start), (start, text[-200:])


def test_the_tables_are_package_data():
    import tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert parser.TABLES_FILE in config["tool"]["setuptools"]["package-data"]["cnndsl"]
    assert TABLES.parent == ROOT / "cnndsl" and os.path.exists(TABLES)
