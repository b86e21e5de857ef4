"""The dense reference simulator: the oracle the event engine must match exactly.

It runs a compiled network (integer fixed point, or float64 for the float model) one layer at a
time on whole batches, and derives every count analytically from the dense activity:
the synapses an event reaches come from a per-position reach map, not from visiting them. The
event engine visits synapses one event at a time; agreement of the two is the main correctness
test (docs/design.md, "Engine equals reference").

Per timestep and layer (docs/design.md, "Semantics contract"):

    v ← decay(v) (LIF) ; v ← v + bias + Σ_projections round((W ⊛ z_source(t)) / 2^shift)
    v ← clip(v, v_min, v_max)          saturation, once, when the potential is read to fire
    z = clip(floor(v / θ), 0, N) ; v ← v − z·θ (soft reset) ; out = pool(z)

Integer arithmetic is exact: Σ w·z accumulates in int64 (the quantiser keeps every
accumulator's worst case below ACC_EXACT). Float sums are formed in one defined order, the same
on every machine (neurosim.kernels.dense: (c, kY, kX), each product and addition rounded to
float64). The shift rounds to nearest, ties up: ⌊(acc + 2^(shift−1)) / 2^shift⌋, as
kernels.integrate does.
Routing counts (packets, hops) follow the core placement of the network (a MappedNetwork, else
compiler.default_mapping: one core per layer) and counters.charge_routing.
"""

from __future__ import annotations

import numpy as np

from .compiler import CompiledNetwork, Layer, Projection, check_inputs, default_mapping
from .kernels import dense
from .model import neurons
from .counters import RunCounts, RunResult, charge_projection, charge_routing, charge_timestep


def conv_reach(in_size: int, kernel: int, stride: int, padding: int, out_size: int) -> np.ndarray:
    """For each input coordinate, how many output coordinates a kernel tap connects it to."""
    return (dense.taps(in_size, kernel, stride, padding, out_size) >= 0).sum(axis=1)


def reach_map(p: Projection, layer: Layer) -> np.ndarray:
    """Synapses reached by one event at each source position: (C_in, H, W) or (N_in,)."""
    if p.kind == "conv":
        cout, _, kh, kw = p.weight.shape
        _, h, w = p.in_shape
        ry = conv_reach(h, kh, p.stride[0], p.padding[0], layer.shape[1])
        rx = conv_reach(w, kw, p.stride[1], p.padding[1], layer.shape[2])
        return np.broadcast_to(cout * np.outer(ry, rx), p.in_shape)
    if p.kind == "linear":
        return np.full(p.in_shape, p.weight.shape[0], np.int64)
    return np.ones(p.in_shape, np.int64)


def integer_current(p: Projection, layer: Layer, x: np.ndarray) -> np.ndarray:
    """Σ w·z of integer levels ``x`` (B, *in_shape) into ``layer``, exact, int64 (B, *shape)."""
    if not np.issubdtype(x.dtype, np.integer):
        return np.rint(project(p, layer, x)).astype(np.int64)
    return project(p, layer, x)


def project(p: Projection, layer: Layer, x: np.ndarray) -> np.ndarray:
    """The current a batch of source levels ``x`` (B, *in_shape) drives into ``layer``: exact
    int64 sums for integer levels and weights, else float64 sums formed in one defined order
    (neurosim.kernels.dense)."""
    b = x.shape[0]
    if p.kind == "conv":
        out = dense.conv(x, p.weight, p.stride, p.padding, layer.shape[1:])
    elif p.kind == "linear":
        out = dense.linear(x.reshape(b, -1), p.weight)
    elif np.issubdtype(x.dtype, np.integer) and np.issubdtype(p.weight.dtype, np.integer):
        xs = x.reshape((b,) + layer.shape).astype(np.int64)
        out = xs * p.weight.astype(np.int64).reshape((1, -1) + (1,) * (len(layer.shape) - 1))
    else:
        xs = x.reshape((b,) + layer.shape).astype(np.float64)
        out = xs * p.weight.reshape((1, -1) + (1,) * (len(layer.shape) - 1))
    return out.reshape((b,) + layer.shape)


def pool(z: np.ndarray, layer: Layer) -> np.ndarray:
    """Max or sum pooling of output levels over (kH, kW) windows (no padding)."""
    if layer.pool is None:
        return z
    kh, kw = layer.pool.kernel
    sh, sw = layer.pool.stride
    ho, wo = layer.out_shape[1:]
    win = np.lib.stride_tricks.sliding_window_view(z, (kh, kw), axis=(2, 3))
    win = win[:, :, ::sh, ::sw][:, :, :ho, :wo]
    return win.max(axis=(4, 5)) if layer.pool.kind == "max" else win.sum(axis=(4, 5))


def fire(layer: Layer, v: np.ndarray, integer: bool):
    """Saturate, fire and reset one timestep (the rule of neurosim.model.neurons): returns
    (new v, levels z, saturation count). A readout only saturates; a merge-mode adder emits its
    sums and clears."""
    saturations = 0
    if integer and layer.v_range is not None:
        v, saturations = neurons.saturate(v, *layer.v_range)
    if layer.mode == "readout":
        return v, None, saturations
    if layer.mode == "sum":
        return np.zeros_like(v), v.copy(), saturations
    z = neurons.fire(v, layer.threshold, layer.levels)
    return neurons.reset(v, z, layer.threshold, layer.spec.reset), z, saturations


def leak(layer: Layer, v: np.ndarray, integer: bool) -> np.ndarray:
    """Decay before integration (neurosim.model.neurons.leak with the compiled decay)."""
    return neurons.leak(v, layer.spec, layer.decay)


def run(net: CompiledNetwork, inputs: np.ndarray, labels: np.ndarray | None = None,
        timesteps: int | None = None, record: bool = False, batch_size: int = 64,
        progress=None) -> RunResult:
    """Simulate ``inputs`` on ``net`` densely and return logits, levels and exact counts."""
    timesteps = timesteps or net.timesteps
    inputs = check_inputs(net, inputs, timesteps)
    counts = RunCounts(net, samples=0, timesteps=timesteps)
    logits, recorded = [], {name: [] for name in (l.name for l in net.layers)} if record else {}
    tables = Tables(net)
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size]
        out, levels = _run_batch(net, batch, timesteps, counts, tables, record)
        logits.append(out)
        for name, arr in levels.items():
            recorded[name].append(arr)
        counts.samples += len(batch)
        if progress is not None:
            progress(len(batch))
    logits = np.concatenate(logits) if logits else np.zeros((0, 0))
    levels = {k: np.concatenate(v, axis=1) for k, v in recorded.items() if v}
    return RunResult(net, counts, logits, levels, None if labels is None else np.asarray(labels))


class Tables:
    """What counting needs beside the levels, computed once per network: every projection's
    reach map, and the routes of every layer's cores (``placed``: a MappedNetwork whose
    placement the routing counts follow, default ``net``'s own or one core per layer)."""

    def __init__(self, net: CompiledNetwork, placed: CompiledNetwork | None = None):
        self.reach = {(layer.name, i): reach_map(p, layer)
                      for layer in net.layers for i, p in enumerate(layer.projections)}
        mapped = default_mapping(placed if placed is not None else net)
        self.routes = {layer.name: mapped.routes(layer.name) for layer in net.layers}
        self.packet_events = mapped.packet_events


def step_layer(layer: Layer, v: np.ndarray, streams: dict, integer: bool, observe=None):
    """One timestep of ``layer`` on a batch, as the hardware pipeline does it: the current of
    every projection from its source's levels (round(Σ w·z / 2^shift) in integer mode) and the
    bias, leak, integrate, saturate, fire, reset, pool. Returns (new v, levels z (None for a
    readout), pooled output levels (None for a readout), saturations). ``observe``, when given,
    is called with the potentials as they are read to fire (before saturation): calibration
    measures their range."""
    b = len(v)
    current = np.zeros((b,) + layer.shape, np.int64 if integer else np.float64)
    for p in layer.projections:
        x = streams[p.source]
        if integer:
            acc = integer_current(p, layer, x)
            current += (acc + ((1 << p.shift) >> 1)) >> p.shift
        else:
            current += project(p, layer, x)
    if layer.bias is not None:
        current += layer.bias.reshape((1, -1) + (1,) * (len(layer.shape) - 1))
    v = leak(layer, v, integer) + current
    if observe is not None:
        observe(v)
    v, z, saturations = fire(layer, v, integer)
    out = None if z is None else pool(z, layer).astype(np.int64)  # integers in both modes
    return v, z, out, saturations


def counted_step(layer: Layer, v: np.ndarray, streams: dict, integer: bool, row: np.ndarray,
                 tables: Tables, observe=None):
    """step_layer on a batch, charging its counts to ``row`` (one layer and timestep of a
    RunCounts): the incoming events of every projection, the neurons' timestep and the
    routing of the output. Returns (new v, z, pooled output) as step_layer does."""
    b = len(v)
    for i, p in enumerate(layer.projections):
        x = streams[p.source]
        nz = x != 0
        r = tables.reach[(layer.name, i)]
        values = x if np.issubdtype(x.dtype, np.integer) else np.rint(x)  # float inputs
        charge_projection(row, p, layer, int(np.count_nonzero(nz)), int((nz * r).sum()),
                          int((values.astype(np.int64) * r).sum()))
    v, z, out, sat = step_layer(layer, v, streams, integer, observe)
    if z is None:
        charge_timestep(row, layer, 0, 0, 0, sat, samples=b)
        return v, z, out
    charge_timestep(row, layer, int(np.count_nonzero(z)), int(np.count_nonzero(out)),
                    int(out.sum()), sat, samples=b)
    for (c0, c1), hops in tables.routes[layer.name]:
        per_sample = np.count_nonzero(out[:, c0:c1].reshape(b, -1), axis=1)
        charge_routing(row, per_sample, tables.packet_events, hops)
    return v, z, out


def frame(net: CompiledNetwork, batch: np.ndarray, t: int) -> np.ndarray:
    """The input stream at timestep t: the batch itself (static inputs) or its frame t."""
    return batch[:, t] if batch.ndim == len(net.input_shape) + 2 else batch


def logits_of(net: CompiledNetwork, v_out: np.ndarray, spike_sum, timesteps: int) -> np.ndarray:
    """Logits of a batch: the readout's potentials · scale / T, else the output levels summed
    over T."""
    b = len(v_out)
    output = net.output_layer
    if output.mode == "readout":
        return v_out.astype(np.float64) * output.scale / timesteps
    return np.asarray(spike_sum, np.float64).reshape(b, -1)


def _run_batch(net, batch, timesteps, counts, tables, record):
    integer = net.integer
    b = len(batch)
    dtype = np.int64 if integer else np.float64
    v = {l.name: np.zeros((b,) + l.shape, dtype) for l in net.layers}
    levels = {l.name: [] for l in net.layers} if record else {}
    output = net.output_layer
    spike_sum = 0
    for t in range(timesteps):
        streams = {net.input_name: frame(net, batch, t)}
        for layer in net.layers:
            v[layer.name], z, out = counted_step(layer, v[layer.name], streams, integer,
                                                 counts.row(layer.name, t), tables)
            if z is None:
                continue
            streams[layer.name] = out
            if layer is output:
                spike_sum = spike_sum + out
            if record:
                levels[layer.name].append(out.astype(np.int32))
    logits = logits_of(net, v[output.name], spike_sum, timesteps)
    levels = {k: np.stack(a) for k, a in levels.items() if a}
    return logits, levels
