"""``neurosim compare DIR_A DIR_B …``: runs side by side, layer by layer, with relative differences.

Layers are aligned by name (SEW- and Sparse-ResNet18 share block{i}, res{i} and sum{i}, the
paper's Figure 10 naming). Layers present in only some runs are reported by name, and the layers
that do align are still compared. The first run is the baseline of every relative difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from . import figures
from . import html as page
from .run_report import provenance
from .runs import Run, layer_order
from .tables import COUNT, ENERGY, SIGNED, TEXT, Table, breakdown_frame, totals


@dataclass
class Alignment:
    """Layer names in display order, and for each run the names it lacks."""

    names: list[str]
    common: list[str]
    missing: dict[str, list[str]]  # run label → layers other runs have and it lacks

    def messages(self) -> list[str]:
        return [f"{label}: no layer(s) {', '.join(names)} (present in another run); "
                f"these rows are left blank for it and not compared"
                for label, names in self.missing.items() if names]


def unique_labels(runs: list[Run]) -> None:
    """Give every run a distinct label: its network name, or its directory when names repeat."""
    names = [r.name for r in runs]
    for run in runs:
        if not run.label:
            run.label = run.name if names.count(run.name) == 1 else str(run.path.name)
    labels = [r.label for r in runs]
    for i, run in enumerate(runs):
        if labels.count(run.label) > 1:
            run.label = f"{run.label} [{i + 1}]"


def align(runs: list[Run]) -> Alignment:
    if len(runs) < 2:
        raise InputError(f"compare needs at least two run directories, got {len(runs)}",
                         "compare")
    names = layer_order(runs)
    present = [set(r.layers.layer) for r in runs]
    common = [n for n in names if all(n in p for p in present)]
    if not common:
        raise InputError("no layer name is shared by all runs ("
                         + "; ".join(f"{r.label}: {', '.join(list(r.layers.layer)[:4])}…"
                                     for r in runs) + ")", "compare")
    missing = {r.label: [n for n in names if n not in p] for r, p in zip(runs, present)}
    return Alignment(names, common, missing)


def _column(run: Run, names: list[str], column: str, scale: float = 1.0) -> np.ndarray:
    if column not in run.layers.columns:
        return np.full(len(names), np.nan)
    by_name = run.layers.set_index("layer")[column] / run.samples * scale
    return np.array([by_name.get(n, np.nan) for n in names], float)


def relative(value: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base != 0, (value - base) / base, np.nan)


def activity_table(runs: list[Run], al: Alignment) -> Table:
    """Per layer: events sent and synapse visits per inference in each run, Δ against the first."""
    names = al.names
    kinds: dict[str, list[str]] = {}
    for run in runs:
        for name, kind in zip(run.layers.layer, run.layers.kind):
            if kind not in kinds.setdefault(name, []):
                kinds[name].append(kind)
    frame = pd.DataFrame({"layer": names, "kind": [" / ".join(kinds[n]) for n in names]})
    formats = {"layer": TEXT, "kind": TEXT}
    base = runs[0]
    for column, title in (("events_out", "events"), ("synapse_visits", "synapse visits")):
        b = _column(base, names, column)
        frame[f"{title}: {base.label}"] = b
        formats[f"{title}: {base.label}"] = COUNT
        for run in runs[1:]:
            v = _column(run, names, column)
            frame[f"{title}: {run.label}"] = v
            frame[f"Δ {title}: {run.label}"] = relative(v, b)
            formats[f"{title}: {run.label}"] = COUNT
            formats[f"Δ {title}: {run.label}"] = SIGNED
    rows = []
    for key, label in (("events", "total emitted by neuron layers"),
                       ("events_transferred", "total transferred (paper §6.4)")):
        row = {"layer": label, "kind": ""}
        bt = totals(base)
        for run in runs:
            t = totals(run)
            row[f"events: {run.label}"] = t[key]
            row[f"synapse visits: {run.label}"] = t["synapse_visits"]
            if run is not base:
                row[f"Δ events: {run.label}"] = float(relative(np.array(t[key]),
                                                               np.array(bt[key])))
                row[f"Δ synapse visits: {run.label}"] = float(relative(
                    np.array(t["synapse_visits"]), np.array(bt["synapse_visits"])))
        rows.append(row)
    frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
    notes = [f"Per inference. Δ is relative to {base.label}. Rows of kind 'add' are forward-mode "
             "residual sums: the events of their members that reach the consumer. 'Emitted' sums "
             "the neuron layers only; 'transferred' is the paper's activity measure (§6.4): it "
             "adds the events SEW's sum points forward (sum_i of kind add), while Sparse-ResNet's "
             "add_i rows feed a barrier neuron and are not counted."] + al.messages()
    return Table("Per-layer activity side by side", frame, formats, notes)


def energy_layer_table(runs: list[Run], al: Alignment) -> Table | None:
    """Per layer: energy per inference (nJ) of each run with a profile, Δ against the first."""
    have = [r for r in runs if "energy_total_pj" in r.layers.columns]
    if len(have) < 2:
        return None
    names = [n for n in al.names if any(
        n in set(r.spiking_rows.layer) for r in have)]
    frame = pd.DataFrame({"layer": names})
    formats = {"layer": TEXT}
    b = _column(have[0], names, "energy_total_pj", 1e-3)
    frame[f"energy (nJ): {have[0].label}"] = b
    formats[f"energy (nJ): {have[0].label}"] = ENERGY
    for run in have[1:]:
        v = _column(run, names, "energy_total_pj", 1e-3)
        frame[f"energy (nJ): {run.label}"] = v
        frame[f"Δ: {run.label}"] = relative(v, b)
        formats[f"energy (nJ): {run.label}"] = ENERGY
        formats[f"Δ: {run.label}"] = SIGNED
    return Table("Per-layer energy side by side (nJ per inference)", frame, formats,
                 [f"Δ is relative to {have[0].label}."])


def breakdown_table(runs: list[Run]) -> Table | None:
    """The paper's Table 3 layout with one SNN column per run (energy.csv's SNN column)."""
    have = [r for r in runs if r.energy is not None and "SNN" in r.energy.columns]
    if len(have) < 2:
        return None
    energy = pd.DataFrame({r.label: r.energy["SNN"] for r in have})
    frame = breakdown_frame(energy)
    formats = {r.label: ENERGY for r in have}
    base = have[0].label
    for r in have[1:]:
        frame[f"Δ: {r.label}"] = relative(frame[r.label].to_numpy(float),
                                          frame[base].to_numpy(float))
        formats[f"Δ: {r.label}"] = SIGNED
    return Table("Energy breakdown side by side (nJ per inference, the paper's Table 3 layout)",
                 frame, formats, [f"Δ is relative to {base}."], group_column="")


def build(runs: list[Run], out: Path) -> list[Path]:
    """Write comparison tables (md/csv/tex), figures and comparison.md/.html into ``out``."""
    unique_labels(runs)
    al = align(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = [("activity", activity_table(runs, al)),
              ("energy_by_layer", energy_layer_table(runs, al)),
              ("energy_breakdown", breakdown_table(runs))]
    written = []
    for stem, t in tables:
        if t is not None:
            written += t.write(out, stem)
    figs = [("Events per layer and inference, run by run",
             figures.events_by_layer(runs, out / "figures" / "events_by_layer",
                                     title="Events per layer: " + " vs ".join(r.label
                                                                              for r in runs)))]
    paths = figures.figure10(runs, out / "figures" / "figure10")
    if paths:
        figs.append(("Spikes at block_i, sum_i (top) and res_i (bottom), the paper's Figure 10",
                     paths))
    paths = figures.per_layer_bars(runs, "energy_total_pj", 1e-3,
                                   "energy per inference (nJ)",
                                   out / "figures" / "energy_by_layer",
                                   "Energy per layer: " + " vs ".join(r.label for r in runs))
    if paths:
        figs.append(("Energy per layer and inference, run by run", paths))
    written += [p for _, ps in figs for p in ps]
    present = [t for _, t in tables if t is not None]
    (out / "comparison.md").write_text(markdown(runs, present, figs, out))
    (out / "comparison.html").write_text(html_page(runs, present, figs))
    return written + [out / "comparison.md", out / "comparison.html"]


def _where(path: Path, out: Path) -> Path:
    """A run's directory as the comparison should name it: relative to the comparison when it
    lies inside (so it stays right when the comparison directory is moved), else as given."""
    try:
        return Path(path).resolve().relative_to(Path(out).resolve())
    except ValueError:
        return Path(path)


def markdown(runs: list[Run], tables: list[Table], figs, out: Path) -> str:
    lines = ["# neurosim comparison: " + " vs ".join(r.label for r in runs), ""]
    for run in runs:
        p = provenance(run)
        lines += [f"- **{run.label}**: {_where(run.path, out)}; " + "; ".join(
            f"{k} {p[k]}" for k in ("model", "hardware profile", "samples", "seed",
                                    "timesteps T", "levels N", "accuracy (fixed point)"))]
    lines.append("")
    for t in tables:
        lines += [t.to_markdown()]
    lines += ["## Figures", ""]
    for caption, paths in figs:
        png = next(p for p in paths if p.suffix == ".png")
        lines += [f"![{caption}]({png.relative_to(out).as_posix()})", "", f"*{caption}*", ""]
    return "\n".join(lines) + "\n"


def html_page(runs: list[Run], tables: list[Table], figs) -> str:
    p = page.Page("neurosim comparison: " + " vs ".join(r.label for r in runs))
    sec = p.section("Runs")
    for run in runs:
        sec.append(f"<h3>{page.html.escape(run.label)}</h3>")
        sec.append(page.meta(provenance(run)))
    page.tables_and_figures(p, tables, figs)
    return p.render()
