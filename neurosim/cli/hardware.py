"""``neurosim profiles``: list, validate and price hardware profiles."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError, NeurosimError
from ..options import Command

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
    from ..hardware.loader import load_profile
    from ..hardware.schema import SCHEMA

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


COMMANDS = (Command("profiles", "list and validate hardware profiles", profiles_arguments,
                    profiles_main),)
