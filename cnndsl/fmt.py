"""``cnndsl fmt``: one canonical layout for .cnn files, comments kept, in the style of gofmt.

The formatter works on the token stream of the grammar's own lexer (comments and line breaks
included) and takes statement boundaries from the parse tree. The rules:

- Indentation is 4 spaces a brace level. Inside brackets a line continues at the column after the
  opening bracket when the bracket has something after it on its line and that column is at most
  ``VISUAL_MAX``, else 4 spaces in from the line the brackets started on (a closing bracket that
  starts a line goes back to that line's indent). A chain continued on the next line starts that line with
  `->` (a break after `->` moves the `->` down), 4 spaces in from its statement.
- Spacing: one space around `=` and binary operators, after `,` `;` `:` and keywords; none
  inside brackets, before `(` of a call or `[` of an index, around `.`, around `=` of a keyword
  argument or default and `:` of a slice, after a unary `-`.
- One statement a line: statements the source wrote side by side are put on their own lines,
  unless the source separated them with `;`. A `{ ... }` body stays on one line when the source
  wrote it on one line and it holds no break; else `{` ends its line and `}` starts one.
  A `{` that starts a line joins the line before it; `else` and `elif` stay where the source has
  them (after `}` or at the start of the next line).
- Line breaks inside statements are kept where the source put them; a line whose code (trailing
  comment aside) is still over ``WIDTH`` columns is broken before its chain's `->`s (those outside
  brackets and braces), each line as long as fits (greedy).
- At most one blank line in a row; none after `{` or before `}`; one newline at the end.
- Numbers, strings and comments are kept as written (comments lose trailing spaces). Trailing
  comments line up within a run of code lines (ended by a blank line or an own-line comment), two
  spaces after the longest code among the run's commented lines.
- ``defaults``, ``let`` and ``expect`` (and everything else) stay in the order written.

It is idempotent, and the formatted text parses to the same syntax tree as the input (checked on
every run: a difference would be a bug, reported as an internal error, and nothing is written).
"""
from __future__ import annotations

from .errors import CnnError, Source, deep_stack

WIDTH = 100
INDENT = 4
VISUAL_MAX = 40   # a bracket's contents align after it only when that is within this many columns

OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
CLOSERS = {v: k for k, v in OPENERS.items()}
# Tokens after which a `-` is binary and a `(` or `[` belongs to the token (a call, an index).
OPERAND_END = {"NAME", "NUMBER", "STRING", "RPAR", "RSQB", "_KW_TRUE", "_KW_FALSE", "_KW_NONE"}


class _Tok:
    __slots__ = ("type", "text", "line", "pos", "breaks", "stmt", "level", "space", "unary", "trailing")

    def __init__(self, type_, text, line, pos):
        self.type, self.text, self.line, self.pos = type_, text, line, pos
        self.breaks = 0        # newlines in the source before this token (since the previous one)
        self.stmt = False      # starts a statement (or a top-level item, or a branch of a group)
        self.level = False     # a line starting with it is at its statement's indent (a statement, `else`)
        self.space = " "       # the space before it when it is not the first on its line
        self.unary = False
        self.trailing = False  # a comment on the line of the code before it


def format_text(text: str, path: str = "<string>") -> str:
    """``text`` in the canonical layout. A spec that doesn't parse raises its located ``CnnError``."""
    from . import parser as P
    if text.startswith("\ufeff"):
        text = text[1:]
    source = Source(path, text)
    tree = P._parse_tree(source, text, "start")
    before = P._parse_ast(source, text, "start")
    out = _format(text, tree)
    try:
        after = P.parse(out, path)
    except CnnError as e:
        raise CnnError("internal", f"cnndsl fmt made text that doesn't parse ({e.message}); "
                                   "please report it with the spec") from None
    with deep_stack(8 * P.MAX_NESTING + 2000):     # syntax trees compare recursively
        same = after == before
    if not same:
        raise CnnError("internal", "cnndsl fmt changed the meaning of the spec; please report it with the spec")
    return out


def _statement_starts(tree) -> set:
    """Source offsets where statements, top-level items and branches of a group begin."""
    from .parser import Tree
    starts, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if node.data in ("start", "body", "group"):
            for c in node.children:
                if isinstance(c, Tree) and not getattr(c.meta, "empty", True):
                    starts.add(c.meta.start_pos)
        stack.extend(c for c in node.children if isinstance(c, Tree))
    return starts


def _tokens(text: str, tree) -> list:
    from .parser import lex_all
    starts = _statement_starts(tree)
    toks, breaks = [], 0
    for t in lex_all(text):
        if t.type == "WS":
            breaks += str(t).count("\n")
            continue
        tok = _Tok(t.type, str(t), t.line, t.start_pos)
        if tok.type == "COMMENT":
            tok.text = tok.text.rstrip()
            tok.trailing = breaks == 0 and bool(toks)
        tok.breaks, breaks = breaks, 0
        tok.stmt = t.start_pos in starts
        toks.append(tok)
    return toks


def _move_arrows(toks: list) -> list:
    """`a ->⏎ b` becomes `a⏎ -> b`: a chain's line break goes before its `->`."""
    out = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.type == "ARROW":
            j = i + 1
            while j < len(toks) and toks[j].type == "COMMENT":
                j += 1
            gap = sum(toks[k].breaks for k in range(i + 1, j + 1)) if j < len(toks) else 0
            if j < len(toks) and gap and not any(toks[k].type == "COMMENT" and not toks[k].trailing
                                                 for k in range(i + 1, j)):
                comments = toks[i + 1:j]
                for c in comments:
                    c.breaks = 0
                t.breaks = t.breaks or 1
                toks[j].breaks = 0
                out.extend(comments)
                out.append(t)
                i = j
                continue
        out.append(t)
        i += 1
    return out


def _spacing(toks: list) -> None:
    """The space before each code token when it shares a line with the one before it."""
    stack, prev = [], None
    for t in toks:
        if t.type == "COMMENT":
            continue
        inner = stack[-1] if stack else None
        p = prev.type if prev else None
        if t.type == "MINUS" or (t.type == "ADD_OP" and t.text == "-"):
            t.unary = p not in OPERAND_END
        space = " "
        if p in ("LPAR", "LSQB") or t.type in ("COMMA", "SEMICOLON", "RPAR", "RSQB", "DOT") or p == "DOT":
            space = ""
        elif p is None:
            space = ""
        elif t.type == "LPAR" and p == "NAME":
            space = ""
        elif t.type == "LSQB" and p in ("NAME", "RPAR", "RSQB", "STRING"):
            space = ""
        elif t.type == "COLON":
            space = ""
        elif p == "COLON" and inner == "LSQB":
            space = ""
        elif (t.type == "EQUAL" or p == "EQUAL") and inner == "LPAR":
            space = ""
        elif prev is not None and prev.unary:
            space = ""
        elif p == "LBRACE" and t.type == "RBRACE":
            space = ""
        t.space = space
        if t.type in OPENERS:
            stack.append(t.type)
        elif t.type in CLOSERS and stack:
            stack.pop()
        prev = t


def _breaks(toks: list) -> None:
    """Decide which tokens start a line: set ``breaks`` to 0 (same line) or the source's count (>= 1)."""
    prev = None      # the previous code token
    comment_between = False
    for t in toks:
        if t.type == "COMMENT":
            comment_between = True
            continue
        if prev is None:
            t.breaks = max(t.breaks, 0)
        elif t.breaks and not comment_between and t.type == "LBRACE":
            t.breaks = 0
        elif not t.breaks and t.stmt and prev.type not in ("SEMICOLON", "LBRACE"):
            t.breaks = 1
        t.level = t.stmt or (t.type in ("_KW_ELSE", "_KW_ELIF") and prev is not None and prev.type == "RBRACE")
        prev, comment_between = t, False
    # A { ... } body that spans lines: `{` ends its line and `}` starts one.
    opens = []
    for i, t in enumerate(toks):
        if t.type == "LBRACE":
            opens.append(i)
        elif t.type == "RBRACE" and opens:
            o = opens.pop()
            inside = toks[o + 1:i + 1]
            if len(inside) == 1:
                t.breaks = 0                     # an empty body: `{}`
            elif any(x.breaks or x.type == "COMMENT" for x in inside):
                first = toks[o + 1]
                if first.type == "COMMENT" and first.trailing:
                    pass
                elif first is not t:
                    first.breaks = max(first.breaks, 1)
                t.breaks = max(t.breaks, 1)
                for x in inside:                 # no blank line after `{` or before `}`
                    if x is first or x is t:
                        x.breaks = min(x.breaks, 1)


def _lines(toks: list) -> list:
    """Group tokens into lines: ``[blank_before, tokens, trailing comment or None]``; an own-line
    comment is a line with no tokens."""
    lines = []
    for t in toks:
        if t.type == "COMMENT" and t.trailing and lines and lines[-1][1] and lines[-1][2] is None:
            lines[-1][2] = t.text
            continue                     # (a second comment for one line, `a # x⏎ -> # y`, gets its own)
        if t.type == "COMMENT" or t.breaks or not lines or lines[-1][1] == []:
            lines.append([t.breaks >= 2 and bool(lines), [], None])
            if t.type == "COMMENT":
                lines[-1][2] = t.text
                continue
        lines[-1][1].append(t)
    return lines


def _render(tokens: list) -> tuple:
    """A line's code text, and each token's offset in it."""
    parts, offsets, n = [], [], 0
    for k, t in enumerate(tokens):
        s = t.space if k else ""
        offsets.append(n + len(s))
        parts.append(s + t.text)
        n += len(s) + len(t.text)
    return "".join(parts), offsets


class _Layout:
    """Indentation: a stack of open brackets, each with the indent its contents and its closer get."""

    def __init__(self):
        self.stack = []      # (type, content indent, closer indent, logical indent of the line it opened on)

    def brace_indent(self) -> int:
        for kind, content, _close, _li in reversed(self.stack):
            if kind == "LBRACE":
                return content
        return 0

    def indent_of(self, tokens: list) -> tuple:
        """(indent, logical indent) of a line starting with ``tokens[0]``."""
        first = tokens[0]
        top = self.stack[-1] if self.stack else None
        if first.type in CLOSERS and top is not None:
            return top[2], top[3] if top[0] != "LBRACE" else top[2]
        if top is not None and top[0] != "LBRACE":
            return top[1], top[3]
        indent = self.brace_indent()
        if not first.level and first.type != "LBRACE":
            indent += INDENT
        return indent, indent

    def advance(self, tokens: list, indent: int, logical: int, offsets: list) -> None:
        for k, t in enumerate(tokens):
            if t.type in OPENERS:
                if t.type == "LBRACE":
                    self.stack.append(("LBRACE", logical + INDENT, logical, logical))
                elif k == len(tokens) - 1 or indent + offsets[k] + 1 > VISUAL_MAX:
                    self.stack.append((t.type, logical + INDENT, logical, logical))
                else:
                    self.stack.append((t.type, indent + offsets[k] + 1, logical, logical))
            elif t.type in CLOSERS and self.stack:
                self.stack.pop()


def _split_chain(tokens: list, indent: int) -> list:
    """A line over WIDTH broken before its top-level `->`s, each piece as long as fits (the first
    piece is never empty); a list of token lists, the line itself when it fits or can't be broken."""
    text, offsets = _render(tokens)
    if indent + len(text) <= WIDTH:
        return [tokens]
    depth, arrows = 0, []
    for k, t in enumerate(tokens):
        if t.type in OPENERS:
            depth += 1
        elif t.type in CLOSERS:
            depth -= 1
        elif depth == 0 and t.type == "ARROW" and k > 0:
            arrows.append(k)
        elif depth == 0 and t.type == "SEMICOLON":
            return [tokens]          # statements grouped with `;` stay as written
    if not arrows:
        return [tokens]
    cont = 0 if tokens[0].type == "ARROW" else INDENT
    pieces, start, room = [], 0, WIDTH - indent
    for n, k in enumerate(arrows):
        end = arrows[n + 1] if n + 1 < len(arrows) else len(tokens)
        stop = offsets[end] - len(tokens[end].space) if end < len(tokens) else len(text)
        if stop - offsets[start] > room and k > start:
            pieces.append(tokens[start:k])
            start, room = k, WIDTH - indent - cont
    pieces.append(tokens[start:])
    return pieces


def _format(text: str, tree) -> str:
    toks = _move_arrows(_tokens(text, tree))
    _spacing(toks)
    _breaks(toks)
    queue = _lines(toks)
    layout = _Layout()
    out = []          # [code text, comment or None] per line; None for a blank line
    pending = []      # indices in `out` of own-line comments waiting for the indent of the code after them
    header = False    # a block's or network's header continues onto this line (its body's `{` not yet read)
    i = 0
    while i < len(queue):
        blank, tokens, comment = queue[i]
        i += 1
        if blank and out:
            out.append(None)
        if not tokens:
            pending.append(len(out))
            out.append([comment, None])
            continue
        indent, logical = layout.indent_of(tokens)
        if tokens[0].type in ("_KW_NETWORK", "_KW_BLOCK"):
            header = True
        elif header and (not layout.stack or layout.stack[-1][0] == "LBRACE"):
            logical = layout.brace_indent()    # `-> (a, b) {` continuing a header: the body is the item's
        if tokens[0].stmt or tokens[0].type == "ARROW":
            pieces = _split_chain(tokens, indent)
            if len(pieces) > 1:
                queue[i:i] = [[False, p, None] for p in pieces[1:]]
                queue[i + len(pieces) - 2][2] = comment
                tokens, comment = pieces[0], None
        c_indent = indent + INDENT if tokens[0].type in CLOSERS else indent
        for k in pending:
            out[k] = [" " * c_indent + out[k][0], None]
        pending = []
        code, offsets = _render(tokens)
        layout.advance(tokens, indent, logical, offsets)
        if header and any(t.type == "LBRACE" for t in tokens):
            header = False                     # a header's first `{` opens its body (no value holds one)
        out.append([" " * indent + code, comment])
    for k in pending:
        out[k] = [" " * layout.brace_indent() + out[k][0], None]
    while out and out[-1] is None:
        out.pop()
    _align_comments(out)
    return "".join(("" if line is None else line[0]) + "\n" for line in out)


def _align_comments(out: list) -> None:
    """Trailing comments line up within each run of code lines (a blank line or an own-line comment
    ends a run): two spaces after the longest code among the run's lines that have one."""
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and out[j] is not None and not out[j][0].lstrip().startswith("#"):
            j += 1
        commented = [k for k in range(i, j) if out[k][1] is not None]
        col = max((len(out[k][0].rstrip()) for k in commented), default=0) + 2
        for k in range(i, j):
            code = out[k][0].rstrip()
            out[k] = [code.ljust(col) + out[k][1] if out[k][1] is not None else code]
        if j < len(out) and out[j] is not None:
            out[j] = [out[j][0].rstrip()]
        i = j + 1


# --- files ----------------------------------------------------------------------------------------

def spec_files(paths) -> list:
    """The .cnn files named, folders searched recursively (sorted), ``-`` kept as is."""
    import os
    files = []
    for p in paths:
        if p != "-" and os.path.isdir(p):
            found = []
            for folder, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(folder, n) for n in names if n.endswith(".cnn")]
            files += sorted(found)
        else:
            files.append(p)
    return files
