"""``cnndsl lsp``: a Language Server Protocol server over standard input and output (pygls).

The server checks a document as `cnndsl check` does (parse, imports, every network lowered and
shape-checked) and answers from the result:

- diagnostics: every ``CnnError`` (with its range, and the block call chain and notes as related
  locations) and every warning, on open and on change (debounced: DEBOUNCE seconds after the last
  keystroke), the check running in a worker thread so that requests are answered meanwhile;
- hover: on an op or a statement, the output shape(s), parameters and MACs of the layers written
  there, and the op's doc; on a block call, its output shape, params and MACs, and the block's
  signature and doc comment; on a name, its value;
- go to definition (blocks, imports, `let` values and functions, named tensors and parameters),
  find references of blocks, completion (ops, blocks, argument names with their defaults,
  symbols such as `same` and `relu`, keywords), document symbols, and formatting (``cnndsl fmt``).

Hover stays fast while the text changes: it answers from the last graph that checked, a changed
document's lines mapped back to that graph's text (unchanged lines keep their graph).

The queries (``analyze``, ``hover``, ``definition``, ...) are plain functions of an ``Analysis``;
``serve`` wires them to pygls. Nothing here raises on bad input: a spec error is a diagnostic, and
any other exception in a request is logged and answered with nothing.
"""
from __future__ import annotations

import difflib
import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from . import syntax as S
from .errors import CnnError, Span

DEBOUNCE = 0.25     # seconds of quiet after a change before the document is checked again
MAX_SHOWN = 6       # distinct shapes listed in a hover before "..."
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
KEYWORDS = ("import", "as", "let", "fn", "block", "network", "defaults", "expect", "assert", "repeat", "collect",
            "if", "elif", "else", "true", "false", "none", "and", "or", "not")

log = logging.getLogger("cnndsl.lsp")


# --- the analysis of one text ---------------------------------------------------------------------

@dataclass
class Analysis:
    """What checking one version of a document gave."""

    path: str
    text: str
    module: S.Module | None = None
    program: object = None
    graphs: dict = field(default_factory=dict)     # network name -> Graph
    errors: list = field(default_factory=list)     # CnnError
    warnings: list = field(default_factory=list)   # (network name, text)

    @property
    def lines(self) -> list:
        return self.text.split("\n")


def analyze(text: str, path: str) -> Analysis:
    """Parse, load and lower every network of ``text`` (at ``path``, for its imports); never raises."""
    from .parser import parse
    from .program import load
    a = Analysis(path, text)
    if text.startswith("\ufeff"):        # a byte-order mark is no character of the spec; it keeps its column
        text = " " + text[1:]
    try:
        a.module = parse(text, path)
        a.program = load(text, path)
        for name in a.program.network_names():
            try:
                g = a.program.lower(name)
            except CnnError as e:
                if not (e.kind == "usage" and "--set" in e.message):   # a network that needs a value
                    a.errors.append(e)
                continue
            a.graphs[name] = g
            a.warnings += [(name, w) for w in g.warnings]
    except CnnError as e:
        a.errors.append(e)
    except Exception as e:  # a bug in cnndsl: shown, never a crash of the server
        log.exception("checking %s", path)
        a.errors.append(CnnError("internal", f"internal error in cnndsl ({type(e).__name__}: {e}); please report "
                                             "it with the spec"))
    return a


# --- positions ------------------------------------------------------------------------------------

def _key(span: Span) -> tuple:
    return (span.line, span.col, span.end_line, span.end_col)


def _contains(span: Span, line: int, col: int) -> bool:
    return (span.line, span.col) <= (line, col) < (span.end_line, span.end_col)


def _size(span: Span) -> tuple:
    return (span.end_line - span.line, span.end_col - span.col if span.end_line == span.line else 10 ** 6)


def _same_file(span: Span | None, path: str) -> bool:
    return span is not None and span.source.path == path


def word_at(text: str, line: int, col: int) -> tuple | None:
    """The name (dotted: `lib.stage`, `in.channels`) under 1-based (line, col): (word, start col, end col)."""
    rows = text.split("\n")
    if not 0 < line <= len(rows):
        return None
    row = rows[line - 1]
    matches = list(IDENT.finditer(row))
    for m in matches:
        if m.start() <= col - 1 < m.end():
            return m.group(), m.start() + 1, m.end() + 1
    for m in matches:                 # the cursor just after a name
        if m.end() == col - 1:
            return m.group(), m.start() + 1, m.end() + 1
    return None


def in_comment_or_string(text: str, line: int, col: int) -> str | None:
    """``"comment"`` or ``"string"`` when (line, col) is inside one, else None."""
    rows = text.split("\n")
    if not 0 < line <= len(rows):
        return None
    quote = None
    for c, ch in enumerate(rows[line - 1][:col - 1], start=1):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return "comment"
    return "string" if quote else None


def map_line(new_text: str, old_text: str, line: int) -> int | None:
    """The line of ``old_text`` that ``line`` of ``new_text`` is, when that line is unchanged; else None."""
    if new_text == old_text:
        return line
    new, old = new_text.split("\n"), old_text.split("\n")
    sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal" and j1 < line <= j2:
            return i1 + (line - j1)
    return None


def walk(node):
    """Every syntax node under ``node`` (itself included), depth first, in source order."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, S.Node):
            yield n
            stack.extend(reversed([getattr(n, f) for f in n._fields[1:]]))
        elif isinstance(n, tuple):
            stack.extend(reversed(n))


def enclosing_def(module: S.Module, line: int, col: int):
    for d in (*module.blocks, *module.networks):
        if _contains(d.span, line, col):
            return d
    return None


# --- hover ----------------------------------------------------------------------------------------

def hover(a: Analysis, line: int, col: int, text: str | None = None) -> tuple | None:
    """Markdown for a hover at 1-based (line, col) of ``text`` (the document now; the analysis's text
    by default), and the range it is about as a Span-like tuple; or None."""
    text = a.text if text is None else text
    if in_comment_or_string(text, line, col) == "comment":
        return None
    old = map_line(text, a.text, line)
    if old is None or a.module is None:
        return None
    found = word_at(a.text, old, col)
    parts, where = [], None
    if found:
        word, c0, c1 = found
        where = (old, c0, old, c1)
        block = _block_named(a, word, old, col)
        if block is not None:
            parts.append(_block_doc(block))
        value = None if block is not None else (_expected(a, word, old, col) or _value_of(a, word, old, col))
        if value is not None:
            parts.append(value)
    graph_part = _graph_hover(a, old, col)
    if graph_part is not None:
        text_, op, key = graph_part
        parts.insert(0, text_)
        if op is not None and found and found[0] == op:
            from .ops import REGISTRY
            doc = _op_signature(REGISTRY[op])
            parts.append(doc)
        if where is None:
            where = key
    elif found and not parts:
        from .ops import REGISTRY
        if found[0] in REGISTRY and not REGISTRY[found[0]].internal:
            parts.append(_op_signature(REGISTRY[found[0]]))
    if not parts:
        return None
    if old != line and where is not None:      # back to the document's own line numbers
        where = (line, where[1], line + where[2] - where[0], where[3])
    return "\n\n---\n\n".join(parts), where


def _graph_hover(a: Analysis, line: int, col: int):
    """The layers written at (line, col): the innermost op call or block call there, over all networks."""
    best = None    # (size, key, kind, items)
    for gname, g in a.graphs.items():
        for i, n in enumerate(g.nodes):
            if n.op == "input":
                continue
            if _same_file(n.span, a.path) and _contains(n.span, line, col):
                cand = (_size(n.span), _key(n.span), "node")
                if best is None or cand[:2] < best[0][:2]:
                    best = (cand, [])
                if cand[:2] == best[0][:2] and best[0][2] == "node":
                    best[1].append((gname, n))
            for s in n.scope:
                if s.kind == "block" and _same_file(s.span, a.path) and _contains(s.span, line, col):
                    cand = (_size(s.span), _key(s.span), "scope")
                    if best is None or cand[:2] < best[0][:2]:
                        best = (cand, [])
                    if cand[:2] == best[0][:2] and best[0][2] == "scope":
                        best[1].append((gname, s.id, n))
    if best is None or not best[1]:
        return _statement_hover(a, line, col)
    (size, key, kind), items = best
    inner = [s.span for s in walk(a.module) if isinstance(s, (S.ChainStmt, S.Assign, S.Chain)) and _contains(s.span, line, col)]
    if inner and min(_size(sp) for sp in inner) < size:     # a branch inside a merge's group: the branch
        found = _statement_hover(a, line, col)
        if found is not None:
            return found
    from .ops import fmt_shape
    from .summary import human
    if kind == "node":
        nodes = [n for _, n in items]
        op = nodes[0].op
        shapes = _distinct(fmt_shape(n.shape) for n in nodes)
        head = f"**{op}** → `{shapes[0]}`" if len(shapes) == 1 else f"**{op}** → " + ", ".join(f"`{s}`" for s in shapes)
        lines = [head]
        if len(nodes) == 1:
            n = nodes[0]
            lines.append(f"layer `{n.name}` · params {n.params:,}" + _trainable(n.trainable, n.non_trainable) +
                         f" · MACs {human(n.macs)}")
        else:
            macs = None if any(n.macs is None for n in nodes) else sum(n.macs for n in nodes)
            tr, nt = sum(n.trainable for n in nodes), sum(n.non_trainable for n in nodes)
            lines.append(f"{len(nodes)} layers written here (`{nodes[0].name}`, ... `{nodes[-1].name}`) · params "
                         f"{tr + nt:,} in all" + _trainable(tr, nt) + f" · MACs {human(macs)}")
        return "\n\n".join(lines), op, key
    calls = {}
    for gname, sid, n in items:
        calls.setdefault((gname, sid), []).append(n)
    outs = _distinct(fmt_shape(ns[-1].shape) for ns in calls.values())
    all_nodes = [n for ns in calls.values() for n in ns]
    tr, nt = sum(n.trainable for n in all_nodes), sum(n.non_trainable for n in all_nodes)
    macs = None if any(n.macs is None for n in all_nodes) else sum(n.macs for n in all_nodes)
    first = next(iter(calls.values()))
    scope = next(s for s in first[-1].scope if _key(s.span) == key)
    each = "" if len(calls) == 1 else f" ({len(calls)} calls)"
    lines = [f"**{scope.label}**{each} → " + ", ".join(f"`{s}`" for s in outs),
             f"{len(all_nodes)} layers · params {tr + nt:,}" + _trainable(tr, nt) + f" · MACs {human(macs)}"]
    return "\n\n".join(lines), None, key


def _statement_hover(a: Analysis, line: int, col: int):
    """Between the calls of a statement (on `->`, a space): the statement's output and its layers."""
    from .ops import fmt_shape
    from .summary import human
    stmts = [s for s in walk(a.module) if isinstance(s, (S.ChainStmt, S.Assign, S.Chain)) and _contains(s.span, line, col)]
    if not stmts:
        return None
    st = min(stmts, key=lambda s: _size(s.span))
    lo, hi = (st.span.line, st.span.col), (st.span.end_line, st.span.end_col)
    nodes = [n for g in a.graphs.values() for n in g.nodes if n.op != "input" and _same_file(n.span, a.path)
             and lo <= (n.span.line, n.span.col) and (n.span.end_line, n.span.end_col) <= hi]
    if not nodes:
        return None
    last = max((n.span.end_line, n.span.end_col) for n in nodes)
    ends = [n for n in nodes if (n.span.end_line, n.span.end_col) == last]
    outs = _distinct(fmt_shape(n.shape) for n in ends)
    tr, nt = sum(n.trainable for n in nodes), sum(n.non_trainable for n in nodes)
    macs = None if any(n.macs is None for n in nodes) else sum(n.macs for n in nodes)
    times = f" in {len(ends)} runs of it" if len(ends) > 1 else ""
    text = ("**statement** → " + ", ".join(f"`{o}`" for o in outs) + f"\n\n{len(nodes)} layers{times} · params "
            f"{tr + nt:,}" + (" in all" if times else "") + _trainable(tr, nt) + f" · MACs {human(macs)}")
    return text, None, _key(st.span)


def _trainable(tr: int, nt: int) -> str:
    return f" (non-trainable {nt:,})" if nt else ""


def _distinct(items) -> list:
    out = []
    for x in items:
        if x not in out:
            out.append(x)
    return out if len(out) <= MAX_SHOWN else out[:MAX_SHOWN - 1] + ["..."]


def _op_signature(op) -> str:
    from .ops.schema import REQUIRED, describe
    args = ", ".join(a.name if a.default is REQUIRED else f"{a.name}={describe(a.default).strip('`')}" for a in op.args)
    return f"`{op.name}({args})`\n\n{op.doc}".rstrip()


def _blocks(a: Analysis) -> dict:
    """Blocks visible in the document: the program's (imported ones included) or, without a program,
    the file's own."""
    if a.program is not None:
        return dict(a.program.blocks)
    return {b.name: b for b in a.module.blocks} if a.module is not None else {}


def _block_named(a: Analysis, word: str, line: int, col: int):
    b = _blocks(a).get(word)
    if b is None:
        return None
    for node in walk(a.module):           # a call of it, or its definition, under the cursor
        if isinstance(node, S.Call) and node.name == word and node.span.line == line and \
                node.span.col <= col < node.span.col + len(word):
            return b
        if isinstance(node, S.BlockDef) and node.name == word and node.span.line == line:
            return b
    return None


def _doc_comment(span: Span) -> str:
    """The comment lines right above a definition, and the comment at the end of its first line."""
    lines = span.source.text.split("\n")
    out, i = [], span.line - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        out.append(lines[i].strip()[1:].strip())
        i -= 1
    out.reverse()
    first = lines[span.line - 1] if span.line <= len(lines) else ""
    m = re.search(r"#(.*)$", re.sub(r"\"[^\"]*\"|'[^']*'", lambda q: " " * len(q.group()), first))
    if m and m.group(1).strip():
        out.append(m.group(1).strip())
    return "\n".join(out)


def _param_text(p) -> str:
    if p.kind == "plain":
        return p.name
    sep = ": " if p.kind == "input" else "="
    return p.name + sep + _source_of(p.value.span)


def _source_of(span: Span) -> str:
    lines = span.source.text.split("\n")
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1:span.end_col - 1]
    return "\n".join([lines[span.line - 1][span.col - 1:], *lines[span.line:span.end_line - 1],
                      lines[span.end_line - 1][:span.end_col - 1]])


def _block_doc(b) -> str:
    outs = f" -> ({', '.join(b.outputs)})" if b.outputs else ""
    sig = f"block {b.name}({', '.join(_param_text(p) for p in b.params)}){outs}"
    doc = _doc_comment(b.span)
    where = os.path.basename(b.span.source.path)
    return f"`{sig}`\n\n" + (doc + "\n\n" if doc else "") + f"defined in {where}:{b.span.line}"


def _value_of(a: Analysis, word: str, line: int, col: int) -> str | None:
    """``name = value`` for a constant, a network parameter, or a network's `let` that can be computed."""
    from .ops.schema import describe
    if a.program is not None and word in a.program.consts:
        value = a.program.consts[word]
        if not callable(value) or isinstance(value, (int, float, str, list, tuple)):
            return f"`{word} = {_short(describe(value))}`"
    d = enclosing_def(a.module, line, col)
    if isinstance(d, S.NetworkDef) and d.name in a.graphs:
        g = a.graphs[d.name]
        if word in g.params and word not in g.inputs:
            return f"`{word} = {_short(describe(g.params[word]))}`"
        if word in g.inputs:
            from .ops import fmt_shape
            return f"input `{word}`: `{fmt_shape(g.inputs[word].shape)}`"
        lets = [s for s in d.body if isinstance(s, S.Let) and s.name == word]
        if lets:
            from .values import Evaluator
            names = {**a.program.consts, **g.params, **g.inputs}
            try:
                for s in d.body:
                    if isinstance(s, S.Let) and isinstance(s.name, str):
                        names[s.name] = Evaluator(names)(s.value)
                        if s is lets[-1]:
                            break
                return f"`{word} = {_short(describe(names[word]))}`"
            except Exception:   # a let that needs the tensors before it: its text
                return f"`let {word} = {_short(_source_of(lets[-1].value.span))}`"
    if d is not None:
        for s in walk(d.body):
            if isinstance(s, S.Let) and s.name == word:
                return f"`let {word} = {_short(_source_of(s.value.span))}`"
    return None


def _expected(a: Analysis, word: str, line: int, col: int) -> str | None:
    """On an `expect` line's target: what the network comes to (`params`, `shape`, `x.shape`, ...)."""
    from .contracts import COUNTS
    from .ops import fmt_shape
    d = enclosing_def(a.module, line, col)
    g = a.graphs.get(d.name) if isinstance(d, S.NetworkDef) else None
    if g is None:
        return None
    for s in walk(d.body):
        if not (isinstance(s, S.Expect) and _contains(s.span, line, col) and s.span.line == line):
            continue
        target = f"{s.target}.{s.attr}" if s.attr else s.target
        if word not in (s.target, target):
            return None
        if s.attr is None and s.target in COUNTS:
            got = COUNTS[s.target](g)
            return f"{g.name} has `{s.target}` = {got:,}" if got is not None else None
        if s.attr is None and s.target == "shape" and len(g.outputs) == 1:
            return f"{g.name}'s output shape: `{fmt_shape(next(iter(g.outputs.values())).shape)}`"
        node = g.outputs.get(s.target)
        if s.attr == "shape" and node is not None:
            return f"`{s.target}`'s shape: `{fmt_shape(node.shape)}`"
    return None


def _short(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


# --- definitions and references -------------------------------------------------------------------

def _name_range(span: Span, name: str) -> tuple:
    """Where ``name`` is written in the first line of ``span`` (a definition's span), as a range."""
    row = span.source.line(span.line)
    m = re.search(r"(?<![A-Za-z0-9_.])" + re.escape(name.split(".")[-1]) + r"(?![A-Za-z0-9_])", row[span.col - 1:])
    if m is None:
        return (span.line, span.col, span.line, span.col)
    c = span.col + m.start()
    return (span.line, c, span.line, c + len(m.group()))


def definition(a: Analysis, line: int, col: int) -> list:
    """Where the thing under (line, col) is defined: [(path, (line, col, end_line, end_col))]."""
    if a.module is None:
        return []
    for imp in a.module.imports:       # the import's string: the file it names
        if _contains(imp.span, line, col) and in_comment_or_string(a.text, line, col) == "string":
            target = os.path.normpath(os.path.join(os.path.dirname(a.path), imp.path))
            return [(target, (1, 1, 1, 1))] if os.path.exists(target) else []
    found = word_at(a.text, line, col)
    if not found:
        return []
    word = found[0]
    b = _blocks(a).get(word)
    if b is not None:
        return [(b.span.source.path, _name_range(b.span, b.name))]
    d = enclosing_def(a.module, line, col)
    if d is not None:
        best = None
        for p in d.params:
            if p.name == word:
                best = p.span
        for s in walk(d.body):
            names = ()
            if isinstance(s, (S.Let, S.Assign)):
                names = (s.name,) if isinstance(s.name, str) else s.name
            elif isinstance(s, S.Repeat) and s.var == word and _contains(s.span, line, col):
                best = s.span
            if word in names and (best is None or (s.span.line, s.span.col) <= (line, col)):
                best = s.span
        if best is not None:
            return [(a.path, _name_range(best, word))]
    for c in a.module.consts:
        if c.name == word:
            return [(a.path, _name_range(c.span, word))]
    if a.program is not None and (word in a.program.consts or "." in word):   # an imported constant or function
        for imp in a.module.imports:
            short = word.split(".", 1)[1] if imp.alias and word.startswith(imp.alias + ".") else word
            if imp.alias and short == word:
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(a.path), imp.path))
            try:
                from .parser import parse
                from .program import read_text
                sub = parse(read_text(target), target)
            except (CnnError, OSError):
                continue
            for c in (*sub.consts, *sub.blocks):
                if c.name == short:
                    return [(target, _name_range(c.span, short))]
    return []


def references(a: Analysis, line: int, col: int, include_declaration: bool = True) -> list:
    """The calls of the block under (line, col) in this document (and its definition, when here)."""
    found = word_at(a.text, line, col) if a.module is not None else None
    if not found:
        return []
    b = _blocks(a).get(found[0])
    if b is None:
        return []
    out = []
    if include_declaration and b.span.source.path == a.path:
        out.append((a.path, _name_range(b.span, b.name)))
    for node in walk(a.module):
        if isinstance(node, S.Call) and node.name == found[0]:
            out.append((a.path, (node.span.line, node.span.col, node.span.line, node.span.col + len(node.name))))
    return out


# --- completion -----------------------------------------------------------------------------------

def _callee(text: str, line: int, col: int) -> str | None:
    """The op or block whose argument list (line, col) is inside, if any."""
    rows = text.split("\n")
    before = "\n".join(rows[max(0, line - 30):line - 1] + [rows[line - 1][:col - 1]]) if 0 < line <= len(rows) else ""
    before = re.sub(r"#[^\n]*|\"[^\"\n]*\"|'[^'\n]*'", "", before)
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        ch = before[i]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            if depth == 0:
                if ch != "(":
                    return None
                m = re.search(r"([A-Za-z_][A-Za-z0-9_.]*)\s*$", before[:i])
                return m.group(1) if m else None
            depth -= 1
    return None


def symbols() -> list:
    """Bare words the ops accept (`same`, `relu`, ...): every choice of every op argument."""
    from .ops import REGISTRY
    out = []
    for op in REGISTRY.values():
        for arg in op.args:
            for c in arg.choices:
                if isinstance(c, str) and c.isidentifier() and c not in out:
                    out.append(c)
    return out


def completion(a: Analysis | None, text: str, line: int, col: int) -> list:
    """Completion items as dicts: label, kind (op, block, argument, symbol, keyword, constant), detail,
    insert (the text to insert)."""
    from .ops import REGISTRY
    from .ops.schema import REQUIRED, describe
    if in_comment_or_string(text, line, col):
        return []
    items = []
    callee = _callee(text, line, col)
    blocks = _blocks(a) if a is not None else {}
    if callee is not None:
        if callee in REGISTRY:
            for arg in REGISTRY[callee].args:
                default = "required" if arg.default is REQUIRED else f"default {describe(arg.default).strip('`')}"
                choices = f"; one of {', '.join(map(str, arg.choices))}" if arg.choices else ""
                items.append({"label": f"{arg.name}=", "kind": "argument", "detail": f"{arg.type}, {default}{choices}",
                              "insert": f"{arg.name}="})
        elif callee in blocks:
            for p in blocks[callee].params:
                if p.kind != "input":
                    items.append({"label": f"{p.name}=", "kind": "argument", "detail": _param_text(p),
                                  "insert": f"{p.name}="})
    for name, op in sorted(REGISTRY.items()):
        if not op.internal:
            items.append({"label": name, "kind": "op", "detail": op.doc.split(". ")[0], "insert": name})
    for name, b in sorted(blocks.items()):
        items.append({"label": name, "kind": "block",
                      "detail": f"block {name}({', '.join(_param_text(p) for p in b.params)})", "insert": name})
    for sym in symbols():
        items.append({"label": sym, "kind": "symbol", "detail": "a symbol", "insert": sym})
    if a is not None and a.program is not None:
        for name in sorted(a.program.consts):
            items.append({"label": name, "kind": "constant", "detail": "a constant", "insert": name})
    if callee is None:
        for k in KEYWORDS:
            items.append({"label": k, "kind": "keyword", "detail": "keyword", "insert": k})
    return items


# --- document symbols and diagnostics ----------------------------------------------------------------

def document_symbols(a: Analysis) -> list:
    """(kind, name, detail, range, name range) for every block, network, constant and function."""
    if a.module is None:
        return []
    out = []
    for b in a.module.blocks:
        out.append(("block", b.name, f"({', '.join(_param_text(p) for p in b.params)})", _key(b.span),
                    _name_range(b.span, b.name)))
    for n in a.module.networks:
        detail = ""
        g = a.graphs.get(n.name)
        if g is not None:
            detail = f"{g.total_params:,} params"
        out.append(("network", n.name, detail, _key(n.span), _name_range(n.span, n.name)))
    for c in a.module.consts:
        out.append(("fn" if isinstance(c, S.FnDef) else "let", c.name, "", _key(c.span), _name_range(c.span, c.name)))
    return sorted(out, key=lambda s: s[3])


LOCATION = re.compile(r"(?P<path>[^\s`]+):(?P<line>\d+):(?P<col>\d+)")


def diagnostics(a: Analysis) -> list:
    """Every error and warning of the analysis as a dict: severity (error or warning), message, range,
    related ([(path, range, message)]: the call chain outermost first, and the error's own place
    when it is in another file)."""
    out = []
    for e in a.errors:
        rng, related = None, []
        if _same_file(e.span, a.path):
            rng = _key(e.span)
        else:
            if e.span is not None:
                related.append((e.span.source.path, _key(e.span), f"the error, in {os.path.basename(e.span.source.path)}"))
            for note in e.notes:                    # `x.cnn is imported at doc:l:c`: the outermost one here
                for m in LOCATION.finditer(note):
                    if m.group("path") == a.path:
                        ln, c = int(m.group("line")), int(m.group("col"))
                        rng = (ln, c, ln, len(a.lines[ln - 1]) + 1 if ln <= len(a.lines) else c + 1)
            if rng is None:
                for f in e.chain:
                    if _same_file(f.span, a.path):
                        rng = _key(f.span)
                        break
        if rng is None:
            rng = (1, 1, 1, 1)
        for f in e.chain:
            if f.span is not None:
                related.append((f.span.source.path, _key(f.span), f"in {f.label}, called here"))
        message = e.message
        for note in e.notes:
            message += f"\nnote: {note}"
        if e.hint:
            message += f"\nhint: {e.hint}"
        out.append({"severity": "error", "message": message, "range": rng, "related": related, "code": e.kind})
    for gname, w in a.warnings:
        rng = None
        for m in LOCATION.finditer(w):
            if m.group("path") == a.path:
                ln, c = int(m.group("line")), int(m.group("col"))
                rng = (ln, c, ln, c + 1)
                break
        if rng is None and gname in a.graphs and _same_file(a.graphs[gname].span, a.path):
            sp = a.graphs[gname].span
            rng = _name_range(sp, gname)
        out.append({"severity": "warning", "message": w, "range": rng or (1, 1, 1, 1), "related": [],
                    "code": "warning"})
    return out


def format_document(text: str, path: str) -> str | None:
    """The text formatted by `cnndsl fmt`, or None when it doesn't parse."""
    from .fmt import format_text
    try:
        return format_text(text, path)
    except CnnError:
        return None


# --- the server ---------------------------------------------------------------------------------------

def uri_to_path(uri: str) -> str:
    p = urlparse(uri)
    if p.scheme == "file":
        return unquote(p.path)
    return uri


def path_to_uri(path: str) -> str:
    from pathlib import Path
    try:
        return Path(os.path.abspath(path)).as_uri()
    except ValueError:
        return path


def serve() -> None:  # pragma: no cover - exercised through a subprocess in tests/test_lsp.py
    """Run the server on standard input and output until the client says exit."""
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError as e:
        raise CnnError("tool", f"the language server needs pygls, but it can't be imported ({e})",
                       hint="pip install 'cnndsl[lsp]'") from None
    server = make_server()
    server.start_io()


def make_server():
    import asyncio
    import concurrent.futures
    import threading
    from lsprotocol import types as T
    from pygls.lsp.server import LanguageServer

    try:
        threading.stack_size(64 * 2 ** 20)   # deep specs recurse deeply: the checking thread gets a big stack
    except (ValueError, RuntimeError):
        pass
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnndsl-check")
    server = LanguageServer("cnndsl", _version(), text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
    state = {"analysis": {}, "good": {}, "tasks": {}}

    def rng(r) -> T.Range:
        l0, c0, l1, c1 = r
        return T.Range(T.Position(max(0, l0 - 1), max(0, c0 - 1)), T.Position(max(0, l1 - 1), max(0, c1 - 1)))

    def pos(p: T.Position) -> tuple:
        return p.line + 1, p.character + 1

    def current(uri):
        doc = server.workspace.get_text_document(uri)
        return doc, uri_to_path(uri)

    def best(uri) -> Analysis | None:
        """The last analysis that has graphs (or at least a syntax tree)."""
        return state["good"].get(uri) or state["analysis"].get(uri)

    def publish(uri, a: Analysis, version):
        diags = []
        for d in diagnostics(a):
            related = [T.DiagnosticRelatedInformation(T.Location(uri if p == a.path else path_to_uri(p), rng(r)), m)
                       for p, r, m in d["related"]]
            diags.append(T.Diagnostic(range=rng(d["range"]), message=d["message"], source="cnndsl", code=d["code"],
                                      severity=T.DiagnosticSeverity.Error if d["severity"] == "error"
                                      else T.DiagnosticSeverity.Warning,
                                      related_information=related or None))
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diags,
                                                                            version=version))

    async def check(uri, delay: float):
        try:
            if delay:
                await asyncio.sleep(delay)
            doc, path = current(uri)
            text, version = doc.source, doc.version
            a = await asyncio.get_running_loop().run_in_executor(pool, analyze, text, path)
            if server.workspace.get_text_document(uri).version != version:
                return                                   # a newer change will be checked
            state["analysis"][uri] = a
            if a.graphs or (a.module is not None and not a.errors):
                state["good"][uri] = a
            elif a.module is not None and uri not in state["good"]:
                state["good"][uri] = a
            publish(uri, a, version)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("checking %s", uri)

    def schedule(uri, delay):
        old = state["tasks"].get(uri)
        if old is not None and not old.done():
            old.cancel()
        state["tasks"][uri] = asyncio.ensure_future(check(uri, delay))

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls, params: T.DidOpenTextDocumentParams):
        schedule(params.text_document.uri, 0)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls, params: T.DidChangeTextDocumentParams):
        schedule(params.text_document.uri, DEBOUNCE)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls, params: T.DidSaveTextDocumentParams):
        schedule(params.text_document.uri, 0)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: T.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        for table in (state["analysis"], state["good"]):
            table.pop(uri, None)
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def guarded(fn):
        def run(ls, params):
            try:
                return fn(params)
            except Exception:
                log.exception("%s", fn.__name__)
                return None
        run.__name__ = fn.__name__
        return run

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    @guarded
    def on_hover(params: T.HoverParams):
        uri = params.text_document.uri
        a = best(uri)
        if a is None:
            return None
        doc, _ = current(uri)
        found = hover(a, *pos(params.position), text=doc.source)
        if found is None:
            return None
        md, where = found
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=md),
                       range=rng(where) if where else None)

    def locations(uri, position, query):
        """Run a query on the last analysis, the document's lines mapped onto its text and back."""
        a = best(uri)
        doc, _ = current(uri)
        if a is None:
            return None
        line, col = pos(position)
        old = map_line(doc.source, a.text, line)
        if old is None:
            return None
        out = []
        for p, (l0, c0, l1, c1) in query(a, old, col):
            if p == a.path:
                l0_new = map_line(a.text, doc.source, l0)
                if l0_new is None:
                    continue
                l0, l1 = l0_new, l1 + l0_new - l0
            out.append(T.Location(uri if p == a.path else path_to_uri(p), rng((l0, c0, l1, c1))))
        return out or None

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    @guarded
    def on_definition(params: T.DefinitionParams):
        return locations(params.text_document.uri, params.position, definition)

    @server.feature(T.TEXT_DOCUMENT_REFERENCES)
    @guarded
    def on_references(params: T.ReferenceParams):
        return locations(params.text_document.uri, params.position,
                         lambda a, line, col: references(a, line, col, params.context.include_declaration))

    KINDS = {"op": T.CompletionItemKind.Function, "block": T.CompletionItemKind.Class,
             "argument": T.CompletionItemKind.Property, "symbol": T.CompletionItemKind.EnumMember,
             "keyword": T.CompletionItemKind.Keyword, "constant": T.CompletionItemKind.Constant}

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["(", ",", " ", "."]))
    @guarded
    def on_completion(params: T.CompletionParams):
        uri = params.text_document.uri
        doc, _ = current(uri)
        items = completion(best(uri), doc.source, *pos(params.position))
        return T.CompletionList(is_incomplete=False, items=[
            T.CompletionItem(label=i["label"], kind=KINDS[i["kind"]], detail=i["detail"], insert_text=i["insert"])
            for i in items])

    SYMBOL_KINDS = {"block": T.SymbolKind.Class, "network": T.SymbolKind.Module, "let": T.SymbolKind.Constant,
                    "fn": T.SymbolKind.Function}

    @server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded
    def on_symbols(params: T.DocumentSymbolParams):
        a = best(params.text_document.uri)
        if a is None:
            return None
        return [T.DocumentSymbol(name=name, detail=detail, kind=SYMBOL_KINDS[kind], range=rng(r),
                                 selection_range=rng(sel)) for kind, name, detail, r, sel in document_symbols(a)]

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    @guarded
    def on_format(params: T.DocumentFormattingParams):
        doc, path = current(params.text_document.uri)
        out = format_document(doc.source, path)
        if out is None or out == doc.source:
            return []
        lines = doc.source.split("\n")
        end = T.Position(len(lines) - 1, len(lines[-1]))
        return [T.TextEdit(range=T.Range(T.Position(0, 0), end), new_text=out)]

    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("cnndsl")
    except PackageNotFoundError:
        return "0"
