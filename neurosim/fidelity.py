"""Fidelity: how far the integer network the hardware runs strays from the user's float model.

Both networks run end to end on the same inputs, in lockstep batch by batch with the reference's
own step (reference.step_layer for the integer network; reference.counted_step for the float
one, whose counts price what quantisation changes). Nothing is stored per level: per neuron
layer the tally keeps the positions compared (neurons × timesteps × samples, before pooling),
those whose level differs and the largest |Δz|; per network the predictions that agree and
the correct ones of each network. Every field is an integer count (or a maximum), so the tally
of one part of the inputs merges with another's by addition (``Fidelity.__iadd__``): a run split
into shards gives the record of one run.

``Outputs`` keeps, on request (``simulate --save-outputs``), what a user compares with their
framework per sample: the output neuron layer's levels and the logits of both networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .compiler import CompiledNetwork, Layer, check_inputs
from .counters import F, RunCounts
from .data import Dataset
from .reference import Tables, counted_step, frame, logits_of, step_layer

LEVEL_MODES = ("spiking", "sum")  # layers that emit levels


def level_layers(net: CompiledNetwork) -> list[Layer]:
    return [layer for layer in net.layers if layer.mode in LEVEL_MODES]


def output_neuron_layer(net: CompiledNetwork) -> Layer | None:
    """The layer whose levels are the network's output: the output layer when it emits levels,
    else the neuron layer feeding the readout (its first projection's source), if any."""
    out = net.output_layer
    if out.mode in LEVEL_MODES:
        return out
    source = out.projections[0].source
    return None if source == net.input_name else net.layer(source)


@dataclass
class Fidelity:
    """Integer tallies of float-vs-integer agreement over some inputs (merge with +=)."""

    layers: list[str]
    positions: np.ndarray  # (L,) int64: neuron positions × timesteps × samples compared
    differing: np.ndarray  # (L,) int64: those whose level differs
    max_dz: np.ndarray  # (L,) int64: the largest |z_integer − z_float|
    float_counts: RunCounts  # the float network's counts, laid out like the integer run's
    samples: int = 0
    agree: int = 0  # samples whose predictions agree
    labeled: int = 0
    correct: int = 0  # integer network
    float_correct: int = 0

    @classmethod
    def empty(cls, net: CompiledNetwork, timesteps: int) -> "Fidelity":
        names = [layer.name for layer in level_layers(net)]
        zeros = np.zeros(len(names), np.int64)
        return cls(names, zeros.copy(), zeros.copy(), zeros.copy(),
                   RunCounts(net, samples=0, timesteps=timesteps))

    def __iadd__(self, other: "Fidelity") -> "Fidelity":
        if other.layers != self.layers:
            raise ValueError("cannot merge fidelity tallies of different networks")
        self.positions += other.positions
        self.differing += other.differing
        self.max_dz = np.maximum(self.max_dz, other.max_dz)
        self.float_counts += other.float_counts
        for name in ("samples", "agree", "labeled", "correct", "float_correct"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labeled if self.labeled else None

    @property
    def float_accuracy(self) -> float | None:
        return self.float_correct / self.labeled if self.labeled else None

    @property
    def agreement(self) -> float | None:
        """Share of neuron positions (every layer, before pooling) whose levels agree."""
        total = int(self.positions.sum())
        return 1.0 - int(self.differing.sum()) / total if total else None

    def table(self, counts: RunCounts, energy=None, float_energy=None) -> pd.DataFrame:
        """fidelity.csv: one row per neuron layer (docs/outputs.md). ``counts``: the integer
        run's; the energies (EnergyReports of both runs) add the energy columns."""
        rows = []
        for i, name in enumerate(self.layers):
            events = int(counts.data[counts.index[name], :, F["events_out"]].sum())
            fevents = int(self.float_counts.data[counts.index[name], :, F["events_out"]].sum())
            layer = counts.net.layer(name)
            row = {"layer": name, "kind": layer.kind, "levels": layer.levels,
                   "neurons": layer.neurons, "positions": int(self.positions[i]),
                   "differing": int(self.differing[i]),
                   "share_differing": self.differing[i] / self.positions[i]
                   if self.positions[i] else 0.0,
                   "max_abs_dz": int(self.max_dz[i]), "events_integer": events,
                   "events_float": fevents, "events_change": _change(events, fevents)}
            if energy is not None and float_energy is not None:
                row.update(layer_energy(name, energy, float_energy))
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self, counts: RunCounts, energy=None, float_energy=None) -> dict:
        """summary.json's ``fidelity``: network totals and the per-layer shares."""
        events = _spiking_events(counts)
        fevents = _spiking_events(self.float_counts)
        total = int(self.positions.sum())
        out = {"positions": total, "differing": int(self.differing.sum()),
               "share_differing": int(self.differing.sum()) / total if total else None,
               "max_abs_dz": int(self.max_dz.max(initial=0)),
               "samples": self.samples, "predictions_agree": self.agree,
               "prediction_agreement": self.agree / self.samples if self.samples else None,
               "accuracy": self.accuracy, "float_accuracy": self.float_accuracy,
               "events_per_sample": {"integer": events / max(self.samples, 1),
                                     "float": fevents / max(self.samples, 1),
                                     "change": _change(events, fevents)},
               "layers": {name: {"share_differing": self.differing[i] / self.positions[i]
                                 if self.positions[i] else 0.0,
                                 "max_abs_dz": int(self.max_dz[i])}
                          for i, name in enumerate(self.layers)}}
        if energy is not None and float_energy is not None:
            out["energy_nj"] = total_energy(energy, float_energy)
        return out


def layer_energy(name: str, energy, float_energy) -> dict:
    """fidelity.csv's energy columns of layer ``name`` (EnergyReports of both networks)."""
    e = float(energy.layers.loc[name].sum())
    fe = float(float_energy.layers.loc[name].sum())
    return {"energy_integer_pj": e, "energy_float_pj": fe, "energy_change": _change(e, fe)}


def total_energy(energy, float_energy) -> dict:
    """summary.json's fidelity.energy_nj."""
    e = sum(energy.totals_nj().values())
    fe = sum(float_energy.totals_nj().values())
    return {"integer": e, "float": fe, "change": _change(e, fe)}


def repriced(table: pd.DataFrame, summary: dict, energy, float_energy) -> None:
    """A stored fidelity.csv and summary.json ``fidelity`` with the energies of another
    profile (neurosim reprice), in place: the levels and events do not change."""
    if float_energy is None:
        table.drop(columns=[c for c in table.columns if c.startswith("energy_")], inplace=True)
        summary.pop("energy_nj", None)
        return
    for i, name in enumerate(table.layer):
        for key, value in layer_energy(str(name), energy, float_energy).items():
            table.loc[i, key] = value
    summary["energy_nj"] = total_energy(energy, float_energy)


def _spiking_events(counts: RunCounts) -> int:
    return int(counts.data[:, :, F["events_out"]].sum())


def _change(value: float, baseline: float) -> float | None:
    """(value − baseline) / baseline: what quantisation adds, as a fraction; None at 0."""
    return (value - baseline) / baseline if baseline else None


@dataclass
class Outputs:
    """Per-sample results for comparison with the user's framework (outputs.npz)."""

    index: np.ndarray  # (S,) int64: each sample's position in the input file
    logits: np.ndarray  # (S, classes) float64
    levels: np.ndarray | None  # (S, T, ...) int32: the output neuron layer's levels
    layer: str | None  # the name of that layer
    float_logits: np.ndarray | None = None
    float_levels: np.ndarray | None = None

    def arrays(self) -> dict:
        out = {"index": self.index, "logits": self.logits}
        if self.levels is not None:
            out["levels"] = self.levels
            out["levels_layer"] = np.array(self.layer)
        if self.float_logits is not None:
            out["float_logits"] = self.float_logits
            if self.float_levels is not None:
                out["float_levels"] = self.float_levels
        return out


def concat_outputs(parts: list[Outputs]) -> Outputs:
    """Outputs of consecutive parts of the inputs, in order."""
    first = parts[0]

    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    return Outputs(cat("index"), cat("logits"), cat("levels"), first.layer, cat("float_logits"),
                   cat("float_levels"))


def measure(net: CompiledNetwork, fnet: CompiledNetwork | None, data: Dataset, timesteps: int,
            keep_outputs: bool = False, batch_size: int = 64,
            progress=None) -> tuple[Fidelity | None, Outputs | None]:
    """Run the integer ``net`` and the float ``fnet`` (None: the integer one alone, for its
    outputs) in lockstep on ``data``; the tally and (``keep_outputs``) the per-sample outputs.
    The float network reads the file's exact values when the inputs were floats. Its counts
    follow ``net``'s core placement."""
    check_inputs(net, data.inputs, timesteps, data.source)
    exact = data.exact if data.exact is not None else data.inputs
    fid, out = tally(net, fnet, data.inputs, exact, timesteps, keep_outputs, batch_size,
                     progress)
    if fid is not None:
        score(fid, out.logits, out.float_logits, data.labels)
    if not keep_outputs:
        return fid, None
    out.index = data.index
    return fid, out


def tally(net, fnet, x, xf, timesteps: int, keep_outputs: bool = False, batch_size: int = 64,
          progress=None) -> tuple[Fidelity | None, Outputs]:
    """The level tallies (no prediction scores: ``score``) and the outputs of inputs ``x``
    (``xf``: the float network's, the exact values of a float file)."""
    fid = Fidelity.empty(net, timesteps) if fnet is not None else None
    tables = Tables(fnet, placed=net) if fnet is not None else None
    keep = output_neuron_layer(net) if keep_outputs else None
    parts = []
    for start in range(0, len(x), batch_size):
        stop = min(start + batch_size, len(x))
        parts.append(_batch(net, fnet, x[start:stop],
                            xf[start:stop] if fnet is not None else None, timesteps, fid,
                            tables, keep))
        if fid is not None:
            fid.samples += stop - start
            fid.float_counts.samples += stop - start
        if progress is not None:
            progress(stop - start)
    return fid, concat_outputs(parts)


def score(fid: Fidelity, logits: np.ndarray, float_logits: np.ndarray, labels) -> None:
    """Add the prediction scores of these inputs to ``fid``."""
    pred, fpred = np.argmax(logits, axis=1), np.argmax(float_logits, axis=1)
    labels = np.asarray(labels)
    known = labels >= 0
    fid.agree += int(np.count_nonzero(pred == fpred))
    fid.labeled += int(np.count_nonzero(known))
    fid.correct += int(np.count_nonzero((pred == labels) & known))
    fid.float_correct += int(np.count_nonzero((fpred == labels) & known))


def shard_arrays(net, fnet, x, xf, timesteps: int, keep_outputs: bool,
                 progress=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """What a fidelity shard returns (neurosim.shards): the float network's counts and logits
    (the integer network's without ``fnet``) and the extra arrays: the integer tallies
    (summed, or the maximum, at the merge) and the per-input outputs (concatenated)."""
    fid, out = tally(net, fnet, x, xf, timesteps, keep_outputs, progress=progress)
    extra = {"integer_logits": out.logits}
    if fid is not None:
        extra.update(positions=fid.positions, differing=fid.differing, max_dz=fid.max_dz)
        counts, logits = fid.float_counts.data, out.float_logits
    else:
        counts, logits = RunCounts(net, samples=0, timesteps=timesteps).data, out.logits
    if out.levels is not None:
        extra["levels"] = out.levels
        if out.float_levels is not None:
            extra["float_levels"] = out.float_levels
    return counts, logits, extra


def from_merged(net: CompiledNetwork, merged, logits: np.ndarray, data: Dataset,
                compare: bool, keep_outputs: bool) -> tuple[Fidelity | None, Outputs | None]:
    """The run's Fidelity and Outputs from its fidelity job's merged shards (``merged``: a
    RunResult whose counts and logits are the float network's) and the run's own integer
    ``logits`` (its engine's)."""
    e = merged.extra
    fid = None
    if compare:
        fid = Fidelity.empty(net, merged.counts.timesteps)
        fid.positions, fid.differing, fid.max_dz = e["positions"], e["differing"], e["max_dz"]
        fid.float_counts, fid.samples = merged.counts, len(data)
        score(fid, logits, merged.logits, data.labels)
    out = None
    if keep_outputs:
        keep = output_neuron_layer(net)
        out = Outputs(data.index, logits, e.get("levels"), keep.name if keep else None,
                      merged.logits if compare else None, e.get("float_levels"))
    return fid, out


def _batch(net, fnet, x, xf, timesteps, fid, tables, keep) -> Outputs:
    b = len(x)
    v = {l.name: np.zeros((b,) + l.shape, np.int64) for l in net.layers}
    vf = {l.name: np.zeros((b,) + l.shape) for l in fnet.layers} if fnet is not None else {}
    rows = {name: i for i, name in enumerate(fid.layers)} if fid is not None else {}
    out_name = net.output
    sums, fsums = 0, 0
    levels, flevels = [], []
    for t in range(timesteps):
        streams = {net.input_name: frame(net, x, t)}
        fstreams = {net.input_name: frame(net, xf, t)} if fnet is not None else {}
        for i, layer in enumerate(net.layers):
            v[layer.name], z, out, _ = step_layer(layer, v[layer.name], streams, True)
            if fnet is not None:
                flayer = fnet.layers[i]
                vf[layer.name], zf, fout = counted_step(
                    flayer, vf[layer.name], fstreams, False,
                    fid.float_counts.row(layer.name, t), tables)
            if z is None:
                continue
            streams[layer.name] = out
            if fnet is not None:
                fstreams[layer.name] = fout
                if layer.name in rows:
                    r = rows[layer.name]
                    dz = np.abs(z.astype(np.int64) - zf.astype(np.int64))
                    fid.positions[r] += dz.size
                    fid.differing[r] += int(np.count_nonzero(dz))
                    fid.max_dz[r] = max(int(fid.max_dz[r]), int(dz.max(initial=0)))
            if layer.name == out_name:
                sums = sums + out
                fsums = fsums + fout if fnet is not None else 0
            if keep is not None and layer is keep:
                levels.append(out.astype(np.int32))
                if fnet is not None:
                    flevels.append(fout.astype(np.int32))
    logits = logits_of(net, v[out_name], sums, timesteps)
    flogits = logits_of(fnet, vf[out_name], fsums, timesteps) if fnet is not None else None

    def stacked(arrays):
        return np.stack(arrays, axis=1) if arrays else None

    return Outputs(np.zeros(0, np.int64), logits, stacked(levels),
                   keep.name if keep is not None else None, flogits, stacked(flevels))
