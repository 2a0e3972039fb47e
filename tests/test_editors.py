"""Highlighting (issue 19): the Pygments lexer and the VS Code TextMate grammar cover every keyword of the
Lark grammar (read from Lark's own terminals here) and every op of the registry, and the generated
grammar is up to date. No framework is imported."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from cnndsl.ops import REGISTRY
from cnndsl.parser import _lark
from conftest import ROOT, SPECS

pytest.importorskip("pygments")
from pygments.token import Error, Keyword, Name, Operator  # noqa: E402

from cnndsl import highlight  # noqa: E402

VSCODE = ROOT / "editors" / "vscode"
OPS = sorted(name for name, op in REGISTRY.items() if not op.internal)


def grammar_keywords() -> set:
    """The words Lark's own terminals of the grammar match whole (its keywords), independently of
    cnndsl.highlight: for each terminal, the word its pattern starts with, if the terminal matches
    just that word at the end of a text or before a declaration (`shared x = ...` makes `shared` one)."""
    words = set()
    for term in _lark().terminals:
        lead = re.match(r"[a-z_]+", term.pattern.value)
        if lead is None:
            continue
        word = lead.group()
        for after in ("", " x = 1", " {"):
            m = re.match(term.pattern.to_regexp(), word + after)
            if m and m.end() == len(word):
                words.add(word)
    return words


def textmate_scopes(word: str, context: str = "{}") -> list:
    """The scopes of the TextMate grammar's patterns that match ``word`` whole, inside ``context``."""
    grammar = json.loads((VSCODE / "syntaxes" / "cnn.tmLanguage.json").read_text())
    text = context.format(word)
    start = text.index(word)
    found = []
    for pat in grammar["repository"]["code"]["patterns"]:
        if "match" not in pat:
            continue
        for m in re.finditer(pat["match"], text):
            if m.start() == start and m.end() == start + len(word) and "name" in pat:
                found.append(pat["name"])
            for k, cap in pat.get("captures", {}).items():
                if m.start(int(k)) == start and m.end(int(k)) == start + len(word):
                    found.append(cap["name"])
    return found


def pygments_type(word: str, context: str = "{}"):
    text = context.format(word)
    pos = text.index(word)
    for index, ttype, value in highlight.CnnLexer().get_tokens_unprocessed(text):
        if index == pos and value == word:
            return ttype
    return None


def test_the_keyword_list_is_the_grammar_s():
    assert grammar_keywords() == set(highlight.keywords())
    assert {"block", "network", "let", "repeat", "if", "else", "expect", "import"} <= grammar_keywords()


@pytest.mark.parametrize("word", sorted(grammar_keywords()))
def test_every_keyword_is_highlighted_by_both(word):
    ttype = pygments_type(word, "x {} y")
    assert ttype is not None and (ttype in Keyword or ttype in Operator.Word), (word, ttype)
    scopes = textmate_scopes(word, "x {} y")
    assert any(s.startswith(("keyword.", "storage.type", "constant.language")) for s in scopes), (word, scopes)


@pytest.mark.parametrize("op", OPS)
def test_every_op_is_highlighted_by_both(op):
    for context in ("    x -> {}(1) -> y", "    x -> {}\n"):
        assert pygments_type(op, context) in Name.Builtin, (op, context)
        assert "support.function.op.cnn" in textmate_scopes(op, context), (op, context)


def test_symbols_and_keyword_arguments():
    for sym in ("same", "valid", "bilinear"):
        assert pygments_type(sym, "conv(8, 3, padding={})") in Name.Constant
        assert "support.constant.symbol.cnn" in textmate_scopes(sym, "conv(8, 3, padding={})")
    assert pygments_type("stride", "conv(8, 3, stride=2)") in Name.Attribute
    assert "variable.parameter.cnn" in textmate_scopes("stride", "conv(8, 3, stride=2)")
    assert pygments_type("activation", "dense(2, activation=relu)") in Name.Attribute
    assert pygments_type("stage", "block stage(f) {{ relu }}") in Name.Class
    assert "entity.name.type.cnn" in textmate_scopes("stage", "block stage(f) {{ relu }}")


def test_every_shipped_spec_lexes_without_an_error_token():
    lexer = highlight.CnnLexer()
    for path in sorted(SPECS.rglob("*.cnn")):
        bad = [v for t, v in lexer.get_tokens(path.read_text()) if t in Error]
        assert not bad, (path, bad[:5])


def test_the_textmate_grammar_is_generated_and_up_to_date():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_editors.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_pygments_finds_the_lexer_through_its_entry_point(tmp_path):
    from pygments.lexers import find_lexer_class_for_filename, get_lexer_by_name
    assert get_lexer_by_name("cnn").name == "cnndsl"
    assert find_lexer_class_for_filename("resnet.cnn").name == "cnndsl"
    r = subprocess.run([sys.executable, "-m", "pygments", "-l", "cnn", "-f", "html", str(SPECS / "resnet34.cnn")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert '<span class="k">repeat</span>' in r.stdout and '<span class="nb">conv</span>' in r.stdout
    assert '<span class="c1"># main layers</span>' in r.stdout


def test_the_vscode_extension_folder():
    package = json.loads((VSCODE / "package.json").read_text())
    lang = package["contributes"]["languages"][0]
    assert (lang["id"], lang["extensions"]) == ("cnn", [".cnn"])
    grammar = package["contributes"]["grammars"][0]
    assert grammar["language"] == "cnn" and (VSCODE / grammar["path"]).exists()
    assert json.loads((VSCODE / grammar["path"]).read_text())["scopeName"] == grammar["scopeName"]
    config = json.loads((VSCODE / lang["configuration"]).read_text())
    assert config["comments"] == {"lineComment": "#"}
    assert config["brackets"] == [["{", "}"], ["[", "]"], ["(", ")"]]
    assert "vscode-languageclient" in package["dependencies"]
    assert package["contributes"]["configuration"]["properties"]["cnndsl.server.command"]["default"] == ["cnndsl", "lsp"]
    main = (VSCODE / package["main"]).read_text()
    assert 'require("vscode-languageclient/node")' in main and "language: \"cnn\"" in main
