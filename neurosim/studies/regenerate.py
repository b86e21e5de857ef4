"""Rebuild the checked-in reports/ from the shipped models, with one command:

    python -m neurosim.studies.regenerate [--models models] [--hw hw_configs/PROFILE.yaml]
                                          [--out reports] [--samples 500] [--workers 2]
                                          [--input CIFAR10_TEST.npz]

It writes, for whatever models/ holds:

* reports/table3/           the paper's Table 3 (VGG16, CIFAR-10) next to neurosim's, same layout;
* reports/sew_vs_sparse/    SEW- vs Sparse-ResNet18 layer by layer at N=4 (the paper's Figure 10),
  and reports/sew_vs_sparse_n8/ the same at N=8;
* reports/figure11/         both ResNets at T=1, N=1, 2, 4, 8, each N its own trained model:
  events transferred and accuracy against N (the paper's Figure 11);
* reports/energy_accuracy/  energy per inference against accuracy for every configuration above;
* reports/<model>/          one run report per other shipped model (e.g. the Fashion-MNIST net);
* reports/README.md         what was generated, from what, and precisely what is missing.

Models are recognised by their manifest's ``architecture`` (vgg16, sew-resnet18,
sparse-resnet18); each configuration runs on the model trained at it. One that no shipped model
was trained at is still simulated, on the nearest model with the -N/-T override, and labelled so
in every table: its activity is that of a network run outside its training point. ``--input``
replaces the samples of the CIFAR-10 models (e.g. the 10,000 test images). reports/models.md and reports/paper_tables.md belong to other commands and
are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import NeurosimError
from ..model.io import load_model
from ..options import SAMPLES, integer
from ..outputs import atomic_dir, atomic_file, check_file, check_output, head_of
from ..reports import compare
from ..reports import sweep as sweep_report
from ..reports.runs import Run, load_run
from ..simulate import default_engine
from . import energy_accuracy, paper, sweep
from .beside_paper import (
    COMMAND,
    PAPER_CONFIGS,
    append_section,
    figure10_table,
    figure11_table,
    table3_report,
    table3_tables,
)

__all__ = ["regenerate", "main", "table3_tables", "table3_report"]

FIGURE10_LEVELS = (4, 8)
FIGURE11_LEVELS = (1, 2, 4, 8)
KINDS = {"table3": "report", "sew_vs_sparse": "comparison", "sew_vs_sparse_n8": "comparison",
         "figure11": "sweep", "energy_accuracy": "report"}  # else "run"
RESNETS = ("sew-resnet18", "sparse-resnet18")
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

    @property
    def cifar10(self) -> bool:
        return "cifar" in str(self.meta.get("dataset", self.name)).lower()


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
    workers: int | None
    progress: bool
    inputs: str | None = None  # replaces the CIFAR-10 models' samples.npz

    def inputs_of(self, model: Shipped) -> str | None:
        return self.inputs if model.cifar10 else None


def simulate_into(model: Shipped, levels: int, timesteps: int, ctx: Context, out: Path) -> Run:
    """One run directory (with its report) for ``model`` at N=levels, T=timesteps."""
    from ..simulate import simulate

    sim = simulate(model.path, hw=ctx.hw, inputs=ctx.inputs_of(model), samples=ctx.samples,
                   timesteps=timesteps, levels=levels, engine=ctx.engine, workers=ctx.workers or 1)
    sim.write(out)
    return load_run(out)


def trained_note(model: Shipped, levels: int, timesteps: int) -> str:
    if (model.levels, model.timesteps) == (levels, timesteps):
        return f"{model.name} (trained at T={timesteps}, N={levels})"
    return (f"{model.name} trained at T={model.timesteps}, N={model.levels}, run at "
            f"T={timesteps}, N={levels} (override: not its training point)")


# --- the command -------------------------------------------------------------------------------

def regenerate(models_dir: Path, hw: Path | None, out: Path, samples: int | None,
               workers: int | None, engine: str, progress: bool = True,
               command: str = COMMAND, force: bool = False, inputs=None) -> list[str]:
    """Build every report the shipped models allow; returns the README's status lines. Each
    report directory is replaced only if neurosim created it (``force``: written into)."""
    shipped = discover(models_dir)
    ctx = Context(str(hw) if hw else None, samples, engine, workers, progress,
                  None if inputs is None else str(inputs))
    status: list[str] = []
    by_family: dict[str, list[Shipped]] = {}
    for m in shipped:
        by_family.setdefault(m.family, []).append(m)
    check_file(out / "README.md", _is_index, force, "index")  # refuse before any work
    for name in _written(by_family, hw is not None):
        check_output(out / name, KINDS.get(name, "run"), force)
    out.mkdir(parents=True, exist_ok=True)
    tasks = _bar(4 + len(shipped), progress)
    chart: list[dict] = []  # energy_accuracy's points, from every run below

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
                chart.append(energy_accuracy.point(runs[cfg], "vgg16", model.name, n, t,
                                                   (model.levels, model.timesteps) == (n, t)))
            table3_report(runs, notes, tmp)
        trained = [c for c, note in zip(PAPER_CONFIGS, notes) if "override" not in note]
        others = [c for c in PAPER_CONFIGS if c not in trained]
        status.append(f"table3: generated from {', '.join(sorted({m.name for m in vggs}))}; "
                      f"trained at its configuration: {', '.join(trained) or 'none'}" + (
                          f"; run with -N/-T overrides: {', '.join(others)}" if others else ""))
    tasks()

    sews, sparses = by_family.get("sew-resnet18", []), by_family.get("sparse-resnet18", [])
    if not (sews and sparses):
        lacking = [n for n, v in (("SEW-ResNet18", sews), ("Sparse-ResNet18", sparses)) if not v]
        for name in ("sew_vs_sparse", "figure11"):
            status.append(f"{name}: MISSING: no {' and no '.join(lacking)} in models/")
        tasks(2)
    else:
        for n in FIGURE10_LEVELS:
            name = "sew_vs_sparse" if n == 4 else f"sew_vs_sparse_n{n}"
            sew, sparse = _pick(sews, n, 1), _pick(sparses, n, 1)
            if n != 4 and (sew.levels, sparse.levels) != (n, n):
                status.append(f"{name}: MISSING: no SEW/Sparse-ResNet18 pair trained at N={n}")
                continue
            with _report_dir(out, name, force) as tmp:
                runs = [simulate_into(m, n, 1, ctx, tmp / "runs" / m.name) for m in (sew, sparse)]
                for run, label in zip(runs, ("SEW-ResNet18", "Sparse-ResNet18")):
                    run.label = label
                compare.build(runs, tmp)
                t = figure10_table(*runs, n)
                t.write(tmp, "figure10_paper")
                append_section(tmp / "comparison.md", tmp / "comparison.html", t,
                               "The paper's Figure 10 numbers next to neurosim's")
            status.append(f"{name}: generated from {sew.name} vs {sparse.name} at T=1, N={n}"
                          f" ({trained_note(sew, n, 1)}; {trained_note(sparse, n, 1)})")
        tasks()
        with _report_dir(out, "figure11", force) as tmp:
            picked = {(fam, n): _pick(models, n, 1) for fam, models in
                      (("sew-resnet18", sews), ("sparse-resnet18", sparses))
                      for n in FIGURE11_LEVELS}
            points = {sweep.Point(str(m.path), n, 1): (fam, m) for (fam, n), m in picked.items()}
            settings = sweep.Settings(hw=ctx.hw, inputs=ctx.inputs, samples=samples,
                                      engine=engine)
            df = sweep.run_sweep(list(points), settings, tmp, ctx.workers, progress)
            df.insert(1, "trained", [(m.levels, m.timesteps) == (p.levels, 1)
                                     for p, (_, m) in points.items()])
            df["model"] = [energy_accuracy.FAMILY_LABELS[fam] for fam, _ in points.values()]
            sweep_report.build(df, tmp)
            t = figure11_table(df, "SEW-ResNet18", "Sparse-ResNet18")
            t.write(tmp, "figure11_paper")
            append_section(tmp / "sweep.md", tmp / "sweep.html", t,
                           "The paper's Figure 11 numbers next to neurosim's")
            for p, (fam, m) in points.items():
                chart.append(energy_accuracy.point(load_run(tmp / sweep.RUNS / p.label), fam,
                                                   m.name, p.levels, 1,
                                                   (m.levels, m.timesteps) == (p.levels, 1)))
        overridden = [f"N={p.levels} (-N override of {m.name})"
                      for p, (_, m) in points.items() if m.levels != p.levels]
        status.append("figure11: SEW- and Sparse-ResNet18 at T=1, N=" + ", ".join(
            map(str, FIGURE11_LEVELS)) + ", each N on the model trained at it" + (
            f" except {'; '.join(overridden)}: none shipped" if overridden else ""))
        tasks()

    if chart and hw is None:
        status.append("energy_accuracy: MISSING: no hardware profile (pass --hw)")
    elif chart:
        with _report_dir(out, "energy_accuracy", force) as tmp:
            head = {"profile": hw, "inputs": ctx.inputs or "each model's samples.npz",
                    "samples per run": samples or "all"}
            energy_accuracy.report(chart, tmp, head, command)
        status.append(f"energy_accuracy: {len(chart)} configurations on one plane")

    used = set()
    for m in shipped:
        if m.family in ("vgg16", *RESNETS):
            continue
        used.add(m.name)
        with _report_dir(out, m.name, force) as tmp:
            simulate_into(m, m.levels, m.timesteps, ctx, tmp)
        status.append(f"{m.name}: run report at its training point (T={m.timesteps}, "
                      f"N={m.levels})")
        tasks()
    tasks(close=True)
    write_index(out, status, shipped, command, hw, samples, engine, ctx.inputs)
    return status


def _written(by_family: dict[str, list[Shipped]], has_profile: bool) -> list[str]:
    """The report directories ``regenerate`` may write, given the models found."""
    names = ["table3"] if by_family.get("vgg16") and has_profile else []
    if by_family.get("sew-resnet18") and by_family.get("sparse-resnet18"):
        names += ["sew_vs_sparse", "sew_vs_sparse_n8", "figure11"]
    if names and has_profile:
        names.append("energy_accuracy")
    return names + [m.name for family, models in by_family.items() for m in models
                    if family not in ("vgg16", *RESNETS)]


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
                samples, engine, inputs=None):
    others = [m.name for m in shipped if m.family not in ("vgg16", *RESNETS)]
    lines = [INDEX_TITLE, "",
             "Generated by neurosim from the shipped models (models/). Regenerate all of them "
             "with one command from the repository root:", "",
             "```bash", command, "```", "",
             "| report | what it reproduces |", "| :--- | :--- |",
             "| [table3/](table3/README.md) | the paper's Table 3 (VGG16, CIFAR-10) next to "
             "neurosim's, same layout |",
             "| [sew_vs_sparse/](sew_vs_sparse/comparison.md) | SEW- vs Sparse-ResNet18 layer by "
             "layer (Figure 10) |",
             "| [sew_vs_sparse_n8/](sew_vs_sparse_n8/comparison.md) | the same at N=8 |",
             "| [figure11/](figure11/sweep.md) | both ResNets at T=1, N=1, 2, 4, 8, each on its "
             "own trained model: events and accuracy (Figure 11) |",
             "| [energy_accuracy/](energy_accuracy/README.md) | energy per inference against "
             "accuracy, every configuration (not in the paper) |"]
    lines += [f"| [{n}/]({n}/report.md) | the run report of shipped model {n} |" for n in others]
    lines += ["", "## Status of the last regeneration", ""]
    lines += [f"- {s}" for s in status]
    lines += ["", f"Models found: {', '.join(m.name for m in shipped) or 'none'}. "
              f"Hardware profile: {hw or 'none (activity only, no energy)'}. Inputs: "
              + (f"{inputs} for the CIFAR-10 models, samples.npz for the others"
                 if inputs else "each model's samples.npz")
              + (f", a stratified {samples} of them" if samples else "")
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
    p.add_argument("--samples", type=SAMPLES, default=500,
                   help="stratified inputs per run (default 500: all of a shipped samples.npz)")
    p.add_argument("--input", help="inputs for the CIFAR-10 models instead of their samples.npz "
                                   "(e.g. the 10,000 test images)")
    p.add_argument("--workers", "--jobs", type=integer(1, None, "number of workers"),
                   help="worker processes per run (default: all cores)")
    p.add_argument("--engine", choices=("event", "reference"), default=None)
    p.add_argument("--force", action="store_true",
                   help="write into report directories neurosim did not create (deleting nothing)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    hw = Path(args.hw) if args.hw else find_profile(Path("hw_configs"))
    command = " ".join([COMMAND] + [f"--{k} {v}" for k, v in (
        ("models", args.models), ("hw", args.hw), ("out", args.out), ("samples", args.samples),
        ("input", args.input), ("engine", args.engine)) if v is not None and str(v) != str(p.get_default(k))])
    try:
        status = regenerate(Path(args.models), hw, Path(args.out), args.samples,
                            args.workers or os.cpu_count() or 1,
                            args.engine or default_engine(), progress=not args.quiet,
                            command=command, force=args.force, inputs=args.input)
    except NeurosimError as err:
        print(f"{COMMAND}: error: {err}", file=sys.stderr)
        return 2
    for line in status:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
