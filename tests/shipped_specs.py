"""Every shipped spec, found on disk, and a small valid input for each network (no framework imported).

The cross-framework tests (tests/test_torch_specs.py) take their cases from here, so a spec file added
under specs/ is covered without editing a test:

- ``spec_files()``: every ``.cnn`` file under specs/ outside the block libraries (``lib/`` folders),
  seeds, beyond and reach specs, the keras.applications and torchvision zoos alike.
- ``small(path, name)``: the ``--set`` values that give the network its smallest valid input: each
  input's spatial sizes made as small as ``check`` accepts (the same size on every spatial axis, no
  larger than the declared one), the channels as declared, and a fixed ``batch`` parameter set to 2.
  Contracts (``expect``) are off: their figures hold at the declared size. A file in ``CHEAPER`` also
  gets those width or depth parameters, where its network has them (a 3-D U-Net's smallest valid
  input is 92^3 at its full width and depth).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cnndsl

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
NO_CONTRACTS = cnndsl.Limits(contracts=False)
# Spatial sizes tried, smallest first, from a floor per spatial rank: 32 along a sequence or an image (a
# stride-32 network still sees padding and strides at work before its last 1x1 map), 8 in a 3-D volume.
FLOOR = {1: 32, 2: 32, 3: 8}
CHEAPER = {"unet3d.cnn": {"base": 4, "depth": 2}}
SIZES = (8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 24, 28, 29, 32, 33, 36, 40, 44, 48, 56,
         57, 60, 64, 67, 72, 75, 76, 80, 88, 92, 96, 108, 112, 124, 128, 140, 156, 160, 172, 188, 192, 224, 256, 299,
         320, 512, 1024, 2048, 4096, 8192, 16000)


def spec_files() -> list:
    return sorted(p for p in SPECS.rglob("*.cnn") if "lib" not in p.relative_to(SPECS).parts)


def spec_id(path) -> str:
    return str(Path(path).relative_to(SPECS))


def networks(path) -> list:
    return cnndsl.load(path).network_names()


def _check(path, name, values):
    try:
        return cnndsl.check(path, name, NO_CONTRACTS, **values)
    except cnndsl.CnnError:
        return None


@lru_cache(maxsize=None)
def _small(path, name) -> tuple:
    graph = cnndsl.check(path, name, NO_CONTRACTS)
    params = {p.name for p in cnndsl.load(path).pick(name).params}
    values = {"batch": 2} if "batch" in params and graph.params.get("batch") not in (None, 1, 2) else {}
    values.update({k: v for k, v in CHEAPER.get(spec_id(path), {}).items() if k in params})
    if values:
        graph = cnndsl.check(path, name, NO_CONTRACTS, **values)
    shaped = {k: n.shape[1:] for k, n in graph.inputs.items() if k in params and len(n.shape) >= 3}
    if not shaped:
        return tuple(sorted(values.items()))
    rank = max(len(dims) - 1 for dims in shaped.values())
    for size in (s for s in SIZES if s >= FLOOR[rank]):
        if all(d is not None and size >= d for dims in shaped.values() for d in dims[:-1]):
            return tuple(sorted(values.items()))         # the declared size is the smallest
        trial = {**values, **{k: [d if d is not None and d <= size else size for d in dims[:-1]] + [dims[-1]]
                              for k, dims in shaped.items()}}
        if _check(path, name, trial) is not None:
            return tuple(sorted(trial.items()))
    return tuple(sorted(values.items()))


def small(path, name) -> dict:
    """The ``--set`` values of the network's smallest valid input (see the module's docstring)."""
    return {k: v for k, v in _small(Path(path), name)}


def small_graph(path, name):
    return cnndsl.check(path, name, NO_CONTRACTS, **small(path, name))
