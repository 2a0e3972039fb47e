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
- the time limit (``--alarm`` seconds per input, 5 by default) or the memory cap (``--memory`` GiB
  of address space, 4 by default) hit.

Exit status 1 if anything was found. Findings are written to ``--out`` (a folder) for replay.
"""
from __future__ import annotations

import argparse
import os
import random
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
            import re
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
    ap.add_argument("--alarm", type=int, default=5, help="seconds allowed per input")
    ap.add_argument("--memory", type=float, default=4, help="GiB of address space for the whole run")
    ap.add_argument("--out", default=None, help="folder to write findings to")
    args = ap.parse_args()
    budget = args.seconds if args.seconds is not None else 60 * (args.minutes or 0.5)
    limit = int(args.memory * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _alarm)
    from cnndsl.errors import CnnError
    rng = random.Random(args.seed)
    seeds = corpus()
    findings, count, start = [], 0, time.monotonic()
    while time.monotonic() - start < budget:
        data = mutate(rng.choice(seeds), rng)
        count += 1
        signal.alarm(args.alarm)
        try:
            run_one(data)
            problem = None
        except CnnError as e:
            problem = check_location(e, data)
        except Timeout:
            problem = f"over the {args.alarm} s alarm"
        except MemoryError:
            problem = f"over the {args.memory:g} GiB memory cap"
        except Exception as e:
            if isinstance(getattr(e, "orig_exc", None), Timeout):     # raised inside a Lark callback
                problem = f"over the {args.alarm} s alarm"
            elif isinstance(getattr(e, "orig_exc", None), MemoryError):
                problem = f"over the {args.memory:g} GiB memory cap"
            else:
                problem = f"{type(e).__name__}: {e}"
        finally:
            signal.alarm(0)
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
