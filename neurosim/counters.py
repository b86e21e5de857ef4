"""The counter record shared by the reference, the event engine and the energy model.

Counting rules (docs/design.md, "Counting rules"):

per incoming event of a projection
    1 input-FIFO read; address generation (conv: 2 MACs + kH·kW ACCs, linear: N_out ACCs,
    identity: none); and per synapse it reaches: 1 weight read (none for identity, whose factor
    is a register), 1 potential read, 1 ACC (a MAC when the source is the analog input), 1
    potential write.
per neuron and timestep
    1 bias read (when the layer has a bias), 1 potential read, 1 ACC (bias add / threshold
    compare), 1 potential write; LIF adds a leak MAC. A merge-mode adder only reads and clears.
per output spike
    1 reset ACC (before pooling); 1 output-FIFO write per event after pooling.
routing (charged to the sending layer)
    per timestep, source core and destination core: max(1, ⌈events / packet_events⌉) packets (a
    timestep without events still sends its end-of-timestep packet), each crossing the hops of
    its XY route; event_hops = events × hops. The input stream comes from the host: not counted.

Exact counts follow the synapses an event really reaches (borders clipped, strides respected);
the ``*_analytic`` fields hold the paper's formulas (Cout·kH·kW visits per conv event,
⌈kH/S⌉·⌈kW/S⌉·Cout ACCs). The level policy (N×ACC, z×ACC, shift-add) and the first-layer
policy are applied by the energy model, never here: ``syn_acc_ops`` and ``synapse_level_visits``
give it what it needs.

Counts are exact integers, kept per layer and per timestep as an int64 array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .compiler import CompiledNetwork, Layer, Projection

COUNT_FIELDS = (
    "events_in", "events_out", "events_prepool", "level_sum_out",
    "synapse_visits", "synapse_visits_analytic", "synapse_level_visits",
    "weight_reads", "weight_reads_analytic",
    "potential_reads", "potential_writes", "potential_reads_analytic", "potential_writes_analytic",
    "bias_reads", "fifo_reads", "fifo_writes",
    "acc_ops", "acc_ops_analytic", "mac_ops", "syn_acc_ops", "syn_mac_ops",
    "update_ops", "reset_ops", "leak_ops", "addr_mac_ops", "addr_acc_ops", "saturations",
    "packets", "packet_hops", "event_hops",
)
F = {name: i for i, name in enumerate(COUNT_FIELDS)}

def analytic_visits_per_event(p: Projection) -> int:
    """The paper's synapse visits per input event: Cout·kH·kW (conv), N_out (linear), 1."""
    if p.kind == "conv":
        cout, _, kh, kw = p.weight.shape
        return cout * kh * kw
    if p.kind == "linear":
        return p.weight.shape[0]
    return 1


def analytic_accs_per_event(p: Projection) -> int:
    """The paper's synaptic ACCs per input event: ⌈kH/S⌉·⌈kW/S⌉·Cout for conv."""
    if p.kind == "conv":
        cout, _, kh, kw = p.weight.shape
        return math.ceil(kh / p.stride[0]) * math.ceil(kw / p.stride[1]) * cout
    if p.kind == "linear":
        return p.weight.shape[0]
    return 1


def charge_projection(row: np.ndarray, p: Projection, layer: Layer, events: int, visits: int,
                      level_visits: int) -> None:
    """Add what ``events`` incoming events of projection ``p`` cost to one timestep's ``row``.

    ``visits`` is the exact number of synapses they reached, ``level_visits`` Σ z·reach.
    """
    a_vis = events * analytic_visits_per_event(p)
    row[F["events_in"]] += events
    row[F["fifo_reads"]] += events
    row[F["synapse_visits"]] += visits
    row[F["synapse_visits_analytic"]] += a_vis
    row[F["synapse_level_visits"]] += level_visits
    if p.kind != "identity":
        row[F["weight_reads"]] += visits
        row[F["weight_reads_analytic"]] += a_vis
    row[F["potential_reads"]] += visits
    row[F["potential_writes"]] += visits
    row[F["potential_reads_analytic"]] += a_vis
    row[F["potential_writes_analytic"]] += a_vis
    if p.analog:
        row[F["syn_mac_ops"]] += visits
        row[F["mac_ops"]] += visits
    else:
        row[F["syn_acc_ops"]] += visits
        row[F["acc_ops"]] += visits
        row[F["acc_ops_analytic"]] += events * analytic_accs_per_event(p)
    if p.kind == "conv":
        kh, kw = p.kernel
        row[F["addr_mac_ops"]] += 2 * events
        row[F["addr_acc_ops"]] += kh * kw * events
    elif p.kind == "linear":
        row[F["addr_acc_ops"]] += p.weight.shape[0] * events


def charge_timestep(row: np.ndarray, layer: Layer, spikes: int, events_out: int,
                    level_sum: int, saturations: int, samples: int = 1) -> None:
    """Add one timestep's per-neuron and per-spike costs of ``layer`` to ``row``.

    ``spikes``: neurons that fired (before pooling); ``events_out``: events after pooling;
    the spike counts are totals over ``samples`` inputs, each of which updates every neuron.
    """
    n = layer.neurons * samples
    row[F["update_ops"]] += n
    row[F["potential_reads"]] += n
    row[F["potential_writes"]] += n
    row[F["potential_reads_analytic"]] += n
    row[F["potential_writes_analytic"]] += n
    row[F["saturations"]] += saturations
    if layer.mode != "sum":
        row[F["acc_ops"]] += n
        row[F["acc_ops_analytic"]] += n
        if layer.bias is not None:
            row[F["bias_reads"]] += n
        if layer.spec.kind == "lif":
            row[F["leak_ops"]] += n
            row[F["mac_ops"]] += n
    if layer.mode == "spiking":
        row[F["reset_ops"]] += spikes
        row[F["acc_ops"]] += spikes
        row[F["acc_ops_analytic"]] += spikes
    if layer.mode != "readout":
        row[F["events_prepool"]] += spikes
        row[F["events_out"]] += events_out
        row[F["fifo_writes"]] += events_out
        row[F["level_sum_out"]] += level_sum


def charge_routing(row: np.ndarray, events, packet_events: int, hops) -> None:
    """Add the packets one source core sends in one timestep to ``row``.

    ``events``: its events per sample (array); ``hops``: the links to each destination core.
    """
    if len(hops) == 0:
        return
    events = np.asarray(events, np.int64)
    packets = int(np.maximum(1, -(-events // packet_events)).sum())
    total_hops = int(sum(hops))
    row[F["packets"]] += packets * len(hops)
    row[F["packet_hops"]] += packets * total_hops
    row[F["event_hops"]] += int(events.sum()) * total_hops


def paper_sum_points(layers: pd.DataFrame) -> pd.Series:
    """Mask of the forward-mode sum rows of a layers table that are the paper's summation points
    (SEW's sum{i}): the paper's "events transferred" (its §6.4) adds their events to the layers'.

    Sparse-ResNet's add{i} rows precede a barrier neuron (its sum{i} layer), so they are not
    points where events move on to the next layer.
    """
    return (layers.kind == "add") & layers.layer.str.fullmatch(r"sum\d+")


class RunCounts:
    """Exact counts of one run: ``data[layer, timestep, field]`` totals over ``samples`` inputs."""

    def __init__(self, net: CompiledNetwork, samples: int = 0, timesteps: int | None = None):
        self.net = net
        self.layers = [layer.name for layer in net.layers]
        self.timesteps = timesteps or net.timesteps
        self.samples = samples
        self.data = np.zeros((len(self.layers), self.timesteps, len(COUNT_FIELDS)), np.int64)
        self.index = {name: i for i, name in enumerate(self.layers)}

    def row(self, layer: str, t: int) -> np.ndarray:
        return self.data[self.index[layer], t]

    def __iadd__(self, other: "RunCounts") -> "RunCounts":
        if other.layers != self.layers or other.data.shape != self.data.shape:
            raise ValueError("cannot add counts of different networks or timesteps")
        self.data += other.data
        self.samples += other.samples
        return self

    def total(self, field: str) -> int:
        return int(self.data[:, :, F[field]].sum())

    def add_points(self) -> list[dict]:
        """Rows for forward-mode residual sums: the events that reach their consumers."""
        rows = []
        for add in self.net.adds if self.net.add_mode == "forward" else []:
            events = np.zeros(self.timesteps, np.int64)
            levels = np.zeros(self.timesteps, np.int64)
            for src in add.members:
                if src in self.index:
                    events += self.data[self.index[src], :, F["events_out"]]
                    levels += self.data[self.index[src], :, F["level_sum_out"]]
            rows.append({"layer": add.name, "events": events, "levels": levels,
                         "members": add.members})
        return rows

    def table(self) -> pd.DataFrame:
        """layers.csv: one row per layer (and per forward-mode sum point), run totals."""
        rows = []
        for layer in self.net.layers:
            totals = self.data[self.index[layer.name]].sum(axis=0)
            row = {"layer": layer.name, "kind": layer.kind, "core": layer.core,
                   "samples": self.samples, "timesteps": self.timesteps, "levels": layer.levels
                   if layer.mode == "spiking" else 0, "neurons": layer.neurons,
                   "channels": layer.channels,
                   "analog_input": any(p.analog for p in layer.projections)}
            row.update({name: int(v) for name, v in zip(COUNT_FIELDS, totals)})
            row["addr_ops"] = row["addr_mac_ops"] + row["addr_acc_ops"]
            rows.append(row)
        for add in self.add_points():
            row = {"layer": add["layer"], "kind": "add", "core": -1, "samples": self.samples,
                   "timesteps": self.timesteps, "levels": 0, "neurons": 0, "channels": 0,
                   "analog_input": False}
            row.update({name: 0 for name in COUNT_FIELDS})
            row["events_in"] = row["events_out"] = int(add["events"].sum())
            row["level_sum_out"] = int(add["levels"].sum())
            row["addr_ops"] = 0
            rows.append(row)
        return pd.DataFrame(rows)

    def per_timestep(self) -> pd.DataFrame:
        """timesteps.csv: one row per layer and timestep."""
        rows = []
        for li, name in enumerate(self.layers):
            for t in range(self.timesteps):
                rows.append({"layer": name, "timestep": t,
                             **{f: int(v) for f, v in zip(COUNT_FIELDS, self.data[li, t])}})
        return pd.DataFrame(rows)

    def differences(self, other: "RunCounts") -> list[str]:
        """Human-readable list of every (layer, timestep, field) where two runs disagree."""
        out = []
        if other.layers != self.layers or other.data.shape != self.data.shape:
            return [f"different layers/timesteps: {self.layers} vs {other.layers}"]
        for li, t, fi in zip(*np.nonzero(self.data != other.data)):
            out.append(f"{self.layers[li]} t={t} {COUNT_FIELDS[fi]}: "
                       f"{self.data[li, t, fi]} != {other.data[li, t, fi]}")
        return out


@dataclass
class RunResult:
    """What a simulation returns: logits, per-layer output levels (if recorded) and counts."""

    net: CompiledNetwork
    counts: RunCounts
    logits: np.ndarray  # (B, classes) float64
    levels: dict[str, np.ndarray] = field(default_factory=dict)  # name → (T, B, *out_shape)
    labels: np.ndarray | None = None
    timing: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)  # "Category: message" raised during the run
    extra: dict = field(default_factory=dict)  # a fidelity job's tallies and outputs (shards)

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.logits, axis=1)

    @property
    def accuracy(self) -> float | None:
        """Top-1 accuracy over the labeled inputs (label -1: unlabeled); None without any."""
        if self.labels is None:
            return None
        known = np.asarray(self.labels) >= 0
        if not known.any():
            return None
        return float(np.mean(self.predictions[known] == np.asarray(self.labels)[known]))
