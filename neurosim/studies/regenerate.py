"""Rebuild the checked-in reports/ from the shipped models, with one command:

    python -m neurosim.studies.regenerate [--models models] [--hw hw_configs/PROFILE.yaml]
                                          [--out reports] [--samples 100] [--jobs 2]

It writes, for whatever models/ holds:

* reports/table3/       the paper's Table 3 (VGG16, CIFAR-10) next to neurosim's, same layout;
* reports/sew_vs_sparse/ SEW- vs Sparse-ResNet18 layer by layer (the paper's Figure 10);
* reports/sweep_nt/     both ResNets at T=1, N=1…8: spikes and accuracy (the paper's Figure 11);
* reports/<model>/      one run report per other shipped model (e.g. the Fashion-MNIST net);
* reports/README.md     what was generated, from what, and precisely what is missing.

Models are recognised by their manifest's ``architecture`` (vgg16, sew-resnet18,
sparse-resnet18). A configuration the shipped models were not trained at is still simulated with
the -N/-T override and labelled so in the report: its activity is that of a network run outside
its training point. reports/models.md and reports/paper_tables.md belong to other commands and
are never touched.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import NeurosimError
from ..model.io import load_model
from ..options import SAMPLES, integer
from ..outputs import atomic_dir, atomic_file, check_file, check_output, head_of
from ..reports import compare, figures
from ..reports import html as page
from ..reports import sweep as sweep_report
from ..reports.run_report import provenance
from ..reports.runs import Run, load_run
from ..reports.tables import (COUNT, ENERGY, PERCENT, PRINTED, RATIO, SIGNED, TEXT, Table,
                              breakdown_frame, totals)
from ..simulate import default_engine
from . import paper, sweep

COMMAND = "python -m neurosim.studies.regenerate"
PAPER_CONFIGS = [c for c in paper.TABLE3_CONFIGS if c != "ANN"]
FIGURE11_LEVELS = list(range(1, 9))
KINDS = {"table3": "report", "sew_vs_sparse": "comparison", "sweep_nt": "sweep"}  # else "run"
INDEX_TITLE = "# Checked-in reports"


@dataclass
class Shipped:
    """A model found in models/: where it is, what it is, and what it was trained at."""

    path: Path
    architecture: str
    levels: int
    timesteps: int
    meta: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def family(self) -> str:
        """vgg16, sew-resnet18, sparse-resnet18, or the architecture as the manifest says."""
        a = self.architecture.lower()
        if "vgg16" in a:
            return "vgg16"
        for variant in ("sew", "sparse"):
            if variant in a and "resnet" in a:
                return f"{variant}-resnet18"
        return a or "other"


def discover(models_dir: Path) -> list[Shipped]:
    """Every loadable model directory under ``models_dir`` that ships sample inputs."""
    found = []
    for manifest in sorted(Path(models_dir).glob("*/manifest.yaml")):
        path = manifest.parent
        graph = load_model(path)
        levels = max((n.spec.levels for n in graph.neurons() if not n.spec.barrier), default=1)
        meta = dict(graph.meta or {})
        found.append(Shipped(path, str(meta.get("architecture", path.name)), levels,
                             graph.timesteps, meta))
    return found


def find_profile(hw_dir: Path) -> Path | None:
    """The paper's profile in hw_configs/: the one YAML whose name mentions 'paper'."""
    candidates = sorted(Path(hw_dir).glob("*paper*.y*ml"))
    return candidates[0] if len(candidates) == 1 else None


@dataclass
class Context:
    hw: str | None
    samples: int | None
    engine: str
    jobs: int | None
    progress: bool


def simulate_into(model: Shipped, levels: int, timesteps: int, ctx: Context, out: Path) -> Run:
    """One run directory (with its report) for ``model`` at N=levels, T=timesteps."""
    from ..simulate import simulate

    sim = simulate(model.path, hw=ctx.hw, samples=ctx.samples, timesteps=timesteps,
                   levels=levels, engine=ctx.engine)
    sim.write(out)
    return load_run(out)


def trained_note(model: Shipped, levels: int, timesteps: int) -> str:
    if (model.levels, model.timesteps) == (levels, timesteps):
        return f"{model.name} (trained at T={timesteps}, N={levels})"
    return (f"{model.name} trained at T={model.timesteps}, N={model.levels}, run at "
            f"T={timesteps}, N={levels} (override: not its training point)")


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

def figure10_table(sew: Run, sparse: Run) -> Table:
    """The sum points the paper quotes (§6.4, N=4, T=1), the paper's numbers next to ours."""
    rows = []
    for name, quoted in paper.FIGURE10_SUM_SPIKES.items():
        ours = [float(r.layers.set_index("layer").events_out.get(name, np.nan)) / r.samples
                for r in (sew, sparse)]
        p_sew, p_sparse = quoted["SEW-ResNet18"], quoted["Sparse-ResNet18"]
        rows.append({"sum point": name, "paper SEW": p_sew, "paper Sparse": p_sparse,
                     "paper Δ": (p_sparse - p_sew) / p_sew, "neurosim SEW": ours[0],
                     "neurosim Sparse": ours[1],
                     "neurosim Δ": (ours[1] - ours[0]) / ours[0] if ours[0] else np.nan})
    frame = pd.DataFrame(rows)
    formats = {c: COUNT for c in frame.columns}
    formats.update({"sum point": TEXT, "paper Δ": SIGNED, "neurosim Δ": SIGNED})
    return Table("Spikes per image at the first two sum points (the paper's §6.4)", frame,
                 formats, [paper.SOURCE + ", §6.4, Figure 10 (CIFAR-10 test set, T=1, N=4)."])


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


# --- the command -------------------------------------------------------------------------------

def regenerate(models_dir: Path, hw: Path | None, out: Path, samples: int | None,
               jobs: int | None, engine: str, progress: bool = True,
               command: str = COMMAND, force: bool = False) -> list[str]:
    """Build every report the shipped models allow; returns the README's status lines. Each
    report directory is replaced only if neurosim created it (``force``: written into)."""
    shipped = discover(models_dir)
    ctx = Context(str(hw) if hw else None, samples, engine, jobs, progress)
    status: list[str] = []
    by_family: dict[str, list[Shipped]] = {}
    for m in shipped:
        by_family.setdefault(m.family, []).append(m)
    check_file(out / "README.md", _is_index, force, "index")  # refuse before any work
    for name in _written(by_family, hw is not None):
        check_output(out / name, KINDS.get(name, "run"), force)
    out.mkdir(parents=True, exist_ok=True)
    tasks = _bar(4 + len(shipped), progress)

    vggs = by_family.get("vgg16", [])
    if not vggs:
        status.append("table3: MISSING: no VGG16 in models/ (manifest architecture 'vgg16')")
    elif hw is None:
        status.append("table3: MISSING: no hardware profile (pass --hw, or ship one "
                      "hw_configs/*paper*.yaml): Table 3 is an energy table")
    else:
        with _report_dir(out, "table3", force) as tmp:
            runs, notes = {}, []
            for cfg in PAPER_CONFIGS:
                t, n = paper.TABLE3_SETTINGS[cfg]
                model = _pick(vggs, n, t)
                runs[cfg] = simulate_into(model, n, t, ctx, tmp / "runs" / f"T{t}_N{n}")
                notes.append(trained_note(model, n, t))
            table3_report(runs, notes, tmp)
        trained = [c for c, note in zip(PAPER_CONFIGS, notes) if "override" not in note]
        status.append(f"table3: generated from {', '.join(sorted({m.name for m in vggs}))}; "
                      f"trained at its configuration: {', '.join(trained) or 'none'}; the "
                      f"others run with -N/-T overrides")
    tasks()

    sews, sparses = by_family.get("sew-resnet18", []), by_family.get("sparse-resnet18", [])
    if not (sews and sparses):
        lacking = [n for n, v in (("SEW-ResNet18", sews), ("Sparse-ResNet18", sparses)) if not v]
        status.append(f"sew_vs_sparse: MISSING: no {' and no '.join(lacking)} in models/")
        status.append(f"sweep_nt: MISSING: no {' and no '.join(lacking)} in models/")
        tasks(2)
    else:
        sew, sparse = _pick(sews, 4, 1), _pick(sparses, 4, 1)
        with _report_dir(out, "sew_vs_sparse", force) as tmp:
            runs = [simulate_into(m, 4, 1, ctx, tmp / "runs" / m.name) for m in (sew, sparse)]
            for run, label in zip(runs, ("SEW-ResNet18", "Sparse-ResNet18")):
                run.label = label
            compare.build(runs, tmp)
            t = figure10_table(*runs)
            t.write(tmp, "figure10_paper")
            append_section(tmp / "comparison.md", tmp / "comparison.html", t,
                           "The paper's Figure 10 numbers next to neurosim's")
        status.append(f"sew_vs_sparse: generated from {sew.name} vs {sparse.name} at T=1, N=4"
                      f" ({trained_note(sew, 4, 1)}; {trained_note(sparse, 4, 1)})")
        tasks()
        with _report_dir(out, "sweep_nt", force) as tmp:
            points = sweep.grid([str(sew.path), str(sparse.path)], FIGURE11_LEVELS, [1])
            settings = sweep.Settings(hw=ctx.hw, samples=samples, engine=engine)
            df = sweep.run_sweep(points, settings, tmp, jobs, progress)
            sweep_report.build(df, tmp)
            t = figure11_table(df, sew.name, sparse.name)
            t.write(tmp, "figure11_paper")
            append_section(tmp / "sweep.md", tmp / "sweep.html", t,
                           "The paper's Figure 11 numbers next to neurosim's")
        status.append(f"sweep_nt: generated from {sew.name} and {sparse.name}, T=1, N=1…8 "
                      f"(trained at N={sew.levels} and N={sparse.levels}; other N are "
                      f"overrides, the paper trained each N separately)")
        tasks()

    used = set()
    for m in shipped:
        if m.family in ("vgg16", "sew-resnet18", "sparse-resnet18"):
            continue
        used.add(m.name)
        with _report_dir(out, m.name, force) as tmp:
            simulate_into(m, m.levels, m.timesteps, ctx, tmp)
        status.append(f"{m.name}: run report at its training point (T={m.timesteps}, "
                      f"N={m.levels})")
        tasks()
    tasks(close=True)
    write_index(out, status, shipped, command, hw, samples, engine)
    return status


def _written(by_family: dict[str, list[Shipped]], has_profile: bool) -> list[str]:
    """The report directories ``regenerate`` will write, given the models found."""
    names = ["table3"] if by_family.get("vgg16") and has_profile else []
    if by_family.get("sew-resnet18") and by_family.get("sparse-resnet18"):
        names += ["sew_vs_sparse", "sweep_nt"]
    return names + [m.name for family, models in by_family.items() for m in models
                    if family not in ("vgg16", "sew-resnet18", "sparse-resnet18")]


def _report_dir(out: Path, name: str, force: bool):
    """``atomic_dir`` for the report directory ``out/name``, of the kind KINDS gives it."""
    return atomic_dir(out / name, KINDS.get(name, "run"), COMMAND, force)


def _pick(models: list[Shipped], levels: int, timesteps: int) -> Shipped:
    """The model trained at (N, T), else one of the same kind (binary for N = 1, multi-level
    single-step for T = 1) to run with overrides, else the first."""
    def kind(n, t):
        return "binary" if n == 1 else "single-step" if t == 1 else "other"

    return next((m for m in models if (m.levels, m.timesteps) == (levels, timesteps)),
                next((m for m in models if kind(m.levels, m.timesteps) == kind(levels, timesteps)),
                     models[0]))


def _bar(total: int, enabled: bool):
    if not enabled:
        return lambda n=1, close=False: None
    from tqdm.auto import tqdm
    bar = tqdm(total=total, desc="reports", unit="report", file=sys.stderr)

    def step(n: int = 1, close: bool = False):
        bar.close() if close else bar.update(n)
    return step


def write_index(out: Path, status: list[str], shipped: list[Shipped], command: str, hw,
                samples, engine):
    others = [m.name for m in shipped
              if m.family not in ("vgg16", "sew-resnet18", "sparse-resnet18")]
    lines = [INDEX_TITLE, "",
             "Generated by neurosim from the shipped models (models/). Regenerate all of them "
             "with one command from the repository root:", "",
             "```bash", command, "```", "",
             "| report | what it reproduces |", "| :--- | :--- |",
             "| [table3/](table3/README.md) | the paper's Table 3 (VGG16, CIFAR-10) next to "
             "neurosim's, same layout |",
             "| [sew_vs_sparse/](sew_vs_sparse/comparison.md) | SEW- vs Sparse-ResNet18 layer by "
             "layer (Figure 10) |",
             "| [sweep_nt/](sweep_nt/sweep.md) | both ResNets at T=1, N=1…8: spikes and accuracy "
             "(Figure 11) |"]
    lines += [f"| [{n}/]({n}/report.md) | the run report of shipped model {n} |" for n in others]
    lines += ["", "## Status of the last regeneration", ""]
    lines += [f"- {s}" for s in status]
    lines += ["", f"Models found: {', '.join(m.name for m in shipped) or 'none'}. "
              f"Hardware profile: {hw or 'none (activity only, no energy)'}. Inputs: each "
              f"model's samples.npz" + (f", a stratified {samples} of them" if samples else "")
              + f" (seed 0). Engine: {engine}.", "",
              "Each run directory holds summary.json (model, profile hash, seed, versions), "
              "layers.csv, energy.csv and its own report; `neurosim report DIR` rebuilds any of "
              "them, `neurosim compare DIR_A DIR_B` compares them. reports/models.md (training) "
              "and reports/paper_tables.md (energy-model analysis) are written by other "
              "commands."]
    with atomic_file(out / "README.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def _is_index(path: Path) -> bool:
    """Whether ``path`` is the README.md that ``write_index`` wrote."""
    return head_of(path).startswith(INDEX_TITLE)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    p.add_argument("--models", default="models", help="folder of shipped models")
    p.add_argument("--hw", help="hardware profile (default: the one hw_configs/*paper*.yaml)")
    p.add_argument("--out", default="reports", help="where the reports go")
    p.add_argument("--samples", type=SAMPLES, default=100,
                   help="stratified inputs per run from each model's samples.npz (default 100)")
    p.add_argument("--jobs", type=integer(1, None, "number of jobs"), help="parallel runs in the sweep (default: all cores)")
    p.add_argument("--engine", choices=("event", "reference"), default=None)
    p.add_argument("--force", action="store_true",
                   help="write into report directories neurosim did not create (deleting nothing)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    hw = Path(args.hw) if args.hw else find_profile(Path("hw_configs"))
    command = " ".join([COMMAND] + [f"--{k} {v}" for k, v in (
        ("models", args.models), ("hw", args.hw), ("out", args.out), ("samples", args.samples),
        ("engine", args.engine)) if v is not None and str(v) != str(p.get_default(k))])
    try:
        status = regenerate(Path(args.models), hw, Path(args.out), args.samples, args.jobs,
                            args.engine or default_engine(), progress=not args.quiet,
                            command=command, force=args.force)
    except NeurosimError as err:
        print(f"{COMMAND}: error: {err}", file=sys.stderr)
        return 2
    for line in status:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
