"""Every example in README.md and docs/*.md runs as written (issue 23).

The convention (also in the README's "Development" section):

- Every fence names its language: ```sh, ```python and ```cnn blocks are examples and are run; ```text
  is output or a synopsis and isn't, except a transcript (its first line starts with `$ `): each `$ `
  command is run and what it prints (stdout and stderr together) must be the lines under it.
- Each example runs in an empty temporary folder, as a reader would paste it there: `cnndsl` and
  `python` are this checkout's (its virtual environment first on PATH). `sh` blocks run with `sh -e`;
  `python` blocks as a script; a `cnn` block is saved (as `example.cnn`, or the path of a
  `<!-- file: PATH -->` line) and `cnndsl check` must accept it, so it must hold a network, or be
  blocks that parse alone.
- On the lines just before a fence, `<!-- needs: PATH ... -->` copies those repository paths to the same
  relative paths in the folder, and `<!-- continues -->` runs the block in the previous example's
  folder, after it (a transcript of a spec shown just before it; a script that uses its output). A
  `cnn` block followed by a transcript that continues it is checked by that transcript (an error
  example), not on its own.
- `<!-- setup -->` marks the set-up commands (`sh scripts/demo.sh`, `sh scripts/test.sh`, `pip install`):
  they install things, so they aren't run here; each line is verified instead, and can fail: a
  script exists, parses (`sh -n`) and installs an extra pyproject.toml declares; a `pip install
  'cnndsl[X]'` names a declared extra. scripts/demo.sh is then run for real, with this checkout's
  environment standing in for the one its set-up line would install.
- Examples that build a framework model (any mention of compile, keras, jax, torch or TensorFlow) are
  marked slow; the rest are the quick tier's. None is skipped: the last test counts them all.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"sh", "python", "cnn", "text"}
FENCE = re.compile(r"^```([A-Za-z]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(needs|file|continues|setup)\b:?\s*(.*?)\s*-->")
SLOW = re.compile(r"compile|keras|jax|torch|tensorflow", re.I)
BIN = Path(sys.executable).parent          # this checkout's virtual environment


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    needs: tuple = ()
    file: str = ""
    continues: bool = False
    setup: bool = False

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}-{self.lang}"

    @property
    def transcript(self) -> bool:
        return self.lang == "text" and self.text.startswith("$ ")

    @property
    def runs(self) -> bool:
        return self.lang in {"sh", "python", "cnn"} or self.transcript


def blocks_of(doc: Path) -> list:
    text = doc.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        above = text[:m.start()].rstrip("\n").split("\n")
        before = []                             # the marker lines just above the fence
        while above and above[-1].strip().startswith("<!--") and above[-1].strip().endswith("-->"):
            before.insert(0, above.pop())
        block = Block(doc, line, m.group(1), m.group(2))
        for kind, value in MARKER.findall("\n".join(before)):
            if kind == "needs":
                block.needs = tuple(value.split())
            elif kind == "file":
                block.file = value
            else:
                setattr(block, kind, True)
        found.append(block)
    return found


BLOCKS = [b for doc in DOCS for b in blocks_of(doc)]
RUN = [b for b in BLOCKS if b.runs]


def checked_by_its_transcript(block: Block) -> bool:
    later = BLOCKS[BLOCKS.index(block) + 1:]
    return block.lang == "cnn" and bool(later) and later[0].transcript and later[0].continues


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("CNNDSL_", "KERAS_BACKEND"))}
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    return e


def run(command: list, folder: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=folder, env=env(), capture_output=True, text=True, timeout=600, **kwargs)


def previous(block: Block) -> Block:
    before = RUN[RUN.index(block) - 1] if RUN.index(block) else None
    assert before is not None and before.doc == block.doc, f"{block.id} continues nothing before it"
    return before


def prepare(block: Block, tmp_path: Path) -> Path:
    """The folder a block runs in: its predecessor's if it continues it (the predecessor is run first
    if this run hasn't yet), else a fresh one with its needs."""
    if block.continues:
        if previous(block).id not in FOLDERS:
            execute(previous(block), tmp_path / "before")
        return FOLDERS[previous(block).id]
    folder = tmp_path / "reader"
    folder.mkdir()
    for need in block.needs:
        source = ROOT / need
        assert source.exists(), f"{block.id} needs {need}, which the repository lacks"
        (folder / need).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / need)
    return folder


def extras() -> set:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def verify_setup(block: Block) -> None:
    for line in block.text.splitlines():
        command = line.split("#")[0].strip()
        if not command:
            continue
        if m := re.fullmatch(r"pip install '?cnndsl\[([a-z][a-z-]*)\]'?", command):
            assert m.group(1) in extras(), f"{block.id}: no extra {m.group(1)!r} in pyproject.toml"
            continue
        m = re.fullmatch(r"sh (scripts/[a-z_]+\.sh)( .+)?", command)
        assert m, f"{block.id}: {command!r} is neither `sh scripts/NAME.sh` nor `pip install 'cnndsl[X]'`"
        script = ROOT / m.group(1)
        assert script.is_file(), f"{block.id}: {m.group(1)} doesn't exist"
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0, f"{m.group(1)} doesn't parse"
        text = script.read_text()
        setup = re.search(r"^sh scripts/setup\.sh ([a-z]+)", text, re.M)
        assert setup and setup.group(1) in extras(), f"{m.group(1)}: its set-up line installs no declared extra"
        if m.group(2):                                    # arguments: the script must pass them on
            assert '"$@"' in text or "${1" in text, f"{m.group(1)} ignores its arguments {m.group(2)}"


def run_transcript(block: Block, folder: Path) -> None:
    steps = re.split(r"^\$ ", block.text, flags=re.M)[1:]
    for step in steps:
        command, _, expected = step.partition("\n")
        r = subprocess.run(["sh", "-c", command], cwd=folder, env=env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=600)
        assert r.stdout == expected, f"{block.id}: `{command}` printed\n{r.stdout}"


def slow(block: Block) -> bool:
    return bool(SLOW.search(block.text) or block.setup or block.continues and slow(previous(block)))


def params() -> list:
    return [pytest.param(b, id=b.id, marks=[pytest.mark.slow] if slow(b) else []) for b in RUN]


FOLDERS: dict = {}        # block id -> the folder it ran in, for a block that continues it


@pytest.mark.parametrize("block", params())
def test_the_example_runs_as_written(block, tmp_path_factory):
    execute(block, tmp_path_factory.mktemp("readme"))


def execute(block: Block, tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    folder = prepare(block, tmp_path)
    FOLDERS[block.id] = folder
    if block.setup:
        verify_setup(block)
        if "scripts/demo.sh" in block.text:
            run_the_demo(tmp_path / "demo")
    elif block.transcript:
        run_transcript(block, folder)
    elif block.lang == "sh":
        r = run(["sh", "-e", "-c", block.text], folder)
        assert r.returncode == 0, f"{block.id}:\n{block.text}\n{r.stdout}{r.stderr}"
    elif block.lang == "python":
        (folder / "example.py").write_text(block.text)
        r = run([sys.executable, "example.py"], folder)
        assert r.returncode == 0, f"{block.id}:\n{block.text}\n{r.stdout}{r.stderr}"
    else:
        path = folder / (block.file or "example.cnn")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
        if not checked_by_its_transcript(block):
            r = run([str(BIN / "cnndsl"), "check", str(path.relative_to(folder))], folder)
            assert r.returncode == 0, f"{block.id}:\n{r.stdout}{r.stderr}"


def run_the_demo(folder: Path) -> None:
    """scripts/demo.sh in a copy of its files, with this checkout's environment as the .venv its set-up
    line would have made: the demo's own commands run for real."""
    (folder / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo.sh", folder / "scripts" / "demo.sh")
    (folder / "scripts" / "setup.sh").write_text("")           # what it installs is this checkout's
    shutil.copytree(ROOT / "specs", folder / "specs")
    (folder / ".venv").symlink_to(BIN.parent)
    r = run(["sh", "scripts/demo.sh"], folder)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert sorted(p.name for p in (folder / "out").iterdir()) == [
        "googlenet-full.svg", "googlenet.keras", "googlenet.svg"]


def test_every_fence_names_a_known_language_and_every_example_is_run():
    unknown = [f"{b.id} ```{b.lang}" for b in BLOCKS if b.lang not in LANGUAGES]
    assert not unknown, f"fences without a language this test knows (sh, python, cnn, text): {unknown}"
    markers = [b.id for b in BLOCKS if (b.needs or b.file or b.continues or b.setup) and not b.runs]
    assert not markers, f"markers on blocks that don't run: {markers}"
    counts = {lang: sum(b.lang == lang for b in RUN) for lang in ("sh", "python", "cnn", "text")}
    print(f"{len(RUN)} examples run ({counts['sh']} sh, {counts['python']} python, {counts['cnn']} cnn, "
          f"{counts['text']} transcripts; {sum(b.setup for b in RUN)} of them set-up, verified); "
          f"{len(BLOCKS) - len(RUN)} text blocks")
    fences = sum(len(re.findall(r"^```", doc.read_text(encoding="utf-8"), re.M)) for doc in DOCS)
    assert fences == 2 * len(BLOCKS), "a fence this test didn't pair"       # nothing escapes the parse
    assert len(params()) == len(RUN) > 0


def test_the_op_table_is_generated_from_the_registry():
    import importlib.util
    loader = importlib.util.spec_from_file_location("render_docs", ROOT / "scripts" / "render_docs.py")
    render_docs = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(render_docs)
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- op-table:begin -->\n")[1].split("\n<!-- op-table:end -->")[0]
    assert table == render_docs.op_table(), "run scripts/render_docs.py ops"
