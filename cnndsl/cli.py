"""The command line: ``cnndsl check | compile | draw | summary``.

Exit codes: 0 ok, 1 an error in a spec (or a missing tool), 2 a usage error,
3 an internal error (a bug in cnndsl; CNNDSL_DEBUG=1 shows its traceback).
Errors print as one located line, the source line with a caret, and the
block call chain; never a traceback. Keras is imported by ``compile`` only.
"""
from __future__ import annotations

import argparse
import os
import sys

from .errors import CnnError, did_you_mean, format_error
from .lower import Limits

MAX_DEPTH_FLAG = 10_000   # deeper nesting than this would outgrow any Python stack


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("cnndsl")
    except PackageNotFoundError:   # a source tree that was never installed
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--network", help="the network to use, when a file defines several")
    common.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="set a network parameter, e.g. --set classes=5 (repeatable)")
    lim = Limits()
    common.add_argument("--max-repeat", type=int, default=lim.max_repeat, help="largest repeat count (%(default)s)")
    common.add_argument("--max-depth", type=int, default=lim.max_depth, help="deepest block nesting (%(default)s)")
    common.add_argument("--max-nodes", type=int, default=lim.max_nodes, help="most layers in a network (%(default)s)")
    common.add_argument("--import-root", metavar="DIR", default=None,
                        help="imports may only read files inside DIR (for checking specs you did not write)")
    common.add_argument("--max-steps", type=int, default=lim.max_steps,
                        help="most evaluation steps: statements, repeat iterations, block calls, layers (%(default)s)")

    p = argparse.ArgumentParser(prog="cnndsl", description="Check, compile and draw .cnn network specs.")
    p.add_argument("--version", action="version", version=f"cnndsl {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", parents=[common], help="check shapes and print params and MACs")
    c.add_argument("files", nargs="+", metavar="FILE", help="spec files; - reads standard input")

    c = sub.add_parser("compile", parents=[common], help="compile to a Keras .keras file or Python")
    c.add_argument("file", metavar="FILE")
    c.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.keras, or OUT.py with --emit python")
    c.add_argument("--emit", choices=["keras", "python"], default="keras")
    c.add_argument("--summary", action="store_true", help="print Keras's model.summary()")

    c = sub.add_parser("draw", parents=[common], help="draw the network with Graphviz")
    c.add_argument("file", metavar="FILE")
    c.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.svg, .png, .pdf or .dot")
    c.add_argument("--depth", type=int, default=None, help="collapse blocks nested deeper than N")
    c.add_argument("--rankdir", choices=["TB", "LR"], default="TB")
    c.add_argument("--no-shapes", action="store_true", help="hide tensor shapes on edges")
    c.add_argument("--no-params", action="store_true", help="hide parameter counts")

    c = sub.add_parser("summary", parents=[common], help="a per-layer table of shapes, params and MACs")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--depth", type=int, default=None, help="fold blocks nested deeper than N into one row")
    return p


def _settings(args) -> dict:
    from .api import parse_value
    out = {}
    for item in args.set:
        name, eq, text = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise CnnError("usage", f"--set needs NAME=VALUE, got `{item}`")
        out[name.strip()] = parse_value(text.strip(), name.strip())
    return out


def _limits(args) -> Limits:
    for flag in ("max_repeat", "max_depth", "max_nodes", "max_steps"):
        if getattr(args, flag) < 1:
            raise CnnError("usage", f"--{flag.replace('_', '-')} must be at least 1")
    if args.max_depth > MAX_DEPTH_FLAG:
        raise CnnError("usage", f"--max-depth must be at most {MAX_DEPTH_FLAG:,}")
    return Limits(args.max_repeat, args.max_depth, args.max_nodes, args.max_steps)


def _program(path: str, import_root=None):
    from .program import MAX_FILE, decode, load, load_file
    if path == "-":
        data = sys.stdin.buffer.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            raise CnnError("usage", f"standard input is over the limit of {MAX_FILE:,} bytes for a spec")
        return load(decode(data, "<stdin>"), "<stdin>", import_root)
    return load_file(path, import_root)


def _graph(args):
    return _program(args.file, args.import_root).lower(args.network, _limits(args), **_settings(args))


def describe(graph) -> str:
    """The lines ``check`` prints for one network."""
    from .ops import fmt_shape
    from .summary import human
    ins = ", ".join(f"{k} {fmt_shape(n.shape)}" for k, n in graph.inputs.items())
    outs = ", ".join(f"{k} {fmt_shape(n.shape)}" for k, n in graph.outputs.items())
    lines = [f"{graph.name}: {ins} -> {outs}",
             f"  params {graph.total_params:,} (trainable {graph.trainable:,}, non-trainable {graph.non_trainable:,})"
             f" · MACs {human(graph.macs) if graph.macs is not None else '? (H or W unknown)'} · {graph.layers} layers"]
    lines += [f"  warning: {w}" for w in graph.warnings]
    return "\n".join(lines)


def _cmd_check(args) -> int:
    settings, limits = _settings(args), _limits(args)
    jobs = []
    for path in args.files:
        program = _program(path, args.import_root)
        if not program.networks and not args.network:
            print(f"{path}: no networks; {len(program.blocks)} block(s) parsed")
        for name in [args.network] if args.network else program.network_names():
            jobs.append((program, program.pick(name)))
    known = {p.name for _, ndef in jobs for p in ndef.params}
    for key in settings:
        if key not in known:
            raise CnnError("usage", f"no network checked has a parameter `{key}`",
                           hint=did_you_mean(key, known) or f"their parameters: {', '.join(sorted(known)) or 'none'}")
    for program, ndef in jobs:
        mine = {k: v for k, v in settings.items() if any(p.name == k for p in ndef.params)}
        print(describe(program.lower(ndef.name, limits, **mine)))
    return 0


def _cmd_compile(args) -> int:
    from .files import atomic_path, check_writable, write_atomic
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter is not for users
    graph = _graph(args)
    check_writable(args.output)  # before Keras spends seconds building
    if args.emit == "python":
        from .backends.python import emit_python
        write_atomic(args.output, emit_python(graph))
        print(f"wrote {args.output}")
        return 0
    if not args.output.endswith(".keras"):
        raise CnnError("usage", f"-o must end in .keras (got {args.output}); use --emit python for a .py file")
    from .backends.keras import build_model
    model = build_model(graph)
    if args.summary:
        model.summary()
    with atomic_path(args.output) as tmp:
        model.save(tmp)
    print(f"wrote {args.output} ({model.count_params():,} params)")
    return 0


def _cmd_draw(args) -> int:
    from .backends.dot import write_diagram
    from .files import check_writable
    graph = _graph(args)
    check_writable(args.output)
    write_diagram(graph, args.output, depth=args.depth, rankdir=args.rankdir,
                  show_shapes=not args.no_shapes, show_params=not args.no_params)
    print(f"wrote {args.output}")
    return 0


def _cmd_summary(args) -> int:
    from .summary import summary_table
    print(summary_table(_graph(args), depth=args.depth))
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return globals()["_cmd_" + args.command](args)
    except CnnError as e:
        print(format_error(e), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `cnndsl summary x.cnn | head`: the reader is gone; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug in cnndsl, not in the spec: one line, unless debugging
        if os.environ.get("CNNDSL_DEBUG"):
            raise
        print(f"error: internal error in cnndsl ({type(e).__name__}: {e}); please report it with the spec "
              f"(CNNDSL_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
