"""``neurosim report`` and ``neurosim compare``: argument parsing and output.

Outputs follow neurosim.outputs: a report is built in a temporary directory and only then moved
into place, so a failure leaves the previous files (or nothing) rather than half a report; an
existing --out is replaced only if neurosim created it, and --force writes into any directory
without deleting anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..options import FORCE_HELP, Command, path

# --- report ------------------------------------------------------------------------------------

def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="DIR",
                   help="a run directory written by `neurosim simulate --out`")
    p.add_argument("--out", type=path, help="write the report here instead of into DIR")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--quiet", action="store_true", help="do not print the tables")


def report_main(args) -> int:
    from ..outputs import atomic_dir, build_in_place, check_output_keeps_inputs
    from ..reports.run_report import build
    from ..reports.runs import load_run
    from ..reports.tables import energy_table, layer_table

    run = load_run(args.run)
    if args.out:
        check_output_keeps_inputs(args.out, "report", [args.run], args.force)
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
    from ..outputs import atomic_dir, check_output_keeps_inputs
    from ..reports import compare
    from ..reports.runs import load_run

    labels = [s.strip() for s in args.labels.split(",")] if args.labels else []
    if labels and len(labels) != len(args.runs):
        raise InputError(f"got {len(labels)} label(s) for {len(args.runs)} run(s)", "--labels")
    runs = [load_run(path, labels[i] if labels else "") for i, path in enumerate(args.runs)]
    if args.out:
        check_output_keeps_inputs(args.out, "comparison", args.runs, args.force)
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


COMMANDS = (Command("report", "energy breakdown report from a run", report_arguments,
                    report_main),
            Command("compare", "compare runs layer by layer", compare_arguments, compare_main))
