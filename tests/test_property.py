"""Property: any generated spec either checks or raises CnnError, nothing else."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cnndsl import CnnError, Graph, check

SEED_SPEC = """block unit(f, stride=1) {
    add { conv(f, 3, stride=stride, padding=same) -> bn -> relu; if stride > 1 { conv(f, 1, stride=stride) } }
}
network n(x: [16, 16, 8], k=3) {
    repeat 2 as i { unit(8) }
    concat { maxpool(k, stride=2, padding=same); conv(8, k, stride=2, padding=same) }
    global_avgpool -> dense(10, activation=softmax)
}"""

small = st.integers(min_value=-1, max_value=9)
value = st.one_of(small, st.sampled_from(["same", "valid", "relu", "none", "true", "[1, 3]", "[2]", "0.5", "x"]))
op_name = st.sampled_from(["conv", "sepconv", "dwconv", "dense", "bn", "lrn", "relu", "maxpool", "avgpool",
                           "global_avgpool", "flatten", "reshape", "dropout", "zeropad", "crop", "upsample",
                           "rescaling", "identity", "softmax", "nosuchop", "unit"])
kw = st.sampled_from(["stride", "padding", "activation", "bias", "keepdims", "rate", "pool", "groups", "shape"])


typed = st.one_of(
    st.builds("conv({}, {}, padding=same)".format, st.integers(1, 8), st.sampled_from([1, 3, "[1, 3]"])),
    st.builds("conv({}, 1, stride=2)".format, st.integers(1, 8)),
    st.builds("maxpool({}, padding=same)".format, st.integers(1, 3)),
    st.sampled_from(["bn", "relu", "identity", "dropout(0.5)", "unit", "sepconv(4, 3, padding=same)",
                     "dwconv(3, padding=same)", "upsample", "lrn(2)", "zeropad(1)"]),
)


@st.composite
def call(draw):
    if draw(st.integers(0, 9)) < 7:
        return draw(typed)
    name = draw(op_name)
    args = [str(draw(value)) for _ in range(draw(st.integers(0, 3)))]
    args += [f"{draw(kw)}={draw(value)}" for _ in range(draw(st.integers(0, 2)))]
    return f"{name}({', '.join(args)})" if args or draw(st.booleans()) else name


@st.composite
def statement(draw):
    kind = draw(st.integers(0, 4))
    chain = " -> ".join(draw(st.lists(call(), min_size=1, max_size=3)))
    if kind == 0:
        return f"{draw(st.sampled_from(['concat', 'add', 'multiply']))} {{ {chain}; {draw(call())} }}"
    if kind == 1:
        return f"repeat {draw(small)} {{ {chain} }}"
    if kind == 2:
        return f"if {draw(value)} > 2 {{ {chain} }} else {{ {draw(call())} }}"
    return chain


@st.composite
def spec(draw):
    dims = "16, 16, 8" if draw(st.booleans()) else ", ".join(
        str(draw(st.sampled_from([1, 4, 9, 16, "none"]))) for _ in range(draw(st.integers(1, 4))))
    body = "\n".join(draw(st.lists(statement(), min_size=1, max_size=5)))
    block = "block unit(f=8) { conv(f, 1) }\n" if draw(st.integers(0, 3)) else ""
    return f"{block}network n(x: [{dims}]) {{\n{body}\n}}"


def _checks_or_cnn_error(src: str):
    """The spec checks to a consistent graph, or fails with a CnnError located inside the spec.
    (Shapes are compared with Keras's own in the compile test below, not with the checker itself.)"""
    try:
        g = check(src)
    except CnnError as e:
        assert e.message and str(e)
        if e.kind != "usage":
            assert e.span is not None, e.message
            assert 1 <= e.span.line <= src.count("\n") + 1 and e.span.col >= 1, (e.span, e.message)
        return
    assert isinstance(g, Graph)
    g.lint()
    assert all(isinstance(n.shape, tuple) and all(d is None or d > 0 for d in n.shape[1:]) for n in g.nodes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])   # no clock checks
@given(spec())
def test_generated_specs_check_or_raise_cnn_error(src):
    _checks_or_cnn_error(src)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])   # no clock checks
@given(st.integers(0, len(SEED_SPEC) - 1), st.integers(0, 6), st.text(alphabet="(){}[]->=,;.:#\"' a1_\n", max_size=3))
def test_mutated_specs_check_or_raise_cnn_error(pos, cut, insert):
    _checks_or_cnn_error(SEED_SPEC[:pos] + insert + SEED_SPEC[pos + cut:])


@pytest.mark.slow                       # Keras builds every generated spec
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec())
def test_generated_specs_that_check_compile_to_the_same_shapes_and_counts(src):
    """The checker and Keras agree on every generated spec the checker accepts."""
    try:
        g = check(src)
    except CnnError:
        return
    from cnndsl.backends.keras import build_model
    model = build_model(g)
    assert model.count_params() == g.total_params
    assert sum(int(w.numpy().size) for w in model.non_trainable_weights) == g.non_trainable
    for n in g.nodes:
        assert tuple(model.get_layer(n.name).output.shape) == n.shape, n.name
