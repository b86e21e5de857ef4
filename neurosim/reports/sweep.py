"""The report of an N × T sweep (``neurosim sweep``, neurosim.studies.sweep): sweep.csv's rows
as the paper's Table 3 (one column per configuration, plus the ANN baseline), a summary table,
and Figures 7 and 11 (energy, spikes and accuracy against N and T).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import figures
from . import html as page
from .run_report import provenance
from .runs import load_run
from .tables import COUNT, ENERGY, PERCENT, RATIO, TEXT, Table, breakdown_frame

RUNS = "runs"
SWEEP_CSV = "sweep.csv"


def breakdown_table(df: pd.DataFrame) -> Table | None:
    """The paper's Table 3: one column per configuration (per model), plus the ANN baseline."""
    cats = [c for c in df.columns if c.startswith("energy_") and c.endswith("_nj")]
    if not cats:
        return None
    multi = df.model.nunique() > 1
    energy = {}
    for _, r in df.iterrows():
        name = f"{r.model} {r.config}" if multi else r.config
        energy[name] = {c[len("energy_"):-len("_nj")]: r[c] for c in cats}
    table = pd.DataFrame(energy)
    if "ann_total_nj" in df.columns:
        table.insert(0, "ANN", np.nan)
        table.loc["Total", "ANN"] = df.ann_total_nj.iloc[0]
    frame = breakdown_frame(table)
    formats = {c: ENERGY for c in table.columns}
    notes = ["nJ per inference. The ANN column is the same profile's dense baseline (only its "
             "total is shown here; each run's energy.csv has its breakdown)."
             if "ANN" in table.columns else "nJ per inference."]
    return Table("Energy breakdown per configuration (the paper's Table 3 layout)", frame,
                 formats, notes, group_column="")


def summary_table(df: pd.DataFrame) -> Table:
    cols = {"model": TEXT, "levels": COUNT, "timesteps": COUNT, "accuracy": PERCENT,
            "float_accuracy": PERCENT, "events": COUNT, "events_transferred": COUNT,
            "synapse_visits": COUNT}
    frame = df[[c for c in cols if c in df.columns]].copy()
    if "energy_Total_nj" in df.columns:
        frame["energy_total_nj"] = df["energy_Total_nj"]
        cols["energy_total_nj"] = ENERGY
        if "ann_total_nj" in df.columns:
            frame["E_SNN/E_ANN"] = df["energy_Total_nj"] / df["ann_total_nj"]
            cols["E_SNN/E_ANN"] = RATIO
    renamed = {"levels": "N", "timesteps": "T", "float_accuracy": "float accuracy",
               "events": "events emitted", "events_transferred": "events transferred (paper)",
               "synapse_visits": "synapse visits", "energy_total_nj": "energy (nJ)"}
    frame = frame.rename(columns=renamed)
    formats = {renamed.get(k, k): v for k, v in cols.items()}
    return Table("Sweep: accuracy, activity and energy per inference", frame, formats,
                 ["Per inference. 'Events transferred' is the paper's activity measure (§6.4): "
                  "neuron layers plus the events SEW sum points forward."])


def sweep_figures(df: pd.DataFrame, folder: Path) -> list[tuple[str, list[Path]]]:
    figs = []
    axis = ("N and T" if df.levels.nunique() > 1 and df.timesteps.nunique() > 1
            else "N" if df.levels.nunique() > 1 else "T")
    if "energy_Total_nj" in df.columns:
        ann = float(df.ann_total_nj.iloc[0]) if "ann_total_nj" in df.columns else None
        divisor, unit = figures.energy_unit(float(df["energy_Total_nj"].max()))
        scaled = df.assign(energy=df["energy_Total_nj"] / divisor)
        figs.append((f"Total energy per inference against {axis} (Figure 7B); dotted: ANN",
                     figures.sweep_lines(scaled, "energy", f"energy per inference ({unit})",
                                         folder / "energy", f"Energy against {axis}",
                                         None if ann is None else ann / divisor,
                                         "ANN (same profile)")))
        configs = list(dict.fromkeys(
            (f"{r.model} {r.config}" if df.model.nunique() > 1 else r.config)
            for _, r in df.iterrows()))
        energy = {}
        for _, r in df.iterrows():
            key = f"{r.model} {r.config}" if df.model.nunique() > 1 else r.config
            energy[key] = {cat: float(r[f"energy_{cat}_nj"]) for cat in figures.CATEGORY_COLORS
                           if f"energy_{cat}_nj" in df.columns}
        figs.append(("Energy breakdown per configuration (Table 3 rows as bars)",
                     figures.energy_breakdown_bars(configs, energy, folder / "breakdown",
                                                   "Energy breakdown per configuration")))
    figs.append((f"Spikes per image against {axis} (Figures 7A and 11B)",
                 figures.sweep_lines(df, "events_transferred",
                                     "spikes per image (transferred, §6.4)",
                                     folder / "spikes", f"Spiking activity against {axis}")))
    if df.accuracy.notna().any():
        acc = df.assign(accuracy_pct=100 * df.accuracy.astype(float))
        figs.append((f"Top-1 accuracy against {axis} (Figure 11A)",
                     figures.sweep_lines(acc, "accuracy_pct", "top-1 accuracy (%)",
                                         folder / "accuracy", f"Accuracy against {axis}")))
    return figs


def build(df: pd.DataFrame, out: Path) -> list[Path]:
    """sweep.csv, the tables (md/csv/tex), the figures and sweep.md/.html into ``out``."""
    out = Path(out)
    df.to_csv(out / SWEEP_CSV, index=False)
    written = [out / SWEEP_CSV]
    tables = [t for t in (summary_table(df), breakdown_table(df)) if t is not None]
    for stem, t in zip(("sweep_table", "energy_breakdown"), tables):
        written += t.write(out, stem)
    figs = sweep_figures(df, out / "figures")
    written += [p for _, ps in figs for p in ps]
    head = provenance(load_run(out / df.run.iloc[0]))
    head["model"] = ", ".join(dict.fromkeys(df.model))
    for key in ("network", "timesteps T", "levels N", "accuracy (fixed point)",
                "accuracy (float model)"):
        head.pop(key, None)
    head["grid"] = f"N ∈ {sorted(df.levels.unique())}, T ∈ {sorted(df.timesteps.unique())}"
    title = "neurosim sweep: " + ", ".join(dict.fromkeys(df.model))
    lines = [f"# {title}", ""] + [f"- **{k}**: {v}" for k, v in head.items()] + [""]
    lines += [t.to_markdown() for t in tables]
    lines += ["## Figures", ""]
    for caption, paths in figs:
        png = next(p for p in paths if p.suffix == ".png")
        lines += [f"![{caption}]({png.relative_to(out).as_posix()})", "", f"*{caption}*", ""]
    lines += ["Each configuration's full report: `neurosim report " + "<sweep>/runs/<config>`; "
              "run directories: " + ", ".join(f"`{r}`" for r in df.run) + "."]
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    p = page.Page(title)
    p.section("").append(page.meta(head))
    page.tables_and_figures(p, tables, figs)
    (out / "sweep.html").write_text(p.render())
    return written + [out / "sweep.md", out / "sweep.html"]
