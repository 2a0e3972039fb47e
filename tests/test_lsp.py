"""`cnndsl lsp` (issue 19): a real client session over JSON-RPC with the server in a subprocess, and the
fuzz corpus through every query. Hover figures are checked against arithmetic done here (Keras's
formulas: a k×k conv without bias has k·k·C_in·filters weights and H_out·W_out times that MACs)."""
from __future__ import annotations

import asyncio
import importlib.util
import random
import sys

import pytest

pytest.importorskip("pygls")
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import BaseLanguageClient  # noqa: E402

from cnndsl import lsp  # noqa: E402
from conftest import ROOT, SPECS  # noqa: E402

RESNET34 = (SPECS / "resnet34.cnn").read_text()
ERROR_IN_BLOCK = """block widen(f) {
    add { conv(f, 3, padding=same); identity }
}
network n(x: [8, 8, 4]) {
    widen(4)
    widen(8)
}
"""


def _line(text: str, needle: str) -> int:
    """0-based line of the first line containing ``needle``."""
    return next(i for i, row in enumerate(text.split("\n")) if needle in row)


class Session:
    """A client talking to `python -m cnndsl lsp`; diagnostics are queued as they arrive."""

    def __init__(self):
        self.client = BaseLanguageClient("cnndsl-tests", "1")
        self.diagnostics = asyncio.Queue()

        def received(params):
            self.diagnostics.put_nowait(params)
        self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(received)

    async def start(self):
        await self.client.start_io(sys.executable, "-m", "cnndsl", "lsp", cwd=str(ROOT))
        result = await asyncio.wait_for(self.client.initialize_async(T.InitializeParams(
            capabilities=T.ClientCapabilities(), process_id=None, root_uri=ROOT.as_uri())), 30)
        self.client.initialized(T.InitializedParams())
        return result

    async def diagnostics_for(self, version: int) -> list:
        while True:
            d = await asyncio.wait_for(self.diagnostics.get(), 30)
            if d.version == version:
                return list(d.diagnostics)

    def open(self, uri: str, text: str):
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "cnn", 1, text)))

    def replace(self, uri: str, version: int, text: str):
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=version, uri=uri), [T.TextDocumentContentChangeWholeDocument(text)]))

    def at(self, uri, line, char):
        return T.TextDocumentIdentifier(uri), T.Position(line, char)

    async def stop(self):
        await asyncio.wait_for(self.client.shutdown_async(None), 30)
        self.client.exit(None)
        await asyncio.wait_for(self.client.stop(), 30)


def run(coro):
    return asyncio.run(coro)


def test_a_client_session_open_hover_definition_completion_change_diagnostics():
    async def session():
        s = Session()
        init = await s.start()
        caps = init.capabilities
        assert caps.hover_provider and caps.definition_provider and caps.references_provider
        assert caps.completion_provider and caps.document_symbol_provider and caps.document_formatting_provider
        uri = (SPECS / "resnet34.cnn").as_uri()
        s.open(uri, RESNET34)
        assert await s.diagnostics_for(1) == []

        # hover on the stem conv: 7x7 conv of 3 -> 64 channels, stride 2, no bias, on 224x224
        stem = _line(RESNET34, "conv(64, 7, stride=2)")
        h = await s.client.text_document_hover_async(T.HoverParams(*s.at(uri, stem, 5)))
        weights = 7 * 7 * 3 * 64
        assert h.contents.value.split("\n\n---")[0] == (
            f"**conv** → `(None, 112, 112, 64)`\n\nlayer `conv_1` · params {weights:,} · MACs 118M")
        assert 112 * 112 * weights == 118_013_952
        assert "Conv2D" in h.contents.value                  # the op's doc
        assert (h.range.start.line, h.range.start.character, h.range.end.character) == (stem, 4, 8)

        # hover on a block call: stage(128, 4) -> 28x28x128
        call = _line(RESNET34, "stage(128, 4)")
        h = await s.client.text_document_hover_async(T.HoverParams(*s.at(uri, call, 6)))
        assert h.contents.value.startswith("**stage(128, 4)** → `(None, 28, 28, 128)`")
        assert "`block stage(filters, units, stride=2)`" in h.contents.value
        # hover on a value: classes is 10
        dense = _line(RESNET34, "dense(classes")
        h = await s.client.text_document_hover_async(
            T.HoverParams(*s.at(uri, dense, RESNET34.split("\n")[dense].index("classes") + 2)))
        assert "`classes = 10`" in h.contents.value

        # go to definition: the call of stage -> `block stage(`
        d = await s.client.text_document_definition_async(T.DefinitionParams(*s.at(uri, call, 6)))
        block = _line(RESNET34, "block stage(")
        assert [(x.uri, x.range.start.line, x.range.start.character) for x in d] == [(uri, block, 6)]
        doc, position = s.at(uri, block, 7)
        refs = await s.client.text_document_references_async(T.ReferenceParams(
            context=T.ReferenceContext(include_declaration=True), text_document=doc, position=position))
        assert sorted(r.range.start.line for r in refs) == [block] + [_line(RESNET34, f"stage({c}") for c in (64, 128, 256, 512)]

        # completion inside conv(: its arguments with their defaults, ops, blocks and symbols
        comp = await s.client.text_document_completion_async(T.CompletionParams(*s.at(uri, stem, 10)))
        items = {i.label: i for i in comp.items}
        assert "padding=" in items and "default valid" in items["padding="].detail
        assert {"conv", "dense", "maxpool", "residual_unit", "stage", "same", "relu"} <= set(items)

        symbols = await s.client.text_document_document_symbol_async(
            T.DocumentSymbolParams(T.TextDocumentIdentifier(uri)))
        assert [(x.name, x.kind) for x in symbols] == [("residual_unit", T.SymbolKind.Class),
                                                      ("stage", T.SymbolKind.Class), ("resnet34", T.SymbolKind.Module)]

        # an edit that breaks a shape: the error comes back as a diagnostic at its place
        broken = RESNET34.replace("stage(512, 3)", "stage(512, 3) -> reshape([5, 5])")
        s.replace(uri, 2, broken)
        diags = await s.diagnostics_for(2)
        assert len(diags) == 1 and diags[0].severity == T.DiagnosticSeverity.Error
        where = _line(broken, "reshape([5, 5])")
        assert diags[0].range.start.line == where and "reshape" in diags[0].message
        # hover still answers from the last graph that checked, on the lines that did not change
        h = await s.client.text_document_hover_async(T.HoverParams(*s.at(uri, stem, 5)))
        assert h.contents.value.startswith("**conv** → `(None, 112, 112, 64)`")

        # a line inserted above: hover right after the edit maps the line back to the checked text
        s.replace(uri, 3, "# a new first line\n" + RESNET34)
        h = await s.client.text_document_hover_async(T.HoverParams(*s.at(uri, stem + 1, 5)))
        assert h.contents.value.startswith("**conv** → `(None, 112, 112, 64)`")
        assert h.range.start.line == stem + 1
        assert await s.diagnostics_for(3) == []

        # an error inside a block: its call chain comes as related locations
        other = (ROOT / "tests" / "widen.cnn").as_uri()
        s.open(other, ERROR_IN_BLOCK)
        diags = await s.diagnostics_for(1)
        assert len(diags) == 1 and diags[0].range.start.line == 1 and "channels" in diags[0].message
        assert [(r.location.range.start.line, r.message) for r in diags[0].related_information] == \
            [(5, "in widen(8), called here")]

        # formatting through cnndsl fmt
        s.replace(other, 2, "network n(x:[8,8,4]){conv(4,3)}\n")
        await s.diagnostics_for(2)
        edits = await s.client.text_document_formatting_async(T.DocumentFormattingParams(
            T.TextDocumentIdentifier(other), T.FormattingOptions(tab_size=4, insert_spaces=True)))
        assert [e.new_text for e in edits] == ["network n(x: [8, 8, 4]) { conv(4, 3) }\n"]

        # a syntax error: located diagnostic; the server keeps answering
        bad = "network n(x: [8, 8, 4]) { conv(4, 3 -> relu }\n"
        s.replace(other, 3, bad)
        diags = await s.diagnostics_for(3)
        assert [(d.range.start.line, d.range.start.character) for d in diags] == [(0, bad.index("->"))]
        assert diags[0].message.startswith(f"expected `)` to close the `(` opened at 1:{bad.index('(4') + 1}")
        await s.stop()

    run(session())


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("cnndsl_fuzz", ROOT / "benchmarks" / "fuzz.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bad_inputs() -> list:
    """The hardening corpus, the error fixtures, and 60 mutations of the fuzzer's corpus (fixed seed)."""
    from test_hardening import CORPUS
    from cnndsl.program import decode
    fuzz = _fuzz_module()
    texts = [row[1] for row in CORPUS]
    texts += [p.read_text() for p in sorted((ROOT / "tests" / "fixtures" / "errors").glob("*.cnn"))]
    rng = random.Random(19)
    seeds = [t for t in fuzz.corpus() if len(t) < 4000]
    for _ in range(60):
        data = fuzz.mutate(rng.choice(seeds), rng)
        if isinstance(data, bytes):
            try:
                data = decode(data, "<fuzz>")
            except Exception:
                data = data.decode("utf-8", "replace")
        texts.append(data)
    return texts


def test_the_fuzz_corpus_goes_through_every_query_without_a_crash():
    rng = random.Random(7)
    path = str(ROOT / "specs" / "fuzzed.cnn")          # imports resolve as for a shipped spec
    for text in _bad_inputs():
        a = lsp.analyze(text, path)
        diags = lsp.diagnostics(a)
        assert all(d["message"] and d["range"][0] >= 1 for d in diags)
        assert all(d["code"] != "internal" for d in diags), [d["message"] for d in diags]
        rows = text.split("\n")
        for _ in range(4):
            line = rng.randint(1, len(rows))
            col = rng.randint(1, len(rows[line - 1]) + 1)
            lsp.hover(a, line, col)
            lsp.hover(a, line, col, text=text + "\n# edited")
            lsp.definition(a, line, col)
            lsp.references(a, line, col)
            lsp.completion(a, text, line, col)
        lsp.document_symbols(a)
        lsp.format_document(text, path)


def test_the_hardening_corpus_through_the_server_gets_diagnostics_and_it_keeps_answering():
    """Each reproducer of issue 10 opened as a document: the server checks it (in its worker thread,
    whose stack must hold the deepest ones), publishes located diagnostics, and answers requests."""
    from test_hardening import CORPUS

    async def session():
        s = Session()
        await s.start()
        for k, row in enumerate(CORPUS):
            name, text, code, where = row[:4]
            uri = (SPECS / f"fuzzed_{k}.cnn").as_uri()
            s.open(uri, text)
            diags = await s.diagnostics_for(1)
            if code == 1 and where is not None:
                line, col = map(int, where.split(":"))
                assert any((d.range.start.line, d.range.start.character) == (line - 1, col - 1) for d in diags), \
                    (name, [(d.range, d.message) for d in diags])
            await s.client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(1, 3)))
            await s.client.text_document_completion_async(T.CompletionParams(T.TextDocumentIdentifier(uri),
                                                                              T.Position(0, 1)))
            s.client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri)))
        uri = (SPECS / "resnet34.cnn").as_uri()
        s.open(uri, RESNET34)
        assert await s.diagnostics_for(1) == []
        await s.stop()

    run(session())


def test_the_server_imports_no_framework():
    import subprocess
    code = ("import sys; from cnndsl.lsp import make_server, analyze; make_server(); "
            "analyze(open('specs/resnet34.cnn').read(), 'specs/resnet34.cnn'); "
            "print(sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_the_readme_shows_the_hover_a_client_gets():
    import re
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"Hovering the stem conv of `specs/resnet34.cnn` shows.*?\n```text\n(.*?)\n```\n", readme, re.S).group(1)
    a = lsp.analyze(RESNET34, str(SPECS / "resnet34.cnn"))
    stem = _line(RESNET34, "conv(64, 7, stride=2)")
    assert lsp.hover(a, stem + 1, 6)[0] == shown


LIB = """# Two convs, the second one wider.
block pair(f, wide=2) {
    conv(f, 3, padding=same) -> conv(f * wide, 3, padding=same)
}
let WIDTH = 8
"""
MAIN = """import "lib.cnn" as lib
let SCALE = 2
network n(x: [16, 16, 3], classes=5) {
    let w = lib.WIDTH * SCALE
    a = lib.pair(w)
    b = a -> maxpool(2)
    concat(a -> maxpool(2), b) -> global_avgpool -> dense(classes)
    expect params = 5_413
}
"""


def test_definitions_values_and_block_docs_across_an_import(tmp_path):
    (tmp_path / "lib.cnn").write_text(LIB)
    path = tmp_path / "main.cnn"
    path.write_text(MAIN)
    a = lsp.analyze(MAIN, str(path))
    assert not a.errors, a.errors
    rows = MAIN.split("\n")

    def at(row, word, k=1):
        return row + 1, rows[row].index(word) + 1 + k

    # the import's string -> the file; an imported block and constant -> their lines there
    assert lsp.definition(a, *at(0, "lib.cnn")) == [(str(tmp_path / "lib.cnn"), (1, 1, 1, 1))]
    assert lsp.definition(a, *at(4, "pair")) == [(str(tmp_path / "lib.cnn"), (2, 7, 2, 11))]
    assert lsp.definition(a, *at(3, "WIDTH")) == [(str(tmp_path / "lib.cnn"), (5, 5, 5, 10))]
    assert lsp.definition(a, *at(3, "SCALE")) == [(str(path), (2, 5, 2, 10))]        # a file-level let
    assert lsp.definition(a, *at(4, "w)")) == [(str(path), (4, 9, 4, 10))]           # a let in the body
    assert lsp.definition(a, *at(6, "b)")) == [(str(path), (6, 5, 6, 6))]            # a named tensor
    assert lsp.definition(a, *at(6, "classes")) == [(str(path), (3, 27, 3, 34))]     # a parameter

    # values: 8 * 2 = 16 filters; a block's signature and doc comment
    assert "`w = 16`" in lsp.hover(a, *at(4, "w)"))[0]
    assert "`classes = 5`" in lsp.hover(a, *at(6, "classes"))[0]
    doc = lsp.hover(a, *at(4, "pair"))[0]
    assert "`block pair(f, wide=2)`" in doc and "Two convs, the second one wider." in doc
    # the block call: 16 then 32 filters on 16x16x3, 3x3 convs with bias
    p1, p2 = 3 * 3 * 3 * 16 + 16, 3 * 3 * 16 * 32 + 32
    assert doc.startswith(f"**lib.pair(16)** → `(None, 16, 16, 32)`\n\n2 layers · params {p1 + p2:,}")
    assert "n has `params` = 5,413" in lsp.hover(a, *at(7, "params"))[0]
    assert p1 + p2 + (32 + 32) * 5 + 5 == 5_413
    assert lsp.references(a, *at(4, "pair")) == [(str(path), (5, 9, 5, 17))]


def test_completion_of_a_block_s_arguments_and_outside_calls(tmp_path):
    (tmp_path / "lib.cnn").write_text(LIB)
    path = tmp_path / "main.cnn"
    a = lsp.analyze(MAIN, str(path))
    inside = lsp.completion(a, "    lib.pair(8, ", 1, 17)
    assert {"label": "wide=", "kind": "argument", "detail": "wide=2", "insert": "wide="} in inside
    outside = {i["label"]: i["kind"] for i in lsp.completion(a, "    ", 1, 5)}
    assert outside["lib.pair"] == "block" and outside["conv"] == "op" and outside["repeat"] == "keyword"
    assert outside["same"] == "symbol" and outside["SCALE"] == "constant"
    assert lsp.completion(a, "    # conv", 1, 10) == []


def test_hover_between_the_calls_of_a_statement_sums_its_layers():
    a = lsp.analyze(RESNET34, str(SPECS / "resnet34.cnn"))
    stem = _line(RESNET34, "conv(64, 7, stride=2)")
    text, where = lsp.hover(a, stem + 1, RESNET34.split("\n")[stem].index("->") + 1)
    conv, bn = 7 * 7 * 3 * 64, 4 * 64            # no bias; BN: gamma, beta train, mean and variance don't
    assert text == f"**statement** → `(None, 112, 112, 64)`\n\n3 layers · params {conv + bn:,} (non-trainable 128) · MACs 118M"
    assert where[:2] == (stem + 1, 5)


def test_a_warning_is_a_diagnostic_at_its_place():
    text = "network n(x: [8, 8, 3]) -> (y) {\n    conv(4, 1)\n    y = x -> relu\n}\n"
    path = str(ROOT / "specs" / "warned.cnn")
    a = lsp.analyze(text, path)
    assert not a.errors
    diags = lsp.diagnostics(a)
    assert [(d["severity"], d["range"][:2]) for d in diags] == [("warning", (2, 5))]
    assert "reach no output" in diags[0]["message"]
