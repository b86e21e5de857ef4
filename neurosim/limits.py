"""Limits checked before work: a run's memory is estimated from shapes, never discovered by
allocating it.

A manifest can declare a convolution of 29.8 GiB, an npz can hold a header promising a terabyte,
``--samples`` and ``-T`` multiply what a run records: each is checked against ``--max-memory``
(default: 80% of this machine's memory) from shapes alone, before anything is read or allocated,
and refused with one line giving the estimate, the limit and the flag that raises it.

    with limits.max_memory(8 * 2**30):     # what --max-memory 8GiB sets for one command
        graph = load_model(path)           # checks declared array sizes first
    limits.check(limits.run_bytes(graph, samples, timesteps), "run", str(path))
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import InputError, ModelError, UnitError
from .units import parse

DEFAULT_FRACTION = 0.8  # of the machine's memory
MAX_TIMESTEPS = 1024  # T of a run: beyond any trained SNN (DVS nets use tens)
INPUT_VALUE_MAX = 2 ** 31 - 1  # an input value (pixel, event count) travels as an int32 event
BATCH = 64  # inputs the dense reference runs at once (reference.run's batch_size)
BYTES_PER_PARAMETER = 40  # float32 graph + float64 terms + int64 quantised + float net + layouts
BYTES_PER_NEURON = 24  # per input in flight: potential (int64), current, output stream
# What reading a damaged npz raises (a bad zip directory, a corrupt deflate stream, a bad .npy
# header, a truncated member): every reader of npz files catches these and only these.
NPZ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, KeyError,
              SyntaxError, tokenize.TokenError)  # the last two: numpy parsing a bad header
_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("max_memory", default=None)


def machine_memory() -> int:
    """Physical memory in bytes, or the cgroup's limit when it is lower (containers)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total)


def memory_limit() -> int:
    """The limit in force: set by ``max_memory``, else DEFAULT_FRACTION of machine_memory()."""
    limit = _LIMIT.get()
    return int(DEFAULT_FRACTION * machine_memory()) if limit is None else limit


@contextlib.contextmanager
def max_memory(nbytes: int | None):
    """Use ``nbytes`` as the memory limit inside the block (None: the default)."""
    token = _LIMIT.set(None if nbytes is None else int(nbytes))
    try:
        yield
    finally:
        _LIMIT.reset(token)


def parse_size(text: str) -> int:
    """'8GiB', '500 MB', '2e9' → bytes (for --max-memory)."""
    try:
        value = parse(text if any(c.isalpha() for c in str(text)) else f"{text} B", "size")
    except UnitError as err:
        raise InputError(f"{err} (e.g. 8GiB, 500MB)", "--max-memory") from None
    if not value > 0 or not math.isfinite(value):
        raise InputError(f"expected a positive size, got {text!r}", "--max-memory")
    return int(value)


def size_text(nbytes: float) -> str:
    for unit, scale in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} B"


def check(nbytes: float, what: str, where: str, field: str | None = None,
          error=InputError, fix: str = "") -> None:
    """Refuse ``what`` if it needs more than the memory limit."""
    limit = memory_limit()
    if nbytes > limit:
        hint = f"{fix}, or raise --max-memory" if fix else "raise --max-memory"
        raise error(f"{what} would need about {size_text(nbytes)} of memory, more than the "
                    f"limit of {size_text(limit)} (--max-memory; default {DEFAULT_FRACTION:.0%} "
                    f"of this machine's {size_text(machine_memory())}); {hint}", where, field)


def elements(shape) -> int:
    return int(np.prod([int(s) for s in shape], dtype=object)) if len(shape) else 1


# --- npz members, read from their headers ------------------------------------------------------

def npz_headers(path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an npz, from the .npy headers alone (nothing is
    decompressed beyond the first bytes of each member). Raises OSError/ValueError/BadZipFile
    on a damaged file, as np.load would."""
    found = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            found[info.filename[:-4]] = (tuple(int(s) for s in shape), np.dtype(dtype))
    return found


def check_npz(path, where: str | None = None, error=InputError) -> dict:
    """``npz_headers`` of a file, with its arrays' total size held against the limit."""
    where = where or str(path)
    try:
        headers = npz_headers(path)
    except NPZ_ERRORS as err:
        raise error(f"cannot be read as npz: {err}", where) from None
    total = sum(elements(shape) * dtype.itemsize for shape, dtype in headers.values())
    check(total, f"reading its arrays ({', '.join(sorted(headers))[:80]})", where, error=error)
    return headers


# --- a run --------------------------------------------------------------------------------------

def run_bytes(graph, samples: int, timesteps: int, record: bool = False,
              frames: bool = False) -> dict[str, int]:
    """Estimated peak memory of simulating ``graph`` on ``samples`` inputs, by part:
    weights (every compiled copy), feature maps of one batch in flight (the dense reference's
    potentials, currents and streams), the inputs, and the recorded levels of every layer
    (``record``)."""
    params = sum(a.size for node in graph.nodes for a in node.arrays().values())
    maps = sum(elements(graph.shapes[n.name]) for n in graph.nodes)
    batch = min(max(samples, 1), BATCH)
    per_input = elements(graph.input.shape) * (timesteps if frames else 1)
    parts = {"weights": BYTES_PER_PARAMETER * params,
             "feature maps": batch * BYTES_PER_NEURON * maps,
             "inputs": samples * per_input * 8}
    if record:
        parts["recorded levels"] = record_bytes(graph, samples, timesteps)
    return parts


# Keeping every layer's levels in a result costs int32 per neuron, timestep and input: a run above
# this keeps only their statistics (levels.csv, NeuroBench SynOps: metrics.level_stats).
RECORD_LIMIT_BYTES = 2 * 1024 ** 3


def record_bytes(graph, samples: int, timesteps: int) -> int:
    """The memory a run's recorded levels hold: int32 per neuron, timestep and input."""
    return 4 * graph.neuron_count() * samples * timesteps


def should_record(graph, samples: int, timesteps: int) -> bool:
    return record_bytes(graph, samples, timesteps) <= RECORD_LIMIT_BYTES


def check_run(graph, samples: int, timesteps: int, where: str, record: bool = False,
              frames: bool = False) -> None:
    """Refuse a run whose estimate (run_bytes) exceeds the memory limit."""
    if not 1 <= timesteps <= MAX_TIMESTEPS:
        raise InputError(f"expected T in [1, {MAX_TIMESTEPS}], got {timesteps}", where,
                         "timesteps")
    parts = run_bytes(graph, samples, timesteps, record, frames)
    detail = ", ".join(f"{k} {size_text(v)}" for k, v in parts.items() if v)
    check(sum(parts.values()), f"simulating {samples} input(s) × T={timesteps} ({detail})",
          where, fix="use fewer --samples or a smaller -T")


def check_declared_arrays(manifest: dict, where: str) -> None:
    """Refuse a manifest whose declared arrays alone exceed the memory limit (before the
    weights file is opened): each parameter is held several times once compiled."""
    total, largest = 0, ("", 0)
    for index, entry in enumerate(manifest.get("graph") or []):
        arrays = entry.get("arrays") if isinstance(entry, dict) else None
        if not isinstance(arrays, dict):
            continue
        for key, info in arrays.items():
            shape = info.get("shape") if isinstance(info, dict) else None
            if not isinstance(shape, list) or not all(isinstance(s, int) and not
                                                      isinstance(s, bool) and s >= 0
                                                      for s in shape):
                continue  # load_model reports malformed shapes itself
            n = elements(shape)
            total += n
            if n > largest[1]:
                largest = (f"graph[{index}].arrays.{key}", n)
    field = largest[0] or None
    check(BYTES_PER_PARAMETER * total, f"the model's {total:,} declared parameters", where,
          field, error=ModelError)
