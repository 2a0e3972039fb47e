"""Hostile and broken .keras files: each ends in one located error (the file, and the config path
where the config is at fault), exit 1, within 5 s of CPU time and 1 GiB of memory (measured with
the child's own ``resource.getrusage`` and VmHWM; CPU time, not wall-clock, so a loaded machine doesn't fail it).

The family covers the zip layer (a size over the limit, a header that understates its stream, corrupt
deflate data, an encryption flag, an unknown compression method, a short file), the JSON layer (too
deep, too many values, not JSON, not UTF-8) and the config (a cycle, an inbound layer that doesn't
exist, an argument no op accepts, limits), and a legacy HDF5 model; a generated family (hypothesis)
damages configs and archives at random. No framework is imported."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keras_configs import chain, functional, input_layer, keras_file, layer, relu, tensor  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Peak memory is the child's own VmHWM: ``ru_maxrss`` would not do, as Linux carries the parent's high-water
# mark across fork and exec, so a child of a pytest worker holding 8 GiB of built models reports 8 GiB.
PROBE = ("import json, resource, sys; from cnndsl.cli import main; rc = main(sys.argv[1:]); "
         "u = resource.getrusage(resource.RUSAGE_SELF); "
         "hwm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')]; "
         "print('PROBE ' + json.dumps([rc, u.ru_utime + u.ru_stime, (hwm or [u.ru_maxrss])[0] * 1024]))")
MAX_CPU_S = 5.0
MAX_RSS = 1 << 30


def _zip_patch(path: Path, **fields) -> None:
    """Rewrite fields of the (one) config.json entry's local and central headers in place."""
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    offsets = {"flags": (6, 8, "<H"), "method": (8, 10, "<H"), "size": (22, 24, "<I")}   # local, central
    for name, value in fields.items():
        lo, ce, fmt = offsets[name]
        struct.pack_into(fmt, data, local + lo, value)
        struct.pack_into(fmt, data, central + ce, value)
    path.write_bytes(bytes(data))


def _big_config(path: Path, size: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("config.json", "w", force_zip64=True) as f:
            f.write(b"[")
            piece = b"{}," * 100_000
            for _ in range(size // len(piece) + 1):
                f.write(piece)
            f.write(b"{}]")


def _small(tmp: Path) -> Path:
    path = tmp / "small.keras"
    keras_file(path, chain(3))
    return path


def _case_over_limit(tmp):
    path = tmp / "huge.keras"
    _big_config(path, 70 << 20)
    return path, [], "over the limit"


def _case_understated(tmp):
    path = tmp / "lying.keras"
    _big_config(path, 70 << 20)
    _zip_patch(path, size=1000)
    return path, [], "config.json"


def _case_corrupt_deflate(tmp):
    path = tmp / "corrupt.keras"
    keras_file(path, chain(400))
    data = bytearray(path.read_bytes())
    start = data.find(b"config.json") + len("config.json")
    for k in range(start + 40, start + 400, 7):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))
    return path, [], "config.json"


def _case_encrypted(tmp):
    path = _small(tmp)
    _zip_patch(path, flags=1)
    return path, [], "encrypted"


def _case_unknown_method(tmp):
    path = _small(tmp)
    _zip_patch(path, method=99)
    return path, [], "config.json"


def _case_short(tmp):
    path = tmp / "short.keras"
    keras_file(path, chain(400))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, [], "short.keras"


def _case_not_zip(tmp):
    path = tmp / "text.keras"
    path.write_text("hello\n")
    return path, [], "zip"


def _raw(tmp, name, data: bytes):
    path = tmp / name
    keras_file(path, data)
    return path


def _case_deep(tmp):
    return _raw(tmp, "deep.keras", b"[" * 100_000 + b"]" * 100_000), [], "levels deep"


def _case_many_values(tmp):
    return _raw(tmp, "many.keras", b"[" + b"{}," * 5_000_000 + b"{}]"), [], "JSON values"


def _case_not_json(tmp):
    return _raw(tmp, "notjson.keras", b'{"class_name": '), [], "not valid JSON"


def _case_not_utf8(tmp):
    return _raw(tmp, "latin.keras", b'{"class_name": "\xff"}'), [], "UTF-8"


def _case_no_model(tmp):
    return _raw(tmp, "list.keras", b"[1, 2]"), [], "no Keras model"


def _case_cycle(tmp):
    config = chain(4)
    config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "r2"
    path = tmp / "cycle.keras"
    keras_file(path, config)
    return path, [], "cycle.keras: layers[1]: error: the layers form a cycle: `r0` -> `r1` -> `r2` -> `r0`"


def _case_missing_inbound(tmp):
    config = chain(4)
    config["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "nope"
    path = tmp / "missing.keras"
    keras_file(path, config)
    return path, [], "layers[2].inbound_nodes[0]: error: layer `r1` reads `nope`, which is no layer"


def _case_bad_units(tmp):
    layers = [input_layer("x", (8,)),
              layer("Dense", "d", ["x"], (None, 8), units=1e30, activation="linear", use_bias=True,
                    kernel_initializer={"module": "keras.initializers", "class_name": "GlorotUniform",
                                        "config": {"seed": None}, "registered_name": None},
                    bias_initializer={"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                      "registered_name": None},
                    kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None)]
    path = tmp / "units.keras"
    keras_file(path, functional("m", layers, ["x"], ["d"]))
    return path, [], "layers[1] `d` (Dense): units=1e+30"


def _case_bad_initializer(tmp):
    """An initializer's argument Keras's own constructor would refuse (a negative stddev): an error at its
    config path, as the same value in a spec is, never a model that checks and then fails to import."""
    layers = [input_layer("x", (8,)),
              layer("Dense", "d", ["x"], (None, 4), units=4, activation="linear", use_bias=True,
                    kernel_initializer={"module": "keras.initializers", "class_name": "RandomNormal",
                                        "config": {"mean": 0.0, "stddev": -1.0, "seed": None}, "registered_name": None},
                    bias_initializer={"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                      "registered_name": None},
                    kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None)]
    path = tmp / "init.keras"
    keras_file(path, functional("m", layers, ["x"], ["d"]))
    return path, [], ("init.keras: layers[1].config.kernel_initializer: error: `d` (Dense): random_normal: "
                      "`stddev` must be at least 0, got -1.0")


def _case_bad_shape(tmp):
    layers = [input_layer("x", (8,)), relu("r", "x", (None, 8)),
              layer("MaxPooling2D", "p", ["r"], (None, 8), pool_size=[2, 2], strides=[2, 2], padding="valid",
                    data_format="channels_last")]
    path = tmp / "shape.keras"
    keras_file(path, functional("m", layers, ["x"], ["p"]))
    return path, [], "shape.keras: layers[2]: error: `p` (MaxPooling2D): maxpool: takes a 1-D [T, C], 2-D [H, W, C] or 3-D [D, H, W, C] input (batch first), got (None, 8)"


def _case_layers_not_list(tmp):
    config = chain(2)
    config["config"]["layers"] = {"a": 1}
    path = tmp / "nolist.keras"
    keras_file(path, config)
    return path, [], "config.layers"


def _case_h5_named_keras(tmp):
    path = tmp / "legacy.keras"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 512)
    return path, [], "legacy HDF5"


def _case_h5(tmp):
    path = tmp / "legacy.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 512)
    return path, [], "legacy HDF5"


def _case_max_nodes(tmp):
    path = tmp / "long.keras"
    keras_file(path, chain(3000))
    return path, ["--max-nodes", "1000"], "--max-nodes"


def _case_max_steps(tmp):
    path = tmp / "long.keras"
    keras_file(path, chain(3000))
    return path, ["--max-steps", "1000"], "--max-steps"


CASES = {name[len("_case_"):]: fn for name, fn in globals().items() if name.startswith("_case_")}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["check", "draw"])
def test_a_hostile_keras_file_is_one_located_error_in_bounded_time_and_memory(case, command, tmp_path):
    path, flags, expected = CASES[case](tmp_path)
    args = [command, str(path), *flags] + (["-o", str(tmp_path / "x.dot")] if command == "draw" else [])
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT)
    probe = [line for line in r.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, r.stderr
    rc, cpu, rss = json.loads(probe[-1][len("PROBE "):])
    print(f"{case} ({command}): exit {rc}, {cpu:.2f} s CPU, {rss / 2 ** 20:.0f} MiB")
    assert rc == 1, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"{path}") and "error:" in first, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert expected in r.stderr, r.stderr
    assert cpu < MAX_CPU_S and rss < MAX_RSS, (cpu, rss)
    assert not (tmp_path / "x.dot").exists()


def test_the_hand_written_chain_reads():
    """The configs the cases damage are good ones to start with."""
    import cnndsl
    from cnndsl.api import graph_of_config
    graph = graph_of_config(chain(4), "chain.keras")
    assert [n.name for n in graph.nodes] == ["x", "r0", "r1", "r2", "r3"]
    assert graph.nodes[1].meta == {"layer": "r0", "class": "ReLU", "config": "layers[1]", "explicit": True}
    assert cnndsl.check(cnndsl.api.spec_of_config(chain(4), "chain.keras")).layers == 4


# --- a generated family: configs and archives damaged at random -------------------------------------------

def _paths(value, path=()):
    """Every place in a JSON value: (path, value) for each dict entry and list item, depth first."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from _paths(v, path + (k,))


_WORDS = st.sampled_from(["x", "r0", "r1", "ReLU", "Dense", "same", "__keras_tensor__"])
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False)
                     | st.text(max_size=8) | _WORDS,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=3),
                     max_leaves=8)


def _small_model():
    """A model with a conv, a split and a shared layer, so the damage reaches most of the reader."""
    shape = (None, 8, 8, 4)
    conv = layer("Conv2D", "c", ["x"], shape, filters=4, kernel_size=[3, 3], strides=[1, 1], padding="same",
                 data_format="channels_last", dilation_rate=[1, 1], groups=1, activation="relu", use_bias=True,
                 kernel_initializer=None, bias_initializer=None, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None)
    shared = relu("r", "c", shape)
    shared["inbound_nodes"].append({"args": [tensor("r", shape)], "kwargs": {}})     # r applied to its own output
    config = functional("m", [input_layer("x", (8, 8, 4)), conv, shared], ["x"], ["r"])
    config["config"]["output_layers"] = [["r", 1, 0]]
    return config


def test_the_generated_family_starts_from_models_that_read():
    from cnndsl.api import graph_of_config
    graph = graph_of_config(_small_model(), "gen.keras")
    assert [(n.name, n.shares.name if n.shares else None) for n in graph.nodes] == \
        [("x", None), ("c", None), ("r", None), ("r@2", "r")]
    assert list(graph.outputs) == ["r@2"]
    assert len(graph_of_config(chain(5), "gen.keras").nodes) == 6


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_generated_damaged_config_reads_or_is_one_located_error(data):
    """Any value of the config replaced by any JSON value: the reader gives a graph, or one CnnError
    that names the file (never another exception, never an internal error)."""
    from cnndsl.api import graph_of_config
    from cnndsl.errors import CnnError
    config = data.draw(st.sampled_from([chain(5), _small_model()]))
    config = json.loads(json.dumps(config))
    places = [p for p, _ in _paths(config) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(places))
        target = config
        try:
            for k in path[:-1]:
                target = target[k]
            target[path[-1]] = data.draw(_JSON)
        except (KeyError, IndexError, TypeError):
            continue          # an earlier change removed this place
    try:
        graph_of_config(config, "gen.keras")
    except CnnError as e:
        assert e.kind != "internal", str(e)
        assert "gen.keras" in str(e), str(e)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), min_size=1, max_size=4),
       truncate=st.one_of(st.none(), st.integers(0, 10 ** 6)))
def test_a_generated_damaged_archive_is_one_located_error(tmp_path_factory, cuts, truncate):
    """A .keras archive with bytes changed or cut short: its config, or one CnnError naming the file."""
    from cnndsl.api import KerasProgram
    from cnndsl.errors import CnnError
    path = tmp_path_factory.mktemp("gen") / "gen.keras"
    keras_file(path, chain(20))
    data = bytearray(path.read_bytes())
    for at, byte in cuts:
        data[at % len(data)] = byte
    if truncate is not None:
        data = data[: truncate % (len(data) + 1)]
    path.write_bytes(bytes(data))
    try:
        KerasProgram(str(path))
    except CnnError as e:
        assert e.kind != "internal", str(e)
        assert str(path) in str(e), str(e)
