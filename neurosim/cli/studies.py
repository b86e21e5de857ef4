"""``neurosim sweep`` (an N × T grid of runs and its report), ``neurosim explore`` (a grid over
profile fields with its Pareto plot) and ``neurosim paper-tables`` (the paper's Tables 3 and 4
reproduced into reports/paper_tables.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..limits import MAX_TIMESTEPS
from ..model.neurons import MAX_LEVELS
from ..options import (FORCE_HELP, LEVELS, SAMPLES, SEED, TIMESTEPS, Command, add_cluster,
                       add_max_memory, integer, path)

DEFAULT_HW = Path("hw_configs")


# --- sweep -------------------------------------------------------------------------------------

def sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", metavar="MODEL", nargs="+", help="model directories (several: "
                                                              "one line each in the figures)")
    p.add_argument("--hw", help="hardware profile YAML (energy columns and Table 3)")
    p.add_argument("-N", "--levels", default="1", help="levels per spike, e.g. 1,2,4,8 or 1-8")
    p.add_argument("-T", "--timesteps", default="1", help="timesteps, e.g. 1,2,4,8")
    p.add_argument("--axes", action="store_true",
                   help="run N at T=1 and T at N=1 (the paper's Figure 7) instead of every pair")
    p.add_argument("--out", type=path, required=True, help="output directory (runs/ plus the report)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--input", help="inputs (default: each model's samples.npz)")
    p.add_argument("--samples", type=SAMPLES, help="a stratified subset of this many inputs")
    p.add_argument("--engine", choices=("event", "reference"), default=None,
                   help="event-driven engine (default when available) or dense reference")
    p.add_argument("--add-mode", choices=("forward", "merge"), help="residual add mode")
    p.add_argument("--seed", type=SEED, default=0, help="seed for sampling inputs")
    add_cluster(p, aliases=("--jobs",))
    add_max_memory(p)
    p.add_argument("--no-float", action="store_true", help="skip the float-model accuracy runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")


def sweep_main(args) -> int:
    from .. import partial
    from ..model.io import load_model
    from ..outputs import atomic_dir, check_output_keeps_inputs
    from ..reports import sweep as sweep_report
    from ..studies import sweep

    levels = sweep.parse_values(args.levels, "-N", MAX_LEVELS)
    timesteps = sweep.parse_values(args.timesteps, "-T", MAX_TIMESTEPS)
    for model in args.models:
        load_model(model)  # fail here, with the model's own message, not in a worker
    check_output_keeps_inputs(args.out, "sweep", args.models, args.force)
    keep = partial.partial_path(args.out)
    partial.check(keep, args.resume)
    if args.hw:
        try:
            from ..hardware import load_profile
        except ImportError as err:
            raise InputError(f"hardware profiles are not available: {err}", "--hw") from None
        load_profile(args.hw)
    points = sweep.grid(args.models, levels, timesteps, axes=args.axes)
    settings = sweep.Settings(hw=args.hw, inputs=args.input, samples=args.samples,
                              engine=args.engine, seed=args.seed,
                              float_reference=not args.no_float, add_mode=args.add_mode)
    with atomic_dir(args.out, "sweep", "neurosim sweep", args.force) as tmp:
        df = sweep.run_sweep(points, settings, tmp, args.workers, not args.quiet,
                             args.scheduler, args.backend, args.shard_size, keep, args.resume)
        sweep_report.build(df, tmp)
    partial.discard(keep)
    if not args.quiet:
        print(sweep_report.summary_table(df).to_markdown())
        print(f"wrote {args.out}/sweep.md, sweep.html, sweep.csv, tables, figures/ and "
              f"runs/ ({len(points)} runs)")
    return 0


# --- paper-tables ------------------------------------------------------------------------------

def paper_tables_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hw", default=str(DEFAULT_HW / "paper_45nm.yaml"),
                   help="the paper's profile (default hw_configs/paper_45nm.yaml)")
    p.add_argument("--code-hw", default=str(DEFAULT_HW / "leat_code_45nm.yaml"),
                   help="the LEAT code's literal profile, shown beside it in the ANN section "
                        "('' to skip)")
    p.add_argument("--out", type=path, default="reports/paper_tables.md", help="report to write")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out file that paper-tables did not write")
    p.add_argument("--models", default="models",
                   help="directory of trained models: every VGG16 there is simulated")
    p.add_argument("--input", help="inputs for the trained models (default: each model's "
                                   "samples.npz)")
    p.add_argument("--samples", type=SAMPLES, default=None,
                   help="CIFAR-10 test images per trained model (stratified; default 500: all "
                        "of a shipped samples.npz)")
    p.add_argument("--engine", choices=("reference", "event"), default="reference",
                   help="simulator of the trained models' runs: the dense reference (default: "
                        "the same counts as the event engine, by contract, and faster here) "
                        "or the event engine")


def paper_tables_main(args) -> int:
    from ..studies import paper_report as paper

    from ..hardware import load_profile
    from ..studies.paper import reproduce

    samples = args.samples or paper.TRAINED_SAMPLES
    paper.check_report_path(args.out, args.force)
    profile = load_profile(args.hw)
    code = load_profile(args.code_hw) if args.code_hw else None
    command = "neurosim paper-tables" + "".join(
        f" {flag} {value}" for flag, value, default in (
            ("--hw", args.hw, str(DEFAULT_HW / "paper_45nm.yaml")),
            ("--models", args.models, "models"), ("--samples", samples, paper.TRAINED_SAMPLES),
            ("--engine", args.engine, "reference")) if str(value) != str(default))
    text = paper.report_text(profile, code, args.models, samples, args.engine,
                             args.input, command)
    out = paper.write_report(args.out, text, force=args.force)
    rep = reproduce(profile)
    errors = rep.errors()
    print("SNN columns, neurosim / paper − 1 (%):")
    print((100 * errors).round(2).to_string())
    failures = rep.failures()
    print(f"rows outside 3%: {', '.join(f'{c} {r} ({100 * e:+.1f}%)' for c, r, e in failures)}"
          if failures else "every row within 3%")
    print(f"wrote {out}")
    return 0


# --- explore ------------------------------------------------------------------------------------

def explore_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model directory")
    p.add_argument("--hw", required=True, help="the hardware profile the grid starts from")
    p.add_argument("--vary", action="append", required=True, metavar="FIELD=V1,V2,…",
                   help="a profile field and its values, e.g. core.max_neurons=256,512,1024 "
                        "(repeat for a grid over several fields)")
    p.add_argument("--out", type=path, required=True, help="output directory")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--input", help="inputs (default: the model's samples.npz)")
    p.add_argument("--samples", type=SAMPLES, help="a stratified subset of this many inputs")
    p.add_argument("-N", "--levels", type=LEVELS, help="override every neuron's levels")
    p.add_argument("-T", "--timesteps", type=TIMESTEPS, help="override the model's timesteps")
    p.add_argument("--engine", choices=("event", "reference"), default=None,
                   help="event-driven engine (default: latency, throughput, bottlenecks)")
    p.add_argument("--seed", type=SEED, default=0, help="seed for sampling inputs")
    p.add_argument("--jobs", type=integer(1, None, "number of jobs"),
                   help="parallel runs (default: the available cores)")
    p.add_argument("--no-float", action="store_true", help="skip the float-model accuracy runs")
    p.add_argument("--quiet", action="store_true", help="no table")
    add_max_memory(p)


def explore_main(args) -> int:
    from ..model.io import load_model
    from ..outputs import atomic_dir, check_output_keeps_inputs
    from ..studies import explore

    grid = explore.parse_vary(args.vary)
    load_model(args.model)
    check_output_keeps_inputs(args.out, "exploration", [args.model, args.hw], args.force)
    points = explore.points(args.hw, grid)  # every point's profile is valid before any run
    settings = explore.Settings(inputs=args.input, samples=args.samples, engine=args.engine,
                                seed=args.seed, levels=args.levels, timesteps=args.timesteps,
                                float_reference=not args.no_float)
    command = "neurosim explore " + " ".join([args.model, "--hw", args.hw] + [
        f"--vary {v}" for v in args.vary])
    with atomic_dir(args.out, "exploration", "neurosim explore", args.force) as tmp:
        df = explore.run_grid(args.model, points, settings, tmp, args.jobs)
        explore.write_report(df, tmp, command)
    if not args.quiet:
        cols = [c for c in df.columns if c in grid or c in (
            "energy_Total_nj", "latency_s", "throughput_per_s", "area_mm2", "bound")]
        print(df[cols].to_string(index=False))
        print(f"wrote {args.out}/explore.csv, explore.md, figures/pareto.png and runs/ "
              f"({len(df)} runs)")


# --- reprice -----------------------------------------------------------------------------------

def reprice_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory (neurosim simulate --out)")
    p.add_argument("--hw", required=True, help="the hardware profile to price its counts with")
    p.add_argument("--out", type=path, required=True, help="the new run directory")
    p.add_argument("--model", help="the run's model directory, where it moved since the run")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)


def reprice_main(args) -> int:
    from ..hardware import load_profile
    from ..outputs import check_output_keeps_inputs
    from ..studies.reprice import reprice

    check_output_keeps_inputs(args.out, "run", [args.run], args.force)
    out = reprice(args.run, load_profile(args.hw), args.out, args.force, args.model)
    print(f"wrote {out}/ (the counts of {args.run} priced with {args.hw})")
    return 0


COMMANDS = (Command("sweep", "run an N × T grid and report it", sweep_arguments, sweep_main),
            Command("explore", "run a grid over hardware profile fields, with a Pareto plot",
                    explore_arguments, explore_main),
            Command("reprice", "price a stored run under another profile, without "
                               "re-simulating", reprice_arguments, reprice_main),
            Command("paper-tables", "reproduce Tables 3/4", paper_tables_arguments,
                    paper_tables_main))
