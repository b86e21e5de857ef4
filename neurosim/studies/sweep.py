"""``neurosim sweep MODEL … -N 1,2,4,8 -T 1,2,4,8``: an N × T grid, run in parallel, one report.

Every grid point is a full simulation (its own run directory under runs/), so any point can be
re-reported or compared later. Points run in worker processes (concurrent.futures, spawn: numba
and forked threads do not mix), one per available core by default. The report
(neurosim.reports.sweep) is the paper's Table 3 (one column per configuration, plus the ANN
baseline) and Figures 7 and 11: energy, spikes and accuracy against N and T.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
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


def run_point(point: Point, settings: Settings, run_dir: str) -> dict:
    """Simulate one grid point and write its run directory (runs in a worker process)."""
    from ..simulate import simulate

    sim = simulate(point.model, hw=settings.hw, inputs=settings.inputs, samples=settings.samples,
                   timesteps=point.timesteps, levels=point.levels, engine=settings.engine,
                   add_mode=settings.add_mode, seed=settings.seed,
                   float_reference=settings.float_reference)
    sim.write(run_dir, report=False)
    return row(point, run_dir)


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


def run_sweep(points: list[Point], settings: Settings, out: Path, jobs: int | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Run every point (in parallel when jobs > 1) into ``out``/runs; returns sweep.csv's rows."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(points)))
    run_dirs = {p: str(Path(out) / RUNS / p.label) for p in points}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(points), desc="sweep", unit="run", file=sys.stderr)
    rows = {}
    try:
        if jobs == 1:
            for p in points:
                rows[p] = run_point(p, settings, run_dirs[p])
                if bar:
                    bar.update(1)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                futures = {pool.submit(run_point, p, settings, run_dirs[p]): p for p in points}
                for future in as_completed(futures):
                    rows[futures[future]] = future.result()
                    if bar:
                        bar.update(1)
    finally:
        if bar:
            bar.close()
    return pd.DataFrame([rows[p] for p in points])
