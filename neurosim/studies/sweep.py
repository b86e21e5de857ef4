"""``neurosim sweep MODEL … -N 1,2,4,8 -T 1,2,4,8``: an N × T grid, run in parallel, one report.

Every grid point is a full simulation (its own run directory under runs/), so any point can be
re-reported or compared later. Every (point × shard) is a task on one cluster (neurosim.cluster:
local processes or Dask), one worker per core by default; the results are those of each point
run alone. The report
(neurosim.reports.sweep) is the paper's Table 3 (one column per configuration, plus the ANN
baseline) and Figures 7 and 11: energy, spikes and accuracy against N and T.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..limits import MAX_TIMESTEPS
from ..reports.runs import load_run
from ..reports.sweep import RUNS
from ..reports.tables import totals

@dataclass(frozen=True)
class Point:
    """One grid point: a model simulated with N levels and T timesteps."""

    model: str
    levels: int
    timesteps: int

    @property
    def label(self) -> str:
        return f"{Path(self.model).name}_N{self.levels}_T{self.timesteps}"

    @property
    def config(self) -> str:
        return f"T={self.timesteps}, N={self.levels}"


@dataclass(frozen=True)
class Settings:
    """What every point shares: profile, inputs, sample count, engine, seed."""

    hw: str | None = None
    inputs: str | None = None
    samples: int | None = None
    engine: str | None = None  # None: simulate.default_engine() (the event engine)
    seed: int = 0
    float_reference: bool = True
    add_mode: str | None = None


def parse_values(text: str, option: str, top: int = MAX_TIMESTEPS) -> list[int]:
    """'1,2,4,8' or '1-4' or '1-4,8' → sorted distinct integers in [1, top] (each range is
    checked before it is expanded)."""
    values: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        try:
            lo, hi = (int(p) for p in part.split("-", 1)) if "-" in part[1:] else \
                (int(part), int(part))
        except ValueError:
            raise InputError(f"expected comma-separated positive integers or ranges like 1-8, "
                             f"got {text!r}", option) from None
        if not 1 <= lo <= hi <= top:
            raise InputError(f"expected positive integers up to {top} (or ranges low-high), "
                             f"got {part!r}", option)
        values.update(range(lo, hi + 1))
    return sorted(values)


def grid(models: list[str], levels: list[int], timesteps: list[int],
         axes: bool = False) -> list[Point]:
    """Every (N, T) pair, or with ``axes`` the paper's two lines: N at T=1 and T at N=1."""
    if axes:
        pairs = [(n, 1) for n in levels] + [(1, t) for t in timesteps if (1, t) not in
                                            [(n, 1) for n in levels]]
    else:
        pairs = [(n, t) for t in timesteps for n in levels]
    return [Point(str(m), n, t) for m in models for n, t in pairs]


def row(point: Point, run_dir) -> dict:
    """One line of sweep.csv from a written run directory."""
    run = load_run(run_dir)
    t = totals(run)
    out = {"model": Path(point.model).name, "levels": point.levels,
           "timesteps": point.timesteps, "config": point.config,
           "accuracy": run.summary.get("accuracy"),
           "float_accuracy": run.summary.get("float_accuracy"),
           "events": t["events"], "events_transferred": t["events_transferred"],
           "synapse_visits": t["synapse_visits"], "run": f"{RUNS}/{point.label}"}
    if run.energy is not None:
        snn = run.energy["SNN"] if "SNN" in run.energy.columns else run.energy.iloc[:, 0]
        for category, value in snn.items():
            out[f"energy_{category}_nj"] = float(value)
        if "ANN" in run.energy.columns:
            out["ann_total_nj"] = float(run.energy.loc["Total", "ANN"])
    return out


def run_sweep(points: list[Point], settings: Settings, out: Path, workers: int | None = None,
              progress: bool = True, scheduler: str | None = None, backend: str = "auto",
              shard_inputs: int | None = None, keep=None, resume: bool = False) -> pd.DataFrame:
    """Run every point into ``out``/runs and return sweep.csv's rows. Every (point × shard) is a
    task on one cluster (neurosim.cluster), so a point's run directory is the one it would get
    alone; points that share a compiled network and inputs simulate once. ``keep``: a
    directory for finished shards (neurosim.partial), ``resume`` to finish it."""
    from ..cluster import default_workers, open_cluster, plans, run_jobs
    from ..shards import warning_notes
    from ..simulate import default_engine, finish, prepare

    engine = settings.engine or default_engine()
    preps, caught = {}, {}
    for p in points:  # what simulate() would note about each point alone
        with warnings.catch_warnings(record=True) as caught[p]:
            warnings.simplefilter("always")
            preps[p] = prepare(p.model, settings.hw, settings.inputs, settings.samples,
                               p.timesteps, p.levels, engine, settings.add_mode, settings.seed,
                               settings.float_reference, False, statistics=True)
    works = {f"{p.label}.{name}": work for p, prep in preps.items()
             for name, work in prep.works.items()}
    workers = workers or default_workers(sum(len(prep.data) for prep in preps.values()))
    bar = None
    try:
        with open_cluster(workers, scheduler, backend) as cluster:
            planned = plans(works, cluster.workers, shard_inputs)
            store = None
            if keep is not None:
                from ..partial import PartialStore
                store = PartialStore.open(keep, planned, resume, "neurosim sweep")
            if progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=distinct_inputs(planned), desc="sweep", unit="img",
                           file=sys.stderr)
            results = run_jobs(works, cluster, store, bar.update if bar else None,
                               planned=planned)
    finally:
        if bar:
            bar.close()
    rows = []
    for p, prep in preps.items():
        mine = {name: results[f"{p.label}.{name}"] for name in prep.works}
        run_dir = Path(out) / RUNS / p.label
        sim = finish(prep, mine)
        sim.notes += [n for n in warning_notes(caught[p]) if n not in sim.notes]
        sim.write(run_dir, report=False)
        rows.append(row(p, run_dir))
    return pd.DataFrame(rows)


def distinct_inputs(planned: dict) -> int:
    """Inputs to simulate over every job of a plan, each distinct run counted once."""
    seen = {}
    for spec in planned["jobs"].values():
        seen[repr(sorted(spec["run"].items()))] = spec["shards"][-1][1]
    return sum(seen.values())
