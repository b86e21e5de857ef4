"""``neurosim profiles`` (list and validate hardware profiles) and ``neurosim paper-tables``
(reproduce the paper's Tables 3 and 4 into reports/paper_tables.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError, NeurosimError
from ..options import SAMPLES, path
from .loader import load_profile
from .schema import SCHEMA

DEFAULT_DIR = Path("hw_configs")


def profile_files(paths: list[str]) -> list[Path]:
    """YAML files named, or found in the named directories (default hw_configs/)."""
    files = []
    for name in paths or [str(DEFAULT_DIR)]:
        path = Path(name)
        if path.is_dir():
            found = sorted(list(path.glob("*.yaml")) + list(path.glob("*.yml")))
            if not found:
                raise InputError("no *.yaml profile in this directory", str(path))
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise InputError("no such file or directory", str(path))
    return files


def profile_row(profile) -> dict:
    mem, ops, pol = profile.memories, profile.operations, profile.policies
    w = profile.widths
    return {"name": profile.name, "file": profile.path, "sha256": profile.sha256[:12],
            "widths w/b/p/spike": f"{w.weights}/{w.biases}/{w.potentials}/{profile.spike_bits}",
            "fifo": profile.fifo_depth,
            "E_fifo pJ": f"{mem['fifo'].access_pj(profile.fifo_depth):.4g}",
            "weights": mem["weights"].energy.kind + (f", banks {mem['weights'].bank_entries}"
                                                     if mem["weights"].bank_entries else ""),
            "ACC pJ": f"{ops.syn_acc_pj:g}" if ops.synaptic_acc_pj is not None else
            f"{ops.acc_pj:g}", "MAC pJ": f"{ops.mac_pj:g}",
            "levels": pol.synaptic_levels, "visits": pol.visits, "bias": pol.bias_reads}


def profiles_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", help="profile files or directories (default hw_configs/)")
    p.add_argument("--ert", action="store_true",
                   help="also print each profile's energy reference table with sources")
    p.add_argument("--schema", action="store_true", help="print the profile JSON schema and exit")


def profiles_main(args) -> int:
    if args.schema:
        print(json.dumps(SCHEMA, indent=2, allow_nan=False))
        return 0
    import pandas as pd

    rows, failed = [], []
    profiles = []
    for path in profile_files(args.paths):
        try:
            profile = load_profile(path)
        except NeurosimError as err:
            field = f"{err.field}: " if err.field else ""
            failed.append(f"neurosim profiles: error: {path}: {field}{err.message}")
            continue
        profiles.append(profile)
        rows.append(profile_row(profile))
    if rows:
        with pd.option_context("display.width", 200, "display.max_columns", 20,
                               "display.max_colwidth", 40):
            print(pd.DataFrame(rows).to_string(index=False))
    if args.ert:
        for profile in profiles:
            print(f"\n{profile.name} ({profile.path}): {profile.description}")
            for row in profile.energy_reference():
                print(f"  {row['component']:18s} {row['action']:34s} {row['energy']}")
                print(f"  {'':18s} source: {row['source']}")
    for line in failed:
        print(line, file=sys.stderr)
    print(f"{len(rows)} valid, {len(failed)} invalid")
    return 2 if failed else 0


# --- paper-tables ------------------------------------------------------------------------------

def paper_tables_arguments(p: argparse.ArgumentParser) -> None:
    from .. import paper

    p.add_argument("--hw", default=str(DEFAULT_DIR / "paper_45nm.yaml"),
                   help="the paper's profile (default hw_configs/paper_45nm.yaml)")
    p.add_argument("--code-hw", default=str(DEFAULT_DIR / "leat_code_45nm.yaml"),
                   help="the LEAT code's literal profile, shown beside it in the ANN section "
                        "('' to skip)")
    p.add_argument("--out", type=path, default="reports/paper_tables.md", help="report to write")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out file that paper-tables did not write")
    p.add_argument("--models", default="models",
                   help="directory of trained models: every VGG16 there is simulated")
    p.add_argument("--input", help="inputs for the trained models (default: each model's "
                                   "samples.npz)")
    p.add_argument("--samples", type=SAMPLES, default=paper.TRAINED_SAMPLES,
                   help="CIFAR-10 test images per trained model (stratified; 500: all of a "
                        "shipped samples.npz)")
    p.add_argument("--engine", choices=("reference", "event"), default="reference")


def paper_tables_main(args) -> int:
    from .. import paper

    paper.check_report_path(args.out, args.force)
    profile = load_profile(args.hw)
    code = load_profile(args.code_hw) if args.code_hw else None
    command = "neurosim paper-tables" + "".join(
        f" {flag} {value}" for flag, value, default in (
            ("--hw", args.hw, str(DEFAULT_DIR / "paper_45nm.yaml")),
            ("--models", args.models, "models"), ("--samples", args.samples, paper.TRAINED_SAMPLES),
            ("--engine", args.engine, "reference")) if str(value) != str(default))
    text = paper.report_text(profile, code, args.models, args.samples, args.engine,
                             args.input, command)
    out = paper.write_report(args.out, text, force=args.force)
    rep = paper.reproduce(profile)
    errors = rep.errors()
    print("SNN columns, neurosim / paper − 1 (%):")
    print((100 * errors).round(2).to_string())
    failures = rep.failures()
    print(f"rows outside 3%: {', '.join(f'{c} {r} ({100 * e:+.1f}%)' for c, r, e in failures)}"
          if failures else "every row within 3%")
    print(f"wrote {out}")
    return 0
