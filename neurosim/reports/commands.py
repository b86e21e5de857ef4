"""``neurosim report``, ``neurosim compare`` and ``neurosim sweep``: argument parsing and output.

Outputs follow neurosim.outputs: a report is built in a temporary directory and only then moved
into place, so a failure leaves the previous files (or nothing) rather than half a report; an
existing --out is replaced only if neurosim created it, and --force writes into any directory
without deleting anything.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..errors import InputError, OutputError
from ..limits import MAX_TIMESTEPS
from ..model.neurons import MAX_LEVELS
from ..options import SAMPLES, SEED, add_max_memory, integer, path
from ..outputs import (atomic_dir, check_output, clean_leftovers, plan_output, publish,
                       temp_dir, write_marker)
from .runs import load_run

FORCE_HELP = ("write into an existing --out that neurosim did not create, replacing only the "
              "files neurosim writes (nothing else is touched)")


def build_in_place(build, dest: Path) -> list[Path]:
    """Run ``build(tmp)`` in a scratch directory inside ``dest``, then move each file into
    ``dest`` (os.replace): a report written into its run directory replaces only its own files."""
    dest = Path(dest)
    clean_leftovers(dest, "report")
    tmp = temp_dir(dest, "report")
    try:
        write_marker(tmp, "report", "neurosim report")  # marks a leftover as neurosim's
        build(tmp)
        return publish(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_out(out, kind: str, inputs, force: bool) -> None:
    """Refuse, before any work, an --out that cannot be written, and one that would be replaced
    while it holds an input (a run or model the command reads)."""
    check_output(out, kind, force)
    if plan_output(out, kind, force) != "replace":
        return
    where = Path(out).resolve()
    for source in inputs:
        path = Path(source).resolve()
        if path == where or where in path.parents:
            raise OutputError(f"holds the input {source}, which replacing it would delete; "
                              f"choose another --out", str(out))


# --- report ------------------------------------------------------------------------------------

def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="DIR",
                   help="a run directory written by `neurosim simulate --out`")
    p.add_argument("--out", type=path, help="write the report here instead of into DIR")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--quiet", action="store_true", help="do not print the tables")


def report_main(args) -> int:
    from .run_report import build
    from .tables import energy_table, layer_table

    run = load_run(args.run)
    if args.out:
        check_out(args.out, "report", [args.run], args.force)
        with atomic_dir(args.out, "report", "neurosim report", args.force) as tmp:
            build(run, tmp)
        where = Path(args.out)
    else:
        build_in_place(lambda tmp: build(run, tmp), run.path)
        where = run.path
    if not args.quiet:
        table = energy_table(run)
        print(table.to_markdown() if table is not None else layer_table(run).to_markdown())
        print(f"wrote {where}/report.md, report.html, the tables (md, csv, tex) and figures/")
    return 0


# --- compare -----------------------------------------------------------------------------------

def compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", metavar="DIR", nargs="+", help="run directories (the first is the "
                                                           "baseline of relative differences)")
    p.add_argument("--labels", help="comma-separated names for the runs (default: network names)")
    p.add_argument("--out", type=path, help="write comparison.md/.html, tables and figures here")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--quiet", action="store_true", help="do not print the table")


def compare_main(args) -> int:
    from . import compare

    labels = [s.strip() for s in args.labels.split(",")] if args.labels else []
    if labels and len(labels) != len(args.runs):
        raise InputError(f"got {len(labels)} label(s) for {len(args.runs)} run(s)", "--labels")
    runs = [load_run(path, labels[i] if labels else "") for i, path in enumerate(args.runs)]
    if args.out:
        check_out(args.out, "comparison", args.runs, args.force)
    compare.unique_labels(runs)
    alignment = compare.align(runs)
    for message in alignment.messages():
        print(f"neurosim compare: {message}", file=sys.stderr)
    if args.out:
        with atomic_dir(args.out, "comparison", "neurosim compare", args.force) as tmp:
            compare.build(runs, tmp)
    if not args.quiet:
        print(compare.activity_table(runs, alignment).to_markdown())
        if args.out:
            print(f"wrote {args.out}/comparison.md, comparison.html, tables and figures/")
    return 0


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
    from . import sweep

    levels = sweep.parse_values(args.levels, "-N", MAX_LEVELS)
    timesteps = sweep.parse_values(args.timesteps, "-T", MAX_TIMESTEPS)
    for model in args.models:
        load_model(model)  # fail here, with the model's own message, not in a worker
    check_out(args.out, "sweep", args.models, args.force)
    if args.hw:
        try:
            from ..hardware import load_profile
        except ImportError as err:
            raise InputError(f"hardware profiles are not available: {err}", "--hw") from None
        load_profile(args.hw)
    points = sweep.grid(args.models, levels, timesteps, axes=args.axes)
    settings = sweep.Settings(hw=args.hw, inputs=args.input, samples=args.samples,
                              engine=args.engine or sweep.default_engine(), seed=args.seed,
                              float_reference=not args.no_float, add_mode=args.add_mode)
    with atomic_dir(args.out, "sweep", "neurosim sweep", args.force) as tmp:
        df = sweep.run_sweep(points, settings, tmp, args.jobs, progress=not args.quiet)
        sweep.build(df, tmp)
    if not args.quiet:
        print(sweep.summary_table(df).to_markdown())
        print(f"wrote {args.out}/sweep.md, sweep.html, sweep.csv, tables, figures/ and "
              f"runs/ ({len(points)} runs)")
    return 0
