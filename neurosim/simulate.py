"""The main job: load a model, compile it, run it on inputs, count, price, write a run directory.

    sim = simulate("models/fmnist_small_n4t1", hw="hw_configs/paper_45nm.yaml", samples=100)
    sim.write("out/")     # the run directory: the files `neurosim simulate --out` writes

The Python API and ``neurosim simulate`` are the same code with the same defaults (the event
engine; the float model's accuracy beside the fixed-point one; the statistics of every layer's
levels, collected in the shards), so both write the same files; docs/outputs.md lists them.
This module owns that recipe: which files a run directory holds and how each is made. A run is
``prepare`` (load, check, compile, name its jobs), its jobs' shards on a cluster
(neurosim.cluster), then ``finish`` (notes, energy); the files do not depend on where the shards
ran. Only the number of workers differs by default: the CLI uses every core, the API one
process (spawned workers need the caller's ``if __name__ == "__main__":``).
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import __version__, limits, noc
from .compiler import CompiledNetwork, Widths, check_inputs
from .counters import RunResult, paper_sum_points
from .data import Dataset, load_inputs, stratified_indices
from .errors import InputError, NeurosimError
from .model.graph import Graph
from .model.io import load_model
from .model.neurons import MAX_LEVELS
from .outputs import atomic_dir, write_json
from .shards import warning_notes

ENGINES = ("event", "reference")
SAMPLES_FILE = "samples.npz"


@dataclass
class Simulation:
    """A finished run: the compiled network, its result, and the settings that produced it."""

    graph: Graph
    net: CompiledNetwork
    result: RunResult
    settings: dict
    data: Dataset
    float_accuracy: float | None = None
    profile: object = None
    energy: object = None  # filled by the energy model when a profile is given
    notes: list = field(default_factory=list)  # what a user should know about this run
    fidelity: object = None  # neurosim.fidelity.Fidelity: float vs integer (not with --no-float)
    float_energy: object = None  # the float network's counts priced on the same profile
    outputs: object = None  # neurosim.fidelity.Outputs (save_outputs)
    traffic: object = None  # noc.Traffic: payload bits, bit hops, routers, messages

    @property
    def counts(self):
        return self.result.counts

    @property
    def ordered_notes(self) -> list[str]:
        """The notes, the profile's width notes last (so that re-pricing a run under another
        profile swaps just those: neurosim.studies.reprice)."""
        width = self.energy.width_notes() if self.energy is not None else []
        return [n for n in self.notes if n not in width] + width

    def layers_table(self):
        table = self.counts.table()
        if self.traffic is not None:
            from .noc import add_columns
            table = add_columns(table, self.traffic)
        if self.energy is not None:
            table = self.energy.add_columns(table)
        return table

    def summary(self) -> dict:
        r = self.result
        table = self.counts.table()
        spiking = table[table.kind != "add"]
        samples = max(r.counts.samples, 1)
        summary = {
            "model": self.settings["model"],
            "network": self.net.name,
            "engine": self.settings["engine"],
            "samples": r.counts.samples,
            "timesteps": r.counts.timesteps,
            "levels": sorted({l.levels for l in self.net.layers if l.mode == "spiking"}),
            "add_mode": self.net.add_mode,
            "integer": self.net.integer,
            "accuracy": r.accuracy,
            "float_accuracy": self.float_accuracy,
            "events_transferred_per_sample": float(
                spiking.events_out.sum() + table[paper_sum_points(table)].events_out.sum())
            / samples,
            "events_per_sample": float(spiking.events_out.sum()) / samples,
            "synapse_visits_per_sample": float(spiking.synapse_visits.sum()) / samples,
            "totals": {c: int(spiking[c].sum()) for c in
                       ("events_in", "events_out", "synapse_visits", "weight_reads",
                        "potential_reads", "potential_writes", "bias_reads", "fifo_reads",
                        "fifo_writes", "acc_ops", "mac_ops", "addr_ops", "saturations")},
            "quantisation": self.net.quantisation,
            "settings": self.settings,
            "timing": r.timing,
            "versions": versions(),
            "notes": self.ordered_notes,
        }
        if self.fidelity is not None:
            summary["fidelity"] = self.fidelity.summary(self.counts, self.energy,
                                                        self.float_energy)
        if self.energy is not None:
            summary["energy"] = self.energy.summary()
        summary.update(self.architecture())
        return summary

    def fidelity_table(self):
        """fidelity.csv: float vs integer per neuron layer (None with --no-float)."""
        if self.fidelity is None:
            return None
        return self.fidelity.table(self.counts, self.energy, self.float_energy)

    def architecture(self) -> dict:
        """summary.json's ``noc`` (payload and routing per event), ``area`` (with a profile) and
        ``bottleneck`` (event engine): the chip-level view of the run."""
        from . import area, bottlenecks
        out = {}
        if self.traffic is not None:
            routing = None
            if self.energy is not None:
                routing = float(self.energy.layers["routing"].sum())
            out["noc"] = self.traffic.summary(routing)
        if self.profile is not None:
            out["area"] = area.summary(self.net, self.profile)
        if "cores" in self.result.timing:
            out["bottleneck"] = bottlenecks.summary(self.result.timing["cores"],
                                                    self.result.timing.get("cycles", 0.0),
                                                    self.result.timing.get("links"))
        return out

    def write(self, out_dir, report: bool = True, force: bool = False) -> Path:
        """Write the run directory ``out_dir`` (docs/outputs.md): layers.csv, timesteps.csv,
        energy.csv and energy_reference.csv (with a profile), cores.csv (event engine),
        metrics.json, levels.csv (runs with statistics), fidelity.csv and fidelity_timesteps.csv
        (with the float comparison), outputs.npz (save_outputs), summary.json, then report.md/.html,
        its tables and figures (``report=False`` skips them). ``out_dir`` is created, or replaced
        if neurosim made it; ``force`` writes these files into any existing directory and
        touches nothing else (neurosim.outputs). Warnings raised while the files are made go
        into the notes of summary.json."""
        from . import metrics

        out_dir = Path(out_dir)
        with atomic_dir(out_dir, "run", "neurosim simulate", force=force) as tmp:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                values = metrics.compute(self, self.data.inputs)
                self.layers_table().to_csv(tmp / "layers.csv", index=False)
                self.counts.per_timestep().to_csv(tmp / "timesteps.csv", index=False)
                if self.energy is not None:
                    self.energy.write(tmp)
                if "cores" in self.result.timing:
                    import pandas as pd
                    pd.DataFrame(self.result.timing["cores"]).to_csv(tmp / "cores.csv",
                                                                     index=False)
                if "links" in self.result.timing:
                    import pandas as pd
                    pd.DataFrame(self.result.timing["links"], columns=noc.LINK_COLUMNS).to_csv(
                        tmp / "links.csv", index=False)
                write_json(tmp / "metrics.json", values)
                if self.fidelity is not None:
                    self.fidelity_table().to_csv(tmp / "fidelity.csv", index=False)
                    self.fidelity.float_counts.per_timestep().to_csv(
                        tmp / "fidelity_timesteps.csv", index=False)
                if self.outputs is not None:
                    np.savez_compressed(tmp / "outputs.npz", **self.outputs.arrays())
                if metrics.has_stats(self.result.extra):
                    metrics.level_table(metrics.stats_histograms(self.net, self.result.extra)
                                        ).to_csv(tmp / "levels.csv", index=False)
            self.notes += [n for n in warning_notes(caught) if n not in self.notes]
            write_json(tmp / "summary.json", self.summary(), note_key="notes")
            if report:
                from .reports.run_report import build
                from .reports.runs import load_run
                build(load_run(tmp), tmp)
        return out_dir


def default_engine() -> str:
    """The event engine where it can run (it needs simpy), else the dense reference: both give
    the same counts by contract."""
    try:
        from . import engine  # noqa: F401
    except ImportError:
        return "reference"
    return "event"


def versions() -> dict:
    import numba
    import simpy

    return {"neurosim": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "simpy": simpy.__version__,
            "platform": sys.platform}


def default_inputs(model_path, graph=None) -> Path:
    """The model's samples.npz; without one, the error says what to pass instead."""
    path = None if model_path is None else Path(model_path) / SAMPLES_FILE
    if path is None or not path.is_file():
        shape = "" if graph is None else (
            f" (each {tuple(graph.input.shape)}, T={graph.timesteps})")
        raise InputError(f"the model ships no {SAMPLES_FILE}: pass --input FILE, an npz of "
                         f"'images' (N, C, H, W) or 'frames' (N, T, C, H, W){shape}, integers "
                         "or floats, with optional 'labels'", str(model_path or "model"))
    return path


def prepare_inputs(model_path, inputs, samples: int | None, timesteps: int, seed: int,
                   graph=None) -> Dataset:
    """Load the inputs (the model's shipped samples by default) and draw a stratified subset.
    Asking for more samples than there are runs them all, with a note (Dataset.notes).
    ``graph`` (the model) lets a missing samples.npz say which inputs to pass."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"expected a non-negative integer, got {seed!r}", "seed")
    if inputs is None:
        data = load_inputs(default_inputs(model_path, graph), timesteps)
    elif isinstance(inputs, Dataset):
        data = inputs
    else:
        data = load_inputs(inputs, timesteps)
    if samples is not None and samples < len(data):
        data = data.subset(stratified_indices(data.labels, samples, seed))
    elif samples is not None and samples > len(data):
        note = (f"--samples {samples} asked for more inputs than {data.source} holds: ran all "
                f"{len(data)}")
        data = replace(data, notes=list(dict.fromkeys(data.notes + [note])))
    return data


def run_notes(net: CompiledNetwork, result: RunResult) -> list[str]:
    """What a user should know about a finished run that is valid but unusual: weights or
    biases clipped to the word width, potentials that saturated where that can change a level
    (not in layers that carry no state, whose word holds only their fire range), an output
    that never fired or whose logits tie on every input (every prediction then is class 0)."""
    notes = []
    for name, info in net.quantisation.items():
        for what in ("weights", "biases"):
            clipped = info.get(f"{what}_clipped", 0)
            if clipped:
                notes.append(f"layer {name!r}: {clipped} {what} clipped to the "
                             f"{getattr(net.widths, what)}-bit word")
    table = result.counts.table()
    for row in table[table.saturations > 0].itertuples():
        layer = net.layer(row.layer)
        if layer.mode == "spiking" and (result.counts.timesteps == 1 or layer.spec.stateless):
            continue  # by design: the word holds the fire range [0, N·θ], no level changes
        hint = "" if net.calibration else "; not calibrated: --calibration FILE sizes it"
        notes.append(f"layer {row.layer!r}: potentials saturated {row.saturations} times "
                     f"(the {net.widths.potentials}-bit word{hint})")
    out, logits = net.output_layer, result.logits
    if len(logits) and out.mode != "readout" and not logits.any():
        notes.append(f"the output layer {out.name!r} never fired on any of the {len(logits)} "
                     "inputs: every prediction is class 0")
    elif len(logits) and logits.shape[1] > 1:
        top = logits.max(axis=1, keepdims=True)
        if np.all((logits == top).sum(axis=1) > 1):
            notes.append(f"the output layer {out.name!r} gives tied logits on every input: "
                         "the predictions (the first of the tied classes) mean nothing")
    return notes


def check_labels(data: Dataset, classes: int) -> None:
    """Labels must name one of the model's classes (-1: unlabeled)."""
    labels = data.labels
    bad = (labels < -1) | (labels >= classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"label {int(labels[first])} of sample {first} is not one of the "
                         f"model's {classes} classes (0..{classes - 1}; -1 for unlabeled)",
                         data.source, "labels")


@dataclass
class Prepared:
    """A simulation set up and checked, before it runs: its jobs ("int", and "fidelity" for
    the float network beside the integer one, neurosim.fidelity) go to neurosim.cluster,
    ``finish`` makes the Simulation."""

    graph: Graph
    net: CompiledNetwork
    data: Dataset
    profile: object
    settings: dict
    works: dict  # job id → cluster.Work
    notes: list = field(default_factory=list)  # the calibration's


def simulate(model, hw=None, inputs=None, samples: int | None = None,
             timesteps: int | None = None, levels: int | None = None,
             engine: str | None = None, add_mode: str | None = None, seed: int = 0,
             float_reference: bool = True, record: bool | None = None, statistics=None,
             progress=None, workers: int = 1, scheduler: str | None = None,
             backend: str = "auto", shard_inputs: int | None = None, keep=None,
             resume: bool = False, calibration=None, save_outputs: bool = False) -> Simulation:
    """Simulate ``model`` (a path or a Graph) on ``inputs`` and count everything.

    hw: a hardware profile (path or loaded profile): word widths, add mode, block size and
    energy. inputs: a file, a Dataset, or None for the model's samples.npz; samples: a
    stratified subset. timesteps/levels override the model's T and every neuron's N. engine:
    "event" (default, where simpy is installed) or "reference". float_reference: also run the
    float model, in lockstep with the integer one, for the fidelity section (what fixed point
    changes: levels, predictions, events, energy). record: keep every layer's output levels in
    the result; None keeps them when they fit limits.RECORD_LIMIT_BYTES. statistics: collect the
    levels' statistics (levels.csv, SynOps, MembraneUpdates) in the shards; None: unless
    ``record`` is False. progress: called with the number of inputs finished (twice per input
    with the float comparison). calibration:
    the inputs that size the quantiser's ranges (a file or a Dataset; None: the model's
    samples.npz, False: none). save_outputs: keep each sample's logits and output levels
    (outputs.npz). Warnings raised on the way become the run's notes.

    workers, scheduler, backend, shard_inputs: where the shards run (neurosim.cluster; the
    result does not depend on them). workers > 1 spawns processes: call it under
    ``if __name__ == "__main__":``. keep: a directory for finished shards (the CLI's
    ``DIR.partial``, neurosim.partial); resume: finish the run a kept directory holds.
    """
    from .cluster import open_cluster, plans, run_jobs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prep = prepare(model, hw, inputs, samples, timesteps, levels, engine or default_engine(),
                       add_mode, seed, float_reference, record, calibration, save_outputs,
                       statistics)
        if isinstance(model, Graph):
            workers, scheduler = 1, None  # a graph in memory is not sent to workers
        with open_cluster(workers, scheduler, backend) as cluster:
            planned = plans(prep.works, cluster.workers, shard_inputs)
            store = None
            if keep is not None:
                from .partial import PartialStore
                store = PartialStore.open(keep, planned, resume, "neurosim simulate")
            results = run_jobs(prep.works, cluster, store, progress, planned=planned)
        sim = finish(prep, results)
    sim.notes += [n for n in warning_notes(caught) if n not in sim.notes]
    return sim


def prepare(model, hw, inputs, samples, timesteps, levels, engine, add_mode, seed,
            float_reference, record, calibration=None, save_outputs: bool = False,
            statistics=None) -> Prepared:
    """Load and check everything a run needs, compile its network, and name its jobs."""
    from .calibration import run_calibration
    from .cluster import Work
    from .shards import Job, manifest_sha256, network

    graph = model if isinstance(model, Graph) else load_model(model)
    model_path = None if isinstance(model, Graph) else Path(model)
    where = str(model_path) if model_path else graph.name
    if engine not in ENGINES:
        raise NeurosimError(f"unknown engine {engine!r}; expected one of {ENGINES}", "engine")
    if levels is not None:
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) \
                or not 1 <= levels <= MAX_LEVELS:
            raise InputError(f"expected N in [1, {MAX_LEVELS}], got {levels!r}", "levels")
        graph = graph.with_levels(levels)
    if timesteps is not None:
        if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) \
                or not 1 <= timesteps <= limits.MAX_TIMESTEPS:
            raise InputError(f"expected T in [1, {limits.MAX_TIMESTEPS}], got {timesteps!r}",
                             "timesteps")
        graph = graph.with_timesteps(timesteps)
    profile = None
    widths = Widths()
    if hw is not None:
        from .hardware import load_profile
        profile = hw if not isinstance(hw, (str, Path)) else load_profile(hw)
        widths = profile.widths
        add_mode = add_mode or profile.add_mode
    add_mode = add_mode or "forward"
    data = prepare_inputs(model_path, inputs, samples, graph.timesteps, seed, graph)
    if len(data) == 0:
        raise InputError("no inputs to simulate (0 samples)", data.source)
    check_labels(data, int(np.prod(graph.shapes[graph.output])))
    if data.scale is not None:  # a file of floats: its quantisation unit is the input unit
        graph = graph.with_input_scale(data.scale)
    if statistics is None:
        statistics = record is not False
    if record is None:
        record = limits.should_record(graph, len(data), graph.timesteps)
    cal, cal_notes = run_calibration(graph, add_mode, None if model_path is None
                                     else model_path / SAMPLES_FILE, calibration)
    base = dict(model=None if model_path is None else os.path.abspath(model_path),
                model_sha256=None if model_path is None else manifest_sha256(model_path),
                profile=profile, levels=levels, timesteps=graph.timesteps, add_mode=add_mode,
                calibration=cal, input_scale=data.scale,
                graph=graph if model_path is None else None)
    job = Job(integer=True, engine=engine, record=bool(record), statistics=bool(statistics),
              **base)
    net = network(job)[1]
    limits.check_run(graph, len(data), graph.timesteps, where, job.record, data.frames)
    check_inputs(net, data.inputs, graph.timesteps, data.source)
    works = {"int": Work(job, data.inputs, data.labels, net)}
    if float_reference or save_outputs:  # the float network beside the integer one
        exact = float_reference and data.exact is not None
        fjob = Job(integer=False, engine="fidelity", record=False, compare=float_reference,
                   keep_outputs=save_outputs, exact=exact, **base)
        x = np.stack([data.inputs.astype(np.float64), data.exact.astype(np.float64)],
                     axis=1) if exact else data.inputs
        works["fidelity"] = Work(fjob, x, data.labels, net)
    settings = {"model": str(model_path) if model_path else graph.name,
                "inputs": data.source, "samples": len(data), "seed": seed,
                "engine": engine, "timesteps": graph.timesteps, "levels_override": levels,
                "add_mode": add_mode, "widths": vars(widths),
                "input_scale": {"unit": graph.input.scale,
                                "from": "the file's floats" if data.scale is not None
                                else "the model"},
                "calibration": net.calibration,
                "block_inputs": job.block_inputs, "model_sha256": job.model_sha256,
                "hw": None if profile is None else profile.describe()}
    if profile is not None:  # what `neurosim reprice` checks against another profile
        settings["simulation"] = profile.simulation()
    if "import" in graph.meta:  # an imported model: its source, dialect and fallback notes
        settings["import"] = graph.meta["import"]
    return Prepared(graph, net, data, profile, settings, works, cal_notes)


def finish(prep: Prepared, results: dict) -> Simulation:
    """The Simulation of a prepared run from its jobs' merged results: notes, fidelity and
    energy."""
    from .fidelity import from_merged

    result = results["int"]
    notes = list(prep.data.notes) + prep.notes + run_notes(prep.net, result)
    for job in results.values():  # warnings raised inside the shards, wherever they ran
        notes += [n for n in job.warnings if n not in notes]
    fid, outputs = None, None
    if "fidelity" in results:
        fjob = prep.works["fidelity"].job
        fres = results["fidelity"]
        fid, outputs = from_merged(prep.net, fres, result.logits, prep.data, fjob.compare,
                                   fjob.keep_outputs)
        if not np.array_equal(fres.extra["integer_logits"], result.logits):
            notes.append(f"the {prep.settings['engine']} engine and the dense reference "
                         "disagree on the logits of the same integer network: please report "
                         "this")
    sim = Simulation(prep.graph, prep.net, result, prep.settings, prep.data,
                     fid.float_accuracy if fid is not None else None, prep.profile,
                     notes=notes, fidelity=fid, outputs=outputs)
    sim.traffic = _chip_view(prep.net, result, prep.profile)
    profile = prep.profile
    if profile is not None:
        from .energy import estimate
        timing = result.timing  # the event engine's chip time per inference prices leakage
        latency = timing.get("seconds_per_inference", timing.get("latency_s"))
        sim.energy = estimate(sim.counts, prep.net, profile, latency_s=latency,
                              traffic=sim.traffic)
        if fid is not None and not noc.needs_levels(prep.net, profile.noc, profile.spike_bits):
            sim.float_energy = estimate(fid.float_counts, prep.net, profile, latency_s=latency)
        sim.notes += sim.energy.width_notes()
    return sim


def _chip_view(net, result: RunResult, profile):
    """The run's NoC traffic (noc.py); with the event engine, cores.csv's rows gain their
    traffic, cycle split and bound (bottlenecks.py), SRAM bits, area and static power."""
    from . import area, bottlenecks
    from .compiler import default_mapping
    mapped = default_mapping(net)
    settings = profile.noc if profile is not None else mapped.noc
    spike_bits = profile.spike_bits if profile is not None else 32
    rows = result.timing.get("cores")
    traffic = noc.traffic(net, result.counts, settings, spike_bits, result.extra, rows)
    if rows:
        timing = profile.timing if profile is not None else mapped.timing
        rows = [{**row, **traffic.cores.loc[row["core"]].to_dict()} for row in rows]
        rows = bottlenecks.annotate(rows, timing, result.timing["cycles"], settings.link_bits)
        for row in rows:
            bits = mapped.cores[row["core"]].sram_bits
            row["sram_bits"] = bits
            if profile is not None:
                row["area_mm2"] = area.core_area_mm2(bits, profile)
                row["static_w"] = area.core_static_w(bits, profile)
        result.timing["cores"] = rows
    return traffic
