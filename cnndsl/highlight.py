"""Highlighting for .cnn: a Pygments lexer, and the word lists the editors' grammars are made from.

The keywords come from the Lark grammar (every terminal that is a whole word, and every quoted word
in its rules), the op names and the symbols (`same`, `relu`, ...) from the op registry, so neither
list can fall behind the language. ``CnnLexer`` is registered with Pygments through the
``pygments.lexers`` entry point: ``pygmentize -l cnn spec.cnn``, Sphinx and MkDocs (```` ```cnn ````),
Jupyter. ``scripts/render_editors.py`` writes the TextMate grammar of ``editors/vscode`` from the
same lists.
"""
from __future__ import annotations

import functools
import re

CONSTANTS = ("true", "false", "none")
WORD_OPERATORS = ("and", "or", "not")
DEFINERS = ("block", "network", "fn")


@functools.lru_cache(maxsize=None)
def keywords() -> tuple:
    """Every keyword of the grammar, sorted: terminals that match one whole word (``_KW_LET.2:
    /let(?![A-Za-z0-9_])/``, ``COLLECT``, the ternary's ``if``) and quoted words in rules."""
    from .parser import _grammar_text
    text = re.sub(r"//[^\n]*", "", _grammar_text())
    words = set()
    for m in re.finditer(r"^\s*[A-Z_][A-Z0-9_]*(?:\.\d+)?\s*:\s*(.+)$", text, re.M):
        body = m.group(1).strip()
        w = re.match(r"/([a-z_]+)(?:\(\?![^)]*\)|\(\?=.*\))*/$", body) or re.match(r'"([a-z_]+)"$', body)
        if w:
            words.add(w.group(1))
    words.update(re.findall(r'"([a-z_]+)"', text))
    return tuple(sorted(words))


@functools.lru_cache(maxsize=None)
def op_names() -> tuple:
    """Every op a spec can call, sorted."""
    from .ops import REGISTRY
    return tuple(sorted(name for name, op in REGISTRY.items() if not op.internal))


@functools.lru_cache(maxsize=None)
def symbols() -> tuple:
    """The bare words op arguments take (`same`, `valid`, `relu`, `bilinear`, ...), ops excluded, sorted."""
    from .ops import REGISTRY
    out = set()
    for op in REGISTRY.values():
        for arg in op.args:
            out.update(c for c in arg.choices if isinstance(c, str) and c.isidentifier())
    return tuple(sorted(out - set(op_names()) - set(keywords())))


def _words(words) -> str:
    return r"\b(?:" + "|".join(sorted(words, key=lambda w: (-len(w), w))) + r")\b"


def _lexer_class():
    from pygments.lexer import RegexLexer, bygroups, include, words
    from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

    plain = [k for k in keywords() if k not in CONSTANTS + WORD_OPERATORS + DEFINERS]

    class CnnLexer(RegexLexer):
        """Pygments lexer for cnndsl's .cnn network specs."""

        name = "cnndsl"
        aliases = ["cnn", "cnndsl"]
        filenames = ["*.cnn"]
        mimetypes = ["text/x-cnn"]

        tokens = {
            "root": [
                (r"[ \t\r\n]+", Whitespace),
                (r"#.*?$", Comment.Single),
                (r"\b(block|network)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
                (r"\b(fn)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
                (r"([(,])(\s*)([A-Za-z_]\w*)(\s*)(=)(?!=)",          # a keyword argument: `stride=2`
                 bygroups(Punctuation, Whitespace, Name.Attribute, Whitespace, Operator)),
                (words(DEFINERS, suffix=r"\b"), Keyword.Declaration),
                (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
                (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
                (words(plain, suffix=r"\b"), Keyword),
                (words(op_names(), prefix=r"\b", suffix=r"\b(?!\s*\.)"), Name.Builtin),
                (words(symbols(), prefix=r"\b", suffix=r"\b"), Name.Constant),
                (r'"', String.Double, "dstring"),
                (r"'", String.Single, "sstring"),
                (r"(\d[\d_]*)?\.?\d[\d_]*([eE][+-]?\d+)?", Number),
                (r"->", Operator),
                (r"\*\*|//|==|!=|<=|>=|[-+*/%<>=]", Operator),
                (r"[A-Za-z_]\w*", Name),
                (r"[()\[\]{},;:.]", Punctuation),
                (r".", Text),
            ],
            "interp": [
                (r"\}", String.Interpol, "#pop"),
                include("root"),
            ],
            "dstring": [
                (r'"', String.Double, "#pop"),
                (r"\{", String.Interpol, "interp"),
                (r'[^"{\n]+', String.Double),
                (r"\n", Text, "#pop"),
            ],
            "sstring": [
                (r"'", String.Single, "#pop"),
                (r"\{", String.Interpol, "interp"),
                (r"[^'{\n]+", String.Single),
                (r"\n", Text, "#pop"),
            ],
        }

    return CnnLexer


def __getattr__(name):
    """``CnnLexer`` is made on first use, so that importing this module needs no Pygments."""
    if name == "CnnLexer":
        cls = _lexer_class()
        globals()["CnnLexer"] = cls
        return cls
    raise AttributeError(name)


# --- TextMate (VS Code, and every editor that reads TextMate grammars) ------------------------------

def textmate() -> dict:
    """The TextMate grammar of .cnn (editors/vscode/syntaxes/cnn.tmLanguage.json)."""
    plain = [k for k in keywords() if k not in CONSTANTS + WORD_OPERATORS + DEFINERS]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "cnndsl",
        "scopeName": "source.cnn",
        "fileTypes": ["cnn"],
        "comment": "Generated by scripts/render_editors.py from grammar/cnn.lark and the op registry; don't edit.",
        "patterns": [{"include": "#comment"}, {"include": "#string"}, {"include": "#code"}],
        "repository": {
            "comment": {"name": "comment.line.number-sign.cnn", "match": "#.*$"},
            "string": {"patterns": [
                {"name": "string.quoted.double.cnn", "begin": '"', "end": '"|$',
                 "patterns": [{"include": "#interpolation"}]},
                {"name": "string.quoted.single.cnn", "begin": "'", "end": "'|$",
                 "patterns": [{"include": "#interpolation"}]},
            ]},
            "interpolation": {"name": "meta.interpolation.cnn", "begin": r"\{", "end": r"\}",
                              "beginCaptures": {"0": {"name": "punctuation.section.interpolation.begin.cnn"}},
                              "endCaptures": {"0": {"name": "punctuation.section.interpolation.end.cnn"}},
                              "patterns": [{"include": "#code"}]},
            "code": {"patterns": [
                {"match": r"([(,])\s*([A-Za-z_]\w*)(?=\s*=(?!=))", "captures": {"2": {"name": "variable.parameter.cnn"}}},
                {"match": r"\b(block|network)\s+([A-Za-z_]\w*)",
                 "captures": {"1": {"name": "storage.type.cnn"}, "2": {"name": "entity.name.type.cnn"}}},
                {"match": r"\b(fn)\s+([A-Za-z_]\w*)",
                 "captures": {"1": {"name": "storage.type.cnn"}, "2": {"name": "entity.name.function.cnn"}}},
                {"name": "storage.type.cnn", "match": _words(DEFINERS)},
                {"name": "constant.language.cnn", "match": _words(CONSTANTS)},
                {"name": "keyword.operator.logical.cnn", "match": _words(WORD_OPERATORS)},
                {"name": "keyword.control.cnn", "match": _words(plain)},
                {"name": "support.function.op.cnn", "match": _words(op_names()) + r"(?!\s*\.)"},
                {"name": "support.constant.symbol.cnn", "match": _words(symbols())},
                {"name": "constant.numeric.cnn", "match": r"\b(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?\b"},
                {"name": "keyword.operator.arrow.cnn", "match": "->"},
                {"name": "keyword.operator.cnn", "match": r"\*\*|//|==|!=|<=|>=|[-+*/%<>=]"},
                {"include": "#string"},
                {"include": "#comment"},
            ]},
        },
    }
