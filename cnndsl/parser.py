"""Text -> AST, with a ``Span`` on every node.

The grammar is grammar/cnn.lark, and lark builds its LALR(1) tables; but `cnndsl check` does not
import lark. scripts/build_parser.py writes the tables lark builds (terminals, the contextual
lexer's per-state terminals, the action/goto table, each rule's child filter) into
cnndsl/_grammar_tables.py, and this module runs them: a contextual lexer that tries one regular
expression of every terminal first, and an LALR driver that builds the syntax nodes as it reduces
(no parse tree, no second pass), with the positions lark's ``propagate_positions`` would give. It
does what lark's parser built from the grammar does, token for token and error for error:
tests/test_parser_tables.py compares the two on every spec, fixture and many broken prefixes.

Syntax errors become ``CnnError(kind="syntax")`` with a labelled message ("expected `)` to close
the `(` opened at 3:9"). An error a node's builder finds (a parameter declared twice) is reported
only after the whole text has parsed and its nesting has been checked, as a tree walked after
parsing would report it.
"""
from __future__ import annotations

import contextvars
import gc
import operator
import os
import re

from . import syntax as S
from .errors import CnnError, Source, Span

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


from ._build_tables import GRAMMAR_OPTIONS  # noqa: E402  (lark's options: the tables' builder owns them)


def _lark():
    """Lark's own parser for the grammar (lark's grammar cache under the user's cache folder): the
    reference the tests hold this module's parser to, and what editors' tooling reads terminals from.
    Not used by `check`."""
    global _LARK
    if _LARK is None:
        import lark
        cache_dir = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        cache = os.path.join(cache_dir, "cnndsl", "grammar.lark.cache")
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
        except OSError:
            import tempfile
            cache = os.path.join(tempfile.gettempdir(), "cnndsl-grammar.lark.cache")
        _LARK = lark.Lark(_grammar_text(), cache=cache, lexer_callbacks=LEXER_CALLBACKS, **GRAMMAR_OPTIONS)
    return _LARK


_LARK = None


# --- tokens and the tables ---------------------------------------------------------------------------------

class Token(tuple):
    """A token: (line, column, end line, end column, start offset, end offset, 0, terminal, text), lines and
    columns from 1, the end exclusive: its first seven items are its extent (see ``_drive``)."""

    __slots__ = ()

    type = property(lambda self: self[7])
    value = property(lambda self: self[8])
    line = property(lambda self: self[0])
    column = property(lambda self: self[1])
    end_line = property(lambda self: self[2])
    end_column = property(lambda self: self[3])
    start_pos = property(lambda self: self[4])
    end_pos = property(lambda self: self[5])

    def __str__(self) -> str:
        return self[8]

    def __repr__(self) -> str:
        return f"Token({self[7]!r}, {self[8]!r})"


class _Lexer:
    """One state's terminals, in lark's order (the first that matches wins), with lark's unless table."""

    __slots__ = ("names", "order", "unless", "allowed", "tables")

    def __init__(self, order, unless, ignore, tables):
        self.order, self.unless, self.names = order, unless, frozenset(order)
        self.allowed = (set(order) - set(ignore)) or {"<END-OF-FILE>"}
        self.tables = tables

    def scan(self, text: str, pos: int):
        """(terminal, text) of the first of this lexer's terminals that matches at ``pos``, or (None, None).
        The common case is one match of every terminal's alternation (``_Tables.master``), in the same
        order: its first match is this lexer's when this lexer has that terminal."""
        m = self.tables.master(text, pos)
        if m is not None and m.lastgroup in self.names:
            kind, value = m.lastgroup, m.group()
        else:
            kind = value = None
            one = self.tables.one
            for name in self.order:
                m = one(name).match(text, pos)
                if m is not None:
                    kind, value = name, m.group()
                    break
            else:
                return None, None
        u = self.unless.get(kind)
        if u is not None:
            kind = u.get(value, kind)
        return kind, value


class _Tables:
    def __init__(self, data: dict):
        self.grammar = data["GRAMMAR"]
        self.terminals = dict(data["TERMINALS"])
        self.master = re.compile("|".join(f"(?P<{n}>{rx})" for n, rx in data["TERMINALS"])).match
        self.ignore = frozenset(data["IGNORE"])
        self.lexers = [_Lexer(order, unless, self.ignore, self) for order, unless in data["LEXERS"]]
        self.root = self.lexers[0]
        self.state_lexer = [self.lexers[i] for i in data["STATE_LEXER"]]
        self.states = data["STATES"]
        # per rule: (origin, length, how, child filter, trailing placeholders); how: 0 a `?rule` of one
        # symbol (its child passes up untouched), 1 inlined into its parent, 2 a `?rule`, 3 a node
        self.rules = [(origin, size, 0 if expand1 and size == 1 and include is None else 1 if inline
                       else 2 if expand1 else 3, include, append_none)
                      for origin, size, _name, expand1, inline, include, append_none in data["RULES"]]
        self.rule_names = [(r[2], r[4]) for r in data["RULES"]]
        # Whitespace and comments, ignored in every state; no other terminal starts as they do (checked
        # by the tests against lark), so they are skipped before the lexer's own match.
        skip = f"{self.terminals['WS']}|{self.terminals['COMMENT']}"
        self.skip = re.compile(skip).match
        # The same, then every other terminal: a token and what comes before it in one match (the
        # lookahead and back-reference take the whole run of whitespace and comments, never less).
        self.skipping = re.compile(f"(?=((?:{skip})*))\\1(?:" + "|".join(
            f"(?P<{n}>{rx})" for n, rx in data["TERMINALS"] if n not in self.ignore) + ")").match
        self.start = data["START"]
        self._one, self._builders = {}, {}
        self.passes = {}     # (state below, state, lookahead) -> the state after its `?rule`s pass up: pass_up
        # The lexer's first step without the alternation of every terminal: the characters whitespace and
        # comments start with (a run of them is skipped in one match), and per character the terminals that
        # can start with it, in order (``starting``). Where the grammar's terminals can't be read that way
        # (``_first_chars`` can't tell), every character goes to the alternation (``skipping``).
        firsts = {name: _first_chars(rx) for name, rx in data["TERMINALS"]}
        skips = [firsts[name] for name in self.ignore]
        self.skip_first = frozenset().union(*skips) if None not in skips else frozenset()
        self.skip_run = re.compile(f"(?:{skip})+").match
        self.order = [name for name, _ in data["TERMINALS"] if name not in self.ignore]
        self.first_of = firsts if all(firsts[name] is not None for name in self.order) else None
        self.by_first: dict = {}    # character -> ((terminal, its match), ...), or False: the alternation

    def starting(self, c: str):
        """The terminals (and their matches) that can start with ``c``, in the alternation's order; False
        where only the alternation can tell (a character beyond ASCII)."""
        if self.first_of is None or ord(c) >= 128:
            found = False
        else:
            found = tuple((name, self.one(name).match) for name in self.order if c in self.first_of[name])
        self.by_first[c] = found
        return found

    def pass_up(self, below: int, state: int, kind: str) -> int:
        """The state on top of ``below`` once every `?rule: x` that ``state`` reduces on ``kind`` has passed
        its child up (each replaces the top state by the goto of ``below`` on its rule). ``_drive`` remembers
        it: the same run happens at every expression."""
        states = self.states
        action = states[state].get(kind)
        while action.__class__ is str:
            state = states[below][action]
            action = states[state].get(kind)
        return state

    def builders(self, table: str) -> list:
        """Per rule, the function that makes its node: ``_ToAst``'s method for its name (``"ast"``), or a
        ``Tree`` (``"tree"``, and for a name ``_ToAst`` has no method for, as lark does)."""
        out = self._builders.get(table)
        if out is None:
            out = self._builders[table] = [
                None if inline else (table == "ast" and getattr(_ToAst, name, None)) or _tree_builder(name)
                for name, inline in self.rule_names]
        return out

    def one(self, name: str):
        rx = self._one.get(name)
        if rx is None:
            rx = self._one[name] = re.compile(self.terminals[name])
        return rx


def _first_chars(rx: str):
    """The ASCII characters a match of ``rx`` can start with (a superset: lookarounds are left out), or
    None where that can't be read off the pattern (it may match nothing, a case-insensitive flag, a
    negated set, anything unusual)."""
    from re import _constants as K, _parser as P
    ascii_chars = [chr(i) for i in range(128)]

    def category(cat):
        rx = {K.CATEGORY_DIGIT: r"\d", K.CATEGORY_NOT_DIGIT: r"\D", K.CATEGORY_SPACE: r"\s",
              K.CATEGORY_NOT_SPACE: r"\S", K.CATEGORY_WORD: r"\w", K.CATEGORY_NOT_WORD: r"\W"}.get(cat)
        return None if rx is None else {ch for ch in ascii_chars if re.match(rx, ch)}

    def item(op, av):      # (first characters or None, whether it can match nothing)
        if op is K.LITERAL:
            return ({chr(av)} if av < 128 else set()), False
        if op is K.IN:
            chars = set()
            for o, v in av:
                if o is K.LITERAL:
                    chars |= {chr(v)} if v < 128 else set()
                elif o is K.RANGE:
                    chars |= {chr(i) for i in range(v[0], min(v[1], 127) + 1)}
                elif o is K.CATEGORY and category(v) is not None:
                    chars |= category(v)
                else:
                    return None, False
            return chars, False
        if op is K.SUBPATTERN:
            _group, add_flags, _del_flags, p = av
            return seq(p) if not add_flags & K.SRE_FLAG_IGNORECASE else (None, False)
        if op is K.BRANCH:
            chars, empty = set(), False
            for p in av[1]:
                f, e = seq(p)
                if f is None:
                    return None, False
                chars |= f
                empty = empty or e
            return chars, empty
        if op in (K.MAX_REPEAT, K.MIN_REPEAT):
            low, _high, p = av
            f, e = seq(p)
            return f, e or low == 0
        if op in (K.ASSERT, K.ASSERT_NOT, K.AT):
            return set(), True
        return None, False

    def seq(items):
        chars = set()
        for op, av in items:
            f, empty = item(op, av)
            if f is None:
                return None, False
            chars |= f
            if not empty:
                return chars, False
        return chars, True

    try:
        parsed = P.parse(rx)
    except Exception:
        return None
    if parsed.state.flags & K.SRE_FLAG_IGNORECASE:
        return None
    chars, empty = seq(list(parsed))
    return None if chars is None or empty else frozenset(chars)


def _tables() -> _Tables:
    """The shipped tables (cnndsl/_grammar_tables.py) when they were made from this grammar; else the
    same tables built by lark from the grammar now (slow, and the tests fail until
    ``python scripts/build_parser.py`` is run)."""
    global _TABLES
    if _TABLES is None:
        text = _grammar_text()
        try:
            from . import _grammar_tables as G
            data = vars(G) if G.GRAMMAR == text else None
        except ImportError:
            data = None
        if data is None:
            from ._build_tables import tables
            data = {k.upper(): v for k, v in tables(text).items()}
        _TABLES = _Tables(data)
    return _TABLES


_TABLES = None

_TEXT = contextvars.ContextVar("cnndsl_parse_text", default="")
# What the scan after an `if` steps over: strings and comments whole, words, brackets, anything else.
_SCAN = re.compile(r'"[^"\n]*"|\'[^\'\n]*\'|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|[()\[\]{}]|[^\sA-Za-z_()\[\]{}"\'#]+|\s+')
_OPEN, _CLOSE = "([", ")]"


def _statement_if(end_pos: int) -> bool:
    """An `if` where a ternary's `if` may come (after a value): a ternary's if the first `else` or `{`
    outside brackets after it is an `else`, an `if` statement's when it is a `{`. Conditions are
    expressions, which hold neither outside brackets, so this is exactly the grammar's own choice
    with unbounded lookahead. (Reaching the end of an enclosing bracket first, it stays a ternary:
    `f(a if c)` then reads "expected `else`".) The text is the one being parsed (``_TEXT``)."""
    text, depth = _TEXT.get(), 0
    for m in _SCAN.finditer(text, end_pos):
        word = m.group()
        if word[0] in _OPEN:
            depth += 1
        elif word[0] in _CLOSE or (word == "}" and depth == 0):
            depth -= 1
            if depth < 0:
                return False
        elif depth == 0 and word == "else":
            return False
        elif depth == 0 and word == "{":
            return True
    return True


def _ternary_or_statement(tok):
    """The lexer's callback for TERNARY_IF (lark's Token, for ``_lark()``)."""
    if _statement_if(tok.end_pos):
        from lark import Token as LarkToken
        return LarkToken.new_borrow_pos("_KW_IF", tok, tok)
    return tok


LEXER_CALLBACKS = {"TERNARY_IF": _ternary_or_statement}   # given to lark's parser however it is made


class UnexpectedInput(Exception):
    """A syntax error as lark reports it: where (``line``, ``column``) and what was expected."""


class UnexpectedToken(UnexpectedInput):
    def __init__(self, token: Token, expected: set):
        super().__init__(f"unexpected {token.type}")
        self.token, self.expected = token, expected
        self.line, self.column = token.line, token.column


class UnexpectedCharacters(UnexpectedInput):
    def __init__(self, pos: int, line: int, column: int, allowed: set):
        super().__init__(f"no terminal matches at {line}:{column}")
        self.pos_in_stream, self.line, self.column, self.allowed = pos, line, column, allowed


def _token(kind: str, value: str, pos: int, line: int, line_start: int) -> Token:
    nl = value.count("\n")
    if nl:
        end_line, end_start = line + nl, pos + value.rindex("\n") + 1
    else:
        end_line, end_start = line, line_start
    if kind == "TERNARY_IF" and _statement_if(pos + len(value)):
        kind = "_KW_IF"
    return Token((line, pos - line_start + 1, end_line, pos + len(value) - end_start + 1, pos, pos + len(value), 0,
                  kind, value))


def lex_all(text: str):
    """Every token of ``text``, whitespace and comments too, as lark's ``Lark.lex(text, dont_ignore=True)``
    gives them (the root lexer: every terminal, no parser state). For `cnndsl fmt`."""
    T = _tables()
    root, pos, line, line_start, n = T.root, 0, 1, 0, len(text)
    while pos < n:
        kind, value = root.scan(text, pos)
        if kind is None:
            raise UnexpectedCharacters(pos, line, pos - line_start + 1, root.allowed)
        tok = _token(kind, value, pos, line, line_start)
        yield tok
        pos, line = tok[5], tok[2]
        if tok[2] != tok[0]:
            line_start = pos - tok[3] + 1


class Tree:
    """A node of the parse tree lark would build (for `cnndsl fmt` and the tests): ``data`` is the rule's
    alias or name, ``children`` its filtered children, ``meta`` its position."""

    __slots__ = ("data", "children", "meta")

    def __init__(self, data, children, meta):
        self.data, self.children, self.meta = data, children, meta

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


class Meta:
    __slots__ = ("empty", "line", "column", "end_line", "end_column", "start_pos", "end_pos")

    def __init__(self, e):
        self.empty = not e[0]
        self.line, self.column, self.end_line, self.end_column, self.start_pos, self.end_pos = e[:6]


_EMPTY = (0, 0, 0, 0, 0, 0, 0)
_DEPTH = operator.itemgetter(6)    # an extent's depth


def _drive(text: str, start: str, ctx, table: str) -> tuple:
    """Parse ``text`` from the rule ``start``: (value, extent). ``table`` names the builders (``"ast"``:
    ``_ToAst``'s methods, ``"tree"``: lark's ``Tree``); a rule's builder is called as ``f(ctx, extent,
    children)``.

    This is lark's LALR parser with its contextual lexer, ``propagate_positions`` and
    ``maybe_placeholders``, run from the shipped tables. Every value on the stack has an extent,
    ``(line, column, end line, end column, start offset, end offset, depth)``: the text its rule
    matched, tokens left out of the tree included (``line`` 0: none), and the depth of the tree below
    it (as lark's tree would nest: tokens 0, inlined rules and ``?rule``s passing one child up add no
    level)."""
    T = _tables()
    states, state_lexer, rules, master = T.states, T.state_lexer, T.rules, T.skipping
    skip_first, skip_run, by_first = T.skip_first, T.skip_run, T.by_first
    builders, passes = T.builders(table), T.passes
    state, end_state = T.start[start]
    sstack, vstack, estack = [state], [], []
    pos, line, line_start, n = 0, 1, 0, len(text)
    tok = kind = None
    while True:
        # the next token, lexed in the state the parser is in (lark's contextual lexer)
        if pos < n:
            lexer = state_lexer[sstack[-1]]
            c = text[pos]
            if c in skip_first:       # whitespace and comments (ignored in every state): the whole run
                m = skip_run(text, pos)
                if m is not None:
                    start = m.end()
                    nl = text.count("\n", pos, start)
                    if nl:
                        line += nl
                        line_start = text.rindex("\n", pos, start) + 1
                    pos = start
                    if pos == n:
                        continue
                    c = text[pos]
            # the first terminal, in lark's order, that matches here (its alternation's first match): among
            # those that can start with this character, or else from the alternation of them all
            firsts = by_first.get(c)
            if firsts is None:
                firsts = T.starting(c)
            kind = None
            if firsts is False:
                m = master(text, pos)
                if m is not None:
                    kind = m.lastgroup
                    value = m.group(kind)
            else:
                for name, match in firsts:
                    m = match(text, pos)
                    if m is not None:
                        kind, value = name, m.group()
                        break
            if kind is not None and kind in lexer.names:
                u = lexer.unless.get(kind)
                if u is not None:
                    kind = u.get(value, kind)
            else:
                kind, value = lexer.scan(text, pos)
                if kind is None:
                    raise _lex_error(T, lexer, text, pos, line, line_start)
            end = pos + len(value)
            if kind == "STRING" or kind == "TERNARY_IF":       # the terminals that may hold a newline, or change
                tok = _token(kind, value, pos, line, line_start)
                kind = tok[7]
                if tok[2] != line:
                    line, line_start = tok[2], end - tok[3] + 1
            else:
                tok = Token((line, pos - line_start + 1, line, end - line_start + 1, pos, end, 0, kind, value))
            pos = end
        else:
            if kind == "$END":
                raise AssertionError("parsed past the end")
            kind = "$END"
            tok = Token((*tok[:7], "$END", "") if tok is not None else (1, 1, 1, 1, 0, 0, 0, "$END", ""))
        # feed it: reduce while the table says so, then shift
        while True:
            row = states[sstack[-1]]
            action = row.get(kind)
            if action is None:
                raise UnexpectedToken(tok, {k for k in row if k.isupper()})
            if action.__class__ is str:    # `?rule: x`: its one child passes up as it is (value and extent)
                if kind != "$END":         # a run of these, for this lookahead, over the same state below: once
                    key = (sstack[-2], sstack[-1], kind)
                    top = passes.get(key)
                    if top is None:
                        top = passes[key] = T.pass_up(sstack[-2], sstack[-1], kind)
                    sstack[-1] = top
                    continue
                sstack[-1] = states[sstack[-2]][action]
                if sstack[-1] == end_state:
                    return vstack[-1], estack[-1]
                continue
            if action >= 0:
                sstack.append(action)
                vstack.append(tok)
                estack.append(tok)
                break
            r = -1 - action
            origin, size, how, include, append_none = rules[r]
            if size == 1 and how == 3 and include is None and not append_none:   # `name: NAME` and the like
                first = estack[-1]
                vext = ((first[0], first[1], first[2], first[3], first[4], first[5], first[6] + 1) if first[0]
                        else (0, 0, 0, 0, 0, 0, first[6] + 1))
                vstack[-1] = builders[r](ctx, vext, [vstack[-1]])
                estack[-1] = vext
                sstack[-1] = states[sstack[-2]][origin]
                if kind == "$END" and sstack[-1] == end_state:
                    return vstack[-1], vext
                continue
            if size:
                vals, exts = vstack[-size:], estack[-size:]
                del vstack[-size:], estack[-size:], sstack[-size:]
                first, last = exts[0], exts[-1]
                if not first[0] or not last[0]:
                    full = [x for x in exts if x[0]]
                    first = full[0] if full else _EMPTY
                    last = full[-1] if full else _EMPTY
                depth = max(map(_DEPTH, exts)) if size > 1 else first[6]
            else:
                vals, first, last, depth = [], _EMPTY, _EMPTY, 0
            if include is None:
                children = vals
            else:
                children = []
                for i, expand, nones in include:
                    if nones:
                        children += [None] * nones
                    if expand:
                        children += vals[i]
                    else:
                        children.append(vals[i])
                if append_none:
                    children += [None] * append_none
            if how == 1:     # a rule lark inlines into its parent (`x*`): its children, spliced in later
                value = children
                vext = (first[0], first[1], last[2], last[3], first[4], last[5], depth)
            elif how == 2 and len(children) == 1:     # `?rule` passes its one child up
                value = children[0]
                if value is None:
                    vext = _EMPTY
                elif isinstance(value, Token):
                    vext = value[:7]
                else:
                    vext = (first[0], first[1], last[2], last[3], first[4], last[5], depth)
            else:
                vext = (first[0], first[1], last[2], last[3], first[4], last[5], depth + 1)
                value = builders[r](ctx, vext, children)
            sstack.append(states[sstack[-1]][origin])
            vstack.append(value)
            estack.append(vext)
            if kind == "$END" and sstack[-1] == end_state:
                return value, vext


def _lex_error(T: _Tables, lexer: _Lexer, text: str, pos: int, line: int, line_start: int) -> UnexpectedInput:
    """No terminal of this state matches: lark tries every terminal, and reports the token found as
    unexpected (expecting this state's terminals), or else the character."""
    kind, value = T.root.scan(text, pos)
    if kind is None or kind in T.ignore:
        return UnexpectedCharacters(pos, line, pos - line_start + 1, lexer.allowed)
    return UnexpectedToken(_token(kind, value, pos, line, line_start), lexer.allowed)


def parse(text: str, path: str = "<string>") -> S.Module:
    """Parse a whole .cnn file into a ``syntax.Module``.

    The syntax tree is immutable, so a file parsed before (the same path and text: a library that
    several specs import, an editor checking again) is not parsed again."""
    key = (path, text)
    module = _PARSED.get(key)
    if module is None:
        source = Source(path, text)
        enabled = gc.isenabled()
        gc.disable()    # parsing makes many long-lived objects and no cycles; collections would only cost time
        try:
            module = _parse_ast(source, text, "start")
        finally:
            if enabled:
                gc.enable()
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
    return _parse_ast(source, padded, "test", end="end of the `{...}`")


def _parse_ast(source: Source, text: str, start: str, end: str = "end of file") -> S.Node:
    """The syntax nodes of ``text``. Errors come in the order a parse, then a check of the nesting, then
    a walk building the nodes would find them. A syntax error names the end of the text ``end``."""
    ast = _ToAst(source)
    mark = _TEXT.set(text)
    try:
        value, ext = _drive(text, start, ast, "ast")
    except UnexpectedInput as e:
        raise _syntax_error(source, text, e, end) from None
    except CnnError:       # a builder's error: report a syntax or nesting error first, if there is one
        tree = _parse_tree(source, text, start, end)
        _check_nesting(source, tree)
        raise
    finally:
        _TEXT.reset(mark)
    if ext[6] > MAX_NESTING:
        _check_nesting(source, _parse_tree(source, text, start))
    return value


def _tree_builder(name: str):
    return lambda ctx, e, children: Tree(name, children, Meta(e))


def _parse_tree(source: Source, text: str, start: str, end: str = "end of file") -> Tree:
    """The parse tree lark would build (``Tree`` nodes, ``Token`` leaves)."""
    mark = _TEXT.set(text)
    try:
        return _drive(text, start, None, "tree")[0]
    except UnexpectedInput as e:
        raise _syntax_error(source, text, e, end) from None
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


def _token_span(source: Source, line: int, col: int, length: int = 1) -> Span:
    return Span(source, line, col, line, col + max(1, length))


def _syntax_error(source: Source, text: str, e: UnexpectedInput, end: str = "end of file") -> CnnError:
    error = _syntax_error_at(source, text, e)
    if end != "end of file":
        error.message = error.message.replace("end of file", end)
    return error


def _syntax_error_at(source: Source, text: str, e: UnexpectedInput) -> CnnError:
    line, col = max(1, e.line), max(1, e.column)
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        msg = f"unexpected character `{ch}`"
        hint = "strings may use \"double\" or 'single' quotes, on one line" if ch in "\"'" else None
        return CnnError("syntax", msg, _token_span(source, line, col), hint=hint)
    token = e.token
    expected = sorted(e.expected)
    if token.type == "$END":
        found, length = "end of file", 1
        lines = text.split("\n")
        line, col = len(lines), len(lines[-1]) + 1
    else:
        found, length = f"`{token}`", len(str(token))
        start = token.start_pos
        if token.type == "NUMBER" and start and re.search(r"\d\.\d*\.$", text[max(0, start - 40):start]):
            number = re.search(r"[\d._]*$", text[:start]).group() + str(token)
            return CnnError("syntax", f"`{number}` is not a number: a number has one decimal point at most",
                            _token_span(source, line, col - len(number) + len(str(token)), len(number)))
    if str(token) == "{" and "LPAR" in expected:
        m = re.search(r"\b(block|network)\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", text[:token.start_pos or 0])
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


class _ToAst:
    """Reductions -> syntax nodes. One method per grammar alias, called with the extent of the text the
    rule matched (see ``_drive``) and its children as lark's tree would hold them."""

    def __init__(self, source: Source):
        self.source = source

    def _span(self, e) -> Span:
        if not e[0]:      # a rule that matched no text (an empty file)
            return Span(self.source, 1, 1, 1, 2)
        return Span(self.source, e[0], e[1], e[2], e[3])

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.source, tok.line, tok.column, tok.end_line, tok.end_column)

    # definitions
    def start(self, e, items):
        pick = lambda cls: tuple(i for i in items if isinstance(i, cls))
        consts = tuple(i for i in items if isinstance(i, (S.ConstDef, S.FnDef)))   # in source order
        return S.Module(self._span(e), pick(S.Import), consts, pick(S.BlockDef), pick(S.NetworkDef))

    def fn_def(self, e, c):
        name, params, body = c
        for p in params or ():
            if p.kind == "input":
                raise CnnError("syntax", f"a function's parameter is a name or `name=default`, got `{p.name}: ...`",
                               p.span)
        return S.FnDef(self._span(e), str(name), params or (), body)

    def const_def(self, e, c):
        return S.ConstDef(self._span(e), str(c[0]), c[1])

    def import_stmt(self, e, c):
        return S.Import(self._span(e), str(c[0])[1:-1], str(c[1]) if c[1] is not None else None)

    def qualname(self, e, c):
        return ".".join(str(t) for t in c if t is not None)

    def block_def(self, e, c):
        name, params, _arrow, outputs, body = c
        return S.BlockDef(self._span(e), str(name), params or (), outputs, body)

    def network_def(self, e, c):
        name, params, _arrow, outputs, body = c
        return S.NetworkDef(self._span(e), str(name), params or (), outputs, body)

    def params(self, e, c):
        params, seen = tuple(p for p in c if p is not None), set()
        for p in params:
            if p.name in seen:
                raise CnnError("name", f"parameter `{p.name}` is declared twice", p.span)
            seen.add(p.name)
        return params

    def input_param(self, e, c):
        return S.Param(self._span(e), str(c[0]), "input", c[1])

    def default_param(self, e, c):
        return S.Param(self._span(e), str(c[0]), "default", c[1])

    def plain_param(self, e, c):
        return S.Param(self._span(e), str(c[0]), "plain", None)

    def name_list(self, e, c):
        return tuple(str(t) for t in c if t is not None)

    def body(self, e, c):
        return tuple(c)

    # statements
    def defaults(self, e, c):
        return S.Defaults(self._span(e), str(c[0]), c[1] or ())

    def expect(self, e, c):
        return S.Expect(self._span(e), str(c[0]), str(c[1]) if c[1] is not None else None, c[2])

    def assert_(self, e, c):
        return S.Assert(self._span(e), c[0], c[1])

    def let_unpack(self, e, c):
        return S.Let(self._span(e), tuple(str(t) for t in c[:-1]), c[-1])

    def shared(self, e, c):
        name, call = c
        if not isinstance(call, S.Call) or call.branches is not None or isinstance(call, S.Start):
            raise CnnError("syntax", "`shared` declares one op or block call, e.g. `shared enc = encoder(64)`",
                           call.span)
        return S.Shared(self._span(e), str(name), call)

    def let(self, e, c):
        return S.Let(self._span(e), str(c[0]), c[1])

    def assign(self, e, c):
        return S.Assign(self._span(e), str(c[0]), c[1])

    def assign_many(self, e, c):
        return S.Assign(self._span(e), tuple(str(t) for t in c[:-1]), c[-1])

    def chain_stmt(self, e, c):
        return S.ChainStmt(self._span(e), c[0])

    def chain(self, e, c):
        return S.Chain(self._span(e), tuple(e for e in c if not isinstance(e, Token)))

    def call(self, e, c):
        return S.Call(self._span(e), str(c[0]), c[1] or (), c[2])

    def group_call(self, e, c):
        return S.Call(self._span(e), str(c[0]), None, c[1])

    def bare(self, e, c):
        return S.Call(self._span(e), str(c[0]), None, None)

    def repeat(self, e, c):
        collect = (str(c[3]) if c[3] is not None else True) if c[2] is not None else False
        return S.Repeat(self._span(e), c[0], str(c[1]) if c[1] is not None else None, c[4], collect)

    def chain_arg(self, e, c):
        elems = [e for e in c[1:] if not isinstance(e, Token)]
        start = c[0]      # an expression giving a tensor: `x`, `ys[0]`
        chain = S.Chain(self._span(e), (S.Start(start.span, start), *elems))
        return S.Arg(self._span(e), None, chain)

    def _indexed(self, c) -> S.Node:
        """``ys[0][1]``: the expression a chain starts from."""
        value = S.Name(self._tok_span(c[0]), str(c[0]))
        for index in c[1:]:
            value = S.Index(Span(self.source, value.span.line, value.span.col, index.span.end_line,
                                 index.span.end_col + 1), value, index)
        return value

    def indexed(self, e, c):
        return S.Start(self._span(e), self._indexed(c))

    def if_(self, e, c):
        cond, body, *rest = c
        arms, orelse = [(cond, body)], None
        for r in rest:
            if isinstance(r, _Else):
                orelse = r.body
            elif r is not None:
                arms.append(r)
        return S.If(self._span(e), tuple(arms), orelse)

    def elif_(self, e, c):
        return (c[0], c[1])

    def else_(self, e, c):
        return _Else(c[0])

    def group(self, e, c):
        return tuple(c)

    def branch(self, e, c):
        return c[0]

    # arguments and expressions
    def args(self, e, c):
        return tuple(a if isinstance(a, S.Arg) else S.Arg(a.span, None, a) for a in c if a is not None)

    def kwarg(self, e, c):
        return S.Arg(self._span(e), str(c[0]), c[1])

    def number(self, e, c):
        return S.Num(self._span(e), _number(c[0]))

    def string(self, e, c):
        return S.Str(self._span(e), self._template(c[0]))

    def name(self, e, c):
        return S.Name(self._span(e), str(c[0]))

    def true(self, e, c):
        return S.Const(self._span(e), True)

    def false(self, e, c):
        return S.Const(self._span(e), False)

    def none(self, e, c):
        return S.Const(self._span(e), None)

    def list(self, e, c):
        return S.ListE(self._span(e), tuple(x for x in c if x is not None))

    def neg(self, e, c):
        return S.Unary(self._span(e), "-", c[0])

    def not_(self, e, c):
        return S.Unary(self._span(e), "not", c[0])

    def attr(self, e, c):
        return S.Attr(self._span(e), c[0], str(c[1]))

    def index(self, e, c):
        return S.Index(self._span(e), c[0], c[1])

    def ternary(self, e, c):
        return S.Ternary(self._span(e), c[0], c[2], c[3])

    def slice(self, e, c):
        return S.Slice(self._span(e), c[0], c[1], c[2])

    def func(self, e, c):
        return S.FuncCall(self._span(e), str(c[0]), c[1] or ())

    def _binary(self, e, c):
        left = c[0]
        for op, right in zip(c[1::2], c[2::2]):
            left = S.BinOp(Span(self.source, left.span.line, left.span.col, right.span.end_line,
                                right.span.end_col), str(op), left, right)
        return left

    sum = product = power = _binary

    def comparison(self, e, c):
        if len(c) > 3:
            raise CnnError("syntax", "comparisons don't chain: `a < b < c` is not `a < b and b < c`",
                           self._span(e), hint="write each comparison on its own, joined by `and`")
        return self._binary(e, c)

    def or_expr(self, e, c):
        return self._binary(e, [x for pair in zip(c, ["or"] * len(c)) for x in pair][:-1])

    def and_expr(self, e, c):
        return self._binary(e, [x for pair in zip(c, ["and"] * len(c)) for x in pair][:-1])

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
