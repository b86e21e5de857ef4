"""Report figures (matplotlib, Agg canvas, PNG + SVG): energy, events, levels, N/T sweeps.

Figures are drawn on a ``Figure`` with an Agg canvas, never through pyplot, so making a report
never changes the user's matplotlib backend or leaks open figures. Files carry no timestamps, so
regenerated reports only change when their numbers do.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .runs import Run, layer_order
from .tables import energy_label

FORMATS = ("png", "svg")
DPI = 130
RC = {"svg.hashsalt": "neurosim", "svg.fonttype": "none", "font.size": 9, "axes.titlesize": 10,
      "axes.grid": True, "grid.alpha": 0.3, "axes.axisbelow": True}
CATEGORY_COLORS = {
    "Potentials": "#4C72B0", "Weights": "#DD8452", "Bias": "#937860", "In/Out": "#55A868",
    "Synaptic ops": "#C44E52", "Addressing": "#8172B3", "Routing": "#DA8BC3",
    "Static": "#8C8C8C"}
RUN_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3")
RESNET_NAME = re.compile(r"^(block|sum|res)(\d+)$")


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    paths = []
    with matplotlib.rc_context(RC):
        for fmt in FORMATS:
            path = stem.with_suffix(f".{fmt}")
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(path, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
            paths.append(path)
    return paths


def energy_unit(max_nj: float) -> tuple[float, str]:
    """(divisor, unit) that keeps energy axes between 1 and 1000: nJ, µJ or mJ."""
    for divisor, unit in ((1e6, "mJ"), (1e3, "µJ")):
        if max_nj >= divisor:
            return divisor, unit
    return 1.0, "nJ"


def layer_energy_unit(run: Run) -> tuple[float, str]:
    """The unit of energy_by_layer's axis (its caption says the same)."""
    rows = run.spiking_rows
    cols = [c for c in run.energy_columns() if c != "energy_total_pj"]
    if not cols or rows.empty:
        return 1.0, "nJ"
    return energy_unit(float(rows[cols].sum(axis=1).max()) / run.samples / 1000.0)


def _figure(width: float, height: float, rows: int = 1, sharex: bool = False):
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, axes


def _title(run: Run) -> str:
    d = run.describe()
    levels = d["levels"]
    n = ",".join(map(str, levels)) if isinstance(levels, list) else levels
    return f"{d['network']} (T={d['timesteps']}, N={n}, {d['samples']} inputs)"


def energy_by_layer(run: Run, stem: Path) -> list[Path]:
    """Energy per category stacked per layer, per inference (in layer_energy_unit)."""
    cols = [c for c in run.energy_columns() if c != "energy_total_pj"]
    if not cols:
        return []
    rows = run.spiking_rows
    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(max(6.0, 0.45 * len(rows) + 2), 4.2)
        x = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        divisor, unit = layer_energy_unit(run)
        for col in cols:
            label = energy_label(col)
            values = rows[col].to_numpy(float) / run.samples / 1000.0 / divisor
            ax.bar(x, values, 0.75, bottom=bottom, label=label,
                   color=CATEGORY_COLORS.get(label))
            bottom += values
        ax.set_xticks(x, rows.layer, rotation=60, ha="right")
        ax.set_xlabel("layer")
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.set_title(f"Energy per layer and category — {_title(run)}")
        ax.legend(title="category", fontsize=8, ncols=2)
    return save(fig, stem)


def _aligned(runs: list[Run], include_adds: bool = True) -> list[str]:
    return layer_order(runs, include_adds)


def _values(run: Run, names: list[str], column: str = "events_out",
            scale: float = 1.0) -> np.ndarray:
    if column not in run.layers.columns:
        return np.full(len(names), np.nan)
    by_name = run.layers.set_index("layer")[column] / run.samples * scale
    return np.array([by_name.get(n, np.nan) for n in names], float)


def _events(run: Run, names: list[str]) -> np.ndarray:
    return _values(run, names)


def per_layer_bars(runs: list[Run], column: str, scale: float, ylabel: str, stem: Path,
                   title: str, include_adds: bool = False) -> list[Path]:
    """One bar per run and layer (aligned by name) of ``column`` per inference × ``scale``."""
    if not any(column in r.layers.columns for r in runs):
        return []
    names = _aligned(runs, include_adds)
    width = 0.8 / len(runs)
    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(max(6.0, 0.35 * len(names) * max(1, len(runs) / 1.5) + 2), 4.2)
        x = np.arange(len(names))
        for i, run in enumerate(runs):
            values = _values(run, names, column, scale)
            bars = ax.bar(x + (i - (len(runs) - 1) / 2) * width, np.nan_to_num(values), width,
                          label=run.name, color=RUN_COLORS[i % len(RUN_COLORS)])
            kinds = dict(zip(run.layers.layer, run.layers.kind))
            for bar, name in zip(bars, names):
                if kinds.get(name) == "add":
                    bar.set_hatch("//")
        any_sum = any((r.layers.kind == "add").any() for r in runs)
        ax.set_xticks(x, names, rotation=60, ha="right")
        ax.set_xlabel("layer" + (" (hatched: residual sum point, events of its members)"
                                 if include_adds and any_sum else ""))
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if len(runs) > 1:
            ax.legend(fontsize=8)
    return save(fig, stem)


def events_by_layer(runs: list[Run], stem: Path, title: str | None = None) -> list[Path]:
    """Events sent per layer and inference, one bar per run (Figure 10 style, every layer)."""
    title = title or ("Events per layer — " + (_title(runs[0]) if len(runs) == 1
                                                else "comparison"))
    return per_layer_bars(runs, "events_out", 1.0, "events (spikes) per inference", stem, title,
                          include_adds=True)


def resnet_blocks(runs: list[Run]) -> list[int]:
    """Block indices i with a block{i} or sum{i} layer in any run (residual naming)."""
    found = set()
    for run in runs:
        for name in run.layers.layer:
            m = RESNET_NAME.match(name)
            if m:
                found.add(int(m.group(2)))
    return sorted(found)


def figure10(runs: list[Run], stem: Path) -> list[Path]:
    """The paper's Figure 10: spikes at block_i and sum_i (top), and res_i (bottom), per run."""
    blocks = resnet_blocks(runs)
    if not blocks:
        return []
    has_res = any(n.startswith("res") and RESNET_NAME.match(n)
                  for r in runs for n in r.layers.layer)
    with matplotlib.rc_context(RC):
        fig, axes = _figure(max(8.0, 0.9 * len(blocks) + 4), 6.0 if has_res else 3.8,
                            rows=2 if has_res else 1, sharex=True)
        x = np.arange(len(blocks))
        series = [(run, kind) for run in runs for kind in ("block", "sum")]
        width = 0.8 / len(series)
        for j, (run, kind) in enumerate(series):
            i = runs.index(run)
            values = _events(run, [f"{kind}{b}" for b in blocks])
            axes[0].bar(x + (j - (len(series) - 1) / 2) * width, np.nan_to_num(values), width,
                        color=RUN_COLORS[i % len(RUN_COLORS)], hatch="" if kind == "sum" else "..",
                        edgecolor="white", label=f"{run.name}: {kind}$_i$")
        axes[0].set_ylabel("spikes per image")
        axes[0].set_title("Direct path (block$_i$, dotted) and after the sum (sum$_i$)")
        axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if has_res:
            width = 0.8 / len(runs)
            for i, run in enumerate(runs):
                values = _events(run, [f"res{b}" for b in blocks])
                axes[1].bar(x + (i - (len(runs) - 1) / 2) * width, np.nan_to_num(values), width,
                            color=RUN_COLORS[i % len(RUN_COLORS)], label=run.name)
            axes[1].set_ylabel("spikes per image")
            axes[1].set_title("Residual path (res$_i$, projection shortcuts only)")
            axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        axes[-1].set_xticks(x, [str(b) for b in blocks])
        axes[-1].set_xlabel("residual block i")
        fig.suptitle("Layer-wise activity (the paper's Figure 10 layout)")
    return save(fig, stem)


def level_distribution(run: Run, stem: Path, max_legend: int = 10) -> list[Path]:
    """Share of events at each level z ≥ 1, per layer (and per residual sum point)."""
    if run.levels is None or run.levels.empty:
        return []
    events = run.levels[run.levels.level > 0]
    names = [n for n in _aligned([run]) if n in set(events.layer)]
    if not names:
        return []
    top = int(events.level.max())
    cap = min(top, max_legend)
    table = np.zeros((len(names), cap))
    for i, name in enumerate(names):
        rows = events[events.layer == name]
        total = rows["count"].sum()
        for z, n in zip(rows.level, rows["count"]):
            table[i, min(z, cap) - 1] += n / total if total else 0
    cmap = matplotlib.colormaps["viridis"]
    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(7.0, max(3.0, 0.32 * len(names) + 1.5))
        y = np.arange(len(names))
        left = np.zeros(len(names))
        for z in range(cap):
            label = f"z = {z + 1}" if z + 1 < cap or cap == top else f"z ≥ {cap}"
            ax.barh(y, 100 * table[:, z], left=100 * left, height=0.75, label=label,
                    color=cmap(z / max(cap - 1, 1)))
            left += table[:, z]
        kinds = dict(zip(run.levels.layer, run.levels.kind))
        ax.set_yticks(y, [f"{n} (sum)" if kinds.get(n) == "add" else n for n in names])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of events (%)")
        ax.set_ylabel("layer")
        ax.set_title(f"Spike levels z per layer — {_title(run)}")
        ax.legend(title="level", fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(fig, stem)


def sweep_series(df: pd.DataFrame) -> tuple[str, list[tuple[str, str, pd.DataFrame]]]:
    """(x label, [(model, series label, rows with an 'x' column)]) for a sweep's line plots.

    The paper's Figure 7 runs two lines: multi-level at T=1 against N, binary at N=1 against T.
    A full grid gives one line per fixed T against N (or per fixed N against T if N is fixed).
    """
    n_varies, t_varies = df.levels.nunique() > 1, df.timesteps.nunique() > 1
    series = []
    if n_varies and t_varies and ((df.levels == 1) | (df.timesteps == 1)).all():
        for model, part in df.groupby("model", sort=False):
            ml = part[part.timesteps == 1]
            binary = part[part.levels == 1]
            series.append((model, f"{model}, multi-level (T=1) against N",
                           ml.assign(x=ml.levels)))
            series.append((model, f"{model}, binary (N=1) against T",
                           binary.assign(x=binary.timesteps)))
        return "N (multi-level, T=1) or T (binary, N=1)", series
    x, other = ("levels", "timesteps") if n_varies else ("timesteps", "levels")
    for (model, fixed), part in df.groupby(["model", other], sort=False):
        label = f"{model}, {'T' if other == 'timesteps' else 'N'}={fixed}"
        series.append((model, label, part.assign(x=part[x])))
    return ("levels per spike N" if x == "levels" else "timesteps T"), series


def sweep_lines(df: pd.DataFrame, y: str, ylabel: str, stem: Path, title: str,
                reference: float | None = None, reference_label: str = "",
                logy: bool = False) -> list[Path]:
    """``y`` against N and/or T, one line per model and series: Figures 7 and 11."""
    xlabel, series = sweep_series(df)
    models = list(dict.fromkeys(df.model))
    styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "D", "v", "P")
    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(5.5, 3.8)
        seen: dict[str, int] = {}
        for model, label, part in series:
            k = seen[model] = seen.get(model, -1) + 1
            part = part.sort_values("x")
            ax.plot(part.x, part[y], label=label, marker=markers[k % len(markers)],
                    linestyle=styles[k % len(styles)],
                    color=RUN_COLORS[models.index(model) % len(RUN_COLORS)])
        if reference is not None and np.isfinite(reference):
            ax.axhline(reference, color="black", linestyle=":", label=reference_label)
        ax.set_xticks(sorted({v for _, _, part in series for v in part.x}))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize=7)
    return save(fig, stem)


def energy_breakdown_bars(configs: list[str], energy: dict[str, dict[str, float]], stem: Path,
                          title: str) -> list[Path]:
    """Stacked energy per category for several configurations (Table 3's columns as bars)."""
    categories = [c for c in CATEGORY_COLORS if any(c in energy[k] for k in configs)]
    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(max(5.0, 0.8 * len(configs) + 2.5), 4.0)
        x = np.arange(len(configs))
        bottom = np.zeros(len(configs))
        divisor, unit = energy_unit(max(sum(energy[k].get(c, 0.0) for c in categories)
                                        for k in configs))
        for cat in categories:
            values = np.array([energy[k].get(cat, 0.0) for k in configs], float) / divisor
            ax.bar(x, values, 0.7, bottom=bottom, label=cat, color=CATEGORY_COLORS[cat])
            bottom += values
        ax.set_xticks(x, configs, rotation=30, ha="right")
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.set_xlabel("configuration")
        ax.set_title(title)
        ax.legend(title="category", fontsize=7, ncols=2)
    return save(fig, stem)


def pareto(df: pd.DataFrame, stem: Path) -> list[Path]:
    """Energy per inference against latency, one marker per grid point (area as its size when
    the profile prices area), the Pareto-optimal points joined (neurosim explore)."""
    if "energy_Total_nj" not in df.columns or df.latency_s.isna().any() or not len(df):
        return []
    x, y = df.latency_s.to_numpy(float), df.energy_Total_nj.to_numpy(float)
    area = pd.to_numeric(df.get("area_mm2"), errors="coerce") if "area_mm2" in df else None
    sized = area is not None and area.notna().all() and area.max() > 0
    size = 40 + 400 * (area / area.max()).to_numpy(float) if sized else np.full(len(df), 60.0)
    divisor, unit = energy_unit(float(np.nanmax(y)))
    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(6.4, 4.4)
        front = df["pareto"].to_numpy(bool) if "pareto" in df else np.zeros(len(df), bool)
        ax.scatter(x * 1e6, y / divisor, s=size, c=np.where(front, "#C44E52", "#4C72B0"),
                   alpha=0.7, edgecolors="black", linewidths=0.5)
        order = np.argsort(x[front])
        ax.plot((x[front] * 1e6)[order], (y[front] / divisor)[order], color="#C44E52", lw=1,
                label="Pareto front")
        for xi, yi, label in zip(x, y, df.point):
            ax.annotate(str(label), (xi * 1e6, yi / divisor), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("latency per inference (µs)")
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.set_title("Energy against latency" + (" (marker area ∝ silicon area)" if sized
                                                 else ""))
        ax.legend(loc="best")
        return save(fig, stem)


CYCLE_PARTS = (("synaptic_cycles", "synaptic work", "#C44E52"),
               ("neuron_cycles", "neuron updates", "#4C72B0"),
               ("packet_cycles", "packets (NoC)", "#DA8BC3"),
               ("stall_fifo_cycles", "stalled: FIFO full", "#DD8452"),
               ("stall_link_cycles", "stalled: link", "#937860"),
               ("idle_cycles", "idle", "#DDDDDD"))


def core_bottlenecks(run: Run, stem: Path) -> list[Path]:
    """Per layer, how its busiest core spends the run (share of the makespan), the critical
    core's layer marked: which work bounds the chip, at a glance."""
    cores = run.cores
    if cores is None or "synaptic_cycles" not in cores.columns or not len(cores):
        return []
    load = cores.busy_cycles + cores.stall_cycles
    busiest = cores.loc[load.groupby(cores.layer).idxmax()]
    order = [n for n in run.layers.layer if n in set(busiest.layer)]
    busiest = busiest.set_index("layer").loc[order]
    makespan = float((run.summary.get("timing") or {}).get("cycles") or 0) or float(
        (busiest[[c for c, _, _ in CYCLE_PARTS]].sum(axis=1)).max())
    critical = (run.summary.get("bottleneck") or {}).get("layer")
    with matplotlib.rc_context(RC):
        fig, (ax,) = _figure(7.0, max(2.5, 0.32 * len(order) + 1.4))
        y = np.arange(len(order))[::-1]
        left = np.zeros(len(order))
        for column, label, color in CYCLE_PARTS:
            share = busiest[column].to_numpy(float) / makespan
            ax.barh(y, share, left=left, color=color, label=label, edgecolor="white",
                    linewidth=0.3)
            left += share
        ax.set_yticks(y)
        ax.set_yticklabels([f"{n}  ← critical ({busiest.loc[n, 'bound']})" if n == critical
                            else n for n in order])
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the run's makespan (the layer's busiest core)")
        ax.set_title(_title(run))
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.06), ncol=3, fontsize=7)
        return save(fig, stem)
