"""The paper's Table 3 and Figures 10 and 11 beside neurosim's own numbers, as tables and
report pages: what ``regenerate`` writes into reports/table3, sew_vs_sparse* and figure11."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..reports import figures
from ..reports import html as page
from ..reports.run_report import provenance
from ..reports.runs import Run
from ..reports.tables import (
    COUNT,
    ENERGY,
    PERCENT,
    PRINTED,
    RATIO,
    SIGNED,
    TEXT,
    Table,
    breakdown_frame,
    totals,
)
from . import paper

COMMAND = "python -m neurosim.studies.regenerate"
PAPER_CONFIGS = [c for c in paper.TABLE3_CONFIGS if c != "ANN"]


# --- Table 3 -----------------------------------------------------------------------------------

def table3_tables(runs: dict[str, Run]) -> tuple[Table, Table, Table]:
    """(paper as printed, neurosim in the same layout, neurosim / paper) for Table 3's configs."""
    t3 = paper.table3()
    printed = pd.DataFrame({cfg: [paper.TABLE3_PRINTED[r][i] for r in paper.TABLE3_PRINTED]
                            for i, cfg in enumerate(paper.TABLE3_CONFIGS)},
                           index=list(paper.TABLE3_PRINTED))
    ours = pd.DataFrame(index=t3.index, columns=list(paper.TABLE3_CONFIGS), dtype=float)
    ann_source = next((r for r in runs.values() if r.energy is not None
                       and "ANN" in r.energy.columns), None)
    for cfg in paper.TABLE3_CONFIGS:
        source = ann_source if cfg == "ANN" else runs.get(cfg)
        if source is None or source.energy is None:
            continue
        column = "ANN" if cfg == "ANN" else "SNN"
        for row in t3.index:
            if row in source.energy.index:
                ours.loc[row, cfg] = source.energy.loc[row, column]
    if "ANN" in ours.columns:
        ours.loc["Potentials", "ANN"] = np.nan  # the ANN has no potentials (the paper's '-')
    spikes_paper = {c: paper.SPIKES_PER_INFERENCE.get(c) for c in paper.TABLE3_CONFIGS}
    spikes_ours = {c: totals(runs[c])["events"] if c in runs else np.nan
                   for c in paper.TABLE3_CONFIGS}
    spikes_ours["ANN"] = np.nan
    paper_frame = breakdown_frame(printed)
    paper_frame = pd.concat([paper_frame, pd.DataFrame([{"": "spikes per inference", " ": "",
                             **{c: ("" if v is None else f"{v:,.0f}")
                                for c, v in spikes_paper.items()}}])], ignore_index=True)
    ours_frame = breakdown_frame(ours)
    ours_frame = pd.concat([ours_frame, pd.DataFrame([{"": "spikes per inference", " ": "",
                                                       **spikes_ours}])], ignore_index=True)
    ratio = ours.astype(float) / t3
    ratio_frame = breakdown_frame(ratio)
    spike_ratio = {c: (spikes_ours[c] / spikes_paper[c]) if spikes_paper[c] else np.nan
                   for c in paper.TABLE3_CONFIGS}
    ratio_frame = pd.concat([ratio_frame, pd.DataFrame([{"": "spikes per inference", " ": "",
                                                         **spike_ratio}])], ignore_index=True)
    cols = list(paper.TABLE3_CONFIGS)
    last = len(ours_frame) - 1
    return (Table("The paper's Table 3 (VGG16, CIFAR-10), as printed (nJ per inference)",
                  paper_frame, {c: PRINTED for c in cols}, [paper.SOURCE], group_column=""),
            Table("neurosim, same layout (nJ per inference)", ours_frame,
                  {c: ENERGY for c in cols}, group_column="",
                  cell_formats={(last, c): COUNT for c in cols}),
            Table("neurosim / paper, cell by cell", ratio_frame, {c: RATIO for c in cols},
                  [], group_column=""))


def table3_report(runs: dict[str, Run], notes: list[str], out: Path) -> list[Path]:
    """reports/table3: the paper's table, ours beside it, the ratio, and a breakdown figure."""
    tables = table3_tables(runs)
    for stem, t in zip(("paper", "neurosim", "ratio"), tables):
        t.write(out, f"table3_{stem}")
    configs = [c for c in PAPER_CONFIGS if c in runs and runs[c].energy is not None]
    energy = {c: runs[c].energy["SNN"].to_dict() for c in configs}
    ann = next((r for r in runs.values() if r.energy is not None
                and "ANN" in r.energy.columns), None)
    if ann is not None:
        energy = {"ANN": ann.energy["ANN"].to_dict(), **energy}
        configs = ["ANN"] + configs
    figs = []
    if configs:
        figs.append(("neurosim's energy per category for the Table 3 configurations",
                     figures.energy_breakdown_bars(configs, energy, out / "figures" / "breakdown",
                                                   "VGG16, energy per inference by category")))
    any_run = next(iter(runs.values()))
    head = provenance(any_run)
    for key in ("network", "timesteps T", "levels N", "accuracy (fixed point)",
                "accuracy (float model)", "model"):
        head.pop(key, None)
    lines = ["# Table 3: energy breakdown of VGG16 on CIFAR-10, the paper next to neurosim", "",
             f"Regenerate with `{COMMAND}`.", ""]
    lines += [f"- **{k}**: {v}" for k, v in head.items()]
    lines += [f"- **{cfg}**: {note}" for cfg, note in notes_by_config(runs, notes).items()]
    lines.append("")
    lines += [t.to_markdown() for t in tables]
    lines += ["Rows the back-computation of docs/design.md §7.5 determines by construction "
              "(In/Out, Synaptic ops, Bias) versus those that depend on per-access energies "
              "fitted to the table "
              "(Potentials, Weights): see reports/paper_tables.md and "
              "docs/design.md. Differences here come from neurosim's own "
              "counts on its trained network (width, training and accuracy differ from the "
              "paper's; see reports/models.md).", ""]
    for caption, paths in figs:
        lines += [f"![{caption}](figures/{paths[0].name})", "", f"*{caption}*", ""]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    p = page.Page("Table 3: the paper next to neurosim")
    p.section("").append(page.meta({**head, **notes_by_config(runs, notes)}))
    sec = p.section("Tables")
    for t in tables:
        sec.append(page.table(t))
    sec = p.section("Figures")
    for caption, paths in figs:
        sec.append(page.figure(paths[0], caption))
    (out / "table3.html").write_text(p.render())
    return [out / "README.md", out / "table3.html"]


def notes_by_config(runs: dict[str, Run], notes: list[str]) -> dict:
    return {cfg: note for cfg, note in zip(runs, notes)}


# --- Figure 10 and Figure 11 -------------------------------------------------------------------

def figure10_table(sew: Run, sparse: Run, levels: int = 4) -> Table:
    """The sum points the paper quotes (§6.4, N=4, T=1), the paper's numbers next to ours (at
    another N, ours only: the paper quotes N=4)."""
    rows = []
    for name, quoted in paper.FIGURE10_SUM_SPIKES.items():
        ours = [float(r.layers.set_index("layer").events_out.get(name, np.nan)) / r.samples
                for r in (sew, sparse)]
        p_sew, p_sparse = quoted["SEW-ResNet18"], quoted["Sparse-ResNet18"]
        row = {"sum point": name, "paper SEW": p_sew, "paper Sparse": p_sparse,
               "paper Δ": (p_sparse - p_sew) / p_sew}
        if levels != 4:
            row = {k: (v if k == "sum point" else np.nan) for k, v in row.items()}
        rows.append({**row, "neurosim SEW": ours[0], "neurosim Sparse": ours[1],
                     "neurosim Δ": (ours[1] - ours[0]) / ours[0] if ours[0] else np.nan})
    frame = pd.DataFrame(rows)
    formats = {c: COUNT for c in frame.columns}
    formats.update({"sum point": TEXT, "paper Δ": SIGNED, "neurosim Δ": SIGNED})
    note = paper.SOURCE + ", §6.4, Figure 10 (CIFAR-10 test set, T=1, N=4)."
    if levels != 4:
        note += f" neurosim's columns: N={levels}; the paper quotes these sum points at N=4 only."
    return Table(f"Spikes per image at the first two sum points (the paper's §6.4), N={levels}",
                 frame, formats, [note])


def figure11_table(df: pd.DataFrame, sew: str, sparse: str) -> Table:
    """Sparse vs SEW activity reduction per N: the paper's quoted numbers and ours."""
    rows = []
    for n in sorted(df.levels.unique()):
        a = df[(df.model == sew) & (df.levels == n)].events_transferred
        b = df[(df.model == sparse) & (df.levels == n)].events_transferred
        if a.empty or b.empty:
            continue
        quoted = paper.FIGURE11_SPIKES.get(n, {})
        rows.append({"N": n, "paper SEW": quoted.get("SEW-ResNet18"),
                     "paper Sparse": quoted.get("Sparse-ResNet18"),
                     "paper reduction": paper.FIGURE11_REDUCTION.get(n),
                     "neurosim SEW": float(a.iloc[0]), "neurosim Sparse": float(b.iloc[0]),
                     "neurosim reduction": 1 - float(b.iloc[0]) / float(a.iloc[0])})
    frame = pd.DataFrame(rows)
    formats = {c: COUNT for c in frame.columns}
    formats.update({"paper reduction": PERCENT, "neurosim reduction": PERCENT})
    return Table("Spikes per image at T=1: Sparse-ResNet18's reduction against SEW-ResNet18 "
                 "(the paper's Figure 11B)", frame, formats,
                 [paper.SOURCE + ", §6.5. Spikes are the paper's transfer measure (§6.4)."])


def append_section(md_path: Path, html_path: Path, t: Table, heading: str) -> None:
    """Add a table to a report page that compare/sweep already wrote."""
    md_path.write_text(md_path.read_text() + f"\n## {heading}\n\n" + t.to_markdown())
    html = html_path.read_text()
    html_path.write_text(html.replace("</body>", f"<h2>{page.html.escape(heading)}</h2>"
                                      f"{page.table(t)}</body>"))
