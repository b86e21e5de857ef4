"""Read a simulation's output directory (docs/outputs.md) back into tables.

A run directory holds summary.json, layers.csv and timesteps.csv, plus energy.csv with a hardware
profile, fidelity.csv with the float comparison, and levels.csv / metrics.json when ``neurosim
simulate --out`` recorded levels. Everything
a report shows comes from these files, so a report can be rebuilt from a run without re-running it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

SUMMARY = "summary.json"
LAYERS = "layers.csv"
ENERGY = "energy.csv"
LEVELS = "levels.csv"
METRICS = "metrics.json"
FIDELITY = "fidelity.csv"
CORES = "cores.csv"

# Columns every layers.csv has (docs/outputs.md); energy columns are added with a profile.
LAYER_COLUMNS = ("layer", "kind", "samples", "timesteps", "levels", "neurons", "events_in",
                 "events_out", "level_sum_out", "synapse_visits", "synapse_visits_analytic",
                 "weight_reads", "potential_reads", "potential_writes", "bias_reads",
                 "fifo_reads", "fifo_writes", "acc_ops", "mac_ops", "addr_ops")
LEVEL_COLUMNS = ("layer", "kind", "level", "count")
FIDELITY_COLUMNS = ("layer", "positions", "differing", "share_differing", "max_abs_dz",
                    "events_integer", "events_float")
SUM_NAME = re.compile(r"^(add|sum)(\d+)$")
REQUIRED_ENERGY_ROWS = ("Potentials", "Weights", "Bias", "In/Out", "Memory total",
                        "Synaptic ops", "Addressing", "Total")


@dataclass
class Run:
    """One simulation's outputs, validated: what every report, comparison and sweep reads."""

    path: Path
    summary: dict
    layers: pd.DataFrame  # layers.csv, run totals
    energy: pd.DataFrame | None = None  # energy.csv indexed by category, nJ per inference
    levels: pd.DataFrame | None = None  # levels.csv: counts of output values per layer
    metrics: dict | None = None  # metrics.json: NeuroBench-compatible and graded-aware metrics
    label: str = ""
    cores: pd.DataFrame | None = None  # cores.csv (event engine): per-core cycles and counts
    fidelity: pd.DataFrame | None = None  # fidelity.csv: float vs integer per neuron layer

    @property
    def samples(self) -> int:
        return int(self.summary.get("samples") or 1)

    @property
    def name(self) -> str:
        return self.label or str(self.summary.get("network") or self.path.name)

    @property
    def spiking_rows(self) -> pd.DataFrame:
        """Layers that do work: forward-mode sum points (kind "add") repeat members' events."""
        return self.layers[self.layers.kind != "add"]

    def energy_columns(self) -> list[str]:
        """The energy_*_pj category columns of layers.csv, total last."""
        cols = [c for c in self.layers.columns if c.startswith("energy_") and c.endswith("_pj")]
        return [c for c in cols if c != "energy_total_pj"] + (
            ["energy_total_pj"] if "energy_total_pj" in cols else [])

    def per_sample(self, column: str) -> pd.Series:
        return self.layers[column] / self.samples

    def describe(self) -> dict:
        """Provenance for a report header: model, profile and its hash, seed, versions."""
        s = self.summary
        settings = s.get("settings") or {}
        hw = settings.get("hw") or {}
        return {"model": s.get("model") or settings.get("model"), "network": s.get("network"),
                "profile": hw.get("name"), "profile_path": hw.get("path"),
                "profile_sha256": hw.get("sha256"), "inputs": settings.get("inputs"),
                "samples": s.get("samples"), "seed": settings.get("seed"),
                "timesteps": s.get("timesteps"), "levels": s.get("levels"),
                "engine": s.get("engine"), "add_mode": s.get("add_mode"),
                "accuracy": s.get("accuracy"), "float_accuracy": s.get("float_accuracy"),
                "versions": s.get("versions") or {}, "import": settings.get("import")}


def layer_order(runs: list["Run"], include_adds: bool = True) -> list[str]:
    """Layer names of all runs in network order; residual sum rows (layers.csv lists them last)
    go right after their block (add{i}, then sum{i}, after block{i})."""
    names: list[str] = []
    for run in runs:
        rows = run.layers if include_adds else run.spiking_rows
        names += [n for n in rows.layer if n not in names]
    placed = [n for n in names if not SUM_NAME.match(n) or f"block{SUM_NAME.match(n)[2]}" not
              in names]
    for name in sorted((n for n in names if n not in placed),
                       key=lambda n: (int(SUM_NAME.match(n)[2]), SUM_NAME.match(n)[1] == "sum")):
        i = SUM_NAME.match(name)[2]
        anchor = placed.index(f"block{i}")
        while anchor + 1 < len(placed) and SUM_NAME.match(placed[anchor + 1]) and \
                SUM_NAME.match(placed[anchor + 1])[2] == i:
            anchor += 1
        placed.insert(anchor + 1, name)
    return placed


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read as CSV: {err}", str(path)) from None


def _require(df: pd.DataFrame, columns, path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; found {', '.join(df.columns)}",
                         str(path), missing[0])


def read_summary(path: Path) -> dict:
    if not path.is_file():
        raise InputError("not found; expected a directory written by `neurosim simulate --out`",
                         str(path))
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", str(path)) from None
    if not isinstance(summary, dict):
        raise InputError("expected a JSON object", str(path))
    samples = summary.get("samples")
    if not isinstance(samples, int) or samples < 1:
        raise InputError(f"expected a positive integer, got {samples!r}", str(path), "samples")
    return summary


def read_layers(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("not found; expected a directory written by `neurosim simulate --out`",
                         str(path))
    df = _read_csv(path)
    _require(df, LAYER_COLUMNS, path)
    if df.layer.duplicated().any():
        dup = df.layer[df.layer.duplicated()].iloc[0]
        raise InputError(f"layer {dup!r} appears twice", str(path), "layer")
    numeric = [c for c in LAYER_COLUMNS[2:]] + [c for c in df.columns if c.startswith("energy_")]
    for col in numeric:
        if not pd.api.types.is_numeric_dtype(df[col]) or df[col].isna().any():
            raise InputError("expected numbers in every row", str(path), col)
    df["layer"] = df.layer.astype(str)
    df["kind"] = df.kind.astype(str)
    return df


def read_energy(path: Path) -> pd.DataFrame:
    """energy.csv: first column ``category``, one column per configuration (nJ per inference)."""
    df = _read_csv(path)
    _require(df, ("category",), path)
    if len(df.columns) < 2:
        raise InputError("expected at least one configuration column after 'category'",
                         str(path))
    df = df.set_index(df.category.astype(str)).drop(columns="category")
    missing = [r for r in REQUIRED_ENERGY_ROWS if r not in df.index]
    if missing:
        raise InputError(f"missing row(s) {', '.join(missing)}; found {', '.join(df.index)}",
                         str(path), f"category.{missing[0]}")
    for col in df.columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            raise InputError(f"expected numbers (nJ), got {df[col][bad].iloc[0]!r}", str(path),
                             f"{col}.{df.index[bad][0]}")
        df[col] = values
    return df


def read_levels(path: Path) -> pd.DataFrame:
    df = _read_csv(path)
    _require(df, LEVEL_COLUMNS, path)
    for col in ("level", "count"):
        if not pd.api.types.is_integer_dtype(df[col]) or (df[col] < 0).any():
            raise InputError("expected non-negative integers", str(path), col)
    df["layer"] = df.layer.astype(str)
    return df


def read_metrics(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", str(path))
    return data


def read_fidelity(path: Path) -> pd.DataFrame:
    df = _read_csv(path)
    _require(df, FIDELITY_COLUMNS, path)
    for col in FIDELITY_COLUMNS[1:]:
        if not pd.api.types.is_numeric_dtype(df[col]) or df[col].isna().any():
            raise InputError("expected numbers in every row", str(path), col)
    df["layer"] = df.layer.astype(str)
    return df


def load_run(path, label: str = "") -> Run:
    """Read and check a run directory; errors name the file and the field."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("is not a directory (expected the --out directory of neurosim simulate)",
                         str(path))
    summary = read_summary(path / SUMMARY)
    layers = read_layers(path / LAYERS)
    energy = read_energy(path / ENERGY) if (path / ENERGY).is_file() else None
    levels = read_levels(path / LEVELS) if (path / LEVELS).is_file() else None
    metrics = read_metrics(path / METRICS) if (path / METRICS).is_file() else None
    fidelity = read_fidelity(path / FIDELITY) if (path / FIDELITY).is_file() else None
    if not np.all(layers.samples == summary["samples"]):
        raise InputError(f"samples column disagrees with summary.json ({summary['samples']})",
                         str(path / LAYERS), "samples")
    cores = _read_csv(path / CORES) if (path / CORES).is_file() else None
    return Run(path, summary, layers, energy, levels, metrics, label, cores, fidelity)
