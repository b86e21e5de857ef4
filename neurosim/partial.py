"""``DIR.partial/``: the finished shards of a run, kept beside its ``--out`` until it is written.

A long run stores each shard as it completes, so a crash, a Ctrl-C or a SIGKILL loses at most
the shards that were running; ``--resume`` reads them back and runs only the missing ones, and
the run directory comes out byte for byte the same. Layout (npz and JSON only, nothing
pickled; docs/outputs.md §14):

    DIR.partial/
      .neurosim-run        the marker (kind "partial"): a directory neurosim may remove
      plan.json            what the run is (its jobs, their networks and inputs) and its shards
      <job>-<i>.npz        shard i of job <job>: counts, logits, levels/<layer>, extra/<name>
      <job>-<i>.json       its input range, per-block timing, per-core sums (written last)

A run without ``--resume`` refuses while ``DIR.partial/`` exists; a resumed run whose plan
differs (another model, profile, option or input) is refused, naming what differs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from .errors import OutputError
from .outputs import atomic_file, make_parent, read_marker, write_json, write_marker
from .shards import ShardResult

SUFFIX = ".partial"
PLAN = "plan.json"
LEVELS = "levels/"
EXTRA = "extra/"  # a fidelity shard's tallies and outputs


def partial_path(out) -> Path:
    """Where the finished shards of a run writing ``out`` are kept: ``out`` + ``.partial``."""
    out = Path(out)
    if out.name in ("", ".", ".."):  # "." and ".." have no name of their own
        out = Path(os.path.normpath(out.absolute()))
    return out.with_name(out.name + SUFFIX)


def _first_difference(stored, wanted, where: str = "") -> str | None:
    if isinstance(stored, dict) and isinstance(wanted, dict):
        for key in list(wanted) + [k for k in stored if k not in wanted]:
            if key not in stored or key not in wanted:
                return f"{where}{key}"
            found = _first_difference(stored[key], wanted[key], f"{where}{key}.")
            if found:
                return found
        return None
    return None if stored == wanted else where.rstrip(".")


class PartialStore:
    """The finished shards of one run, in ``path`` (module docstring)."""

    def __init__(self, path: Path, plan: dict):
        self.path = path
        self.plan = plan  # {"jobs": {job: {"run": identity, "shards": [[start, stop], ...]}}}

    @classmethod
    def open(cls, path, plan: dict, resume: bool, command: str) -> "PartialStore":
        """Create ``path`` for a new run, or (``resume``) reopen the one an interrupted run left,
        whose stored shard plan then wins over ``plan``'s."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            marker = read_marker(path) if path.is_dir() else None
            if marker is None or marker.get("kind") != "partial":
                raise OutputError("exists and is not a neurosim directory of finished shards; "
                                  "move it away or choose another --out", str(path))
            if not resume:
                raise OutputError("holds the finished shards of an interrupted run: pass "
                                  "--resume to finish it, or remove it", str(path))
            try:
                stored = json.loads((path / PLAN).read_text())
            except (OSError, ValueError) as err:
                raise OutputError(f"cannot read {PLAN} ({err}); remove the directory",
                                  str(path)) from None
            wanted = {job: {"run": spec["run"]} for job, spec in plan["jobs"].items()}
            found = {job: {"run": spec["run"]} for job, spec in stored.get("jobs", {}).items()}
            differs = _first_difference(found, wanted)
            if differs:
                raise OutputError(f"was left by another run ({differs} differs); resume with "
                                  "the same model, profile, options and inputs, or remove it",
                                  str(path))
            return cls(path, stored)
        make_parent(path)
        try:
            path.mkdir()
        except OSError as err:
            raise OutputError(f"cannot create: {err.strerror}", str(path)) from None
        write_marker(path, "partial", command)
        with atomic_file(path / PLAN) as tmp:
            write_json(tmp, plan)
        return cls(path, plan)

    def shards(self, job: str) -> list[tuple[int, int]]:
        return [tuple(s) for s in self.plan["jobs"][job]["shards"]]

    def _stem(self, job: str, index: int) -> Path:
        return self.path / f"{re.sub(r'[^A-Za-z0-9_.=-]', '_', job)}-{index:05d}"

    def load(self, job: str, index: int) -> ShardResult | None:
        """Shard ``index`` of ``job`` if it was finished (its JSON is written last), else None."""
        stem = self._stem(job, index)
        try:
            meta = json.loads(stem.with_suffix(".json").read_text())
            with np.load(stem.with_suffix(".npz"), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, KeyError):
            return None
        levels = {k[len(LEVELS):]: v for k, v in arrays.items() if k.startswith(LEVELS)}
        extra = {k[len(EXTRA):]: v for k, v in arrays.items() if k.startswith(EXTRA)}
        return ShardResult(meta["start"], meta["stop"], arrays["counts"], arrays["logits"],
                           levels, meta["blocks"], meta["cores"], meta["wall_s"],
                           meta["warnings"], meta["levels_dtype"], extra,
                           meta.get("links"))

    def save(self, job: str, index: int, result: ShardResult) -> None:
        stem = self._stem(job, index)
        arrays = {"counts": result.counts, "logits": result.logits,
                  **{LEVELS + k: v for k, v in result.levels.items()},
                  **{EXTRA + k: v for k, v in result.extra.items()}}
        with atomic_file(stem.with_suffix(".npz")) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        with atomic_file(stem.with_suffix(".json")) as tmp:
            write_json(tmp, {"start": result.start, "stop": result.stop,
                             "blocks": result.blocks, "cores": result.cores,
                             "wall_s": result.wall_s, "warnings": result.warnings,
                             "levels_dtype": result.levels_dtype, "links": result.links})



def check(path, resume: bool) -> None:
    """Refuse, before any work, a run whose ``path`` holds shards it would not resume."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not resume:
        raise OutputError("holds the finished shards of an interrupted run: pass --resume to "
                          "finish it, or remove it", str(path))


def discard(path) -> None:
    """Remove the store at ``path`` once the run directory it served is written (only a
    directory with the partial marker: never anything else)."""
    marker = read_marker(path)
    if marker is not None and marker.get("kind") == "partial":
        shutil.rmtree(path, ignore_errors=True)
