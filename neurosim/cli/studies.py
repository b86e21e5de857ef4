"""``neurosim sweep`` (an N × T grid of runs and its report) and ``neurosim paper-tables``
(the paper's Tables 3 and 4 reproduced into reports/paper_tables.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..limits import MAX_TIMESTEPS
from ..model.neurons import MAX_LEVELS
from ..options import FORCE_HELP, SAMPLES, SEED, Command, add_max_memory, integer, path

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
    p.add_argument("--jobs", type=integer(1, None, "number of jobs"),
                   help="parallel runs (default: the available cores)")
    add_max_memory(p)
    p.add_argument("--no-float", action="store_true", help="skip the float-model accuracy runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")


def sweep_main(args) -> int:
    from ..model.io import load_model
    from ..outputs import atomic_dir, check_output_keeps_inputs
    from ..reports import sweep as sweep_report
    from ..studies import sweep

    levels = sweep.parse_values(args.levels, "-N", MAX_LEVELS)
    timesteps = sweep.parse_values(args.timesteps, "-T", MAX_TIMESTEPS)
    for model in args.models:
        load_model(model)  # fail here, with the model's own message, not in a worker
    check_output_keeps_inputs(args.out, "sweep", args.models, args.force)
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
        df = sweep.run_sweep(points, settings, tmp, args.jobs, progress=not args.quiet)
        sweep_report.build(df, tmp)
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


COMMANDS = (Command("sweep", "run an N × T grid and report it", sweep_arguments, sweep_main),
            Command("paper-tables", "reproduce Tables 3/4", paper_tables_arguments,
                    paper_tables_main))
