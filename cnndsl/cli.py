"""The command line: ``cnndsl check | compile | draw | summary``.

Exit codes: 0 ok, 1 an error in a spec (or a missing tool), 2 a usage error,
3 an internal error (a bug in cnndsl; CNNDSL_DEBUG=1 shows its traceback).
Errors print as one located line, the source line with a caret, and the
block call chain; never a traceback. Keras is imported by ``compile`` only,
with TensorFlow's start-up chatter kept off the terminal. ``check`` with
several files reports each one on its own; the exit code is the worst.
"""
from __future__ import annotations

import argparse
import gc
import os
import re
import signal
import sys

from .errors import CnnError, did_you_mean, format_error
from .lower import Limits

MAX_DEPTH_FLAG = 10_000   # deeper nesting than this would outgrow any Python stack
FORMATS = ("svg", "png", "pdf", "dot", "html")   # draw's formats (cnndsl.backends.dot.FORMATS; graphviz is not imported here)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("cnndsl")
    except PackageNotFoundError:   # a source tree that was never installed
        return "(not installed)"


class _VersionAction(argparse.Action):
    """``--version``, with the version read only when asked for (importlib.metadata costs every other
    command's start-up several milliseconds)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"cnndsl {_version()}")
        parser.exit()


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
    common.add_argument("--no-contracts", action="store_true",
                        help="don't check the spec's `expect` lines (e.g. to draw a spec while fixing it)")

    p = _Parser(prog="cnndsl", description="Check, compile and draw .cnn network specs.")
    p.add_argument("--version", action=_VersionAction, help="print the version")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser,
                           help="what to do; `cnndsl COMMAND --help` describes each")
    model = "a .cnn spec, or a Keras model (.keras file) to read as one"
    depth = ("fold what is nested deeper than N levels into one box (levels as a reader sees them: a "
             "one-call wrapper block is no level of its own); default: everything open")

    counting = argparse.ArgumentParser(add_help=False)
    counting.add_argument("--count", choices=["macs", "flops"], default="macs",
                          help="count multiply-accumulates, or FLOPs (2 per multiply-accumulate) (%(default)s)")
    counting.add_argument("--convention", default="cnndsl", metavar="NAME",
                          help="whose rules to count by: cnndsl, torchvision, fvcore, ptflops or thop (%(default)s)")

    c = sub.add_parser("check", parents=[common, counting], help="check shapes and print params and MACs",
                       description="Check each FILE: shapes, parameter counts and MACs per network, and its "
                                   "contracts (expect). FILE is a .cnn spec or a Keras .keras model.")
    c.add_argument("files", nargs="+", metavar="FILE",
                   help="spec files (.cnn) or Keras models (.keras); - reads a spec from standard input")

    c = sub.add_parser("compile", parents=[common], help="compile to a Keras .keras file, Python, PyTorch or ONNX")
    c.add_argument("file", metavar="FILE", help="the .cnn spec to compile")
    c.add_argument("-o", "--output", metavar="OUT",
                   help="OUT.keras, OUT.py with --emit python or --target torch, OUT.cnn with --emit cnn, OUT.onnx "
                        "with --target onnx; - for standard output (the default for Python source and --emit cnn, "
                        "and for a binary model when standard output is not a terminal), or a device or FIFO")
    c.add_argument("--target", choices=["keras", "torch", "onnx"], default="keras",
                   help="keras (default), torch (a standalone PyTorch module's source) or onnx")
    c.add_argument("--emit", choices=["keras", "python", "cnn"], default="keras",
                   help="keras: a .keras model file (the default); python: a standalone Python module "
                        "that builds it with keras only; cnn: the network as one .cnn spec, blocks recovered")
    c.add_argument("--summary", action="store_true", help="print Keras's model.summary()")

    c = sub.add_parser("draw", parents=[common], help="draw the network with Graphviz")
    c.add_argument("file", metavar="FILE", help=model)
    c.add_argument("-o", "--output", metavar="OUT",
                   help="OUT.svg, .png, .pdf, .dot or .html (interactive); - (the default) for standard output, "
                        "or a device or FIFO")
    c.add_argument("--format", choices=FORMATS, default=None,
                   help="the file format (default: OUT's extension; dot for standard output, a device or a "
                        "FIFO)")
    c.add_argument("--depth", type=int, default=None, metavar="N", help=depth)
    c.add_argument("--rankdir", choices=["TB", "LR"], default="TB",
                   help="the direction the diagram flows: TB top to bottom (the default), LR left to right")
    c.add_argument("--no-shapes", action="store_true", help="hide tensor shapes on edges")
    c.add_argument("--no-params", action="store_true", help="hide parameter counts")

    c = sub.add_parser("import", help="write the .cnn spec of a Keras model (.keras file)")
    c.add_argument("file", metavar="MODEL.keras", help="a Keras 3 model saved as a .keras file")
    c.add_argument("-o", "--output", default="-", metavar="OUT.cnn",
                   help="the spec to write; - (the default) for standard output")
    c.add_argument("--flat", action="store_true", help="one flat network: no recovered blocks or repeats")

    c = sub.add_parser("convert", help="a Keras model (.keras file) as PyTorch source and a state_dict of its weights",
                       description="Convert a Keras 3 model to PyTorch: its imported spec's torch module (the "
                                   "source `compile --target torch` writes, with a build() function) and the "
                                   "model's weights as that module's state_dict, so that `m = build(); "
                                   "m.load_state_dict(torch.load(OUT.pt)); m.eval()` computes the Keras "
                                   "model's outputs (NCHW in and out). Needs Keras and torch.")
    c.add_argument("file", metavar="MODEL.keras", help="a Keras 3 model saved as a .keras file")
    c.add_argument("-o", "--output", default="-", metavar="OUT.py",
                   help="the PyTorch source to write; - (the default) for standard output")
    c.add_argument("--weights", required=True, metavar="OUT.pt",
                   help="the state_dict to write (torch.save), a .pt or .pth file; - for standard output when "
                        "the source goes to a file and standard output is not a terminal")
    c.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="give an input the model leaves open a size, e.g. --set image=[224, 224, 3]: torch pads "
                        "explicitly, so a strided 'same' layer needs it (repeatable)")
    c.add_argument("--flat", action="store_true", help="one flat module: no recovered blocks or repeats")

    c = sub.add_parser("summary", parents=[common, counting], help="a per-layer table of shapes, params and MACs")
    c.add_argument("file", metavar="FILE", help=model)
    c.add_argument("--depth", type=int, default=None, metavar="N", help=depth.replace("one box", "one row"))

    c = sub.add_parser("sweep", parents=[common, counting],
                       help="tabulate params, MACs and activation memory over a grid of --set values")
    c.add_argument("file", metavar="FILE", help="the spec (a .cnn file, or - for standard input)")
    c.add_argument("--where", default=None, metavar="EXPR",
                   help='keep the variants for which EXPR is true, e.g. "params < 5e6 and macs < 1e9"')
    c.add_argument("--contracts", action="store_true",
                   help="keep only the variants that meet the spec's own `expect` lines")
    c.add_argument("--format", choices=["md", "csv"], default="md", help="a Markdown table or CSV (%(default)s)")
    c.add_argument("-o", "--output", default="-", metavar="OUT", help="where to write the table (standard output)")

    c = sub.add_parser("diff", parents=[common], help="what changed between two networks, per block path")
    c.add_argument("file", metavar="A", help="the old version: a .cnn spec or a .keras model")
    c.add_argument("file_b", nargs="?", default=None, metavar="B",
                   help="the new version (default: A again, to compare two --set variants)")
    c.add_argument("--set-a", action="append", default=[], metavar="NAME=VALUE", help="a parameter of A only")
    c.add_argument("--set-b", action="append", default=[], metavar="NAME=VALUE", help="a parameter of B only")
    c.add_argument("--network-b", default=None, metavar="NAME", help="B's network, when it differs from A's (-n)")
    c.add_argument("--format", choices=["text", "svg", "dot", "html"], default="text",
                   help="text, or one diagram of B with the changes coloured and unchanged blocks folded")
    c.add_argument("-o", "--output", default="-", metavar="OUT", help="where to write it (standard output)")

    c = sub.add_parser("fmt", help="rewrite specs in the canonical layout (in place)")
    c.add_argument("files", nargs="+", metavar="FILE",
                   help="spec files or folders (their .cnn files, recursively); - reads standard input, writes standard output")
    c.add_argument("--check", action="store_true", help="change nothing; list the files fmt would change, exit 1 if any")

    sub.add_parser("lsp", help="a language server (LSP) on standard input and output, for editors")
    return p


def _closest(name: str, candidates) -> str | None:
    """``did you mean `--depth`?``: the one closest candidate, if any is close."""
    import difflib
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


class _Parser(argparse.ArgumentParser):
    """argparse, with a "did you mean" for a misspelled option or command, after the usage of the
    command it was given to (``cnndsl draw x.cnn --depht 1``: draw's usage, then ``--depth``)."""

    def parse_args(self, args=None, namespace=None):
        args, extra = self.parse_known_args(args, namespace)
        if extra:
            parser = self._subparser(args)
            hint = next((_closest(a.split("=", 1)[0], parser._option_string_actions)
                         for a in extra if a.startswith("-")), None)
            parser.error(f"unrecognized arguments: {' '.join(extra)}" + (f"; {hint}" if hint else ""))
        return args

    def _subparser(self, args) -> argparse.ArgumentParser:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None):
                return action.choices[getattr(args, action.dest)]
        return self

    def error(self, message):
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            hint = _closest(m.group(1), re.findall(r"'([^']*)'", m.group(2)))
            message += f"; {hint}" if hint else ""
        super().error(message)


def _settings(args) -> dict:
    """The ``--set`` values by name (a usage error for one that doesn't parse). Their texts, as typed,
    are kept in ``args.set_texts`` for messages."""
    from .api import parse_value
    out, args.set_texts = {}, {}
    for item in args.set:
        name, eq, text = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise CnnError("usage", f"--set needs NAME=VALUE, got `{item}`")
        out[name.strip()] = parse_value(text.strip(), name.strip())
        args.set_texts[name.strip()] = text.strip()
    return out


def _limits(args) -> Limits:
    for flag in ("max_repeat", "max_depth", "max_nodes", "max_steps"):
        if getattr(args, flag) < 1:
            raise CnnError("usage", f"--{flag.replace('_', '-')} must be at least 1")
    if args.max_depth > MAX_DEPTH_FLAG:
        raise CnnError("usage", f"--max-depth must be at most {MAX_DEPTH_FLAG:,}")
    return Limits(args.max_repeat, args.max_depth, args.max_nodes, args.max_steps, contracts=not args.no_contracts)


def _program(path: str, import_root=None):
    from .program import MAX_FILE, decode, load, load_file
    from .api import is_keras_file
    if is_keras_file(path):   # a Keras model: read into the IR directly, without Keras
        _require_file(path)
        from .api import KerasProgram
        return KerasProgram(path)
    if path.lower().endswith((".h5", ".hdf5")) or (path != "-" and _is_hdf5(path)):
        _require_file(path)
        from .files import hdf5_error
        raise hdf5_error(path)
    if path == "-":
        data = sys.stdin.buffer.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            raise CnnError("usage", f"standard input is over the limit of {MAX_FILE:,} bytes for a spec")
        return load(decode(data, "<stdin>"), "<stdin>", import_root)
    return load_file(path, import_root)


def _is_hdf5(path: str) -> bool:
    from .files import is_hdf5
    return is_hdf5(path)


def _graph(args):
    settings, limits = _settings(args), _limits(args)
    program = _program(args.file, args.import_root)
    return _lower(program, args.network, limits, settings, args.set_texts)


# --- --set values the spec can't use ------------------------------------------------------------------

def _lower(program, network, limits, settings: dict, texts: dict):
    """``program.lower``; an error that a ``--set`` value of the wrong type caused is reported as that
    ``--set``'s (a usage error, exit 2), not at the spec line that used the value."""
    try:
        return program.lower(network, limits, **settings)
    except CnnError as e:
        blamed = _blame_set(e, program, network, limits, settings, texts) if settings else None
        if blamed is None:
            raise
        raise blamed from None


def _blame_set(e: CnnError, program, network, limits, settings: dict, texts: dict):
    """The usage error to report instead of ``e`` when a ``--set`` value caused it, else None.

    A value is blamed when it is an input shape the input refuses, or when the spec fails on it and it is
    of another type than the parameter's default (``--set channels=abc`` for ``channels = 64``), or a
    bare word the spec used as something else (``got unknown name `abc```), provided the spec with its
    own default doesn't fail the same way. Errors that are the spec's own (a shape error for a value of
    the right type, a failed contract, a limit) stay where they are, exit 1."""
    from .ops.schema import Symbol, describe
    if e.kind in ("internal", "limit", "contract", "backend", "tool", "import"):
        return None
    ndef = program.pick(network)
    params = {p.name: p for p in ndef.params}
    defaults = None
    for key, value in settings.items():
        p = params.get(key)
        if p is None:
            continue
        flag = f"--set {key}={texts.get(key, value)}"
        if p.kind == "input":
            if e.kind == "usage" and e.span is None and e.message.startswith(f"input `{key}` "):
                return CnnError("usage", f"{flag}: {e.message}", hint=e.hint)
            continue
        if e.kind == "usage":
            continue
        suspect = isinstance(value, Symbol) and describe(value) in e.message
        hint = None
        if p.kind != "plain":
            if defaults is None:
                defaults = _defaults(program, ndef)
            if key in defaults:
                hint = f"`{key}` is {_type_name(defaults[key])} in the spec (its default is {describe(defaults[key])})"
                suspect = suspect or not _same_type(value, defaults[key])
            if suspect and _fails_the_same(e, program, network, limits, {k: v for k, v in settings.items() if k != key}):
                continue   # the spec fails there with its own default too: the error is the spec's
        if suspect:
            notes = [f"the spec used the value at {e.span}"] if e.span is not None else []
            return CnnError("usage", f"{flag}: {e.message}", notes=notes, hint=hint or e.hint)
    return None


def _defaults(program, ndef) -> dict:
    from .program import parameter_defaults
    return parameter_defaults(program, ndef)


def _kind(v) -> str:
    from .ir import Node
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):      # strings and bare words (symbols) alike
        return "text"
    if isinstance(v, (list, tuple)):
        return "list"
    if isinstance(v, Node):
        return "tensor"
    return type(v).__name__


def _type_name(v) -> str:
    return {"bool": "a boolean", "int": "an integer", "float": "a number", "text": "a name or string",
            "list": "a list", "NoneType": "none"}.get(_kind(v), f"a {_kind(v)}")


def _same_type(value, default) -> bool:
    """Whether a set value is of the type the parameter's default has (none goes with anything; an integer
    where a float is expected is fine)."""
    if value is None or default is None:
        return True
    return _kind(value) == _kind(default) or (_kind(value), _kind(default)) == ("int", "float")


def _fails_the_same(e: CnnError, program, network, limits, settings: dict) -> bool:
    try:
        program.lower(network, limits, **settings)
    except CnnError as again:
        return (again.message, again.span and (again.span.line, again.span.col)) == \
               (e.message, e.span and (e.span.line, e.span.col))
    return False


def describe(graph, convention: str = "cnndsl", unit: str = "macs") -> str:
    """The lines ``check`` prints for one network (its operation count by ``convention``, in ``unit``)."""
    from .ops.schema import fmt_shape, human    # not .summary: check needs none of its tree code
    ins = ", ".join(f"{k} {fmt_shape(n.shape)}" for k, n in graph.inputs.items())
    outs = ", ".join(f"{k} {fmt_shape(n.shape)}" for k, n in graph.outputs.items())
    if (convention, unit) == ("cnndsl", "macs"):     # the default, without the counting module
        n, label = graph.macs, "MACs"
        counted = human(n) if n is not None else "? (H or W unknown)"
    else:
        from .counting import count, unit_label, why_unknown
        n, label = count(graph, convention, unit), unit_label(convention, unit)
        counted = human(n) if n is not None else f"? ({why_unknown(graph, convention)})"
    trainable, non_trainable = graph.trainable, graph.non_trainable   # one pass each
    lines = [f"{graph.name}: {ins} -> {outs}",
             f"  params {trainable + non_trainable:,} (trainable {trainable:,}, non-trainable {non_trainable:,})"
             f" · {label} {counted} · {graph.layers} layers"]
    lines += [f"  warning: {w}" for w in graph.warnings]
    return "\n".join(lines)


def _cmd_check(args) -> int:
    """Each file is loaded, lowered and reported on its own: an error in one doesn't hide the others."""
    settings, limits = _settings(args), _limits(args)
    if (args.convention, args.count) != ("cnndsl", "macs"):    # the default needs no counting module
        from .counting import check_convention
        check_convention(args.convention, args.count)
    loaded, worst = [], 0
    for path in args.files:
        try:
            program = _program(path, args.import_root)
            loaded.append((path, program, None))
        except CnnError as e:
            loaded.append((path, None, e))
    programs = [(path, program) for path, program, _ in loaded if program is not None]
    known = {p.name for _, program in programs for name in ([args.network] if args.network else program.network_names())
             if name in program.networks for p in program.networks[name].params}
    if len(programs) == len(loaded):   # a file that failed to load may declare the parameter
        for key in settings:
            if key not in known:
                raise CnnError("usage", f"no network checked has a parameter `{key}`",
                               hint=did_you_mean(key, known) or f"their parameters: {', '.join(sorted(known)) or 'none'}")
    for path, program, error in loaded:
        if error is not None:
            worst = max(worst, _report(error))
            continue
        if not program.networks and not args.network:
            print(f"{path}: no networks; {len(program.blocks)} block(s) parsed", flush=True)
        for name in [args.network] if args.network else program.network_names():
            try:
                ndef = program.pick(name)
                mine = {k: v for k, v in settings.items() if any(p.name == k for p in ndef.params)}
                print(describe(_lower(program, ndef.name, limits, mine, args.set_texts), args.convention, args.count),
                      flush=True)
            except CnnError as e:
                worst = max(worst, _report(e))
    return worst


def _report(e: CnnError) -> int:
    """Print an error (after what was printed so far) and give its exit code."""
    _to_stderr(format_error(e))
    return e.exit_code


def _to_stderr(text: str) -> None:
    """A line for stderr, after everything printed to stdout so far: with both on one pipe, a result line
    and the error after it never interleave."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):   # stdout closed or gone: the error still goes out
        pass
    print(text, file=sys.stderr, flush=True)


# --- TensorFlow's start-up chatter ----------------------------------------------------------------------

# Lines the TensorFlow runtime prints to fd 2 while it loads, before Python logging exists: absl's notice,
# its C++ log lines (oneDNN, CPU features, CUDA plugin registration), and the CPU-feature line's tail.
STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] "                 # absl: I0000 00:00:1712345678.123456  42 port.cc:153]
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] \S+:\d+\] "               # older TensorFlow
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
    r"|.*TF-TRT Warning: ")


def _import_keras_quietly():
    """``import keras`` (and TensorFlow) with the runtime's start-up lines kept off stderr; any other line
    printed meanwhile is passed on. Numerics are untouched: oneDNN stays as TensorFlow sets it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # C++ INFO and WARNING lines, once absl is set up
    from .backends.keras import import_keras
    if "keras" in sys.modules:
        return import_keras()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):   # no stderr to protect
        return import_keras()
    import tempfile
    log = tempfile.TemporaryFile()
    try:
        os.dup2(log.fileno(), 2)
        try:
            return import_keras()
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            log.seek(0)
            kept = [line for line in log.read().decode(errors="replace").splitlines(keepends=True)
                    if not STARTUP_NOISE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
    finally:
        os.close(saved)
        log.close()


# --- commands -------------------------------------------------------------------------------------------

def _wrote(path: str, what: str = "") -> None:
    """The "wrote ..." line, except when the output itself went to standard output."""
    if path != "-":
        print(f"wrote {path}{what}")


def _to_stdout(args, binary: str | None) -> str:
    """``-o``, or standard output where it is missing: text always, ``binary`` (a .keras model, a PNG)
    only where standard output is not a terminal, which would show it as garbage."""
    if args.output is not None:
        return args.output
    if binary and sys.stdout.isatty():
        raise CnnError("usage", f"{args.command} writes {binary}, which a terminal can't show: give -o FILE, "
                                f"or redirect standard output to a file")
    return "-"


def _cmd_compile(args) -> int:
    from .files import atomic_path, check_writable, kind, write_atomic
    if args.target != "keras":
        return _compile_other(args, _to_stdout(args, "an ONNX model" if args.target == "onnx" else None))
    out = _to_stdout(args, "a .keras model" if args.emit == "keras" else None)
    if args.emit in ("python", "cnn") and out.endswith(".keras"):
        ext, what = {"python": ("py", "Python source"), "cnn": ("cnn", "a .cnn spec")}[args.emit]
        raise CnnError("usage", f"--emit {args.emit} writes {what}, and -o {out} names a .keras file",
                       hint=f"use -o NAME.{ext}, or leave out --emit {args.emit} to write a .keras model")
    if args.emit == "keras" and kind(out) == "file" and not out.endswith(".keras"):
        raise CnnError("usage", f"-o must end in .keras (got {out}); use --emit python for a .py file")
    if args.emit == "keras" and args.summary and out == "-":
        raise CnnError("usage", "--summary prints to standard output, where "
                       + ("-o - writes the model" if args.output else "the model goes without -o"),
                       hint="write the model to a file (-o NAME.keras), or leave out --summary")
    graph = _graph(args)
    check_writable(out)  # before Keras spends seconds building
    if args.emit == "python":
        from .backends.python import emit_python
        write_atomic(out, emit_python(graph))
        _wrote(out)
        return 0
    if args.emit == "cnn":
        from .backends.spec import emit_spec
        write_atomic(out, emit_spec(graph))
        _wrote(out)
        return 0
    _import_keras_quietly()
    from .backends.keras import build_model
    model = build_model(graph)
    if args.summary:
        model.summary()
    with atomic_path(out, suffix=".keras") as tmp:   # a device, a FIFO or -: Keras writes a file, then it is copied
        model.save(tmp)
    _wrote(out, f" ({model.count_params():,} params)")
    return 0


def _compile_other(args, out) -> int:
    """``--target torch`` (Python source; imports no framework) and ``--target onnx`` (through torch)."""
    from .files import atomic_path, check_writable, kind, write_atomic
    ext = {"torch": ".py", "onnx": ".onnx"}[args.target]
    if args.emit != "keras":
        raise CnnError("usage", f"--emit {args.emit} is for the Keras target; --target {args.target} writes {ext}")
    if args.summary:
        raise CnnError("usage", "--summary prints Keras's model.summary(); it is for the Keras target")
    if kind(out) == "file" and not out.endswith(ext):
        raise CnnError("usage", f"--target {args.target} writes a {ext} file, and -o {out} does not end in {ext}")
    graph = _graph(args)
    check_writable(out)
    if args.target == "torch":
        from .backends.torch import emit_torch
        write_atomic(out, emit_torch(graph))
        _wrote(out)
        return 0
    from .backends.onnx import export_onnx
    with atomic_path(out, suffix=".onnx") as tmp:
        export_onnx(graph, tmp)
    _wrote(out)
    return 0


def _cmd_draw(args) -> int:
    from .files import check_writable, kind, write_atomic
    out = _to_stdout(args, f"a {args.format.upper()} image" if args.format in ("png", "pdf") else None)
    fmt = args.format or os.path.splitext(out)[1].lower().lstrip(".")
    if fmt not in FORMATS:
        if kind(out) != "file":
            fmt = "dot"
        else:
            raise CnnError("usage", f"can't tell the format of {out}: use a .svg, .png, .pdf or .dot file, or --format")
    graph = _graph(args)
    check_writable(out)
    if fmt == "html":   # interactive: the layout is made in the browser
        from .backends.html import to_html
        data = to_html(graph, args.depth).encode()
    else:
        from .backends.dot import render
        data = render(graph, fmt, out, depth=args.depth, rankdir=args.rankdir,
                      show_shapes=not args.no_shapes, show_params=not args.no_params)
    write_atomic(out, data)
    _wrote(out)
    return 0


def _require_file(path: str) -> None:
    if not os.path.exists(path):
        raise CnnError("usage", f"{path}: no such file")
    if not os.path.isfile(path):
        raise CnnError("usage", f"{path} is not a regular file")


def _cmd_import(args) -> int:
    from .api import keras_graph
    from .backends.spec import emit_spec
    from .files import check_writable, write_atomic
    if not args.file.lower().endswith(".keras"):
        raise CnnError("usage", f"cnndsl import reads a Keras 3 .keras file, got {args.file}",
                       hint="for a model in memory, use cnndsl.from_keras(model) in Python")
    if args.output != "-" and args.output.lower().endswith(".keras"):
        raise CnnError("usage", f"-o {args.output} would overwrite a model with a spec; use -o NAME.cnn")
    _require_file(args.file)
    check_writable(args.output)
    graph = keras_graph(args.file, structure=False)
    text = emit_spec(graph, os.path.basename(args.file), blocks=not args.flat)
    from .program import load
    room = Limits(max_nodes=max(Limits.max_nodes, 4 * len(graph.nodes)), max_steps=max(Limits.max_steps, 8 * len(graph.nodes)))
    graph = load(text, f"{args.output} (imported)").lower(None, room)   # what was written checks
    write_atomic(args.output, text)
    _wrote(args.output, f" ({graph.total_params:,} params, {len(text.splitlines())} lines)")
    return 0


def _cmd_convert(args) -> int:
    """``import`` then ``compile --target torch``, and the model's weights moved into the module's state_dict."""
    from .api import from_keras
    from .files import atomic_path, check_writable, kind, write_atomic
    from .program import load
    if not args.file.lower().endswith(".keras"):
        raise CnnError("usage", f"cnndsl convert reads a Keras 3 .keras file, got {args.file}",
                       hint="for a model in memory, use cnndsl.weights.keras_model_to_torch(model) in Python")
    out, weights = args.output, args.weights
    if kind(out) == "file" and not out.lower().endswith(".py"):
        raise CnnError("usage", f"-o writes PyTorch source, and {out} does not end in .py")
    if kind(weights) == "file" and not weights.lower().endswith((".pt", ".pth")):
        raise CnnError("usage", f"--weights writes a torch state_dict, and {weights} does not end in .pt or .pth")
    if weights == "-" and (out == "-" or sys.stdout.isatty()):
        raise CnnError("usage", "--weights - writes the weights to standard output, "
                       + ("where the source goes too" if out == "-" else "a terminal, which can't show them"),
                       hint="give --weights NAME.pt" + (" (or -o NAME.py)" if out == "-" else ""))
    files = {os.path.realpath(p): p for p in (out, weights) if kind(p) == "file"}
    if len(files) == 1 and kind(out) == kind(weights) == "file":
        raise CnnError("usage", f"-o and --weights both name {out}")
    if os.path.realpath(args.file) in files:
        raise CnnError("usage", f"{files[os.path.realpath(args.file)]} would overwrite the model being converted")
    _require_file(args.file)
    settings = _settings(args)
    check_writable(out)
    check_writable(weights)
    program = load(from_keras(args.file, blocks=not args.flat), f"{args.file} (imported)")   # no Keras yet
    graph = _lower(program, None, Limits(), settings, args.set_texts)
    from .backends.torch import emit_torch
    source = emit_torch(graph)
    try:                                            # before Keras spends seconds loading the model
        import torch
    except ImportError as e:
        raise CnnError("backend", f"cnndsl convert needs PyTorch, but it can't be imported ({e})",
                       hint="pip install 'cnndsl[torch]'") from None
    keras = _import_keras_quietly()
    from .backends import keras_layers  # noqa: F401  (cnndsl's own layers, registered for loading)
    try:
        model = keras.saving.load_model(args.file, compile=False)
    except Exception as e:    # a damaged file, weights that don't fit the config: Keras's own message
        raise CnnError("usage", f"{args.file}: Keras can't load the model ({type(e).__name__}: "
                                f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    from .weights import keras_model_to_torch
    module = keras_model_to_torch(model, graph)
    count = sum(t.numel() for name, t in module.state_dict().items() if not name.endswith("num_batches_tracked"))
    with atomic_path(weights, suffix=".pt") as tmp:   # neither file is written unless both can be
        torch.save(module.state_dict(), tmp)
        write_atomic(out, source)
    say = _to_stderr if "-" in (out, weights) else print    # standard output carries a file: lines to stderr
    for path, what in ((out, ""), (weights, f" ({count:,} params)")):
        if path != "-":
            say(f"wrote {path}{what}")
    return 0


def _cmd_summary(args) -> int:
    from .counting import check_convention
    from .summary import summary_table
    check_convention(args.convention, args.count)
    print(summary_table(_graph(args), depth=args.depth, convention=args.convention, unit=args.count))
    return 0


def _cmd_sweep(args) -> int:
    from .counting import check_convention
    from .files import check_writable, write_atomic
    from .sweep import format_table, run
    check_convention(args.convention, args.count)
    if not args.set:
        raise CnnError("usage", "sweep needs at least one --set NAME=[values...]",
                       hint="e.g. cnndsl sweep spec.cnn --set width=[0.5, 1, 2]")
    settings, limits = _settings(args), _limits(args)
    check_writable(args.output)
    program = _program(args.file, args.import_root)
    header, rows = run(program, args.network, settings, args.set_texts, limits, args.convention, args.count,
                       where=args.where, contracts=args.contracts)
    write_atomic(args.output, format_table(header, rows, args.format))
    _wrote(args.output, f" ({len(rows)} variants)")
    return 0


def _cmd_diff(args) -> int:
    from .diff import compare, format_diff
    from .files import check_writable, write_atomic
    settings, limits = _settings(args), _limits(args)
    texts = args.set_texts
    side = {}
    for which, items in (("a", args.set_a), ("b", args.set_b)):
        args.set = items
        side[which] = {**settings, **_settings(args)}
        texts = {**texts, **args.set_texts}
    check_writable(args.output)
    pa = _program(args.file, args.import_root)
    pb = pa if args.file_b is None else _program(args.file_b, args.import_root)
    a = _lower(pa, args.network, limits, side["a"], texts)
    b = _lower(pb, args.network_b or args.network, limits, side["b"], texts)
    d = compare(a, b)
    if args.format == "text":
        write_atomic(args.output, format_diff(d) + "\n")
    else:
        if args.format == "html":
            from .backends.html import render_diff_html
            write_atomic(args.output, render_diff_html(d))
        else:
            from .backends.dot import render_diff
            write_atomic(args.output, render_diff(d, args.format, args.output))
    _wrote(args.output)
    return 0


def _cmd_fmt(args) -> int:
    """Each file on its own: one that doesn't parse is reported (located) and left as it is."""
    from .fmt import format_text, spec_files
    from .files import write_atomic
    from .program import MAX_FILE, decode, read_text
    worst, changed = 0, []
    for path in spec_files(args.files):
        try:
            if path == "-":
                data = sys.stdin.buffer.read(MAX_FILE + 1)
                if len(data) > MAX_FILE:
                    raise CnnError("usage", f"standard input is over the limit of {MAX_FILE:,} bytes for a spec")
                text = decode(data, "<stdin>")
            else:
                text = read_text(path)
            out = format_text(text, "<stdin>" if path == "-" else path)
        except CnnError as e:
            worst = max(worst, _report(e))
            continue
        if path == "-":
            if not args.check:
                sys.stdout.write(out)
            elif out != text:
                changed.append(path)
        elif out != text:
            changed.append(path)
            if not args.check:
                write_atomic(path, out)
                print(f"reformatted {path}")
    if args.check:
        for path in changed:
            print(f"would reformat {path}")
        return max(worst, 1 if changed else 0)
    return worst


def _cmd_lsp(args) -> int:
    from .lsp import serve
    serve()
    return 0


def _arm_interrupts() -> None:
    """From here on SIGINT raises KeyboardInterrupt, which main() reports; until now (while the modules
    were imported) cnndsl.api's start-up guard ended the process with the same one line."""
    from .api import _interrupted_while_starting
    try:
        if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:   # not the main thread
        pass


def main(argv=None) -> int:
    code = _main(argv)
    if argv is None:
        # The command line's process ends here, and what it made lives until then: frozen, it is left out of
        # the collections the interpreter runs over every object as it exits (a tenth of `cnndsl check`
        # over every shipped spec). It is still freed as before. (Called with arguments, from Python, the
        # caller's process goes on: nothing changes.)
        gc.freeze()
    return code


def _main(argv) -> int:
    try:
        _arm_interrupts()
        args = _parser().parse_args(argv)
        return globals()["_cmd_" + args.command](args)
    except CnnError as e:
        return _report(e)
    except KeyboardInterrupt:
        _to_stderr("interrupted")
        return 130
    except BrokenPipeError:   # `cnndsl summary x.cnn | head`: the reader is gone; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug in cnndsl, not in the spec: one line, unless debugging
        if os.environ.get("CNNDSL_DEBUG"):
            raise
        _to_stderr(f"error: internal error in cnndsl ({type(e).__name__}: {e}); please report it with the spec "
                   f"(CNNDSL_DEBUG=1 shows the traceback)")
        return 3


if __name__ == "__main__":
    sys.exit(main())
