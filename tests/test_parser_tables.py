"""The parser tables shipped in the package (cnndsl/_grammar_tables.py) are the grammar's, and
cnndsl's parser running them does what lark's parser, built from grammar/cnn.lark, does.

`cnndsl check` imports no lark: it runs the tables `python scripts/build_parser.py` writes (lark's
LALR tables, its contextual lexer's terminals per state, each rule's child filter). Lark's table
construction is not the same from run to run (state numbers differ), so the tables are checked by
what they do: every shipped spec, every fixture and many broken prefixes of them parse to the same
tree (rule names, children, tokens, positions), or fail at the same place, at the same token,
expecting the same terminals, as with lark's own parser (``cnndsl.parser._lark()``, built from the
grammar now). The syntax nodes are built from that tree's reductions; the error and grammar tests
hold what they say.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lark
import pytest
from lark.exceptions import UnexpectedInput

from cnndsl import _grammar_tables, parser

ROOT = Path(__file__).resolve().parent.parent
STALE = ("cnndsl/_grammar_tables.py was not built from grammar/cnn.lark: "
         "run `python scripts/build_parser.py` and commit cnndsl/_grammar_tables.py")


def test_the_tables_are_this_grammars():
    assert _grammar_tables.GRAMMAR == parser._grammar_text(), STALE


def test_check_loads_the_shipped_tables_and_no_lark():
    probe = ("import sys; from cnndsl.cli import main; main(['check', 'specs/resnet34.cnn', 'specs/unet.cnn']); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lark'))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]"


def test_stale_tables_are_rebuilt_from_the_grammar(monkeypatch):
    """An edited grammar (the shipped tables no longer its own) is parsed with tables lark builds now."""
    monkeypatch.setattr(_grammar_tables, "GRAMMAR", _grammar_tables.GRAMMAR + "\n// stale\n")
    monkeypatch.setattr(parser, "_TABLES", None)
    tables = parser._tables()
    assert tables.grammar == parser._grammar_text()
    assert parser._parse_ast(parser.Source("x", "network n(x: [4]) { relu }"), "network n(x: [4]) { relu }", "start")
    monkeypatch.setattr(parser, "_TABLES", None)


def _texts() -> list:
    files = sorted(ROOT.glob("specs/**/*.cnn")) + sorted(ROOT.glob("tests/fixtures/**/*.cnn"))
    texts = [f.read_text(encoding="utf-8") for f in files]
    from test_grammar import INVALID, VALID
    texts += VALID + [src for src, *_ in INVALID]
    texts += ["", "# only a comment\n", "let x = 1 if a else 2", "network n(x: [4]) { if c { relu } else { x } }",
              "network n(x: [4]) { x - -1 -> relu }", "network n(x: [4]) { y = x; if y { relu } }", "network @",
              "network n(x: [4]) { shared = relu; shared s = conv(2, 1); s }", "let collect = 2\n"]
    broken = []
    for text in texts:   # cut short at five places each: errors in many kinds of parser state
        step = max(1, len(text) // 5)
        broken += [text[:k] for k in range(step // 2, len(text), step)]
    return texts + broken


def _lark_tree(t):
    if isinstance(t, lark.Tree):
        m = t.meta
        pos = (m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos) if not m.empty else None
        return (t.data, pos, [_lark_tree(c) for c in t.children])
    if isinstance(t, lark.Token):
        return (t.type, str(t), t.line, t.column, t.end_line, t.end_column, t.start_pos, t.end_pos)
    return t


def _our_tree(t):
    if isinstance(t, parser.Tree):
        m = t.meta
        pos = (m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos) if not m.empty else None
        return (t.data, pos, [_our_tree(c) for c in t.children])
    if isinstance(t, parser.Token):
        return (t.type, t.value, t.line, t.column, t.end_line, t.end_column, t.start_pos, t.end_pos)
    return t


def _error(e) -> tuple:
    expected = getattr(e, "expected", None) or getattr(e, "allowed", None) or ()
    token = getattr(e, "token", None)
    return (type(e).__name__, e.line, e.column, sorted(expected), None if token is None else (token.type, str(token)))


def _lark_outcome(p: lark.Lark, text: str, start: str):
    parser._TEXT.set(text)     # the TERNARY_IF callback reads the text being parsed
    try:
        return _lark_tree(p.parse(text, start=start))
    except UnexpectedInput as e:
        return _error(e)


def _our_outcome(text: str, start: str):
    parser._TEXT.set(text)
    try:
        return _our_tree(parser._drive(text, start, None, "tree")[0])
    except parser.UnexpectedInput as e:
        return _error(e)


@pytest.fixture(scope="module")
def reference():
    return lark.Lark(parser._grammar_text(), lexer_callbacks=parser.LEXER_CALLBACKS, **parser.GRAMMAR_OPTIONS)


def test_the_parser_parses_as_lark_does(reference):
    texts = _texts()
    assert len(texts) > 300
    kinds = set()
    for text in texts:
        for start in ("start", "test") if len(text) < 200 else ("start",):
            ours = _our_outcome(text, start)
            assert ours == _lark_outcome(reference, text, start), (start, text[-200:])
            kinds.add(ours[0] if isinstance(ours[0], str) and ours[0].startswith("Unexpected") else "tree")
    assert kinds == {"tree", "UnexpectedToken", "UnexpectedCharacters"}


def test_every_token_is_lexed_as_lark_lexes_it(reference):
    """`cnndsl fmt` reads the tokens, whitespace and comments too, as lark's root lexer gives them."""
    for text in _texts()[:400]:
        try:
            theirs = [_lark_tree(t) for t in reference.lex(text, dont_ignore=True)]
        except UnexpectedInput as e:
            with pytest.raises(parser.UnexpectedCharacters) as ours:
                list(parser.lex_all(text))
            assert (ours.value.line, ours.value.column) == (e.line, e.column)
            continue
        assert [_our_tree(t) for t in parser.lex_all(text)] == theirs, text[-200:]


def test_the_tables_are_package_data():
    """The generated module is in the package (a .py file: no package-data entry needed), beside its builder."""
    import tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "cnndsl" in config["tool"]["setuptools"]["packages"]
    assert Path(_grammar_tables.__file__).parent == ROOT / "cnndsl"
