"""The ONNX target's folded export runs in a forked copy of the process (cnndsl/backends/onnx.py
``_survives``): torch 2.13's exporter now and then crashes the process with a segmentation fault while
it extracts the blocks as ONNX functions (about one run in three of torchvision's mobilenet_v3_large),
and the command must then write the inlined model, not die. Here the attempt is a plain function, so the
quick tier tests the mechanism without torch; tests/test_torch_specs.py exports every spec through it."""
from __future__ import annotations

import os
import signal

import pytest

from cnndsl.backends.onnx import _survives

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the folded export runs in a fork only where there is one")


def test_an_attempt_that_returns_true_survives_and_its_file_is_the_parents(tmp_path):
    out = tmp_path / "model.onnx"
    assert _survives(lambda: out.write_text("folded") == 6)
    assert out.read_text() == "folded"


def test_an_attempt_killed_by_a_signal_does_not_end_the_caller():
    assert _survives(lambda: os.kill(os.getpid(), signal.SIGSEGV)) is False


def test_an_attempt_that_fails_or_raises_does_not_survive():
    assert _survives(lambda: False) is False
    assert _survives(lambda: 1 / 0) is False
