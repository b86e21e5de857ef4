"""Calibration: how far the float network's potentials range, on the model's own samples.

The quantiser (neurosim.compiler.quantise) sizes the potential word of a readout, and of every
layer that carries state from one timestep to the next, by the largest potential the float
network reaches as it is read to fire. This module measures it with the reference's own step
(reference.step_layer), on the model's samples.npz or on a file the user names
(``--calibration FILE``), never on a run's inputs: the integer network of a run does not depend
on which inputs it is given or how they are split. A seeded, stratified subset of
CALIBRATION_SAMPLES inputs is enough for a range that the quantiser then doubles.

A calibration depends only on the network, the inputs and this code, so it is kept in
``cache_dir()/calibration/KEY.json`` (KEY: a sha256 of all three, ``cache_key``) and read back
by the next run of the same network: a run no longer pays for the float network on the
samples every time. A cache entry that is missing, unreadable or malformed is recomputed, and
one that cannot be written is skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from . import __version__
from .compiler import Calibration, check_inputs, compile_graph
from .data import Dataset, stratified_indices
from .errors import OutputError
from .outputs import atomic_file, cache_dir
from .reference import frame, step_layer

CALIBRATION_SAMPLES = 128
SEED = 0


def model_values(data: Dataset, unit: float) -> np.ndarray:
    """The inputs of ``data`` in units of ``unit`` (a model's Input.scale), as float64: integer
    inputs already are, unless the file held floats quantised with another unit."""
    if data.scale is None:
        return data.inputs.astype(np.float64)
    exact = data.exact if data.exact is not None else data.inputs
    return exact.astype(np.float64) * (data.scale / unit)


def calibrate(graph, data: Dataset, add_mode: str = "forward",
              samples: int = CALIBRATION_SAMPLES, batch_size: int = 64) -> Calibration:
    """The largest |v| and v of every layer of ``graph``'s float network over (a stratified
    subset of) ``data``, as they are read to fire."""
    net = compile_graph(graph, integer=False, add_mode=add_mode)
    if len(data) > samples:
        data = data.subset(stratified_indices(data.labels, samples, SEED))
    check_inputs(net, data.inputs, graph.timesteps, f"{data.source} (calibration)")
    values = model_values(data, graph.input.scale)
    peak = {layer.name: 0.0 for layer in net.layers}
    top = {layer.name: 0.0 for layer in net.layers}
    for start in range(0, len(values), batch_size):
        batch = values[start:start + batch_size]
        v = {layer.name: np.zeros((len(batch),) + layer.shape) for layer in net.layers}
        for t in range(graph.timesteps):
            streams = {net.input_name: frame(net, batch, t)}
            for layer in net.layers:
                def observe(x, name=layer.name):
                    peak[name] = max(peak[name], float(np.abs(x).max(initial=0.0)))
                    top[name] = max(top[name], float(x.max(initial=0.0)))
                v[layer.name], z, out, _ = step_layer(layer, v[layer.name], streams, False,
                                                      observe)
                if out is not None:
                    streams[layer.name] = out
    return Calibration(data.source, len(values), peak, top)


def run_calibration(graph, add_mode: str, samples_path, calibration) -> tuple[object, list[str]]:
    """(the Calibration of a run's ``graph``, notes): on ``calibration`` (a file or a Dataset),
    else on the model's ``samples_path`` (None: it ships none); None, with a note, when there
    are no inputs or ``calibration`` is False. Never the run's inputs."""
    from .data import load_inputs

    data = None
    if isinstance(calibration, Dataset):
        data = calibration
    elif calibration is not None and calibration is not False:
        data = load_inputs(calibration, graph.timesteps)
    elif calibration is None and samples_path is not None and Path(samples_path).is_file():
        data = load_inputs(samples_path, graph.timesteps)
    if data is None:
        return None, ["not calibrated (no samples.npz in the model and no --calibration FILE): "
                      "readouts are sized by their worst case and layers that carry state by "
                      "headroom·N·θ (docs/design.md §3.5)"]
    return cached_calibration(graph, data, add_mode), []


# the code a calibration's values come from: a change to any of them is a new cache key
CODE = ("calibration.py", "reference.py", "model/neurons.py", "compiler/lower.py")


def cache_key(graph, data: Dataset, add_mode: str, samples: int = CALIBRATION_SAMPLES) -> str:
    """sha256 of everything ``calibrate`` reads: every node's fields and arrays, T, the output,
    the inputs (values, labels, scale), the add mode, the subset's size and seed, and the code."""
    h = hashlib.sha256()

    def put(value):
        if isinstance(value, np.ndarray):
            h.update(f"{value.dtype.str}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(repr(value).encode())
        h.update(b"\0")

    package = Path(__file__).parent
    for name in CODE:
        put((package / name).read_bytes())
    for value in (__version__, graph.timesteps, graph.output, add_mode, samples, SEED,
                  data.scale, data.inputs, data.labels, data.exact):
        put(value)
    for node in graph.nodes:
        put(type(node).__name__)
        for f in dataclasses.fields(node):
            put(f.name)
            put(getattr(node, f.name))
    return h.hexdigest()


def cached_calibration(graph, data: Dataset, add_mode: str) -> Calibration:
    """calibrate(), read from the cache when this network was calibrated on these inputs."""
    path = cache_dir() / "calibration" / f"{cache_key(graph, data, add_mode)}.json"
    found = _read_cached(path, graph, data.source)
    if found is not None:
        return found
    cal = calibrate(graph, data, add_mode)
    values = list(cal.peak.values()) + list(cal.top.values())
    if all(math.isfinite(v) for v in values):
        try:
            with atomic_file(path) as tmp:
                tmp.write_text(json.dumps({"source": cal.source, "samples": cal.samples,
                                           "peak": cal.peak, "top": cal.top}))
        except (OSError, OutputError):
            pass  # a read-only or full cache: the run goes on without it
    return cal


def _read_cached(path: Path, graph, source: str) -> Calibration | None:
    try:
        record = json.loads(path.read_text())
        names = {n.name for n in graph.nodes}
        peak, top = record["peak"], record["top"]
        if not (isinstance(record["source"], str) and isinstance(record["samples"], int)
                and set(peak) == set(top) and set(peak) <= names
                and all(isinstance(v, float) for v in list(peak.values()) + list(top.values()))):
            return None
        return Calibration(source, record["samples"], peak, top)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
