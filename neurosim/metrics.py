"""NeuroBench-compatible metrics next to neurosim's graded-aware counts (NeuroBench 2.x, neurobench/metrics).

NeuroBench (2.x, ``neurobench/metrics``) computes, per sample:

* ActivationSparsity: 1 − nonzero / total over every activation (neuron) output, all timesteps and
  samples; ActivationSparsityByLayer the same per neuron layer. A graded spike of any value counts
  as one nonzero.
* SynapticOperations {Effective_MACs, Effective_ACs, Dense}: per connection layer (Conv2d, Linear)
  and per forward call (one timestep of one batch), the input and the weights are binarised
  (nonzero → 1), the bias zeroed, the binary layer run and its outputs summed. The call's ops go
  to ACs when *every* input value is in {−1, 0, 1}, otherwise to MACs. Dense repeats it with
  all-ones inputs and weights.
* MembraneUpdates: per neuron layer, the numel of the first call's potentials plus, for every
  later call, the number of neurons whose potential changed across the call.
* Footprint: Σ numel × element size (bytes) of the torch model's parameters and buffers;
  ParameterCount Σ numel of parameters; ConnectionSparsity zero weights / weights (4 decimals).

How neurosim maps its run onto a torch model (the assumptions a user needs to reconcile numbers):
a neuron's output tensor carries z·θ with θ = Vth/N, the value the next layer receives (as
neurosim.train's neurons emit it; a binary IF with Vth = 1 gives {0, 1}); the input tensor is
pixel × the model's input scale; a residual sum carries the sum of its members' values; pooling
happens before the consumer's hook, as in the IR. The AC/MAC test is made per timestep and per
*sample*, which is NeuroBench run with batch_size=1 (with larger batches NeuroBench classifies the whole
batch by its worst sample). Footprint counts float32 parameters (conv/linear weight and bias, BN
γ/β) and BN buffers (running mean/var float32, num_batches_tracked int64), as
torch.nn.Conv2d/Linear/BatchNorm2d hold them; neuron parameters are not counted.

Where NeuroBench's binary test misreads graded spikes: a level-z event counts as one op (not z),
and any z ≥ 2 in a call turns all of that layer's ops into MACs, although neurosim's hardware
spends one accumulate per synapse an event reaches, whatever z (the level policy only changes
the energy per ACC). At a forward-mode residual sum, NeuroBench sees one nonzero per position,
neurosim moves one event per member stream.
"""

from __future__ import annotations

import numpy as np

import pandas as pd

from .compiler import CompiledNetwork, core_words
from .errors import NeurosimError
from .kernels.levels import all_in, histogram, nonzero_fan, sum_histogram
from .model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                          MaxPool2d, Neuron)
from .reference import step_layer

FLOAT32_BYTES = 4
INT64_BYTES = 8


class _Stream:
    """A tensor as the torch model sees it: integer ``values`` × ``unit``, shape (T, B, ...)."""

    def __init__(self, values: np.ndarray, unit: float = 1.0):
        self.values = values
        self.unit = unit

    def binary_calls(self) -> np.ndarray:
        """(T, B): True where every value of the call is in {−1, 0, 1} (NeuroBench's AC test)."""
        ones = _unit_values(self.unit) if np.issubdtype(self.values.dtype, np.integer) else None
        if ones is None:
            v = np.abs(self.values.astype(np.float64) * self.unit)
            ok = (v == 0) | (np.abs(v - 1.0) <= 1e-9)
            return ok.reshape(ok.shape[0], ok.shape[1], -1).all(axis=2)
        # the integers whose value is ±1, found once: no float pass over the levels
        return all_in(self.calls(), ones)

    def calls(self) -> np.ndarray:
        """The values as (T, B, n): one row per forward call."""
        return self.values.reshape(self.values.shape[0], self.values.shape[1], -1)


def _unit_values(unit: float) -> list[int] | None:
    """The integers k ≥ 1 with |k·unit − 1| ≤ 1e-9 (in float64, as the AC test computes it):
    at most the two nearest 1/unit, when unit > 1e-8; None otherwise (test every value)."""
    if not unit > 1e-8 or not np.isfinite(unit):
        return None
    near = int(np.floor(1.0 / unit))
    return [k for k in range(max(near - 1, 1), near + 3)
            if abs(float(np.float64(k) * unit) - 1.0) <= 1e-9]


def _valid_taps(size: int, kernel: int, stride: int, padding: int, out_size: int) -> np.ndarray:
    """(size, kernel): 1 where input index i feeds an output through kernel tap k."""
    taps = np.zeros((size, kernel), np.int64)
    for i in range(size):
        for k in range(kernel):
            o, r = divmod(i + padding - k, stride)
            taps[i, k] = r == 0 and 0 <= o < out_size
    return taps


def _fan_out(node, in_shape, out_shape, weights: np.ndarray) -> np.ndarray:
    """Outputs of the binary layer each input position feeds: Σ of binarised weights it meets."""
    wb = (weights != 0).astype(np.int64)
    if isinstance(node, Linear):
        return wb.sum(axis=0)  # (N_in,)
    _, h, w = in_shape
    kh, kw = weights.shape[2:]
    vy = _valid_taps(h, kh, node.stride[0], node.padding[0], out_shape[1])
    vx = _valid_taps(w, kw, node.stride[1], node.padding[1], out_shape[2])
    per_tap = wb.sum(axis=0)  # (C_in, kH, kW)
    return np.einsum("yk,xl,ckl->cyx", vy, vx, per_tap)


def _input_stream(graph: Graph, inputs: np.ndarray, timesteps: int) -> _Stream:
    x = np.asarray(inputs)
    shape = tuple(graph.input.shape)
    if x.ndim == len(shape) + 2:  # (B, T, ...) one frame per timestep
        x = np.moveaxis(x, 1, 0)
    else:
        x = np.broadcast_to(x[None], (timesteps,) + x.shape)
    return _Stream(x, float(graph.input.scale))


def _layer_of(net: CompiledNetwork) -> dict[str, str]:
    """IR node name → the compiled layer that holds it."""
    return {node: layer.name for layer in net.layers for node in layer.nodes}


def synaptic_operations(graph: Graph, net: CompiledNetwork, levels: dict[str, np.ndarray],
                        inputs: np.ndarray) -> dict[str, dict]:
    """NeuroBench SynapticOperations per connection node, run totals (not yet per sample)."""
    t = net.timesteps if not levels else next(iter(levels.values())).shape[0]
    owner = _layer_of(net)
    streams: dict[str, _Stream | None] = {}
    out: dict[str, dict] = {}
    for node in graph.nodes:
        if isinstance(node, Input):
            streams[node.name] = _input_stream(graph, inputs, t)
        elif isinstance(node, Neuron):
            layer = net.layer(node.name)
            streams[node.name] = (_Stream(levels[node.name], node.spec.theta)
                                  if layer.pool is None else None)
        elif isinstance(node, MaxPool2d):
            streams[node.name] = _Stream(levels[owner[node.input]], graph[node.input].spec.theta)
        elif isinstance(node, AvgPool2d) and not node.is_global:
            k = node.kernel[0] * node.kernel[1]
            streams[node.name] = _Stream(levels[owner[node.input]],
                                         graph[node.input].spec.theta / k)
        elif isinstance(node, AvgPool2d):
            src = streams[node.input]
            mean = src.values.astype(np.float64).mean(axis=(-2, -1), keepdims=True)
            streams[node.name] = _Stream(mean, src.unit)
        elif isinstance(node, Flatten):
            src = streams[node.input]
            shape = src.values.shape[:2] + tuple(graph.shapes[node.name])
            streams[node.name] = _Stream(src.values.reshape(shape), src.unit)
        elif isinstance(node, Add):
            args = [streams.get(a) for a in node.args]
            if any(a is None for a in args):
                streams[node.name] = None  # a sum of currents (Spiking ResNet): not a spike tensor
            elif len({a.unit for a in args}) == 1:
                streams[node.name] = _Stream(sum(a.values.astype(np.int64) for a in args),
                                             args[0].unit)
            else:
                streams[node.name] = _Stream(sum(a.values * a.unit for a in args), 1.0)
        elif isinstance(node, (Conv2d, Linear)):
            src = streams.get(node.input)
            if src is None:
                raise NeurosimError(f"input {node.input!r} is not a recorded spike tensor",
                                    node.name)
            in_shape = graph.shapes[node.input]
            fan = _fan_out(node, in_shape, graph.shapes[node.name], node.weight)
            dense_fan = _fan_out(node, in_shape, graph.shapes[node.name],
                                 np.ones_like(node.weight))
            ops = nonzero_fan(src.calls(), fan.reshape(-1))  # (T, B)
            binary = src.binary_calls()
            out[node.name] = {
                "layer": owner.get(node.name, node.name),
                "effective_acs": int(ops[binary].sum()),
                "effective_macs": int(ops[~binary].sum()),
                "dense": int(dense_fan.sum()) * int(ops.size),
                "calls": int(ops.size), "graded_calls": int((~binary).sum()),
            }
            streams[node.name] = None
        else:  # BatchNorm and anything else acting on currents
            streams[node.name] = None
    return out


def membrane_updates(net: CompiledNetwork, inputs: np.ndarray, timesteps: int,
                     levels: dict[str, np.ndarray] | None = None,
                     batch_size: int = 64) -> dict[str, int]:
    """NeuroBench MembraneUpdates per neuron layer, run totals, by replaying the integer network.

    T = 1 needs no replay (every potential counts once). For T > 1 the layer dynamics are
    replayed with the reference simulator's own step (reference.step_layer); the replayed
    outputs are checked against the recorded ``levels`` so a replay that drifted from the run
    cannot go unnoticed.
    """
    spiking = [layer for layer in net.layers if layer.mode == "spiking"]
    x = np.asarray(inputs)
    b_total = len(x)
    counts = {layer.name: layer.neurons * b_total for layer in spiking}
    if timesteps == 1:
        return counts
    per_step = x.ndim == len(net.input_shape) + 2
    integer = net.integer
    for start in range(0, b_total, batch_size):
        batch = x[start:start + batch_size]
        b = len(batch)
        dtype = np.int64 if integer else np.float64
        v = {l.name: np.zeros((b,) + l.shape, dtype) for l in net.layers}
        for t in range(timesteps):
            streams = {net.input_name: batch[:, t] if per_step else batch}
            for layer in net.layers:
                before = v[layer.name]
                v[layer.name], z, out, _ = step_layer(layer, before, streams, integer)
                if layer.mode == "spiking" and t > 0:
                    counts[layer.name] += int(np.count_nonzero(v[layer.name] - before))
                if z is None:
                    continue
                streams[layer.name] = out
                if levels is not None and layer.name in levels:
                    if not np.array_equal(levels[layer.name][t, start:start + b], out):
                        raise NeurosimError("replayed output levels differ from the run's; "
                                            "MembraneUpdates cannot be computed", layer.name)
    return counts


def footprint(graph: Graph) -> dict:
    """NeuroBench's static metrics for the float32 torch model of ``graph``."""
    params = buffers = weights = zeros = 0
    for node in graph.nodes:
        if isinstance(node, (Conv2d, Linear)):
            params += node.weight.size + (0 if node.bias is None else node.bias.size)
            weights += node.weight.size
            zeros += int(np.count_nonzero(node.weight == 0))
        elif isinstance(node, BatchNorm):
            params += node.gamma.size + node.beta.size
            buffers += node.mean.size + node.var.size
    bn_layers = sum(isinstance(n, BatchNorm) for n in graph.nodes)
    return {"Footprint": FLOAT32_BYTES * (params + buffers) + INT64_BYTES * bn_layers,
            "ParameterCount": params,
            "ConnectionSparsity": round(zeros / weights, 4) if weights else 0.0}


def hardware_footprint(net: CompiledNetwork) -> dict:
    """Bit-width-aware footprint of the compiled network, from the one SRAM sizing
    (compiler.core_words: shared weight groups counted once)."""
    widths = net.widths
    words = [core_words(layer, layer.channels) for layer in net.layers]
    weight_words = sum(w.weights for w in words)
    bias_words = sum(w.biases for w in words)
    potential_words = sum(w.potentials for w in words)
    bits = weight_words * widths.weights + bias_words * widths.biases
    return {"weight_words": int(weight_words), "bias_words": int(bias_words),
            "potential_words": int(potential_words), "parameter_bits": int(bits),
            "parameter_bytes": int(bits) / 8.0,
            "potential_bytes": potential_words * widths.potentials / 8.0}


def compute(sim, inputs: np.ndarray) -> dict:
    """metrics.json for a finished Simulation run on ``inputs`` (SynOps and, for T > 1,
    MembraneUpdates from the statistics its shards collected: ``level_stats``)."""
    net, graph, counts = sim.net, sim.graph, sim.counts
    samples = counts.samples
    table = counts.table()
    layers = table[table.kind != "add"].set_index("layer")
    spiking = [l for l in net.layers if l.mode == "spiking"]
    t = counts.timesteps
    by_layer = {}
    nonzero = total = 0
    for layer in spiking:
        nz = int(layers.loc[layer.name, "events_prepool"])
        n = layer.neurons * t * samples
        nonzero, total = nonzero + nz, total + n
        by_layer[layer.name] = {"activation_sparsity": (n - nz) / n if n else 0.0}
    nb = footprint(graph)
    nb["ActivationSparsity"] = (total - nonzero) / total if total else 0.0
    nb["ActivationSparsityByLayer"] = {k: v["activation_sparsity"] for k, v in by_layer.items()}
    notes = []
    stats = sim.result.extra if has_stats(sim.result.extra) else None
    if stats is not None:
        synops = stats_synops(graph, net, stats)
        nb["SynapticOperations"] = {
            "Effective_MACs": sum(v["effective_macs"] for v in synops.values()) / samples,
            "Effective_ACs": sum(v["effective_acs"] for v in synops.values()) / samples,
            "Dense": sum(v["dense"] for v in synops.values()) / samples}
        for node, v in synops.items():
            row = by_layer.setdefault(v["layer"], {})
            for key in ("effective_macs", "effective_acs", "dense", "calls", "graded_calls"):
                row[key] = row.get(key, 0) + v[key]
            row.setdefault("nodes", []).append(node)
    else:
        notes.append("SynapticOperations needs the run's output levels, which this run did "
                     "not record (record=False)")
    if stats is not None or t == 1:  # T > 1 replays the run: the shards did it
        updates = ({layer.name: int(stats[f"updates:{layer.name}"][0]) for layer in spiking}
                   if stats is not None else membrane_updates(net, inputs, t))
        nb["MembraneUpdates"] = sum(updates.values()) / samples
        for name, n in updates.items():
            by_layer[name]["membrane_updates"] = n
    else:
        notes.append("MembraneUpdates needs a replay of this T > 1 run, which its shards did "
                     "not make (record=False)")
    for name, row in by_layer.items():
        for key in ("effective_macs", "effective_acs", "dense", "membrane_updates"):
            if key in row:
                row[key] = row[key] / samples
        if name in layers.index:
            rec = layers.loc[name]
            row["synapse_visits"] = float(rec.synapse_visits) / samples
            row["level_weighted_visits"] = (None if bool(rec.analog_input) else
                                            float(rec.synapse_level_visits) / samples)
            row["events_out"] = float(rec.events_out) / samples
    analog = layers.analog_input.astype(bool)
    neurosim = {
        "events": float(layers.events_out.sum()) / samples,
        "events_prepool": float(layers.events_prepool.sum()) / samples,
        "level_sum": float(layers.level_sum_out.sum()) / samples,
        "synapse_visits": float(layers.synapse_visits.sum()) / samples,
        "synapse_visits_analytic": float(layers.synapse_visits_analytic.sum()) / samples,
        "accumulates": float(layers.syn_acc_ops.sum()) / samples,
        "input_macs": float(layers.syn_mac_ops.sum()) / samples,
        "level_weighted_visits": float(layers.synapse_level_visits[~analog].sum()) / samples,
        "potential_writes": float(layers.potential_writes.sum()) / samples,
        "neuron_updates": float(layers.update_ops.sum()) / samples,
        **hardware_footprint(net),
    }
    return {"samples": samples, "timesteps": t, "neurobench": nb,
            "neurobench_by_layer": by_layer, "neurosim": neurosim, "notes": notes}


# --- levels.csv: the spike-level distribution -----------------------------------------------
# Counters keep events and Σz, not the distribution of z; the distribution needs the recorded
# output levels of a run (each shard's, ``level_stats``). Values are counted as sent, after
# pooling, over every neuron, timestep and input (z = 0 included, so counts add up to
# out_neurons × T × samples). For forward-mode residual sums the value is the sum of the member
# levels at each position, which is where SEW-ResNet's values exceed N (the spike avalanche).

def level_histograms(net: CompiledNetwork, levels: dict[str, np.ndarray]) -> dict:
    """{(kind, name): histogram} of recorded levels {layer: (T, B, ...)}: every layer's, then
    every forward-mode sum's (of its members' levels)."""
    out = {}
    for layer in net.layers:
        if layer.name in levels:
            out["layer", layer.name] = histogram(levels[layer.name])
    if net.add_mode == "forward":
        for add in net.adds:
            if not all(m in levels for m in add.members):
                continue  # a member is the raw input: no levels to add up
            arrays = [levels[m] for m in add.members]
            if len({a.shape for a in arrays}) != 1:
                continue
            out["add", add.name] = sum_histogram(arrays)
    return out


def level_table(histograms: dict) -> pd.DataFrame:
    """levels.csv rows (layer, kind, level, count) from ``level_histograms``."""
    rows = [{"layer": name, "kind": kind, "level": z, "count": int(n)}
            for (kind, name), hist in histograms.items() for z, n in enumerate(hist)]
    return pd.DataFrame(rows, columns=["layer", "kind", "level", "count"])


def level_counts(net: CompiledNetwork, levels: dict[str, np.ndarray]) -> pd.DataFrame:
    """levels.csv rows (layer, kind, level, count) from recorded levels {layer: (T, B, ...)}."""
    return level_table(level_histograms(net, levels))


# --- the statistics of a run's levels, shard by shard ---------------------------------------
# levels.csv, SynapticOperations and MembraneUpdates are sums over inputs: each shard computes
# them from its own blocks' levels, which then need not travel to the parent or stay in memory,
# and neurosim.shards adds them up (MERGE_RULES, by the part of the name before ":").

SYNOPS_FIELDS = ("effective_acs", "effective_macs", "dense", "calls", "graded_calls")


def level_stats(graph: Graph, net: CompiledNetwork, levels: dict[str, np.ndarray],
                inputs: np.ndarray, timesteps: int) -> dict[str, np.ndarray]:
    """The statistics of one block's recorded levels, as int64 arrays named "levels:KIND:NAME"
    (a histogram), "synops:NODE" (SYNOPS_FIELDS) and "updates:LAYER"."""
    out = {f"levels:{kind}:{name}": hist
           for (kind, name), hist in level_histograms(net, levels).items()}
    for node, v in synaptic_operations(graph, net, levels, inputs).items():
        out[f"synops:{node}"] = np.array([v[k] for k in SYNOPS_FIELDS], np.int64)
    for name, n in membrane_updates(net, inputs, timesteps, levels).items():
        out[f"updates:{name}"] = np.array([n], np.int64)
    return out


def has_stats(extra: dict) -> bool:
    """Whether a result's ``extra`` holds level_stats (every one has MembraneUpdates)."""
    return any(k.startswith("updates:") for k in extra)


def stats_histograms(net: CompiledNetwork, extra: dict) -> dict:
    """``level_histograms`` of a run from its merged ``level_stats``."""
    names = [("layer", l.name) for l in net.layers] + [("add", a.name) for a in net.adds]
    return {key: extra[f"levels:{key[0]}:{key[1]}"] for key in names
            if f"levels:{key[0]}:{key[1]}" in extra}


def stats_synops(graph: Graph, net: CompiledNetwork, extra: dict) -> dict[str, dict]:
    """``synaptic_operations`` of a run from its merged ``level_stats``."""
    owner = _layer_of(net)
    out = {}
    for node in graph.nodes:
        arr = extra.get(f"synops:{node.name}")
        if arr is not None:
            out[node.name] = {"layer": owner.get(node.name, node.name),
                              **{k: int(v) for k, v in zip(SYNOPS_FIELDS, arr)}}
    return out
