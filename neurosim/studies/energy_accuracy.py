"""reports/energy_accuracy/: energy per inference against accuracy, one point per shipped
configuration — the honest form of the paper's "2–3× less energy at about the same accuracy".

The paper compares configurations by energy alone (Table 3) and by accuracy alone (Table 1);
a configuration is only better if it is cheaper at a similar accuracy. This report puts every
run that ``regenerate`` made on one plane: x the energy per inference on the paper's profile,
y the fixed-point accuracy on the run's inputs (the float model's beside it), a marker per
network family and a label per (N, T). Points run outside their training point (an -N/-T
override) are drawn hollow and said so.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd

from ..reports import figures
from ..reports import html as page
from ..reports.runs import Run
from ..reports.tables import COUNT, ENERGY, PERCENT, RATIO, TEXT, Table, totals

FAMILY_LABELS = {"vgg16": "VGG16", "sew-resnet18": "SEW-ResNet18",
                 "sparse-resnet18": "Sparse-ResNet18"}
MARKERS = {"VGG16": "o", "SEW-ResNet18": "s", "Sparse-ResNet18": "^"}


def point(run: Run, family: str, model: str, levels: int, timesteps: int,
          trained: bool) -> dict:
    """One row of energy_accuracy.csv from a written run."""
    energy = None
    if run.energy is not None:
        column = "SNN" if "SNN" in run.energy.columns else run.energy.columns[0]
        energy = float(run.energy.loc["Total", column])
    return {"network": FAMILY_LABELS.get(family, family), "model": model, "N": levels,
            "T": timesteps, "trained at this point": "yes" if trained else "no (override)",
            "accuracy": run.summary.get("accuracy"),
            "float accuracy": run.summary.get("float_accuracy"),
            "samples": run.samples, "events transferred": totals(run)["events_transferred"],
            "energy (nJ)": energy}


def table(df: pd.DataFrame) -> Table:
    frame = df.copy()
    formats = {"network": TEXT, "model": TEXT, "N": COUNT, "T": COUNT,
               "trained at this point": TEXT, "accuracy": PERCENT, "float accuracy": PERCENT,
               "samples": COUNT, "events transferred": COUNT, "energy (nJ)": ENERGY}
    vgg4 = frame[(frame.network == "VGG16") & (frame.N == 4) & (frame["T"] == 1)]
    if not vgg4.empty and vgg4["energy (nJ)"].iloc[0]:
        frame["energy ÷ VGG16 N=4 T=1"] = frame["energy (nJ)"] / vgg4["energy (nJ)"].iloc[0]
        formats["energy ÷ VGG16 N=4 T=1"] = RATIO
    return Table("Energy per inference and accuracy of every configuration", frame, formats,
                 ["Energy on the paper's profile (nJ per inference); accuracy: the fixed-point "
                  "network on the run's inputs (float: the float network on the same inputs)."])


def scatter(df: pd.DataFrame, stem: Path) -> list[Path]:
    """Accuracy against energy per inference (log scale), a marker per network family."""
    with matplotlib.rc_context(figures.RC):
        fig, (ax,) = figures._figure(6.0, 4.2)
        divisor, unit = figures.energy_unit(float(df["energy (nJ)"].max()))
        for k, (network, part) in enumerate(df.groupby("network", sort=False)):
            color = figures.RUN_COLORS[k % len(figures.RUN_COLORS)]
            for _, r in part.iterrows():
                filled = r["trained at this point"] == "yes"
                ax.scatter(r["energy (nJ)"] / divisor, 100 * r["accuracy"],
                           marker=MARKERS.get(network, "D"), s=40, color=color,
                           facecolors=color if filled else "none")
                ax.annotate(f"N={r.N} T={r['T']}", (r["energy (nJ)"] / divisor,
                                                    100 * r["accuracy"]),
                            textcoords="offset points", xytext=(4, 3), fontsize=7)
            ax.scatter([], [], marker=MARKERS.get(network, "D"), color=color, label=network)
        ax.set_xscale("log")
        ax.set_xlabel(f"energy per inference ({unit}, log scale)")
        ax.set_ylabel("accuracy, fixed point (%)")
        ax.set_title("Energy against accuracy (hollow: run outside its training point)")
        ax.legend(fontsize=7)
    return figures.save(fig, stem)


def report(rows: list[dict], out: Path, head: dict, command: str) -> list[Path]:
    """energy_accuracy.csv, the table (md/csv/tex), the figure, README.md and the HTML page."""
    df = pd.DataFrame(rows).dropna(subset=["energy (nJ)", "accuracy"])
    df = df.sort_values(["network", "T", "N"], kind="stable").reset_index(drop=True)
    df.to_csv(out / "energy_accuracy.csv", index=False)
    t = table(df)
    written = [out / "energy_accuracy.csv"] + t.write(out, "energy_accuracy_table")
    caption = "Accuracy against energy per inference, every configuration regenerated"
    paths = scatter(df, out / "figures" / "energy_accuracy") if len(df) else []
    lines = ["# Energy per inference against accuracy", "", __doc__.split("\n\n")[1]
             .replace("\n", " "), "", f"Regenerate with `{command}`.", ""]
    lines += [f"- **{k}**: {v}" for k, v in head.items()] + [""]
    lines += [t.to_markdown()]
    if paths:
        lines += [f"![{caption}](figures/{paths[0].name})", "", f"*{caption}*", ""]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    p = page.Page("Energy against accuracy")
    p.section("").append(page.meta(head))
    sec = p.section("Table and figure")
    sec.append(page.table(t))
    if paths:
        sec.append(page.figure(paths[0], caption))
    (out / "energy_accuracy.html").write_text(p.render())
    return written + [*paths, out / "README.md", out / "energy_accuracy.html"]

