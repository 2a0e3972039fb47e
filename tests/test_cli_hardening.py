"""The command line's conventions and its output files (issue 10, items 5 and 6).

Output files: a signal while writing leaves no temporary file; ``-``, devices and FIFOs are written
through; a symlink's target is written atomically. The command line: SIGINT while starting, the
``--emit python`` / ``.keras`` mismatch, ``--set`` errors, several files, contracts in every command,
and no TensorFlow start-up noise from ``compile``.
"""
from __future__ import annotations

import ast
import io
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

import cnndsl
from cnndsl import cli, files
from cnndsl.cli import main
from conftest import ROOT, SPECS, run_cli

LENET = SPECS / "lenet5.cnn"
SCRIPT = Path(sys.executable).parent / "cnndsl"      # the console script installed beside this Python


def temp_files(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".cnndsl-", "tmp")))


def child_env(**extra) -> dict:
    return {**os.environ, **extra}


def default_signals() -> None:
    """A child's signal dispositions as a terminal gives them (``preexec_fn``): a child inherits ignored
    signals, so under ``nohup`` SIGHUP would be ignored, and in a background job of a shell SIGINT too.
    The tests that send a signal rely on its default, so they set it rather than inherit it."""
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


# --- output files: signals ------------------------------------------------------------------------------

# A child that runs the command line with a writer that writes a little, says so, and then stalls.
SLOW_WRITER = """
import sys, time
from cnndsl import cli, files
def slow(f, data):
    f.write(data[:100]); f.flush()
    print("writing", flush=True)
    time.sleep(60)
files._write_all = slow
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig, code, err", [
    (signal.SIGTERM, -signal.SIGTERM, ""),
    (signal.SIGHUP, -signal.SIGHUP, ""),
    (signal.SIGINT, 130, "interrupted\n"),
], ids=["SIGTERM", "SIGHUP", "SIGINT"])
@pytest.mark.parametrize("command", [["compile", "--emit", "python", "-o", "b.py"], ["draw", "-o", "b.dot"]],
                         ids=["compile", "draw"])
def test_a_signal_while_writing_removes_the_temporary_file(sig, code, err, command, tmp_path):
    out = tmp_path / command[-1]
    args = [command[0], str(LENET), *command[1:-1], str(out)]
    p = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=tmp_path, preexec_fn=default_signals)
    try:
        assert p.stdout.readline() == "writing\n"
        assert len(temp_files(tmp_path)) == 1 and temp_files(tmp_path)[0].startswith(".cnndsl-")   # mid-write
        p.send_signal(sig)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == code
    assert stderr == err and stdout == ""
    assert list(tmp_path.iterdir()) == []         # neither the temporary file nor the target


# Keras's own writer: with too little memory (as it judges it) it writes the weights to a `tmp*` file
# beside the target first. The child makes it take that path and stall once the weights are written.
SLOW_KERAS = """
import sys, time
from keras.src.saving import saving_lib
real = saving_lib._save_state
def slow(*args, **kwargs):
    real(*args, **kwargs)
    if kwargs.get("inner_path") == "":
        print("saving", flush=True)
        time.sleep(60)
saving_lib._save_state = slow
saving_lib.is_memory_sufficient = lambda model: False
from cnndsl import cli
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow                       # Keras saves a model
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_keras_saves_leaves_none_of_its_files(sig, code, tmp_path):
    out = tmp_path / "m.keras"
    p = subprocess.Popen([sys.executable, "-c", SLOW_KERAS, "compile", str(LENET), "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    try:
        assert p.stdout.readline() == "saving\n", p.communicate()[1]
        names = temp_files(tmp_path)
        assert len(names) == 2 and names[0].startswith(".cnndsl-") and names[1].startswith("tmp")
        p.send_signal(sig)
        p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == code
    assert list(tmp_path.iterdir()) == []


def test_an_ignored_sighup_stays_ignored(tmp_path):
    """Under nohup a hangup doesn't end the write, so the file is written in full."""
    out = tmp_path / "b.py"
    child = SLOW_WRITER.replace("time.sleep(60)", "time.sleep(1); f.write(data[100:])")
    p = subprocess.Popen([sys.executable, "-c", child, "compile", str(LENET), "--emit", "python", "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert p.stdout.readline() == "writing\n"
    p.send_signal(signal.SIGHUP)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    assert stdout == f"wrote {out}\n"
    ast.parse(out.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["b.py"]


# --- output files: -, devices, FIFOs ---------------------------------------------------------------------

@pytest.mark.parametrize("command", [["compile", "--emit", "python"], ["draw"], ["draw", "--format", "svg"]],
                         ids=["python", "dot", "svg"])
def test_dev_null_is_written_through_and_stays_a_device(command, capsys):
    before = os.stat("/dev/null")
    assert main([command[0], str(LENET), *command[1:], "-o", "/dev/null"]) == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert capsys.readouterr().out == "wrote /dev/null\n"
    assert not [n for n in os.listdir("/dev") if n.startswith(".cnndsl-")]


@pytest.mark.slow                       # Keras builds and saves a model
def test_a_keras_model_to_dev_null_goes_through_a_temporary_file_elsewhere(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    r = subprocess.run([str(SCRIPT), "compile", str(LENET), "-o", "/dev/null"], capture_output=True, text=True,
                       env=child_env(TMPDIR=str(scratch)), timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("wrote /dev/null (") and r.stderr == ""
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert list(scratch.iterdir()) == []


def test_dash_writes_to_standard_output_with_no_wrote_line(tmp_path):
    r = run_cli("compile", LENET, "--emit", "python", "-o", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "def build_model(" in r.stdout and "wrote" not in r.stdout
    ast.parse(r.stdout)
    r = run_cli("draw", LENET, "-o", "-", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("digraph lenet5 {")
    r = run_cli("draw", LENET, "-o", "-", "--format", "svg", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("<?xml") and r.stdout.rstrip().endswith("</svg>")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow                       # Keras builds and saves a model
def test_a_keras_model_to_standard_output_is_the_whole_zip(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    r = subprocess.run([str(SCRIPT), "compile", str(LENET), "-o", "-"], capture_output=True,
                       env=child_env(TMPDIR=str(scratch)), timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    names = zipfile.ZipFile(io.BytesIO(r.stdout)).namelist()
    assert "config.json" in names and "model.weights.h5" in names
    assert list(scratch.iterdir()) == []
    r = run_cli("compile", LENET, "-o", "-", "--summary", cwd=tmp_path)
    assert r.returncode == 2 and "--summary prints to standard output" in r.stderr


def _read_fifo(path: Path, into: list):
    with open(path, "rb") as f:
        into.append(f.read())


@pytest.mark.parametrize("name, command", [("out.py", ["compile", "--emit", "python"]), ("out.svg", ["draw"]),
                                           ("out", ["draw"]),
                                           pytest.param("out.keras", ["compile"], marks=pytest.mark.slow)],
                         ids=["python", "svg", "dot-by-default", "keras"])
def test_a_fifo_is_written_through(name, command, tmp_path):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    got: list = []
    reader = threading.Thread(target=_read_fifo, args=(fifo, got), daemon=True)
    reader.start()
    try:
        r = subprocess.run([str(SCRIPT), command[0], str(LENET), *command[1:], "-o", str(fifo)], capture_output=True,
                           env=child_env(TMPDIR=str(scratch)), timeout=600)
    finally:
        if reader.is_alive() and not got:   # the command never opened the FIFO: let the reader go
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        reader.join(60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"" and r.stdout.decode().startswith(f"wrote {fifo}")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)                                  # not replaced by a file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "tmp"]) and list(scratch.iterdir()) == []
    data = got[0]
    if name.endswith(".py"):
        ast.parse(data.decode())
    elif name.endswith(".svg"):
        assert data.startswith(b"<?xml") and data.rstrip().endswith(b"</svg>")
    elif name.endswith(".keras"):
        assert "config.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    else:
        assert data.startswith(b"digraph lenet5 {")


def test_a_socket_is_refused(tmp_path, capsys):
    path = tmp_path / "s.dot"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(path))
        assert main(["draw", str(LENET), "-o", str(path)]) == 2
    finally:
        s.close()
    assert "it is a socket" in capsys.readouterr().err
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


# --- output files: symlinks ----------------------------------------------------------------------------

@pytest.mark.parametrize("existing", [True, False], ids=["target-exists", "dangling"])
def test_a_symlink_has_its_target_written_atomically(existing, tmp_path, monkeypatch, capsys):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.dot"
    if existing:
        target.write_text("old")
        target.chmod(0o640)
    link = tmp_path / "link.dot"
    link.symlink_to(Path("real") / "model.dot")
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(files.os, "replace", lambda a, b: (renames.append((a, b)), real_replace(a, b)))
    assert main(["draw", str(LENET), "-o", str(link)]) == 0
    assert capsys.readouterr().out == f"wrote {link}\n"
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "model.dot")     # still the same link
    assert target.read_text().startswith("digraph lenet5 {")
    [(tmp, dest)] = renames
    assert Path(tmp).parent == target.parent and Path(tmp).name.startswith(".cnndsl-")    # beside the target
    assert Path(dest) == target.resolve()
    assert stat.S_IMODE(target.stat().st_mode) == (0o640 if existing else 0o666 & ~_umask())
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["link.dot", "model.dot", "real"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_symlink_to_a_device_writes_through(tmp_path, capsys):
    link = tmp_path / "null.py"
    link.symlink_to("/dev/null")
    assert main(["compile", str(LENET), "--emit", "python", "-o", str(link)]) == 0
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null.py"]


def test_a_loop_of_symlinks_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "a.dot").symlink_to("b.dot")
    (tmp_path / "b.dot").symlink_to("a.dot")
    assert main(["draw", str(LENET), "-o", str(tmp_path / "a.dot")]) == 2
    assert "loop of symbolic links" in capsys.readouterr().err
    assert all(p.is_symlink() for p in tmp_path.iterdir())


def test_the_api_writes_symlinks_and_streams_the_same_way(tmp_path):
    target = tmp_path / "t.txt"
    (tmp_path / "l.txt").symlink_to(target)
    files.write_atomic(str(tmp_path / "l.txt"), "hello")
    assert target.read_text() == "hello" and (tmp_path / "l.txt").is_symlink()
    files.write_atomic("/dev/null", b"bytes")
    assert files.kind("-") == "stdout" and files.kind("/dev/null") == "stream" and files.kind(str(target)) == "file"


# --- the command line: SIGINT while starting -----------------------------------------------------------

@pytest.mark.parametrize("marker", ["cnndsl.errors", "cnndsl.lower", "cnndsl.api"])
@pytest.mark.parametrize("how", ["script", "-m"])
def test_sigint_while_starting_is_one_line_and_exit_130(how, marker):
    """With PYTHONPROFILEIMPORTTIME, Python reports each import as it ends: the signal is sent while
    cnndsl's own modules are still being imported (the first tenth of a second of a run). ResNet-152 takes
    a while to check, so a signal that comes later still comes before the end."""
    command = [str(SCRIPT)] if how == "script" else [sys.executable, "-m", "cnndsl"]
    p = subprocess.Popen([*command, "check", str(SPECS / "resnet152.cnn")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=ROOT, env=child_env(PYTHONPROFILEIMPORTTIME="1"), preexec_fn=default_signals)
    try:
        lines = []
        while not (lines and lines[-1].split("|")[-1].strip() == marker):
            line = p.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
    rest = [line for line in stderr.splitlines(keepends=True) if not line.startswith("import time:")]
    assert "Traceback" not in stderr
    assert (p.returncode, rest, stdout) == (130, ["interrupted\n"], "")


def test_importing_cnndsl_in_a_program_leaves_sigint_alone():
    probe = "import signal, cnndsl; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                       preexec_fn=default_signals)
    assert r.stdout == "True\n", r.stderr


def test_main_in_process_leaves_sigint_alone(capsys):
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)   # as Python sets it in a terminal
    try:
        assert main(["check", str(LENET)]) == 0
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)


# --- the command line: output names ---------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--emit", "python", "-o", "{dir}/x.keras"], "--emit python writes Python source, and -o {dir}/x.keras"),
    (["-o", "{dir}/x.py"], "-o must end in .keras"),
    (["--emit", "python", "-o", "{dir}/x.keras", "--set", "nope=1"], "--emit python writes Python source"),
])
def test_an_output_name_of_the_wrong_kind_is_a_usage_error(args, message, tmp_path, capsys):
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    assert main(["compile", str(LENET), *args]) == 2
    err = capsys.readouterr().err
    assert message.replace("{dir}", str(tmp_path)) in err and err.count("error:") == 1
    assert list(tmp_path.iterdir()) == []


def test_draw_needs_a_format_it_can_tell(tmp_path, capsys):
    assert main(["draw", str(LENET), "-o", str(tmp_path / "x.txt")]) == 2
    assert "can't tell the format" in capsys.readouterr().err
    assert main(["draw", str(LENET), "-o", str(tmp_path / "x.txt"), "--format", "dot"]) == 0
    assert (tmp_path / "x.txt").read_text().startswith("digraph lenet5 {")


# --- the command line: --set ----------------------------------------------------------------------------

SET_SPEC = """\
network n(x: [8, 8, 3], channels = 4, kernel = 3, rate = 0.5, classes) {
    conv(channels, kernel) -> dropout(rate) -> flatten -> dense(classes)
    expect params = 112 + 145 * classes
}
"""

BROKEN_LATER = """\
network n(x: [8, 8, 3], channels = 4, kernel = 3) {
    c = conv(channels, kernel)
    add(c, nope)
}
"""


@pytest.mark.parametrize("spec, setting, code, first_line", [
    # a value of the wrong type for the parameter: the --set's error, exit 2
    (SET_SPEC, "channels=abc", 2, "error: --set channels=abc: conv: `filters` must be an integer, got unknown name `abc`"),
    (SET_SPEC, "channels=1.5", 2, "error: --set channels=1.5: conv: `filters` must be an integer, got 1.5"),
    (SET_SPEC, 'channels="a"', 2, 'error: --set channels="a": conv: `filters` must be an integer'),
    (SET_SPEC, "rate=[1]", 2, "error: --set rate=[1]: dropout:"),
    (SET_SPEC, "classes=ten", 2, "error: --set classes=ten: dense: `units` must be an integer, got unknown name `ten`"),
    (SET_SPEC, "x=abc", 2, "error: --set x=abc: input `x` needs a shape"),
    (SET_SPEC, "x=[0, 8, 3]", 2, "error: --set x=[0, 8, 3]: input `x` needs a shape"),
    (SET_SPEC, "channels=1+", 2, "error: bad value for --set channels: `1+`"),
    # errors that are the spec's stay there, exit 1
    (SET_SPEC, "channels=-3", 1, "spec.cnn:2:10: error: conv: `filters` must be at least 1, got -3"),
    (SET_SPEC, "rate=1", 1, "spec.cnn:2:39: error: dropout: `rate` must be less than 1"),   # an integer where a float is expected is its type
    (SET_SPEC, "x=[4, 4, 3]", 1, "spec.cnn:3:5: error: contract failed"),
    (BROKEN_LATER, "channels=8", 1, "spec.cnn:3:12: error: unknown tensor `nope`"),
    (BROKEN_LATER, "kernel=[3, 1]", 1, "spec.cnn:3:12: error: unknown tensor `nope`"),   # fails with 3 too
])
def test_set_errors_name_the_set(spec, setting, code, first_line, tmp_path):
    path = tmp_path / "spec.cnn"
    path.write_text(spec)
    extra = ["--set", "classes=10"] if spec is SET_SPEC and not setting.startswith("classes") else []
    r = run_cli("check", "spec.cnn", "--set", setting, *extra, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert r.stderr.splitlines()[0].startswith(first_line), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_a_set_error_says_where_the_spec_used_the_value(tmp_path):
    path = tmp_path / "spec.cnn"
    path.write_text(SET_SPEC)
    for command in (["check"], ["summary"], ["draw", "-o", "x.svg"], ["compile", "--emit", "python", "-o", "x.py"]):
        r = run_cli(command[0], "spec.cnn", *command[1:], "--set", "channels=abc", "--set", "classes=3", cwd=tmp_path)
        assert r.returncode == 2
        assert r.stderr.splitlines() == [
            "error: --set channels=abc: conv: `filters` must be an integer, got unknown name `abc`",
            "  note: the spec used the value at spec.cnn:2:10",
            "  hint: `channels` is an integer in the spec (its default is 4)",
        ]
    assert [p.name for p in tmp_path.iterdir()] == ["spec.cnn"]


def test_a_set_value_of_another_type_that_works_is_fine(tmp_path):
    path = tmp_path / "spec.cnn"
    path.write_text(SET_SPEC)
    r = run_cli("check", "spec.cnn", "--set", "kernel=[3, 1]", "--set", "classes=2", "--no-contracts", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(None, 6, 8, 4)" not in r.stdout and "dense_1 (None, 2)" in r.stdout


# --- the command line: several files --------------------------------------------------------------------

GOOD = "network {name}(x: [8, 8, 3], classes = 10) {{ flatten -> dense(classes) }}\n"
BAD_SPEC = "network bad(x: [8, 8, 3]) {\n    c = conv(4, 3)\n    add(c, nope)\n}\n"


def _files(tmp_path) -> dict:
    paths = {}
    for name, text in [("a", GOOD.format(name="a")), ("b", BAD_SPEC), ("d", GOOD.format(name="d")),
                       ("lib", "block unit(c) { conv(c, 3) }\n")]:
        paths[name] = tmp_path / f"{name}.cnn"
        paths[name].write_text(text)
    paths["missing"] = tmp_path / "missing.cnn"
    return paths


def test_each_file_is_reported_and_the_exit_code_is_the_worst(tmp_path):
    f = _files(tmp_path)
    r = run_cli("check", "a.cnn", "b.cnn", "missing.cnn", "lib.cnn", "d.cnn", cwd=tmp_path)
    assert r.returncode == 2          # a missing file (usage) is worse than a spec error
    assert r.stdout.splitlines() == [
        "a: x (None, 8, 8, 3) -> dense_1 (None, 10)",
        "  params 1,930 (trainable 1,930, non-trainable 0) · MACs 1.92K · 2 layers",
        "lib.cnn: no networks; 1 block(s) parsed",
        "d: x (None, 8, 8, 3) -> dense_1 (None, 10)",
        "  params 1,930 (trainable 1,930, non-trainable 0) · MACs 1.92K · 2 layers",
    ]
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert errors[0] == "b.cnn:3:12: error: unknown tensor `nope`"
    assert errors[1].startswith("error: can't read missing.cnn")
    assert len(errors) == 2
    r = run_cli("check", "a.cnn", "b.cnn", "d.cnn", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout.count("params 1,930") == 2
    r = run_cli("check", "a.cnn", "d.cnn", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""


def test_each_network_of_several_files_gets_its_own_set_error(tmp_path):
    _files(tmp_path)
    r = run_cli("check", "a.cnn", "b.cnn", "d.cnn", "--set", "classes=abc", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("error: --set classes=abc: dense:") == 2 and r.stderr.count("b.cnn:3:12: error:") == 1
    assert r.stdout == ""


def test_a_set_for_a_file_that_did_not_load_is_not_called_unknown(tmp_path):
    _files(tmp_path)
    (tmp_path / "c.cnn").write_text("network c(x: [8, 8, 3], width = 4) { conv(width, 3) \n")
    r = run_cli("check", "a.cnn", "c.cnn", "--set", "width=8", cwd=tmp_path)
    assert r.returncode == 1 and "no network checked has a parameter" not in r.stderr
    assert "a: x (None, 8, 8, 3)" in r.stdout
    r = run_cli("check", "a.cnn", "d.cnn", "--set", "width=8", cwd=tmp_path)
    assert r.returncode == 2 and "no network checked has a parameter `width`" in r.stderr and r.stdout == ""


def test_n_picks_per_file(tmp_path):
    _files(tmp_path)
    r = run_cli("check", "a.cnn", "d.cnn", "-n", "d", cwd=tmp_path)
    assert r.returncode == 2 and "a.cnn has no network `d`" in r.stderr and r.stderr.count("error:") == 1
    assert r.stdout.startswith("d: x (None, 8, 8, 3)")


# --- the command line: contracts ------------------------------------------------------------------------

BROKEN_CONTRACT = """\
network n(x: [8, 8, 3]) {
    conv(4, 3) -> relu
    expect params = 5
}
"""


@pytest.mark.parametrize("command, output", [
    (["check"], None), (["summary"], None), (["draw", "-o", "n.svg"], "n.svg"),
    (["compile", "--emit", "python", "-o", "n.py"], "n.py"), (["compile", "-o", "n.keras"], None),
])
def test_every_command_verifies_contracts_unless_told_not_to(command, output, tmp_path):
    (tmp_path / "n.cnn").write_text(BROKEN_CONTRACT)
    r = run_cli(command[0], "n.cnn", *command[1:], cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("n.cnn:3:5: error: contract failed: params is 112, the spec expects 5")
    assert [p.name for p in tmp_path.iterdir()] == ["n.cnn"]
    if command[-1].endswith(".keras"):
        return          # building a Keras model for it is the same path as any compile
    r = run_cli(command[0], "n.cnn", *command[1:], "--no-contracts", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    if output:
        assert (tmp_path / output).stat().st_size > 0 and r.stdout == f"wrote {output}\n"
    else:
        assert "112" in r.stdout


def test_no_contracts_skips_the_expected_values_too():
    src = "network n(x: [8, 8, 3]) {\n    conv(4, 3)\n    expect params = 1 / 0\n}\n"
    with pytest.raises(cnndsl.CnnError):
        cnndsl.check(src)
    assert cnndsl.check(src, limits=cnndsl.Limits(contracts=False)).total_params == 112


def test_no_contracts_still_rejects_an_expect_in_a_block(capsys, tmp_path):
    (tmp_path / "n.cnn").write_text("block b() { conv(4, 3)\n expect params = 1 }\nnetwork n(x: [8, 8, 3]) { b() }\n")
    assert main(["check", str(tmp_path / "n.cnn"), "--no-contracts"]) == 1
    assert "`expect` belongs in a network body" in capsys.readouterr().err


# --- the command line: TensorFlow's start-up noise ------------------------------------------------------

@pytest.mark.slow                       # Keras builds a model
def test_compile_prints_only_its_wrote_line(tmp_path):
    out = tmp_path / "x.keras"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    r = subprocess.run([str(SCRIPT), "compile", str(LENET), "-o", str(out)], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0
    assert r.stderr == ""
    assert r.stdout == f"wrote {out} ({cnndsl.check(LENET).total_params:,} params)\n"
    assert zipfile.is_zipfile(out)


NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795466189.630063   18269 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1795466194.778541   18417 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
    "E0000 00:00:1712345678.123456   12345 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to "
    "register factory for plugin cuDNN when one has already been registered",
    "W0000 00:00:1712345678.223456   12345 computation_placer.cc:177] computation placer already registered.",
    "2024-03-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on.",
    "2024-03-01 10:00:00.123456: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: "
    "Could not find TensorRT",
]


def test_startup_noise_is_dropped_and_other_lines_are_passed_on(monkeypatch, capfd):
    """The runtime's lines go; a line that isn't start-up chatter (a Python warning) still reaches stderr."""
    from cnndsl.backends import keras as backend

    def fake_import():
        os.write(2, ("\n".join(NOISE) + "\n/x.py:1: UserWarning: something real\n").encode())
        return "keras"
    monkeypatch.setattr(backend, "import_keras", fake_import)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "")      # recorded, so the test's setting is undone after it
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert cli._import_keras_quietly() == "keras"
    assert capfd.readouterr().err == "/x.py:1: UserWarning: something real\n"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2" and "TF_ENABLE_ONEDNN_OPTS" not in os.environ


def test_a_missing_keras_is_still_reported_after_the_quiet_import(monkeypatch, capfd):
    from cnndsl.backends import keras as backend

    def missing():
        os.write(2, (NOISE[0] + "\n").encode())
        raise cnndsl.CnnError("backend", "compiling needs Keras 3", hint="pip install 'cnndsl[tensorflow]'")
    monkeypatch.setattr(backend, "import_keras", missing)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    with pytest.raises(cnndsl.CnnError):
        cli._import_keras_quietly()
    assert capfd.readouterr().err == ""
