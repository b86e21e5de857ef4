"""``neurosim reprice RUN --hw PROFILE --out DIR``: a stored run priced under another profile.

Counts, levels and simulated times depend only on the settings the simulation reads
(``Profile.simulation()``: widths, core limits, packet size, FIFO depth, add mode, timing, NoC
placement, block size), which every run records in ``summary.json`` (``settings.simulation``).
When the new profile agrees on all of them, its energy follows from the stored counts
(timesteps.csv: every count per layer and timestep) and the network, recompiled from the
model directory the run names (its manifest's sha256 is checked): DIR is then byte for byte
the run a fresh ``neurosim simulate`` on that profile writes, apart from the host-time fields
and the marker's command. Otherwise the first field that differs is named, and nothing is
written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from .. import area, noc
from ..counters import COUNT_FIELDS, RunCounts
from ..energy import estimate
from ..errors import InputError
from ..hardware import Profile
from ..outputs import atomic_dir, write_json
from ..shards import Job, build_network, manifest_sha256

# the same under any price (fidelity.csv's energy columns are priced again, its others kept)
COPIED = ("timesteps.csv", "metrics.json", "levels.csv", "fidelity_timesteps.csv", "outputs.npz",
          "links.csv")
FIDELITY, FLOAT_STEPS = "fidelity.csv", "fidelity_timesteps.csv"
NON_FINITE_NOTE = "non-finite values"  # write_json's note: made again when the summary is written


def _read(run: Path) -> tuple[dict, pd.DataFrame]:
    try:
        summary = json.loads((run / "summary.json").read_text())
        steps = pd.read_csv(run / "timesteps.csv")
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable run directory: {err}", str(run)) from None
    missing = [c for c in ("layer", "timestep", *COUNT_FIELDS) if c not in steps.columns]
    if missing or "settings" not in summary:
        raise InputError(f"timesteps.csv or summary.json lacks {missing[:3] or ['settings']}: "
                         "written by an older neurosim? simulate it again", str(run))
    return summary, steps


def check_same_simulation(settings: dict, profile: Profile, run: str) -> None:
    """Raise naming the first field the simulation reads that ``profile`` changes."""
    stored = settings.get("simulation") or Profile("default").simulation()
    for key, value in profile.simulation().items():
        if key not in stored or stored[key] != value:
            raise InputError(f"{key} is {value!r} in {profile.path or profile.name} but "
                             f"{stored.get(key)!r} in the run: the counts would change, so it "
                             "needs a new simulation (neurosim simulate)", run, "settings.simulation")


def counts_of(net, steps: pd.DataFrame, samples: int, timesteps: int, run: str) -> RunCounts:
    counts = RunCounts(net, samples=samples, timesteps=timesteps)
    names = list(dict.fromkeys(steps.layer))
    if names != counts.layers or len(steps) != len(names) * timesteps:
        raise InputError("timesteps.csv does not hold the layers of the recompiled network; "
                         "the model directory changed since the run", run)
    counts.data[:] = steps[list(COUNT_FIELDS)].to_numpy(np.int64).reshape(counts.data.shape)
    return counts


def stored_traffic(run: Path, summary: dict, cores, hw: Profile) -> noc.Traffic:
    """The run's NoC traffic as it stored it (layers.csv, cores.csv, summary.json ``noc``):
    the settings that make it are the run's (check_same_simulation), so only its price
    changes; recounting it would need the output levels, which a run does not keep."""
    try:
        layers = pd.read_csv(run / "layers.csv").set_index("layer")[list(noc.COLUMNS)]
        stored = summary["noc"]
        bits, events = stored["bits_per_message"], int(stored["events"])
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"layers.csv or summary.json lacks the NoC traffic ({err}): written "
                         "by an older neurosim? simulate it again", str(run)) from None
    per_core = None if cores is None else cores.set_index("core")[list(noc.COLUMNS)]
    return noc.Traffic(layers, per_core, hw.noc, bits, events)


def reprice(run, hw: Profile, out, force: bool = False, model=None) -> Path:
    """Write ``out``: the run at ``run`` priced with ``hw`` (module docstring). ``model``: the
    model directory, where it moved since the run."""
    run = Path(run)
    summary, steps = _read(run)
    settings = summary["settings"]
    check_same_simulation(settings, hw, str(run))
    model = str(model or settings["model"])
    if not Path(model).is_dir():
        raise InputError("the run's model directory is not there; pass --model DIR", model)
    found = manifest_sha256(model)
    if settings.get("model_sha256") and found != settings["model_sha256"]:
        raise InputError(f"the model changed since the run (manifest sha256 {found[:12]}, the "
                         f"run's {settings['model_sha256'][:12]})", model)
    job = Job(model, found, hw, settings.get("levels_override"), int(settings["timesteps"]),
              settings["add_mode"], True, settings["engine"], False)
    _, net = build_network(job)
    counts = counts_of(net, steps, int(summary["samples"]), int(settings["timesteps"]), str(run))
    cores = pd.read_csv(run / "cores.csv") if (run / "cores.csv").is_file() else None
    traffic = stored_traffic(run, summary, cores, hw)
    timing = summary.get("timing") or {}
    energy = estimate(counts, net, hw, latency_s=timing.get("seconds_per_inference",
                                                            timing.get("latency_s")),
                      traffic=traffic)
    fidelity = None
    if (run / FIDELITY).is_file() and "fidelity" in summary:
        fidelity = _repriced_fidelity(run, summary, net, hw, energy, timing, str(run))
    old_width = (summary.get("energy") or {}).get("width_notes", [])
    notes = [n for n in summary.get("notes", [])
             if n not in old_width and not n.startswith(NON_FINITE_NOTE)]
    notes += [n for n in energy.width_notes() if n not in notes]
    new = {k: v for k, v in settings.items() if k not in ("hw", "simulation", "import")}
    new["hw"], new["simulation"] = hw.describe(), hw.simulation()
    if "import" in settings:
        new["import"] = settings["import"]
    summary = dict(summary)  # fields keep their places: the bytes of a fresh simulate
    summary["settings"], summary["notes"], summary["energy"] = new, notes, energy.summary()
    summary["noc"] = traffic.summary(float(energy.layers["routing"].sum()))
    summary["area"] = area.summary(net, hw)
    if cores is not None:  # the traffic and cycle columns stay; area and static power are hw's
        bits = cores["sram_bits"].to_numpy()
        cores["area_mm2"] = [area.core_area_mm2(int(b), hw) for b in bits]
        cores["static_w"] = [area.core_static_w(int(b), hw) for b in bits]
        for row, a, w in zip((summary.get("timing") or {}).get("cores", []), cores["area_mm2"],
                             cores["static_w"]):
            row["area_mm2"], row["static_w"] = a, w
    with atomic_dir(out, "run", "neurosim reprice", force=force) as tmp:
        for name in COPIED:
            if (run / name).is_file():
                shutil.copyfile(run / name, tmp / name)
        if cores is not None:
            cores.to_csv(tmp / "cores.csv", index=False)
        table = noc.add_columns(counts.table(), traffic)
        energy.add_columns(table).to_csv(tmp / "layers.csv", index=False)
        energy.write(tmp)
        if fidelity is not None:
            fidelity.to_csv(tmp / FIDELITY, index=False)
        write_json(tmp / "summary.json", summary, note_key="notes")
        if (run / "report.md").is_file():
            from ..reports.run_report import build
            from ..reports.runs import load_run
            build(load_run(tmp), tmp)
    return Path(out)


def _repriced_fidelity(run: Path, summary: dict, net, hw: Profile, energy, timing: dict,
                       where: str) -> pd.DataFrame:
    """fidelity.csv and summary.json's ``fidelity`` with the float network's counts
    (fidelity_timesteps.csv) priced under ``hw``; the levels and events stay as stored."""
    from ..fidelity import repriced

    table = pd.read_csv(run / FIDELITY)
    float_energy = None
    if (run / FLOAT_STEPS).is_file() and not noc.needs_levels(net, hw.noc, hw.spike_bits):
        steps = pd.read_csv(run / FLOAT_STEPS)
        fcounts = counts_of(net, steps, int(summary["samples"]), int(summary["timesteps"]),
                            where)
        float_energy = estimate(fcounts, net, hw, latency_s=timing.get(
            "seconds_per_inference", timing.get("latency_s")))
    summary["fidelity"] = dict(summary["fidelity"])
    repriced(table, summary["fidelity"], energy, float_energy)
    return table
