"""What the NIR importer's node families share: the value on an edge, in IR terms, and two
small helpers (neurosim.importers.nir_import, nir_synapses, nir_neurons)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConversionError

EPS = 1e-30  # BatchNorm ε for an exact per-channel affine (see nir_import's docstring)


@dataclass(frozen=True)
class Value:
    """What flows along a NIR edge, in IR terms.

    kind: "stream" (events: the input, neuron levels, pools, flatten), "current" (conv, linear,
    BatchNorm, adds of currents) or "voltage" (an integrator's output: only the readout).
    shape: the NIR shape; ir_shape: the IR node's ((C, L) maps are (C, 1, L) in the IR).
    scale: the NIR value is scale ⊙ the IR value; per channel (C,) for maps, per feature for
    vectors; None when 1.
    """

    source: str
    kind: str
    shape: tuple[int, ...]
    ir_shape: tuple[int, ...]
    scale: np.ndarray | None = None


def pair(value, n: int, what: str, where: str, node: str) -> tuple[int, ...]:
    arr = np.asarray(value).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, n)
    if arr.size != n or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ConversionError(f"expected {n} integer {what}, got {np.asarray(value).tolist()}",
                              where, f"{node}.{what}")
    return tuple(int(v) for v in arr)


def same_scales(values) -> bool:
    first = values[0].scale
    for v in values[1:]:
        if (first is None) != (v.scale is None):
            a = first if first is not None else v.scale
            if not np.all(a == 1):
                return False
        elif first is not None and not np.array_equal(first, v.scale):
            return False
    return True
