"""``neurosim explore MODEL --hw PROFILE --vary FIELD=V1,V2,… --out DIR``: a grid over profile
fields (core limits, widths, FIFO depth, packet size, clock, NoC encoding, …), one table and a
Pareto plot.

Every grid point is the profile with its fields replaced, written to ``profiles/<point>.yaml``
and validated like any profile, then one independent ``simulate`` call into ``runs/<point>/``
(``run_point`` takes and returns plain data, so a point can be submitted as a task to a worker
pool or a Dask cluster as it stands). ``explore.csv`` has one row per point: the varied values,
energy by category (nJ per inference), latency, throughput, area, accuracy and, when a run
records one, its fidelity; ``figures/pareto`` plots energy against latency, area as marker size.
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from ..errors import InputError
from ..hardware import loader, schema
from ..reports.runs import load_run

RUNS, PROFILES, TABLE = "runs", "profiles", "explore.csv"
SKIPPED = ("name", "description", "version", "notes")  # not hardware: nothing to explore


def fields(node: dict = schema.SCHEMA, prefix: str = "") -> list[str]:
    """Every profile field a grid may vary: the schema's leaves, as dotted paths."""
    out = []
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        if not prefix and key in SKIPPED:
            continue
        if sub.get("type") == "object" and "properties" in sub:
            out += fields(sub, path + ".")
        elif key != "source" and ("additionalProperties" not in sub
                                  or sub.get("type") != "object"):
            out.append(path)
    return out


def _value(text: str):
    """A grid value as YAML would read it: integer, number, null, true/false, else a string
    ("200 MHz", "bitmap")."""
    text = text.strip()
    low = text.lower()
    if low in ("null", "none", "~"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_vary(items: list[str]) -> dict[str, list]:
    """``["core.max_neurons=256,1024", …]`` → {field: [values]}; unknown fields are refused
    with the list of valid ones."""
    valid = fields()
    grid: dict[str, list] = {}
    for item in items:
        field, sep, values = item.partition("=")
        field = field.strip()
        if not sep or not values.strip():
            raise InputError(f"expected FIELD=V1,V2,…, got {item!r}", "--vary")
        if field not in valid:
            raise InputError(f"unknown profile field {field!r}; valid fields: "
                             f"{', '.join(valid)}", "--vary")
        if field in grid:
            raise InputError(f"field {field!r} is varied twice", "--vary")
        grid[field] = [_value(v) for v in values.split(",")]
    if not grid:
        raise InputError("give at least one --vary FIELD=V1,V2,…", "--vary")
    return grid


def _set(data: dict, field: str, value) -> None:
    node = data
    *parents, leaf = field.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _label(point: dict) -> str:
    text = "_".join(f"{k.split('.')[-1]}-{v}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9_.-]+", "", text.replace(" ", ""))[:120]


@dataclass(frozen=True)
class Settings:
    """What every point shares: inputs, sample count, engine, seed, N and T overrides."""

    inputs: str | None = None
    samples: int | None = None
    engine: str | None = None
    seed: int = 0
    levels: int | None = None
    timesteps: int | None = None
    float_reference: bool = True


def points(profile_path, grid: dict[str, list]) -> list[tuple[str, dict, dict]]:
    """(label, varied values, profile data) for every grid point, each profile validated."""
    base = loader.read_yaml(Path(profile_path))
    out = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        data = copy.deepcopy(base)
        for field, value in point.items():
            _set(data, field, value)
        label = _label(point)
        loader.profile_from_data(data, f"{Path(profile_path).name} [{label}]")
        out.append((label, point, data))
    return out


def run_point(model: str, label: str, point: dict, data: dict, settings: Settings,
              out: str) -> dict:
    """Simulate one grid point into ``out``/runs/<label> and return its row (plain data in and
    out: a task for a process pool or a Dask worker)."""
    from ..simulate import simulate

    profile = Path(out) / PROFILES / f"{label}.yaml"
    profile.parent.mkdir(parents=True, exist_ok=True)
    profile.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    sim = simulate(model, hw=str(profile), inputs=settings.inputs, samples=settings.samples,
                   timesteps=settings.timesteps, levels=settings.levels, engine=settings.engine,
                   seed=settings.seed, float_reference=settings.float_reference)
    run_dir = Path(out) / RUNS / label
    sim.write(run_dir, report=False)
    return row(label, point, run_dir, out)


def row(label: str, point: dict, run_dir: Path, out) -> dict:
    """One line of explore.csv from a written run directory."""
    run = load_run(run_dir)
    s = run.summary
    timing = s.get("timing") or {}
    area = s.get("area") or {}
    r = {"point": label, **point, "accuracy": s.get("accuracy"),
         "latency_s": timing.get("latency_s"),
         "throughput_per_s": timing.get("throughput_per_s"),
         "area_mm2": area.get("total_mm2"), "cores": area.get("cores"),
         "critical_layer": (s.get("bottleneck") or {}).get("layer"),
         "bound": (s.get("bottleneck") or {}).get("bound"),
         "payload_bits_per_event": (s.get("noc") or {}).get("payload_bits_per_event")}
    if run.energy is not None:
        for category, value in run.energy["SNN"].items():
            r[f"energy_{category}_nj"] = float(value)
    fidelity = s.get("fidelity")
    if isinstance(fidelity, (int, float)):
        r["fidelity"] = fidelity
    elif isinstance(fidelity, dict):
        r.update({f"fidelity_{k}": v for k, v in fidelity.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)})
    r["run"] = str(Path(run_dir).relative_to(out))
    return r


def run_grid(model: str, grid_points, settings: Settings, out: Path,
             jobs: int | None = None) -> pd.DataFrame:
    """Every point, in worker processes when jobs > 1; explore.csv's rows in grid order."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(grid_points)))
    args = [(model, label, point, data, settings, str(out)) for label, point, data in grid_points]
    if jobs == 1:
        rows = [run_point(*a) for a in args]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            rows = list(pool.map(run_point, *zip(*args)))
    return pd.DataFrame(rows)


def pareto_front(df: pd.DataFrame, x: str = "latency_s",
                 y: str = "energy_Total_nj") -> pd.Series:
    """True for points no other point beats on both ``x`` and ``y`` (lower is better)."""
    values = df[[x, y]].to_numpy(float)
    return pd.Series([not any((o <= v).all() and (o < v).any() for o in values)
                      for v in values], index=df.index)


def write_report(df: pd.DataFrame, out: Path, command: str) -> list[Path]:
    """explore.csv, explore.md and figures/pareto.{png,svg}."""
    from ..reports import figures

    df = df.copy()
    if "energy_Total_nj" in df.columns and df.latency_s.notna().all():
        df["pareto"] = pareto_front(df)
    df.to_csv(out / TABLE, index=False)
    paths = [out / TABLE]
    fig = figures.pareto(df, out / "figures" / "pareto")
    paths += fig
    from ..reports.tables import RATIO, TEXT, Table

    shown = df[[c for c in df.columns if c != "run"]]
    formats = {c: RATIO if pd.api.types.is_numeric_dtype(shown[c])
               and not pd.api.types.is_bool_dtype(shown[c]) else TEXT for c in shown.columns}
    table = Table("Grid points (energy in nJ per inference, latency in s, area in mm²)", shown,
                  formats)
    lines = ["# neurosim explore", "", f"`{command}`", "",
             f"{len(df)} grid points; every run directory is under `{RUNS}/`, every profile "
             f"under `{PROFILES}/`.", "", table.to_markdown(), ""]
    if fig:
        lines += ["![energy against latency, area as marker size](figures/pareto.png)", ""]
    (out / "explore.md").write_text("\n".join(lines))
    return paths + [out / "explore.md"]
