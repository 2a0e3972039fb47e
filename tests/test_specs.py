"""The spec library (issue 5): every spec checks to its seed's figures and compiles to its reference.

Two halves, both parametrized over ``spec_table.CASES`` (every spec and listed setting):

1. ``cnndsl.check`` (no Keras): the figures equal the table; lowering also runs the spec's own
   ``expect`` contracts, which must state at least the parameter count and the output shape(s).
2. Keras: ``cnndsl.compile`` against the reference model (tests/reference, a transcription of the
   seed's code; keras.applications itself for resnet50, resnet152 and applications/xception):
   total, trainable and non-trainable parameters, output shapes, layer-by-layer kinds, output
   shapes and weight shapes, the seed's layer names where it gives them, and, after copying the
   reference's weights across, every layer's output in inference mode on a fixed random input (max
   abs diff <= 1e-5 on the model's outputs, <= 1e-5 * max(1, |reference|) inside).

Layer correspondence and the comparisons are those of tests/keras_compare.py.
The lists must then agree position by position: same kind of layer (ReLU and Activation('relu')
count as one kind, as do the two LRN layers), same output shape and same weight shapes. Where the
reference's name is not one Keras made up (``conv2d_3``), the spec's layer at that position must
have that name.

Each network pair is built once per module (a module-scoped fixture; pytest groups the Keras tests
by it). Networks of over 60M parameters are marked ``slow`` and run too; ``-m "not slow"`` skips
them when time is short.
"""
from __future__ import annotations

import gc
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import cnndsl
from conftest import seed_library
from cnndsl import syntax as S
from keras_compare import TOLERANCE, auto_named, count, kind, randomize, walk
from spec_table import CASES

SPECS = Path(__file__).resolve().parent.parent / "specs"
SPEC_FILES = [str(p.relative_to(SPECS)) for p in seed_library()]
IDS = [c.id for c in CASES]


# --- 1. cnndsl check ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check_figures_equal_the_table(case):
    graph = cnndsl.check(SPECS / case.spec, **case.params)   # raises if an `expect` fails
    assert graph.total_params == case.total
    assert graph.trainable == case.trainable
    assert graph.non_trainable == case.non_trainable
    assert [tuple(n.shape) for n in graph.outputs.values()] == list(case.outputs)


def test_the_table_covers_every_spec_and_reference():
    from reference import REFERENCES
    tabled = {c.spec for c in CASES}
    assert tabled == set(SPEC_FILES), "specs/ and spec_table.CASES differ"
    assert tabled == set(REFERENCES), "spec_table.CASES and tests/reference differ"


@pytest.mark.parametrize("spec", SPEC_FILES)
def test_spec_cites_its_seed_and_states_its_figures(spec):
    path = SPECS / spec
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert len(header) >= 3, f"{spec}: no header comment"
    assert re.search(r"[Ss]eed 00\d", " ".join(header)), f"{spec}: the header cites no seed"
    program = cnndsl.load(path)
    (network,) = program.networks.values()
    expects = {(s.target, s.attr) for s in _expects(network.body)}
    assert ("params", None) in expects, f"{spec}: no `expect params`"
    shapes = {t for t, a in expects if a == "shape"} | {"shape" for t, a in expects if t == "shape"}
    assert shapes, f"{spec}: no `expect shape`"
    graph = cnndsl.check(path)
    if graph.non_trainable:
        assert ("trainable", None) in expects or ("non_trainable", None) in expects, \
            f"{spec}: has non-trainable params but no `expect trainable`"
    if len(graph.outputs) > 1:
        assert shapes >= set(graph.outputs), f"{spec}: `expect NAME.shape` for every output"


def _expects(body):
    """The `expect` statements of a network body, those in its `if` arms included."""
    for stmt in body:
        if isinstance(stmt, S.Expect):
            yield stmt
        elif isinstance(stmt, S.ChainStmt):
            for elem in stmt.chain.elems:
                if isinstance(elem, S.If):
                    for arm in [b for _, b in elem.arms] + [elem.orelse or ()]:
                        yield from _expects(arm)


# --- 2. Keras ---------------------------------------------------------------------------------------------

@dataclass
class Pair:
    case: object
    spec: object          # the keras.Model cnndsl compiled
    ref: object           # the reference keras.Model
    spec_nodes: list
    ref_nodes: list


KERAS_CASES = [pytest.param(c, id=c.id, marks=[pytest.mark.slow]) for c in CASES]    # Keras models: all slow


@pytest.fixture(scope="module", params=KERAS_CASES)
def pair(request):
    import keras
    from reference import build
    case = request.param
    spec_params, ref_params = case.keras_params
    keras.utils.set_random_seed(0)
    model = cnndsl.compile(SPECS / case.spec, **spec_params)
    ref = build(case.spec, **ref_params)
    randomize(ref)
    yield Pair(case, model, ref, walk(model), walk(ref))
    del model, ref
    keras.backend.clear_session()
    gc.collect()


def test_keras_params_equal_the_reference(pair):
    spec, ref, case = pair.spec, pair.ref, pair.case
    assert spec.count_params() == ref.count_params() == case.total
    assert count(spec.trainable_weights) == count(ref.trainable_weights) == case.trainable
    assert count(spec.non_trainable_weights) == count(ref.non_trainable_weights) == case.non_trainable


def test_keras_output_shapes_equal_the_reference(pair):
    got = [tuple(t.shape) for t in pair.spec.outputs]
    assert got == [tuple(t.shape) for t in pair.ref.outputs]
    assert [s[1:] for s in got] == [s[1:] for s in pair.case.outputs]


def test_keras_layers_correspond_one_to_one(pair):
    spec, ref = pair.spec_nodes, pair.ref_nodes
    assert len(spec) == len(ref), f"{len(spec)} layers, the reference has {len(ref)}"
    for k, (s, r) in enumerate(zip(spec, ref)):
        where = f"layer {k}: {s.operation.name} vs the reference's {r.operation.name}"
        assert kind(s.operation) == kind(r.operation), where
        assert [tuple(t.shape) for t in s.output_tensors] == [tuple(t.shape) for t in r.output_tensors], where
        assert [tuple(w.shape) for w in s.operation.weights] == [tuple(w.shape) for w in r.operation.weights], where
    assert len(pair.spec.layers) - len(pair.spec.inputs) == len(spec), "the spec model has layers no output uses"


def test_keras_layers_keep_the_seeds_names(pair):
    named = [(s.operation.name, r.operation.name) for s, r in zip(pair.spec_nodes, pair.ref_nodes)
             if not auto_named(r.operation)]
    wrong = [(s, r) for s, r in named if s != r]
    assert not wrong, f"{len(wrong)} of {len(named)} named layers differ, e.g. spec {wrong[0][0]!r} vs seed {wrong[0][1]!r}"


def test_keras_outputs_agree_with_copied_weights(pair):
    """Every corresponding layer's output agrees, not just the model's: a wrong activation or
    epsilon deep inside can hide behind a 1000-way softmax whose outputs are all near 0.001."""
    import keras
    assert len(pair.spec_nodes) == len(pair.ref_nodes)
    for s, r in zip(pair.spec_nodes, pair.ref_nodes):
        s.operation.set_weights(r.operation.get_weights())
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(t.shape[0] or 1, *t.shape[1:])).astype("float32") for t in pair.ref.inputs]
    outs = []
    for model, nodes in ((pair.spec, pair.spec_nodes), (pair.ref, pair.ref_nodes)):
        probe = keras.Model(model.inputs, [n.output_tensors[0] for n in nodes])
        outs.append([np.asarray(v) for v in probe(xs if len(xs) > 1 else xs[0], training=False)])
    for k, (g, w) in enumerate(zip(*outs)):
        where = f"layer {k} ({pair.spec_nodes[k].operation.name})"
        assert np.all(np.isfinite(w)), where
        assert np.abs(g - w).max() <= TOLERANCE * max(1.0, np.abs(w).max()), where
    finals = [k for k, n in enumerate(pair.ref_nodes) if any(t is n.output_tensors[0] for t in pair.ref.outputs)]
    assert len(finals) == len(pair.ref.outputs)
    for k in finals:
        assert np.abs(outs[1][k]).max() > 0, "the reference output says nothing"
        assert np.abs(outs[0][k] - outs[1][k]).max() <= TOLERANCE


# --- core bugs found while writing the library ------------------------------------------------------
def test_repeat_variable_does_not_overwrite_a_parameter():
    source = """
    network t(x: [8, 8, 4], classes=3) {
        repeat 2 as classes { conv(4, 1) }
        flatten -> dense(classes)
    }
    """
    with pytest.raises(cnndsl.CnnError) as e:   # the fix: a repeat index may not hide a name
        cnndsl.check(source)
    assert "repeat index `classes` would hide the value `classes`" in e.value.message
