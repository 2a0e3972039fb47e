"""Source locations and the one error type users ever see.

Locations flow in one direction: Lark token -> ``Span`` on every AST node ->
copied onto every IR node -> attached to every ``CnnError`` together with the
chain of block calls that led there.
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A spec's text and where it came from (a path, or ``<stdin>``)."""

    path: str
    text: str

    def line(self, n: int) -> str:
        """Line ``n`` (1-based), lines split at ``\n`` only, as the parser counts them."""
        lines = self.text.split("\n")
        return lines[n - 1].removesuffix("\r") if 0 < n <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A region of a source: 1-based line/column, end exclusive."""

    source: Source = field(repr=False, compare=False)
    line: int
    col: int
    end_line: int
    end_col: int

    def __init__(self, source: Source, line: int, col: int, end_line: int, end_col: int):
        # the dataclass's own __init__, without a frozen field's setattr call per field (every syntax
        # node has a Span)
        d = self.__dict__
        d["source"], d["line"], d["col"], d["end_line"], d["end_col"] = source, line, col, end_line, end_col

    def __str__(self) -> str:
        return f"{self.source.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class ConfigSpan(Span):
    """A place in a model config rather than in spec text: ``model.keras: layers[12].config.filters``
    (printed without a source line or caret)."""

    where: str = ""

    def __str__(self) -> str:
        return f"{self.source.path}: {self.where}"


@dataclass(frozen=True)
class Frame:
    """One step of a block call chain: ``inception(64, 96, ...)`` called at a span."""

    label: str
    span: Span | None


class CnnError(Exception):
    """An error in a spec, or in how cnndsl was asked to use one.

    ``kind`` is a short machine-readable category (``syntax``, ``shape``,
    ``name``, ``type``, ``limit``, ``contract``, ``import``, ``usage``);
    ``message`` is the one-line description; ``span`` points into the spec
    (None for usage errors); ``chain`` is the block call chain, outermost
    first; ``hint`` an optional suggestion; ``notes`` extra facts (how each
    input of a failing node arose).
    """

    def __init__(self, kind: str, message: str, span: Span | None = None,
                 chain: tuple[Frame, ...] = (), hint: str | None = None, notes: list[str] | None = None,
                 arg: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.span = span
        self.chain = tuple(chain)
        self.hint = hint
        self.notes = list(notes or [])
        self.arg = arg  # the op argument at fault, so the caret can point at it

    @property
    def exit_code(self) -> int:
        """2 for usage errors (bad flags, unknown network), 3 for internal errors (a bug in cnndsl),
        1 for everything else: an error in a spec, a missing Graphviz or Keras backend."""
        return {"usage": 2, "internal": 3}.get(self.kind, 1)

    def located(self, span: Span | None, chain: tuple[Frame, ...] = ()) -> "CnnError":
        """Fill in a location if the error has none yet (innermost wins)."""
        if self.span is None:
            self.span = span
        if not self.chain:
            self.chain = tuple(chain)
        return self

    def __str__(self) -> str:
        return format_error(self)


def format_error(err: CnnError) -> str:
    """Render ``err`` the way the CLI prints it.

    The first line is the whole message (``file:line:col: error: ...``); then
    the source line with a caret under the span, the call chain and a hint.
    """
    where = f"{err.span}: " if err.span else ""
    out = [f"{where}error: {printable(err.message)}"]
    if err.span is not None and err.span.line > 0:
        sp = err.span
        text = sp.source.line(sp.line).expandtabs(1)
        width = (sp.end_col - sp.col) if sp.end_line == sp.line else len(text) - sp.col + 1
        start = max(0, sp.col - 1 - 60) if len(text) > SHOWN_LINE else 0   # a window around the caret
        shown = "".join(c if c.isprintable() else "\ufffd" for c in text[start:start + SHOWN_LINE])
        gutter = f"{sp.line:>5} | "
        out.append(gutter + shown)
        width = min(max(1, width), max(1, len(shown) - (sp.col - 1 - start)))
        out.append(" " * (len(gutter) - 2) + "| " + " " * (sp.col - 1 - start) + "^" * width)
    notes = err.notes if len(err.notes) <= MAX_NOTES else err.notes[:MAX_NOTES - 1] + [
        f"... and {len(err.notes) - MAX_NOTES + 1} more like these", err.notes[-1]]
    for note in notes:
        out.append(f"  note: {printable(note)}")
    for frame in reversed(err.chain):
        at = f" at {frame.span}" if frame.span else ""
        out.append(f"  in {frame.label}, called{at}")
    if err.hint:
        out.append(f"  hint: {err.hint}")
    return "\n".join(out)


MAX_NOTES = 12       # notes printed under an error (an import chain adds one per file)
SHOWN_LINE = 160     # characters of a source line shown under an error
SHOWN_WORD = 240     # characters of one word (a name, a token, a path) quoted in a message


def printable(text: str) -> str:
    """A message as it may be printed: control characters escaped, very long words cut."""
    import re
    text = "".join(c if c.isprintable() or c == "\n" else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in text)
    return re.sub(r"\S{%d,}" % (SHOWN_WORD + 1), lambda m: m.group()[:SHOWN_WORD] + "…", text)


def did_you_mean(name: str, candidates) -> str | None:
    """A ``did you mean`` hint for an unknown name, or None."""
    import difflib  # only on the error path: keeps `cnndsl check` start-up lean

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"


@contextlib.contextmanager
def deep_stack(frames: int):
    """Allow ``frames`` of Python recursion while the block runs (nested specs recurse once per level;
    their depth is bounded by limits, not by Python's default of 1000). A RecursionError that still
    happens becomes a limit error, never a traceback."""
    old = sys.getrecursionlimit()
    if frames > old:
        sys.setrecursionlimit(frames)
    try:
        yield
    except RecursionError:
        raise CnnError("limit", "the spec nests too deeply for Python's stack",
                       hint="lower --max-depth, or flatten the nesting") from None
    finally:
        sys.setrecursionlimit(old)
