"""Report tables: the paper's energy breakdown (Table 3 layout) and the per-layer table.

A Table keeps raw values (CSV gets plain numbers) and a format per column, so markdown, LaTeX and
HTML each print numbers their own way (3.10·10⁶, ``$3.10\\cdot10^{6}$``). No extra dependency:
pandas' own markdown/LaTeX writers need tabulate/jinja2, which neurosim does not require.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..counters import paper_sum_points
from . import numbers
from .runs import Run

# energy.csv row → (group, label) in the paper's Table 3 layout
PAPER_LAYOUT = (
    ("Potentials", "Memory", "Potentials"),
    ("Weights", "Memory", "Weights"),
    ("Bias", "Memory", "Bias"),
    ("In/Out", "Memory", "In/Out"),
    ("Memory total", "Memory", "Total"),
    ("Synaptic ops", "Synaptic operations", ""),
    ("Addressing", "Addressing", ""),
    ("Routing", "Routing (NoC)", ""),
    ("Static", "Static (leakage)", ""),
    ("Total", "Total", ""),
)
# layers.csv energy column → label, in the same order as the paper's rows
ENERGY_LABELS = {
    "energy_potentials_pj": "Potentials",
    "energy_weights_pj": "Weights",
    "energy_bias_pj": "Bias",
    "energy_inout_pj": "In/Out",
    "energy_synaptic_pj": "Synaptic ops",
    "energy_addressing_pj": "Addressing",
    "energy_routing_pj": "Routing",
    "energy_static_pj": "Static",
    "energy_total_pj": "Total",
}
TEXT, ENERGY, COUNT, PERCENT = "text", "energy", "count", "percent"
RATIO, SIGNED, SHARE = "ratio", "signed", "share"
PRINTED = "printed"  # a number as a paper prints it, '27.8·10^2': kept digit for digit


def energy_label(column: str) -> str:
    return ENERGY_LABELS.get(column, column[len("energy_"):-len("_pj")].replace("_", " ").title())


@dataclass
class Table:
    """Raw values plus how to print each column (text, energy, count, percent, ratio, signed)."""

    title: str
    frame: pd.DataFrame
    formats: dict[str, str]
    notes: list[str] = field(default_factory=list)
    row_formats: dict[int, str] = field(default_factory=dict)  # row position → format override
    group_column: str | None = None  # printed only where it changes (the paper's "Memory")
    cell_formats: dict[tuple[int, str], str] = field(default_factory=dict)  # (row, column)

    def kind(self, row: int, column: str) -> str:
        if (row, column) in self.cell_formats:
            return self.cell_formats[(row, column)]
        base = self.formats.get(column, TEXT)
        return self.row_formats.get(row, base) if base != TEXT else TEXT

    def _cell(self, row: int, column: str, value, style: str) -> str:
        kind = self.kind(row, column)
        if kind == TEXT:
            text = "" if value is None or (isinstance(value, float) and pd.isna(value)) \
                else str(value)
            return text
        if kind == ENERGY:
            return numbers.latex(value) if style == "latex" else numbers.paper(value)
        if kind == PRINTED:
            return numbers.printed(value, style == "latex")
        if kind == COUNT:
            return numbers.count(value, "--" if style == "latex" else "–")
        if kind == PERCENT:
            return numbers.percent(value, "--" if style == "latex" else "–")
        if kind == SIGNED:
            return numbers.percent(value, "--" if style == "latex" else "–", signed=True)
        if kind == SHARE:
            return numbers.share(value, "--" if style == "latex" else "–")
        if kind == RATIO:
            if value is None or pd.isna(value):
                return "--" if style == "latex" else "–"
            value = float(value)
            return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"
        raise ValueError(f"unknown column format {kind!r}")

    def cells(self, style: str) -> list[list[str]]:
        rows = []
        previous = None
        for i, (_, record) in enumerate(self.frame.iterrows()):
            row = []
            for col in self.frame.columns:
                text = self._cell(i, col, record[col], style)
                if col == self.group_column:
                    text, previous = ("" if text == previous else text), text
                row.append(text)
            rows.append(row)
        return rows

    def numeric(self, column: str) -> bool:
        return self.formats.get(column, TEXT) != TEXT

    def to_markdown(self) -> str:
        cols = [str(c) for c in self.frame.columns]
        align = ["---:" if self.numeric(c) else ":---" for c in self.frame.columns]
        esc = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(esc(c) for c in cols) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.cells("md")]
        out = [f"**{self.title}**", ""] if self.title else []
        out += lines
        if self.notes:
            out += [""] + [f"{n}" for n in self.notes]
        return "\n".join(out) + "\n"

    def to_latex(self) -> str:
        spec = "".join("r" if self.numeric(c) else "l" for c in self.frame.columns)
        lines = ["% needs \\usepackage{booktabs}", "\\begin{table}[ht]", "\\centering"]
        if self.title:
            lines.append(f"\\caption{{{latex_escape(self.title)}}}")
        lines += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                  " & ".join(latex_escape(str(c)) for c in self.frame.columns) + " \\\\",
                  "\\midrule"]
        for row, cells in zip(range(len(self.frame)), self.cells("latex")):
            texts = [c if self.kind(row, col) in (ENERGY, PRINTED) else latex_escape(c)
                     for c, col in zip(cells, self.frame.columns)]
            lines.append(" & ".join(texts) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        for note in self.notes:
            lines.append(f"\\par\\footnotesize {latex_escape(note)}")
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"

    def to_html(self, css_class: str = "report-table") -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.frame.columns)
        body = []
        for cells in self.cells("html"):
            tds = "".join(
                f'<td class="num">{html.escape(c)}</td>' if self.numeric(col)
                else f"<td>{html.escape(c)}</td>" for c, col in zip(cells, self.frame.columns))
            body.append(f"<tr>{tds}</tr>")
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in self.notes)
        return (f'<table class="{css_class}">{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table>{notes}")

    def to_csv(self, path) -> None:
        self.frame.to_csv(path, index=False)

    def write(self, out: Path, stem: str) -> list[Path]:
        """STEM.csv, STEM.md and STEM.tex in ``out``; returns their paths."""
        out = Path(out)
        self.to_csv(out / f"{stem}.csv")
        (out / f"{stem}.md").write_text(self.to_markdown())
        (out / f"{stem}.tex").write_text(self.to_latex())
        return [out / f"{stem}.{ext}" for ext in ("csv", "md", "tex")]


LATEX = {**{ch: "\\" + ch for ch in "&%$#_{}"}, "~": "\\textasciitilde{}",
         "^": "\\textasciicircum{}", "\\": "\\textbackslash{}", "–": "--", "·": "$\\cdot$",
         "×": "$\\times$", "≤": "$\\leq$", "Σ": "$\\Sigma$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX.get(ch, ch) for ch in text)


def breakdown_frame(energy: pd.DataFrame, columns: list[str] | None = None,
                    names: dict[str, str] | None = None) -> pd.DataFrame:
    """energy.csv (indexed by category) → rows in the paper's layout, one column per config."""
    columns = list(energy.columns) if columns is None else columns
    names = names or {}
    rows = []
    for key, group, label in PAPER_LAYOUT:
        if key not in energy.index:
            continue
        row = {"": group, " ": label}
        row.update({names.get(c, c): energy.loc[key, c] for c in columns})
        rows.append(row)
    return pd.DataFrame(rows)


def energy_table(run: Run, title: str | None = None) -> Table | None:
    """The energy breakdown in the paper's Table 3 layout (nJ per inference), from energy.csv."""
    if run.energy is None:
        return None
    frame = breakdown_frame(run.energy)
    configs = list(run.energy.columns)
    formats = {c: ENERGY for c in configs}
    row_formats = {}
    if "SNN" in configs and "ANN" in configs and run.energy.loc["Total", "ANN"]:
        ratio = {"": "E_SNN / E_ANN", " ": ""}
        ratio.update({c: run.energy.loc["Total", c] / run.energy.loc["Total", "ANN"]
                      for c in configs})
        frame = pd.concat([frame, pd.DataFrame([ratio])], ignore_index=True)
        row_formats[len(frame) - 1] = RATIO
    d = run.describe()
    notes = [f"Energy per inference in nJ, {d['samples']} input(s), T={d['timesteps']}, "
             f"N={_levels_text(d['levels'])}; profile {d['profile'] or 'n/a'}."]
    return Table(title or "Energy breakdown (nJ per inference), the paper's Table 3 layout",
                 frame, formats, notes, row_formats, group_column="")


def _levels_text(levels) -> str:
    if isinstance(levels, list):
        return ",".join(str(v) for v in levels) or "–"
    return str(levels)


def layer_table(run: Run) -> Table:
    """Per layer and per inference: events, synapse visits, energy per category (nJ)."""
    df = run.layers
    s = run.samples
    frame = pd.DataFrame({
        "layer": df.layer, "kind": df.kind, "neurons": df.neurons,
        "events in": df.events_in / s, "events out": df.events_out / s,
        "synapse visits": df.synapse_visits / s,
    })
    formats = {"layer": TEXT, "kind": TEXT, "neurons": COUNT, "events in": COUNT,
               "events out": COUNT, "synapse visits": COUNT}
    energy_cols = run.energy_columns()
    sums = df.kind == "add"
    for col in energy_cols:
        label = f"{energy_label(col)} (nJ)"
        frame[label] = (df[col] / s / 1000.0).where(~sums)
        formats[label] = ENERGY
    if "energy_total_pj" in energy_cols:
        total = df.loc[~sums, "energy_total_pj"].sum()
        frame["share"] = (df.energy_total_pj / total).where(~sums) if total else float("nan")
        formats["share"] = PERCENT
    notes = ["Per inference (run totals divided by the number of inputs). Rows of kind 'add' are "
             "forward-mode residual sums: their events are those of their member layers reaching "
             "the consumer, so network totals leave them out."]
    return Table("Per-layer activity and energy (per inference)", frame, formats, notes)


def totals(run: Run) -> dict:
    """Per-inference network totals.

    ``events``: what neuron layers emit (layer rows only, forward-mode sum rows repeat their
    members' events). ``events_transferred``: the paper's activity measure (§6.4, Figures 10 and
    11): every layer's events plus, at SEW sum points, the direct- and residual-path events that
    the sum forwards.
    """
    rows = run.spiking_rows
    s = run.samples
    sums = run.layers[paper_sum_points(run.layers)]
    out = {"events": rows.events_out.sum() / s, "events_in": rows.events_in.sum() / s,
           "events_transferred": (rows.events_out.sum() + sums.events_out.sum()) / s,
           "synapse_visits": rows.synapse_visits.sum() / s,
           "synapse_visits_analytic": rows.synapse_visits_analytic.sum() / s}
    if "energy_total_pj" in rows.columns:
        out["energy_nj"] = rows.energy_total_pj.sum() / s / 1000.0
    return out
