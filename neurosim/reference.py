"""The dense reference simulator: the oracle the event engine must match exactly.

It runs a compiled network (integer fixed point, or float64 for the float model) one layer at a
time on whole batches with numpy, and derives every count analytically from the dense activity:
the synapses an event reaches come from a per-position reach map, not from visiting them. The
event engine visits synapses one event at a time; agreement of the two is the main correctness
test (docs/design.md, "Engine equals reference").

Per timestep and layer (docs/design.md, "Semantics contract"):

    v ← decay(v) (LIF) ; v ← v + bias + Σ_projections ⌊(W ⊛ z_source(t)) / 2^shift⌋
    v ← clip(v, v_min, v_max)          saturation, once, when the potential is read to fire
    z = clip(floor(v / θ), 0, N) ; v ← v − z·θ (soft reset) ; out = pool(z)

Integer arithmetic is exact: products are formed in float64 only while they stay below 2^53.
Routing counts (packets, hops) follow the core placement of the network (a MappedNetwork, else
compiler.default_mapping: one core per layer) and counters.charge_routing.
"""

from __future__ import annotations

import numpy as np

from .compiler import CompiledNetwork, Layer, Projection, check_inputs, default_mapping
from .model import neurons
from .counters import RunCounts, RunResult, charge_projection, charge_routing, charge_timestep


def conv_reach(in_size: int, kernel: int, stride: int, padding: int, out_size: int) -> np.ndarray:
    """For each input coordinate, how many output coordinates a kernel tap connects it to."""
    reach = np.zeros(in_size, np.int64)
    for i in range(in_size):
        for k in range(kernel):
            o, r = divmod(i + padding - k, stride)
            if r == 0 and 0 <= o < out_size:
                reach[i] += 1
    return reach


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


def _conv(x: np.ndarray, w: np.ndarray, stride, padding, out_hw) -> np.ndarray:
    """Dense 2-D convolution (cross-correlation) of a batch, in float64."""
    ph, pw = padding
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride[0], ::stride[1]][:, :, :out_hw[0], :out_hw[1]]
    out = np.tensordot(win, w.astype(np.float64), axes=([1, 4, 5], [1, 2, 3]))  # B,Ho,Wo,Cout
    return out.transpose(0, 3, 1, 2)


def project(p: Projection, layer: Layer, x: np.ndarray) -> np.ndarray:
    """The current a batch of source levels ``x`` (B, *in_shape) drives into ``layer``."""
    b = x.shape[0]
    if p.kind == "conv":
        out = _conv(x, p.weight, p.stride, p.padding, layer.shape[1:])
    elif p.kind == "linear":
        out = x.reshape(b, -1).astype(np.float64) @ p.weight.astype(np.float64).T
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
    reach = {(layer.name, i): reach_map(p, layer)
             for layer in net.layers for i, p in enumerate(layer.projections)}
    mapped = default_mapping(net)
    routes = {layer.name: mapped.routes(layer.name) for layer in net.layers}
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size]
        out, levels = _run_batch(net, batch, timesteps, counts, reach, record,
                                 (routes, mapped.packet_events))
        logits.append(out)
        for name, arr in levels.items():
            recorded[name].append(arr)
        counts.samples += len(batch)
        if progress is not None:
            progress(len(batch))
    logits = np.concatenate(logits) if logits else np.zeros((0, 0))
    levels = {k: np.concatenate(v, axis=1) for k, v in recorded.items() if v}
    return RunResult(net, counts, logits, levels, None if labels is None else np.asarray(labels))


def step_layer(layer: Layer, v: np.ndarray, streams: dict, integer: bool):
    """One timestep of ``layer`` on a batch, as the hardware pipeline does it: the current of
    every projection from its source's levels (⌊Σ w·z / 2^shift⌋ in integer mode) and the bias,
    leak, integrate, saturate, fire, reset, pool. Returns (new v, levels z (None for a
    readout), pooled output levels (None for a readout), saturations)."""
    b = len(v)
    current = np.zeros((b,) + layer.shape, np.int64 if integer else np.float64)
    for p in layer.projections:
        x = streams[p.source]
        if integer:  # exact: |Σ w·z| stays far below 2^53
            current += np.rint(project(p, layer, x)).astype(np.int64) >> p.shift
        else:
            current += project(p, layer, x)
    if layer.bias is not None:
        current += layer.bias.reshape((1, -1) + (1,) * (len(layer.shape) - 1))
    v, z, saturations = fire(layer, leak(layer, v, integer) + current, integer)
    out = None if z is None else pool(z, layer).astype(np.int64)  # integers in both modes
    return v, z, out, saturations


def _run_batch(net, batch, timesteps, counts, reach, record, routing):
    integer = net.integer
    b = len(batch)
    dtype = np.int64 if integer else np.float64
    v = {l.name: np.zeros((b,) + l.shape, dtype) for l in net.layers}
    levels = {l.name: [] for l in net.layers} if record else {}
    output = net.output_layer
    spike_sum = 0
    per_step_input = batch.ndim == len(net.input_shape) + 2
    routes, packet_events = routing
    for t in range(timesteps):
        streams = {net.input_name: batch[:, t] if per_step_input else batch}
        for layer in net.layers:
            row = counts.row(layer.name, t)
            for i, p in enumerate(layer.projections):
                x = streams[p.source]
                nz = x != 0
                r = reach[(layer.name, i)]
                charge_projection(row, p, layer, int(np.count_nonzero(nz)),
                                  int((nz * r).sum()), int((x.astype(np.int64) * r).sum()))
            v[layer.name], z, out, sat = step_layer(layer, v[layer.name], streams, integer)
            if z is None:
                charge_timestep(row, layer, 0, 0, 0, sat, samples=b)
                continue
            charge_timestep(row, layer, int(np.count_nonzero(z)), int(np.count_nonzero(out)),
                            int(out.sum()), sat, samples=b)
            for (c0, c1), hops in routes[layer.name]:
                per_sample = np.count_nonzero(out[:, c0:c1].reshape(b, -1), axis=1)
                charge_routing(row, per_sample, packet_events, hops)
            streams[layer.name] = out
            if layer is output:
                spike_sum = spike_sum + out
            if record:
                levels[layer.name].append(out.astype(np.int32))
    if output.mode == "readout":
        logits = v[output.name].astype(np.float64) * output.scale / timesteps
    else:
        logits = np.asarray(spike_sum, np.float64).reshape(b, -1)
    levels = {k: np.stack(a) for k, a in levels.items() if a}
    return logits, levels
