"""Shared helpers: paths, running the CLI in a subprocess, golden files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _cites_a_seed(path: Path) -> bool:
    import re
    header = "".join(line for line in path.read_text(encoding="utf-8").splitlines(True) if line.startswith("#"))
    return re.search(r"[Ss]eed 00\d", header) is not None


def seed_library() -> list:
    """The spec files of the seed library (issue 5): the specs that cite a seed document, outside lib/
    and the keras.applications zoo (specs/applications/, compared with keras.applications by
    test_zoo.py), whose xception.cnn is also the seed-002 Xception base."""
    return sorted(p for p in SPECS.rglob("*.cnn") if "lib" not in p.relative_to(SPECS).parts
                  and (p.parent.name != "applications" and _cites_a_seed(p) or p.name == "xception.cnn"
                       and p.parent.name == "applications"))


def beyond_specs() -> list:
    """Specs of networks outside the seeds and keras.applications (U-Net, YOLOv8, ...): each has its own
    Keras transcription and test (tests/test_<name>.py)."""
    return sorted(p for p in SPECS.glob("*.cnn") if not _cites_a_seed(p))


def run_cli(*args, stdin: str | None = None, env: dict | None = None, cwd=ROOT) -> subprocess.CompletedProcess:
    """Run ``python -m cnndsl ARGS`` as a user would; returns the completed process."""
    return subprocess.run([sys.executable, "-m", "cnndsl", *map(str, args)], input=stdin, capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=600)


def golden(path: Path, actual: str) -> None:
    """Compare ``actual`` with the golden file; rewrite it when UPDATE_GOLDEN=1."""
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    assert actual == path.read_text(), f"differs from {path} (UPDATE_GOLDEN=1 regenerates it)"


# --- scheduling: the slowest files first ---------------------------------------------------------------
# scripts/test.sh runs two pytest-xdist workers, one file at a time each (--dist loadfile), in collection
# order (--no-loadscope-reorder). Handing out the longest files first keeps the two workers' loads even
# (longest processing time first); the rest follow in the usual order. Minutes on two busy cores.
SLOWEST_FIRST = ["test_torch_specs.py", "test_backends.py", "test_zoo.py", "test_zoo_roundtrip.py", "test_import.py"]


def pytest_collection_modifyitems(session, config, items):
    rank = {name: k for k, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).name, len(rank)))   # stable: the rest keep their order


def pytest_terminal_summary(terminalreporter):
    """The files that took longest (setup, calls and teardown), to keep SLOWEST_FIRST true."""
    per_file = {}
    for reports in terminalreporter.stats.values():
        for r in reports:
            if hasattr(r, "duration") and hasattr(r, "nodeid") and r.nodeid:
                name = r.nodeid.split("::")[0]
                per_file[name] = per_file.get(name, 0.0) + r.duration
    if per_file:
        slow = sorted(per_file.items(), key=lambda kv: -kv[1])[:6]
        terminalreporter.write_line("slowest files: " + ", ".join(f"{n} {t:.0f} s" for n, t in slow))


# --- the quick tier: `pytest -m "not slow"` builds no framework model ----------------------------------
# A test that isn't marked slow may not import Keras, TensorFlow, torch, JAX or ONNX, in process or in a
# child it starts: the guard below fails it if it does, so the quick tier can't drift. In process, a
# framework module that appears in sys.modules during the test's setup or call fails it (and in a run of
# the quick tier, `-m "not slow"`, any import of one is an ImportError from the start); for children,
# the test runs with tests/quick_tier_guard/ first on PYTHONPATH, whose stand-in packages of those names
# fail on import ("quick tier"). A module marked slow as a whole (`pytestmark = pytest.mark.slow` at its
# top) isn't even imported by a run that deselects slow tests, so its imports cost the quick tier nothing.
FRAMEWORKS = ("keras", "tensorflow", "torch", "jax", "onnx", "onnxruntime")
GUARD = Path(__file__).resolve().parent / "quick_tier_guard"


def _frameworks_loaded() -> set:
    return {name for name in FRAMEWORKS if name in sys.modules}


def _deselects_slow(config) -> bool:
    expr = (config.getoption("markexpr", "") or "").replace(" ", "")
    return expr == "notslow"


class _Blocker:
    """In a quick-tier run, importing a framework at all is an ImportError (a meta path finder ahead of
    the others), so a test that tries fails at once, and no earlier import can hide a later one."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in FRAMEWORKS:
            raise ImportError(f"quick tier: {name} imported by a test not marked @pytest.mark.slow")
        return None


def pytest_configure(config):
    if _deselects_slow(config):
        sys.meta_path.insert(0, _Blocker())


def pytest_ignore_collect(collection_path, config):
    if _deselects_slow(config) and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        head = collection_path.read_text(encoding="utf-8").split("\ndef ", 1)[0]
        if "\npytestmark = pytest.mark.slow" in head:
            return True
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("slow") is None:
        item.stash[_BEFORE] = _frameworks_loaded()
        item.stash[_PYTHONPATH] = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(GUARD), os.environ.get("PYTHONPATH")) if p)
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    result = yield
    if _BEFORE in item.stash:
        new = _frameworks_loaded() - item.stash[_BEFORE]
        if new:
            pytest.fail(f"imported {', '.join(sorted(new))} without @pytest.mark.slow: the quick tier "
                        f"(pytest -m 'not slow') builds no framework model", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        if _PYTHONPATH in item.stash:
            old = item.stash[_PYTHONPATH]
            if old is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old


_BEFORE = pytest.StashKey[set]()
_PYTHONPATH = pytest.StashKey[object]()
