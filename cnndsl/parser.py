"""Text -> AST. Lark LALR with positions; every AST node gets a ``Span``.

Syntax errors become ``CnnError(kind="syntax")`` with a labelled message
("expected `)` to close the `(` opened at 3:9"). Errors raised inside the
transformer arrive wrapped in ``VisitError``; we unwrap them so located
errors survive.
"""
from __future__ import annotations

import contextvars
import functools
import os
import re

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from . import syntax as S
from .errors import CnnError, Source, Span, deep_stack

GRAMMAR_FILE = "cnn.lark"
MAX_NESTING = 1000   # levels of the syntax tree: brackets, operators, blocks, repeats, ifs

# What the user sees instead of Lark's terminal names.
TERMINAL_TEXT = {
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`",
    "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "DOT": "`.`", "SEMICOLON": "`;`",
    "ARROW": "`->`", "NAME": "a name", "NUMBER": "a number", "STRING": "a string",
    "COMP_OP": "a comparison", "ADD_OP": "`+`/`-`", "MUL_OP": "`*`, `/`, `//` or `%`", "POW": "`**`",
    "MINUS": "`-`", "$END": "end of file", "TERNARY_IF": "`if`",
    "COLLECT": "`collect`",
    **{f"_KW_{k.upper()}": f"`{k}`" for k in ("fn", "assert", "import", "as", "let", "shared", "block", "network", "defaults", "expect", "repeat",
                                             "if", "elif", "else", "true", "false", "none", "and", "or", "not")},
}
CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _grammar_text() -> str:
    """The grammar ships inside the wheel as cnndsl/grammar/; in a source tree it is ../grammar/."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (os.path.join(here, "grammar"), os.path.join(os.path.dirname(here), "grammar")):
        path = os.path.join(folder, GRAMMAR_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    raise FileNotFoundError(f"{GRAMMAR_FILE} is missing from the cnndsl installation")


GRAMMAR_OPTIONS = dict(parser="lalr", propagate_positions=True, start=["start", "test"], maybe_placeholders=True)


@functools.lru_cache(maxsize=None)
def _lark() -> Lark:
    """The parser: from the tables shipped in the package (cnndsl/grammar.tables, made by
    scripts/build_parser.py) when they were built from this grammar by this lark; otherwise built
    from the grammar, with lark's cache under the user's cache folder."""
    text = _grammar_text()
    shipped = _shipped_tables(text)
    if shipped is not None:   # Lark.load takes no options; its loader takes the lexer's callbacks
        return Lark._load_from_dict(shipped["data"], shipped["memo"], lexer_callbacks=LEXER_CALLBACKS)
    cache_dir = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cache = os.path.join(cache_dir, "cnndsl", "grammar.lark.cache")
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
    except OSError:
        import tempfile  # rare: no writable home; kept off the start-up path
        cache = os.path.join(tempfile.gettempdir(), "cnndsl-grammar.lark.cache")
    return Lark(text, cache=cache, lexer_callbacks=LEXER_CALLBACKS, **GRAMMAR_OPTIONS)


TABLES_FILE = "grammar.tables"   # made by scripts/build_parser.py


def _shipped_tables(text: str):
    """The shipped parser tables, if they were built from ``text`` by the installed lark; else None."""
    import hashlib
    import lark
    import pickle
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), TABLES_FILE), "rb") as f:
            digest, _, version = f.readline().decode("ascii", "replace").strip().partition(" ")
            if digest != hashlib.sha256(text.encode("utf-8")).hexdigest() or version != lark.__version__:
                return None
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None


_TEXT = contextvars.ContextVar("cnndsl_parse_text", default="")
# What the scan after an `if` steps over: strings and comments whole, words, brackets, anything else.
_SCAN = re.compile(r'"[^"\n]*"|\'[^\'\n]*\'|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|[()\[\]{}]|[^\sA-Za-z_()\[\]{}"\'#]+|\s+')
_OPEN, _CLOSE = "([", ")]"


def _ternary_or_statement(tok: Token) -> Token:
    """An `if` where a ternary's `if` may come (after a value): a ternary's if the first `else` or `{`
    outside brackets after it is an `else`, an `if` statement's when it is a `{`. Conditions are
    expressions, which hold neither outside brackets, so this is exactly the grammar's own choice
    with unbounded lookahead. (Reaching the end of an enclosing bracket first, it stays a ternary:
    `f(a if c)` then reads "expected `else`".)"""
    text, depth = _TEXT.get(), 0
    for m in _SCAN.finditer(text, tok.end_pos):
        word = m.group()
        if word[0] in _OPEN:
            depth += 1
        elif word[0] in _CLOSE or (word == "}" and depth == 0):
            depth -= 1
            if depth < 0:
                return tok
        elif depth == 0 and word == "else":
            return tok
        elif depth == 0 and word == "{":
            return Token.new_borrow_pos("_KW_IF", tok, tok)
    return Token.new_borrow_pos("_KW_IF", tok, tok)


LEXER_CALLBACKS = {"TERNARY_IF": _ternary_or_statement}   # given to the parser however it is made


def parse(text: str, path: str = "<string>") -> S.Module:
    """Parse a whole .cnn file into a ``syntax.Module``.

    The syntax tree is immutable, so a file parsed before (the same path and text: a library that
    several specs import, an editor checking again) is not parsed again."""
    key = (path, text)
    module = _PARSED.get(key)
    if module is None:
        source = Source(path, text)
        module = _build(source, _parse_tree(source, text, "start"))
        if len(text) <= MAX_CACHED_TEXT:
            while _PARSED and sum(len(t) for _, t in _PARSED) + len(text) > MAX_CACHED_TEXT:
                del _PARSED[next(iter(_PARSED))]        # the oldest first
            _PARSED[key] = module
    return module


MAX_CACHED_TEXT = 4 * 2 ** 20    # characters of spec text whose syntax trees are kept
_PARSED: dict = {}               # (path, text) -> Module


def parse_expr(text: str, source: Source, line: int, col: int) -> S.Node:
    """Parse an expression found inside a string template at (line, col)."""
    padded = "\n" * (line - 1) + " " * (col - 1) + text   # positions in the template are the file's
    try:
        tree = _parse_tree(source, padded, "test")
    except CnnError as e:
        e.message = e.message.replace("end of file", "end of the `{...}`")
        raise
    return _build(source, tree)


def _parse_tree(source: Source, text: str, start: str):
    mark = _TEXT.set(text)
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as e:
        raise _syntax_error(source, text, e) from None
    finally:
        _TEXT.reset(mark)


def _check_nesting(source: Source, tree) -> None:
    """A located limit error where the syntax tree nests deeper than MAX_NESTING (checked without recursion)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            line, col = getattr(meta, "line", 1), getattr(meta, "column", 1)
            raise CnnError("limit", f"nested too deeply: over {MAX_NESTING} levels of brackets, operators or blocks",
                           Span(source, line, col, line, col + 1))
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))


def _build(source: Source, tree) -> S.Node:
    _check_nesting(source, tree)
    try:
        with deep_stack(8 * MAX_NESTING + 2000):
            return _ToAst(source).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, CnnError):
            raise e.orig_exc from None
        raise


def _token_span(source: Source, line: int, col: int, length: int = 1) -> Span:
    return Span(source, line, col, line, col + max(1, length))


def _syntax_error(source: Source, text: str, e: UnexpectedInput) -> CnnError:
    line, col = max(1, e.line), max(1, e.column)
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        msg = f"unexpected character `{ch}`"
        hint = "strings may use \"double\" or 'single' quotes, on one line" if ch in "\"'" else None
        return CnnError("syntax", msg, _token_span(source, line, col), hint=hint)
    token = getattr(e, "token", None)
    expected = sorted(getattr(e, "expected", None) or getattr(e, "accepts", None) or ())
    if isinstance(e, UnexpectedEOF) or (token is not None and token.type == "$END"):
        found, length = "end of file", 1
        lines = text.split("\n")
        line, col = len(lines), len(lines[-1]) + 1
    else:
        found, length = f"`{token}`", len(str(token))
        start = getattr(token, "start_pos", None)
        if token.type == "NUMBER" and start and re.search(r"\d\.\d*\.$", text[max(0, start - 40):start]):
            number = re.search(r"[\d._]*$", text[:start]).group() + str(token)
            return CnnError("syntax", f"`{number}` is not a number: a number has one decimal point at most",
                            _token_span(source, line, col - len(number) + len(str(token)), len(number)))
    if token is not None and str(token) == "{" and "LPAR" in expected:
        m = re.search(r"\b(block|network)\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", text[:getattr(token, "start_pos", 0) or 0])
        if m:
            return CnnError("syntax", f"unexpected `{{`; a {m.group(1)} declares its parameters in `( )`, even none",
                            _token_span(source, line, col, 1),
                            hint=f"{m.group(1)} {m.group(2)}() {{ ... }}")
    unclosed = _unclosed_bracket(text, line, col)
    if unclosed and CLOSERS[unclosed[0]] in "".join(TERMINAL_TEXT.get(t, "") for t in expected):
        opener, oline, ocol = unclosed
        msg = f"expected `{CLOSERS[opener]}` to close the `{opener}` opened at {oline}:{ocol}, found {found}"
    else:
        names = [TERMINAL_TEXT.get(t, f"`{t.lower()}`") for t in expected]
        msg = f"unexpected {found}" + (f"; expected {', '.join(names)}" if names else "")
    return CnnError("syntax", msg, _token_span(source, line, col, length))


def _unclosed_bracket(text: str, line: int, col: int):
    """The innermost bracket still open before (line, col), as (char, line, col)."""
    stack = []
    for ln, row in enumerate(text.split("\n")[:line], start=1):
        row = re.sub(r"#.*", "", row)
        row = re.sub(r"\"[^\"]*\"|'[^']*'", lambda m: " " * len(m.group()), row)
        if ln == line:
            row = row[: col - 1]
        for c, ch in enumerate(row, start=1):
            if ch in CLOSERS:
                stack.append((ch, ln, c))
            elif stack and ch == CLOSERS[stack[-1][0]]:
                stack.pop()
    return stack[-1] if stack else None


def _number(tok: Token):
    text = str(tok).replace("_", "")
    return float(text) if any(c in text for c in ".eE") else int(text)


@v_args(meta=True)
class _ToAst(Transformer):
    """Lark tree -> syntax dataclasses. One method per grammar alias."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.source, 1, 1, 1, 2)
        return Span(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.source, tok.line, tok.column, tok.end_line, tok.end_column)

    # definitions
    def start(self, meta, items):
        pick = lambda cls: tuple(i for i in items if isinstance(i, cls))
        consts = tuple(i for i in items if isinstance(i, (S.ConstDef, S.FnDef)))   # in source order
        return S.Module(self._span(meta), pick(S.Import), consts, pick(S.BlockDef), pick(S.NetworkDef))

    def fn_def(self, meta, c):
        name, params, body = c
        for p in params or ():
            if p.kind == "input":
                raise CnnError("syntax", f"a function's parameter is a name or `name=default`, got `{p.name}: ...`",
                               p.span)
        return S.FnDef(self._span(meta), str(name), params or (), body)

    def const_def(self, meta, c):
        return S.ConstDef(self._span(meta), str(c[0]), c[1])

    def import_stmt(self, meta, c):
        return S.Import(self._span(meta), str(c[0])[1:-1], str(c[1]) if c[1] is not None else None)

    def qualname(self, meta, c):
        return ".".join(str(t) for t in c if t is not None)

    def block_def(self, meta, c):
        name, params, _arrow, outputs, body = c
        return S.BlockDef(self._span(meta), str(name), params or (), outputs, body)

    def network_def(self, meta, c):
        name, params, _arrow, outputs, body = c
        return S.NetworkDef(self._span(meta), str(name), params or (), outputs, body)

    def params(self, meta, c):
        params, seen = tuple(p for p in c if p is not None), set()
        for p in params:
            if p.name in seen:
                raise CnnError("name", f"parameter `{p.name}` is declared twice", p.span)
            seen.add(p.name)
        return params

    def input_param(self, meta, c):
        return S.Param(self._span(meta), str(c[0]), "input", c[1])

    def default_param(self, meta, c):
        return S.Param(self._span(meta), str(c[0]), "default", c[1])

    def plain_param(self, meta, c):
        return S.Param(self._span(meta), str(c[0]), "plain", None)

    def name_list(self, meta, c):
        return tuple(str(t) for t in c if t is not None)

    def body(self, meta, c):
        return tuple(c)

    # statements
    def defaults(self, meta, c):
        return S.Defaults(self._span(meta), str(c[0]), c[1] or ())

    def expect(self, meta, c):
        return S.Expect(self._span(meta), str(c[0]), str(c[1]) if c[1] is not None else None, c[2])

    def assert_(self, meta, c):
        return S.Assert(self._span(meta), c[0], c[1])

    def let_unpack(self, meta, c):
        return S.Let(self._span(meta), tuple(str(t) for t in c[:-1]), c[-1])

    def shared(self, meta, c):
        name, call = c
        if not isinstance(call, S.Call) or call.branches is not None or isinstance(call, S.Start):
            raise CnnError("syntax", "`shared` declares one op or block call, e.g. `shared enc = encoder(64)`",
                           call.span)
        return S.Shared(self._span(meta), str(name), call)

    def let(self, meta, c):
        return S.Let(self._span(meta), str(c[0]), c[1])

    def assign(self, meta, c):
        return S.Assign(self._span(meta), str(c[0]), c[1])

    def assign_many(self, meta, c):
        return S.Assign(self._span(meta), tuple(str(t) for t in c[:-1]), c[-1])

    def chain_stmt(self, meta, c):
        return S.ChainStmt(self._span(meta), c[0])

    def chain(self, meta, c):
        return S.Chain(self._span(meta), tuple(e for e in c if not isinstance(e, Token)))

    def call(self, meta, c):
        return S.Call(self._span(meta), str(c[0]), c[1] or (), c[2])

    def group_call(self, meta, c):
        return S.Call(self._span(meta), str(c[0]), None, c[1])

    def bare(self, meta, c):
        return S.Call(self._span(meta), str(c[0]), None, None)

    def repeat(self, meta, c):
        collect = (str(c[3]) if c[3] is not None else True) if c[2] is not None else False
        return S.Repeat(self._span(meta), c[0], str(c[1]) if c[1] is not None else None, c[4], collect)

    def chain_arg(self, meta, c):
        elems = [e for e in c[1:] if not isinstance(e, Token)]
        start = c[0]      # an expression giving a tensor: `x`, `ys[0]`
        chain = S.Chain(self._span(meta), (S.Start(start.span, start), *elems))
        return S.Arg(self._span(meta), None, chain)

    def _indexed(self, c) -> S.Node:
        """``ys[0][1]``: the expression a chain starts from."""
        value = S.Name(self._tok_span(c[0]), str(c[0]))
        for index in c[1:]:
            value = S.Index(Span(self.source, value.span.line, value.span.col, index.span.end_line,
                                 index.span.end_col + 1), value, index)
        return value

    def indexed(self, meta, c):
        return S.Start(self._span(meta), self._indexed(c))

    def if_(self, meta, c):
        cond, body, *rest = c
        arms, orelse = [(cond, body)], None
        for r in rest:
            if isinstance(r, _Else):
                orelse = r.body
            elif r is not None:
                arms.append(r)
        return S.If(self._span(meta), tuple(arms), orelse)

    def elif_(self, meta, c):
        return (c[0], c[1])

    def else_(self, meta, c):
        return _Else(c[0])

    def group(self, meta, c):
        return tuple(c)

    def branch(self, meta, c):
        return c[0]

    # arguments and expressions
    def args(self, meta, c):
        return tuple(a if isinstance(a, S.Arg) else S.Arg(a.span, None, a) for a in c if a is not None)

    def kwarg(self, meta, c):
        return S.Arg(self._span(meta), str(c[0]), c[1])

    def number(self, meta, c):
        return S.Num(self._span(meta), _number(c[0]))

    def string(self, meta, c):
        return S.Str(self._span(meta), self._template(c[0]))

    def name(self, meta, c):
        return S.Name(self._span(meta), str(c[0]))

    def true(self, meta, c):
        return S.Const(self._span(meta), True)

    def false(self, meta, c):
        return S.Const(self._span(meta), False)

    def none(self, meta, c):
        return S.Const(self._span(meta), None)

    def list(self, meta, c):
        return S.ListE(self._span(meta), tuple(x for x in c if x is not None))

    def neg(self, meta, c):
        return S.Unary(self._span(meta), "-", c[0])

    def not_(self, meta, c):
        return S.Unary(self._span(meta), "not", c[0])

    def attr(self, meta, c):
        return S.Attr(self._span(meta), c[0], str(c[1]))

    def index(self, meta, c):
        return S.Index(self._span(meta), c[0], c[1])

    def ternary(self, meta, c):
        return S.Ternary(self._span(meta), c[0], c[2], c[3])

    def slice(self, meta, c):
        return S.Slice(self._span(meta), c[0], c[1], c[2])

    def func(self, meta, c):
        return S.FuncCall(self._span(meta), str(c[0]), c[1] or ())

    def _binary(self, meta, c):
        left = c[0]
        for op, right in zip(c[1::2], c[2::2]):
            left = S.BinOp(Span(self.source, left.span.line, left.span.col, right.span.end_line,
                                right.span.end_col), str(op), left, right)
        return left

    sum = product = power = _binary

    def comparison(self, meta, c):
        if len(c) > 3:
            raise CnnError("syntax", "comparisons don't chain: `a < b < c` is not `a < b and b < c`",
                           self._span(meta), hint="write each comparison on its own, joined by `and`")
        return self._binary(meta, c)

    def or_expr(self, meta, c):
        return self._binary(meta, [x for pair in zip(c, ["or"] * len(c)) for x in pair][:-1])

    def and_expr(self, meta, c):
        return self._binary(meta, [x for pair in zip(c, ["and"] * len(c)) for x in pair][:-1])

    def _template(self, tok: Token) -> tuple:
        """Split ``"conv{i+1}_{name}"`` into literal and expression parts."""
        body = str(tok)[1:-1]
        parts, pos = [], 0
        for m in re.finditer(r"\{([^{}]*)\}", body):
            if m.start() > pos:
                parts.append(body[pos:m.start()])
            parts.append(parse_expr(m.group(1), self.source, tok.line, tok.column + 1 + m.start(1)))
            pos = m.end()
        if pos < len(body):
            parts.append(body[pos:])
        return tuple(parts)


class _Else:
    def __init__(self, body):
        self.body = body
