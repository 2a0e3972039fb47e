"""Hover latency of `cnndsl lsp` right after an edit, on ResNet-152 (issue 19: within 100 ms).

    .venv/bin/python benchmarks/lsp_bench.py [--rounds 20] [--spec specs/resnet152.cnn]

A real client (pygls) talks JSON-RPC to `python -m cnndsl lsp` in a subprocess. Each round edits the
document (a line inserted at the top, so every line below moves, or a number changed in a
`--set`-free place) and asks for a hover on a stage's line at once, before the debounced re-check
has run: the server answers from the last graph that checked, the line mapped back to its text.
The baseline is what answering by checking again would cost: `analyze` (parse, imports, lowering)
of the same text in this process. Printed: median and worst hover round trip, the baseline, and
their ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def session(spec: Path, rounds: int) -> list:
    from lsprotocol import types as T
    from pygls.lsp.client import BaseLanguageClient
    client = BaseLanguageClient("lsp-bench", "1")
    diagnostics = asyncio.Queue()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def received(params):
        diagnostics.put_nowait(params)

    await client.start_io(sys.executable, "-m", "cnndsl", "lsp", cwd=str(ROOT))
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities(), process_id=None))
    client.initialized(T.InitializedParams())
    uri, text = spec.resolve().as_uri(), spec.read_text()
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "cnn", 1, text)))
    d = await asyncio.wait_for(diagnostics.get(), 60)
    assert not d.diagnostics, d.diagnostics
    rows = text.split("\n")
    target = next(i for i, row in enumerate(rows) if "stack(" in row and "name=" in row and not row.lstrip().startswith("#"))
    col = rows[target].index("stack(") + 2
    times, version = [], 1
    for k in range(rounds):
        version += 1
        edited = "".join(f"# edit {j}\n" for j in range(k + 1)) + text      # every line moves down
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=version, uri=uri), [T.TextDocumentContentChangeWholeDocument(edited)]))
        start = time.perf_counter()
        h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri),
                                                                 T.Position(target + k + 1, col)))
        times.append(time.perf_counter() - start)
        assert h is not None and "stack(" in h.contents.value, h
        if k % 5 == 4:                 # now and then let the re-check finish, as a pause in typing does
            await asyncio.sleep(1.0)
    first = h.contents.value.split("\n")[0]
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times, first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--spec", default=str(ROOT / "specs" / "resnet152.cnn"))
    args = ap.parse_args()
    spec = Path(args.spec)
    from cnndsl.lsp import analyze
    text = spec.read_text()
    analyze(text, str(spec))
    checks = []
    for _ in range(3):
        start = time.perf_counter()
        a = analyze(text, str(spec))
        checks.append(time.perf_counter() - start)
    assert a.graphs and not a.errors
    times, first = asyncio.run(session(spec, args.rounds))
    base = min(checks)
    med, worst = statistics.median(times), max(times)
    print(f"{spec.name}: {sum(len(g.nodes) for g in a.graphs.values())} nodes; hover shows: {first}")
    print(f"hover right after an edit: median {med * 1000:.1f} ms, worst {worst * 1000:.1f} ms over {len(times)} edits")
    print(f"re-checking instead (baseline, in process): {base * 1000:.0f} ms; ratio hover/check {med / base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
