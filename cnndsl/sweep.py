"""``cnndsl sweep``: params, MACs and activation memory over a grid of network parameters.

The spec is parsed once; each variant is one lowering (no framework), so a thousand variants of a
ResNet-50 take seconds. A ``--set`` value that is a list is the grid's values for that parameter,
except for a parameter whose value is itself a list (an input shape such as ``image``, a table of
depths): there a list of lists is the grid, and a flat list one value. A variant the spec refuses
(a shape that doesn't fit, a failed ``assert``) is a row with its error; ``--where`` keeps the rows
whose expression is true (``params < 5e6 and macs < 1e9``), in the language's own expressions, over
the columns and the swept parameters; ``--contracts`` keeps the variants that meet the spec's own
``expect`` lines.
"""
from __future__ import annotations

import csv
import io
import itertools
import math

from .counting import count, unit_label
from .errors import CnnError
from .lower import Limits

MAX_VARIANTS = 100_000
COLUMNS = ("params", "trainable", "non_trainable", "macs", "activation_bytes", "layers")


def grid(program, network, settings: dict, texts: dict) -> tuple[list, list]:
    """The swept parameter names and their value lists, in --set order (a one-value list for a fixed one)."""
    ndef = program.pick(network)
    kinds = {p.name: p.kind for p in ndef.params}
    from .cli import _defaults   # the parameters' default values, computed without the set ones
    defaults = _defaults(program, ndef)
    names, axes = [], []
    for key, value in settings.items():
        if key not in kinds:
            from .errors import did_you_mean
            raise CnnError("usage", f"network `{ndef.name}` has no parameter `{key}`",
                           hint=did_you_mean(key, kinds) or f"its parameters: {', '.join(kinds) or 'none'}")
        listy = kinds[key] == "input" or isinstance(defaults.get(key), (list, tuple))
        if isinstance(value, (list, tuple)) and (not listy or all(isinstance(v, (list, tuple)) for v in value) and value):
            values = list(value)
        else:
            values = [value]
        if not values:
            raise CnnError("usage", f"--set {key}={texts.get(key, value)}: an empty list sweeps nothing")
        names.append(key)
        axes.append(values)
    total = math.prod(len(v) for v in axes)
    if total > MAX_VARIANTS:
        raise CnnError("usage", f"the grid has {total:,} variants, over the limit of {MAX_VARIANTS:,}")
    return names, axes


def run(program, network, settings: dict, texts: dict, limits: Limits, convention="cnndsl", unit="macs",
        where=None, contracts=False) -> tuple[list, list]:
    """The table: a header and one row per variant (values as Python objects; errors as text)."""
    names, axes = grid(program, network, settings, texts)
    test = _where(where, names) if where else None
    quiet = Limits(limits.max_repeat, limits.max_depth, limits.max_nodes, limits.max_steps, contracts=False)
    strict = Limits(limits.max_repeat, limits.max_depth, limits.max_nodes, limits.max_steps, contracts=True)
    counted = "macs" if (convention, unit) == ("cnndsl", "macs") else unit_label(convention, unit)
    header = [*names, "params", "trainable", "non_trainable", counted, "activation_bytes", "layers", "error"]
    rows = []
    for combo in itertools.product(*axes):
        values = dict(zip(names, combo))
        try:
            graph = program.lower(network, strict if contracts else quiet, **values)
        except CnnError as e:
            if contracts and e.kind == "contract":
                continue
            rows.append([*combo, None, None, None, None, None, None, e.message])
            continue
        row = {"params": graph.total_params, "trainable": graph.trainable, "non_trainable": graph.non_trainable,
               "macs": count(graph, convention, unit), "activation_bytes": activation_bytes(graph), "layers": graph.layers}
        if test is not None and not test({**values, **row}):
            continue
        rows.append([*combo, *(row[c] for c in COLUMNS), ""])
    if all(r[-1] == "" for r in rows):   # no errors: no error column
        header, rows = header[:-1], [r[:-1] for r in rows]
    return header, rows


def activation_bytes(graph):
    """The activation memory of one sample at float32: every layer's output (as ``summary`` counts it)."""
    total = 0
    for n in graph.nodes:
        if n.op in ("input", "take"):
            continue
        if None in n.shape[1:]:
            return None
        total += math.prod(n.shape[1:])
    return 4 * total


def _where(text: str, names: list):
    """A predicate over a row from a ``--where`` expression, in the language's own expressions."""
    from .errors import Source
    from .parser import parse_expr
    from .values import Evaluator
    try:
        expr = parse_expr(text, Source("--where", text), 1, 1)
    except CnnError as e:
        raise CnnError("usage", f"bad --where `{text}`: {e.message}") from None
    known = set(names) | set(COLUMNS)

    def test(row: dict) -> bool:
        if any(row.get(c) is None for c in COLUMNS if c in text):
            return False   # a figure the check couldn't know can't pass a filter
        try:
            value = Evaluator(dict(row))(expr)
        except CnnError as e:
            raise CnnError("usage", f"bad --where `{text}`: {e.message}",
                           hint=f"it may use {', '.join(sorted(known))}") from None
        if not isinstance(value, bool):
            raise CnnError("usage", f"--where `{text}` must be true or false, got {value!r}")
        return value
    return test


def _cell(v) -> str:
    from .ops.schema import describe
    if v is None:
        return "?"
    if isinstance(v, (list, tuple)):
        return describe(list(v))
    return str(v)


def format_table(header: list, rows: list, fmt: str = "md") -> str:
    """Markdown (aligned) or CSV text."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else _cell(v) for v in r])
        return buf.getvalue()
    cells = [[_cell(v) if not isinstance(v, int) or isinstance(v, bool) else f"{v:,}" for v in r] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
    numeric = [all(isinstance(r[i], int) or r[i] is None for r in rows) and rows for i in range(len(header))]

    def line(cs):
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cs, widths, numeric)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule, *map(line, cells)]) + "\n"
