"""levels.csv: how often each output value z was sent, per layer (the spike-level distribution).

Counters keep events and Σz, not the distribution of z; the distribution needs the recorded output
levels of a run (``simulate(..., record=True)``). Values are counted as sent, after pooling, over
every neuron, timestep and input (z = 0 included, so counts add up to out_neurons × T × samples).
For forward-mode residual sums the value is the sum of the member levels at each position, which
is where SEW-ResNet's values exceed N (the spike avalanche).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..compiler import CompiledNetwork


def histogram(values: np.ndarray) -> np.ndarray:
    """Counts of each non-negative integer value: index z holds how many entries equal z."""
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        return np.zeros(1, np.int64)
    if flat.min() < 0:
        raise ValueError("output levels must be >= 0")
    return np.bincount(flat.astype(np.int64))


def level_counts(net: CompiledNetwork, levels: dict[str, np.ndarray]) -> pd.DataFrame:
    """levels.csv rows (layer, kind, level, count) from recorded levels {layer: (T, B, ...)}."""
    rows = []
    for layer in net.layers:
        if layer.name not in levels:
            continue
        for z, n in enumerate(histogram(levels[layer.name])):
            rows.append({"layer": layer.name, "kind": "layer", "level": z, "count": int(n)})
    if net.add_mode == "forward":
        for add in net.adds:
            if not all(m in levels for m in add.members):
                continue  # a member is the raw input: no levels to add up
            arrays = [levels[m] for m in add.members]
            if len({a.shape for a in arrays}) != 1:
                continue
            total = np.sum(np.stack(arrays), axis=0)
            for z, n in enumerate(histogram(total)):
                rows.append({"layer": add.name, "kind": "add", "level": z, "count": int(n)})
    return pd.DataFrame(rows, columns=["layer", "kind", "level", "count"])
