"""A mutation fuzzer for cnndsl's front end, in process: no input may crash, hang or exhaust it.

    .venv/bin/python benchmarks/fuzz.py --seconds 30            # a short run (CI runs one)
    .venv/bin/python benchmarks/fuzz.py --minutes 30 --seed 7   # the long run of issue 10

Inputs are the shipped specs mutated at the byte, character and token level (deletions,
insertions of syntax and keywords, duplicated lines, numbers made huge, zero or negative, swapped
tokens), plus small generated programs. Each input is parsed, every network lowered and
shape-checked, and each graph that checks is summarised and turned into DOT text, as `cnndsl check`,
`summary` and `draw` would. Findings, each printed with its input:

- any exception other than ``CnnError`` (an "internal error" for the user);
- a ``CnnError`` without a valid location (a spec error must point at a line:col of its file);
- the time limit (``--alarm`` seconds of CPU time per input, 5 by default: a loaded machine slows
  the wall clock, not the count) or the memory cap (``--memory`` GiB of address space, 4 by default) hit.

Besides mutated specs, ``generate`` writes small programs from the newer features (value functions,
``collect``, tensor lists, split/slice, resize, ``sequential``, ``when=``, ternaries, initializers,
``assert``/``expect``, merges of merges, indexed chains, ``shared`` layers), which are then mutated too.

Exit status 1 if anything was found. Findings are written to ``--out`` (a folder) for replay.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import resource
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKENS = ["{", "}", "(", ")", "[", "]", ",", ";", "=", "->", ".", ":", '"', "'", "#", "\n", " ", "-", "+", "*",
          "**", "//", "/", "%", "<", ">=", "==", "!=", "and", "or", "not", "if", "elif", "else", "repeat", "as",
          "let", "block", "network", "import", "defaults", "expect", "true", "false", "none", "in", "in.channels",
          "in.height", "identity", "concat", "add", "multiply", "conv", "dense", "bn", "relu", "maxpool", "zeropad",
          "upsample", "reshape", "flatten", "crop", "when=", "name=", '"{i}"', "0", "1", "-1", "2", "3", "7",
          "1e9", "10 ** 9", "0.5", "[1, 2]", "[]", "none", "x", "i", "\x00", "\ufeff", "\u2028", "\x0c", "é"]
NUMBERS = ["0", "-1", "1", "2", "3", "1000000", "10 ** 12", "2 ** 31", "0.0", "1e300", "-7", "999999999999999999999"]


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def arm(seconds: float) -> None:
    """A CPU-time alarm (ITIMER_PROF counts this process's user and system time): a machine loaded by
    others delays the wall clock, not this count, so only real work trips it. 0 disarms it."""
    signal.setitimer(signal.ITIMER_PROF, seconds)


# Pieces of programs with the newer features; ``generate`` strings a few together.
VALUES = ["1", "2", "3", "8", "0", "-1", "0.5", "true", "false", "none", "k", "f(3)", "[1, 2]", "[[1], [2, 3]]",
          "k if flag else 2", "len(L)", "L[1]", "L[1:]", "L * 2", "[L] * 3", '"s{k}"', "max(k, 2)", "error(\"e\")",
          "he_normal", "variance_scaling(2.0, mode=fan_out)", "l2(1e-4)", "constant(0.1)", "l1_l2(0.1, 0.2)",
          "x.channels", "x.shape", "x.height // 2", "mode == \"else\"", "(k if flag else 1) > 2"]
STATEMENTS = [
    "let k = {v}", "let [a, b] = [{v}, {v}]", "assert {v}, \"m{{k}}\"", "expect params = {v}", "relu",
    "conv({v}, {v})", "conv(4, 1, kernel_init={v}, kernel_reg={v})", "y = conv(4, 1)", "x = relu",
    "if {v} {{ relu }} else {{ identity }}", "if (k if flag else 1) > 2 {{ relu }}", "if mode == \"else\" {{ relu }}",
    "ys = repeat {v} collect {{ conv(4, 1) }}", "repeat 2 collect {{ conv(4, 1) }} -> concat",
    "z = concat(ys)", "z = concat(ys[1:])", "z = add(ys[0], ys[-1])", "ys[0] -> conv(4, 1)", "z = ys[0] -> relu",
    "a2, b2 = split({v})", "a2, b2 = split([2, 2])", "z = concat(a2, b2)", "slice({v}, {v})", "resize({v})",
    "resize(size=x)", "resize([4, 4], interpolation={v})", "sequential(name=\"s{{k}}\") {{ conv(4, 1); relu }}",
    "add(when={v}) {{ identity; conv(x.channels, 1) }}", "concat(when={v}) {{ identity; relu }}",
    "z = add(multiply(x, y), x)", "z = concat([x, y])", "z = concat(ps, ys[{v}:])", "dropout({v})",
    "z = concat(a2, b2) -> conv({v}, 1)", "w = add(concat(a2, b2) -> conv(4, 1), ps[1] -> relu)",
    "let t = y if flag else x", "z = if flag {{ y }} else {{ add(x, x) }}", "expect shape = {v}",
    "shared sc = conv({v}, 1)", "z = x -> sc -> sc", "z = add(sc(x), sc(y))", "shared sb = b0({v})", "z = sb(x)",
    "b0({v})", "l = b1(4)", "normalize(axis={v})", "defaults conv(kernel_init={v})", "upsample({v})",
    "repeat {v} as i {{ conv(4, 1, name=\"c{{i}}_{{k}}\") }}", "global_avgpool -> dense({v})",
]
HEADERS = [
    "fn f(a, b=2) = a * b if a > 0 else {n}",
    "let L = [{n}, {n}, 3]",
    "block b0(n=1) {{ repeat n {{ conv(4, 1) -> relu }} }}",
    "block b1(c) -> (p, q) {{ p = conv(c, 1); q = p -> relu }}",
]


def generate(rng: random.Random) -> str:
    """A small program of the newer features: a few headers, then a network of random statements."""
    def fill(t):
        t = re.sub(r"\{v\}", lambda m: rng.choice(VALUES) if rng.random() < 0.3 else rng.choice("12348"), t)
        t = re.sub(r"\{n\}", lambda m: rng.choice(["1", "2", "-1", "0.5", "[1, 2]", "f(2)", "none"]), t)
        return t.replace("{{", "{").replace("}}", "}")
    head = [fill(h) for h in HEADERS if rng.random() < 0.7]
    body = [fill(rng.choice(STATEMENTS)) for _ in range(rng.randint(1, 6))]
    prelude = ["let k = 2", "y = conv(4, 1)", "a2, b2 = y -> split(2)", "ys = x -> repeat 3 collect { conv(4, 1) }",
               "let ps = [x, y]", "x -> relu"]
    return "\n".join(head) + "\nnetwork n(x: [8, 8, 4], flag=true, mode=\"a\") {\n  " + \
        "\n  ".join(prelude + body) + "\n}\n"


def corpus() -> list:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "specs").rglob("*.cnn"))]
    texts += [
        "network n(x: [8, 8, 3]) { conv(4, 3) -> relu }",
        "block b(f, s=1) { add(when=s == 1) { identity; conv(f, 3, padding=same) } }\n"
        "network n(x: [8, 8, 4]) { repeat 3 as i { b(4) } -> global_avgpool -> dense(2) }",
        'network n(x: [none, none, 3], y: [4]) -> (a, b) { a = conv(8, 3, name="c{1}"); b = y -> dense(2) }',
    ]
    return texts


def mutate(text: str, rng: random.Random) -> bytes | str:
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        n = len(text)
        if op < 0.2 and n:                       # delete a span
            a = rng.randrange(n)
            text = text[:a] + text[a + rng.randint(1, 20):]
        elif op < 0.45:                          # insert a token
            a = rng.randrange(n + 1)
            text = text[:a] + rng.choice(TOKENS) + text[a:]
        elif op < 0.6:                           # duplicate a line (nesting, repeats, re-definitions)
            lines = text.split("\n")
            k = rng.randrange(len(lines))
            lines.insert(k, lines[k] * rng.choice([1, 2, 30]))
            text = "\n".join(lines)
        elif op < 0.8:                           # replace a number
            nums = list(re.finditer(r"\d+(\.\d+)?", text))
            if nums:
                m = rng.choice(nums)
                text = text[:m.start()] + rng.choice(NUMBERS) + text[m.end():]
        elif op < 0.9 and n > 2:                 # swap two spans
            a, b = sorted(rng.sample(range(n), 2))
            text = text[:a] + text[b:b + 8] + text[a + 8:b] + text[a:a + 8] + text[b + 8:]
        else:                                    # flip a byte: the input may stop being UTF-8
            data = bytearray(text.encode("utf-8"))
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            return bytes(data)
    return text


def run_one(data) -> None:
    """What `cnndsl check`, `summary` and `draw` do with one input; CnnError is the only allowed failure."""
    from cnndsl.backends.dot import _digraph
    from cnndsl.program import decode, load
    from cnndsl.summary import summary_table
    text = decode(data, "<fuzz>") if isinstance(data, bytes) else data
    program = load(text, "<fuzz>")
    for name in program.network_names():
        try:
            graph = program.lower(name)
        except Exception as e:
            if _is_cnn_error(e) and getattr(e, "kind", "") == "usage":   # a network needing --set
                continue
            raise
        summary_table(graph, depth=None)
        _digraph(graph, 1, "TB", True, True).source


def _is_cnn_error(e) -> bool:
    from cnndsl.errors import CnnError
    return isinstance(e, CnnError)


def check_location(e, text) -> str | None:
    """Why a CnnError's location is not valid, or None."""
    if e.kind == "usage":
        return None
    if e.span is None:
        return "no location"
    lines = text.split("\n") if isinstance(text, str) else None
    if e.span.line < 1 or e.span.col < 1:
        return f"location {e.span.line}:{e.span.col}"
    if lines is not None and e.span.source.path == "<fuzz>" and e.span.line > len(lines):
        return f"line {e.span.line} past the end ({len(lines)} lines)"
    str(e)   # formatting the message must work too
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alarm", type=float, default=5, help="CPU seconds allowed per input")
    ap.add_argument("--memory", type=float, default=4, help="GiB of address space for the whole run")
    ap.add_argument("--out", default=None, help="folder to write findings to")
    args = ap.parse_args()
    budget = args.seconds if args.seconds is not None else 60 * (args.minutes or 0.5)
    limit = int(args.memory * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGPROF, _alarm)
    from cnndsl.errors import CnnError
    rng = random.Random(args.seed)
    seeds = corpus()
    findings, count, start = [], 0, time.monotonic()
    while time.monotonic() - start < budget:
        roll = rng.random()
        if roll < 0.3:
            data = generate(rng)                              # a fresh program of the newer features
        elif roll < 0.5:
            data = mutate(generate(rng), rng)
        else:
            data = mutate(rng.choice(seeds), rng)
        count += 1
        arm(args.alarm)
        try:
            run_one(data)
            problem = None
        except CnnError as e:
            problem = check_location(e, data)
        except Timeout:
            problem = f"over the {args.alarm:g} CPU-second alarm"
        except MemoryError:
            problem = f"over the {args.memory:g} GiB memory cap"
        except Exception as e:
            if isinstance(getattr(e, "orig_exc", None), Timeout):     # raised inside a Lark callback
                problem = f"over the {args.alarm:g} CPU-second alarm"
            elif isinstance(getattr(e, "orig_exc", None), MemoryError):
                problem = f"over the {args.memory:g} GiB memory cap"
            else:
                problem = f"{type(e).__name__}: {e}"
        finally:
            arm(0)
        if problem:
            findings.append((problem, data))
            print(f"FINDING {len(findings)}: {problem[:200]}\n  input: {data!r:.300}", flush=True)
            if args.out:
                os.makedirs(args.out, exist_ok=True)
                blob = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
                Path(args.out, f"finding_{len(findings)}.cnn").write_bytes(blob)
    elapsed = time.monotonic() - start
    print(f"{count:,} inputs in {elapsed:.0f} s ({count / elapsed:.0f}/s), seed {args.seed}: "
          f"{len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
