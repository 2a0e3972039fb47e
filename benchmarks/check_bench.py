"""Benchmark of `cnndsl check` (issues 2 and 21; run it, it is not a test).

Every figure is CPU time (user + system) of a child process, read with ``os.wait4``, so other
work on a loaded machine hardly moves it; commands that are compared run interleaved, round after
round, and each is run once first (not counted) so bytecode caches exist, as they do in an
installed package. Peak RSS is the child's own ``ru_maxrss``.

1. start-up: ``cnndsl check specs/resnet152.cnn`` against ``python -c "import lark"`` (target
   <= 1.5x) and ``python -c "import keras"`` (target <= 1/25).
2. scale: a chain (conv -> bn -> relu, repeated) and a branchy spec (residual units: add { conv ->
   bn -> relu; identity }) at 10k, 100k and 1M layers, each one `cnndsl check` process with the
   flags a user would give (--set n=..., --max-repeat, --max-steps). Targets: 1M layers in <= 10 s
   of CPU and <= 1 GiB peak RSS.
3. specs: one `cnndsl check` over every shipped spec (specs/*.cnn, specs/applications/*.cnn), and
   per spec the parse's share of its in-process time (parse = reading and parsing the file and
   its imports; the rest is lowering and checking).

``--against DIR`` runs every figure for a second source tree too, interleaved, and prints this tree's
speed-up over it. Issue 21's baseline ("today") is commit d20cdcf, the last before its work:

    git archive d20cdcf | tar -x -C /tmp/base && .venv/bin/python benchmarks/check_bench.py --against /tmp/base

(the specs compared are those the baseline checks too: a newer op argument is unknown to it).

    .venv/bin/python benchmarks/check_bench.py [--runs 5] [--sections startup,scale,specs]
        [--sizes 10000,100000,1000000] [--against DIR] [--no-keras]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

CHAIN = """
network chain(x: [32, 32, 16], n=1) {
    repeat n { conv(16, 3, padding=same) -> bn -> relu }
}
"""  # 3 layers per iteration
BRANCHY = """
block unit(f) {
    add { conv(f, 3, padding=same) -> bn -> relu; identity }
}
network branchy(x: [32, 32, 16], n=1) {
    repeat n { unit(16) }
}
"""  # 4 layers per unit
SCALE = {"chain": (CHAIN, 3), "branchy": (BRANCHY, 4)}

# Per spec, in one process: the seconds spent loading (parse + imports) and lowering (check).
SHARE = """
import sys, time
from cnndsl.program import load_file
paths = sys.argv[1:]
def check(prog):
    for name in prog.network_names():   # every network, as `cnndsl check` does
        prog.lower(name)
for p in paths:   # a first pass builds the lexers, as a warm process has them
    check(load_file(p))
import cnndsl.parser
for p in paths:
    getattr(cnndsl.parser, "_PARSED", {}).clear()   # each file parsed with its imports, as alone
    t0 = time.process_time(); prog = load_file(p); t1 = time.process_time(); check(prog); t2 = time.process_time()
    print(p, t1 - t0, t2 - t1)
"""


def env() -> dict:
    e = dict(os.environ)
    e.pop("PYTHONDONTWRITEBYTECODE", None)   # an installed package has its bytecode cached
    e.pop("PYTHONPATH", None)
    return e


def run(cmd: list, cwd) -> tuple:
    """(CPU seconds, peak RSS in bytes, stdout) of one child process."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{text[-2000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, text


def interleaved(cmds: dict, runs: int) -> dict:
    """name -> (median CPU s, max peak RSS) over ``runs`` rounds of every command in turn."""
    for cmd, cwd in cmds.values():
        run(cmd, cwd)   # warm-up: bytecode caches
    cpu, rss = {k: [] for k in cmds}, {k: [] for k in cmds}
    for _ in range(runs):
        for k, (cmd, cwd) in cmds.items():
            c, r, _ = run(cmd, cwd)
            cpu[k].append(c)
            rss[k].append(r)
    return {k: (statistics.median(cpu[k]), max(rss[k])) for k in cmds}


def check_cmd(*args) -> list:
    return [PY, "-m", "cnndsl", "check", *map(str, args)]


def trees(args) -> dict:
    out = {"this": ROOT}
    if args.against:
        out["base"] = Path(args.against).resolve()
    return out


def startup(args) -> None:
    print("== start-up: cnndsl check specs/resnet152.cnn (CPU, median of interleaved runs)")
    spec = ROOT / "specs" / "resnet152.cnn"
    cmds = {"import lark": ([PY, "-c", "import lark"], ROOT)}
    for name, tree in trees(args).items():
        cmds[f"check ({name})"] = (check_cmd(spec), tree)
    if not args.no_keras:
        cmds["import keras"] = ([PY, "-c", "import keras"], ROOT)
    res = interleaved(cmds, args.runs)
    for k, (c, _) in res.items():
        print(f"  {k:22s} {c * 1000:7.0f} ms")
    lark = res["import lark"][0]
    for name in trees(args):
        c = res[f"check ({name})"][0]
        line = f"  {name}: check / import lark = {c / lark:.2f}x (target <= 1.5)"
        if not args.no_keras:
            k = res["import keras"][0]
            line += f";  check / import keras = 1/{k / c:.1f} (target <= 1/25)"
        print(line)
    if "base" in trees(args):
        print(f"  speed-up over base: {res['check (base)'][0] / res['check (this)'][0]:.2f}x")


def scale(args) -> None:
    print("== scale: one `cnndsl check` process per spec and size (CPU, peak RSS)")
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, (text, per) in SCALE.items():
            spec = Path(tmp) / f"{kind}.cnn"
            spec.write_text(text)
            for layers in sizes:
                n = layers // per
                flags = ["--set", f"n={n}", "--max-repeat", str(max(n, 100_000)),
                         "--max-steps", str(max(100_000, 5 * layers)), "--max-nodes", str(max(2_000_000, 2 * layers))]
                cmds = {name: (check_cmd(spec, *flags), tree) for name, tree in trees(args).items()}
                runs = args.runs if layers <= 100_000 else 1
                res = interleaved(cmds, runs) if runs > 1 else {k: run(c, w)[:2] for k, (c, w) in cmds.items()}
                for name, (c, r) in res.items():
                    verdict = ""
                    if layers >= 1_000_000:
                        verdict = f"   (targets <= 10 s, <= 1 GiB: {'met' if c <= 10 and r <= 2 ** 30 else 'NOT met'})"
                    print(f"  {kind:8s} {layers:>9,} layers  {name:5s} {c:7.2f} s  {c / layers * 1e6:6.1f} us/layer"
                          f"  peak RSS {r / 2 ** 20:7.0f} MiB  {r / layers:7.0f} B/layer{verdict}")
                if "base" in res:
                    print(f"  {'':8s} {'':>9s}         speed-up {res['base'][0] / res['this'][0]:.2f}x,"
                          f" memory {res['base'][1] / res['this'][1]:.2f}x less")


def shipped_specs() -> list:
    return sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs" / "applications").glob("*.cnn"))


def specs(args) -> None:
    paths = shipped_specs()
    if args.against:     # only the specs the other tree checks too (a newer op or argument may be unknown to it)
        other = Path(args.against).resolve()
        paths = [p for p in paths if subprocess.run(check_cmd(p), cwd=other, env=env(), stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL).returncode == 0]
    print(f"== specs: one `cnndsl check` over all {len(paths)} shipped specs (CPU, median of interleaved runs)")
    cmds = {name: (check_cmd(*paths), tree) for name, tree in trees(args).items()}
    res = interleaved(cmds, args.runs)
    for name, (c, _) in res.items():
        print(f"  {name:5s} {c:6.2f} s")
    if "base" in res:
        print(f"  speed-up over base: {res['base'][0] / res['this'][0]:.2f}x (target >= 2)")
    print("   parse's share of each spec's in-process time (warm process; ms parse + ms check)")
    shares = {}
    for name, tree in trees(args).items():
        _, _, out = run([PY, "-c", SHARE, *paths], tree)
        shares[name] = {Path(p).name: (float(a), float(b)) for p, a, b in (line.split() for line in out.splitlines())}
    total = {name: [0.0, 0.0] for name in shares}
    for p in paths:
        row = f"  {p.relative_to(ROOT / 'specs')!s:32s}"
        for name, table in shares.items():
            a, b = table[p.name]
            total[name][0] += a
            total[name][1] += b
            row += f"  {name}: {a * 1000:6.1f} + {b * 1000:6.1f} ms, parse {a / (a + b):4.0%}"
        print(row)
    for name, (a, b) in total.items():
        print(f"  total {name}: parse {a:.3f} s + check {b:.3f} s; parse's share {a / (a + b):.0%}")
    if "base" in total:
        t, b = sum(total["this"]), sum(total["base"])
        print(f"  in-process speed-up over base: {b / t:.2f}x (parse {total['base'][0] / total['this'][0]:.2f}x,"
              f" check {total['base'][1] / total['this'][1]:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sections", default="startup,scale,specs")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="layers of the scale specs")
    ap.add_argument("--against", metavar="DIR", help="another source tree to compare with, run interleaved")
    ap.add_argument("--no-keras", action="store_true", help="skip `import keras` (slow to import)")
    args = ap.parse_args()
    for section in args.sections.split(","):
        {"startup": startup, "scale": scale, "specs": specs}[section](args)


if __name__ == "__main__":
    main()
