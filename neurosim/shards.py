"""Split a run's inputs into shards of whole blocks, run a shard, merge shards exactly.

Simulated time runs per block of ``block_inputs`` inputs (a profile field, 64 by default), each
block on an empty chip: the engine is called once per block. A shard is a run of consecutive
whole blocks, so the blocks, and with them every count, level, logit and simulated time, are
the same whatever the number of workers or the shard size (docs/design.md §4.4):

    counts     int64 sums                    logits, levels   concatenated in input order
    cycles     Σ block makespans (blocks run one after another)
    latency    Σ_blocks mean·inputs / inputs (first: the first block's first; max: the max)
    per core   busy and stall cycles summed, utilisation = busy / Σ cycles, FIFO occupancy max

A worker builds its network from a ``Job`` (a model path, the overrides and the profile) once
and keeps it (``network``: an in-process cache keyed by ``Job.key``), and returns a
``ShardResult`` of plain arrays and numbers; neurosim.cluster carries jobs to workers,
neurosim.partial stores finished shards.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import noc
from .compiler import CompiledNetwork, compile_graph, map_to_cores
from .counters import COUNT_FIELDS, RunCounts, RunResult
from .errors import NeurosimError, ShardError
from .hardware.profile import BLOCK_INPUTS, Timing, Widths
from .metrics import level_stats
from .model.graph import Graph
from .model.io import MANIFEST, load_model

MAX_SHARD_BLOCKS = 4  # a default shard holds at most this many blocks: little work lost to a crash
SHARDS_PER_WORKER = 4  # and at least this many shards per worker where there are enough blocks
CACHED_NETWORKS = 8  # compiled networks a process keeps (a sweep's grid points, int and float)


@dataclass(frozen=True)
class Job:
    """What a worker needs to build one network and run inputs through it. Picklable: it travels
    to worker processes (the profile record with it; the model is loaded from its path, and its
    manifest's sha256 is checked there)."""

    model: str | None  # model directory; None: ``graph`` (in-process runs only)
    model_sha256: str | None
    profile: object  # a hardware Profile, or None (default widths, one core per layer)
    levels: int | None
    timesteps: int
    add_mode: str
    integer: bool
    engine: str  # "event", "reference", or "fidelity" (neurosim.fidelity: float vs integer)
    record: bool  # the levels travel back (RunResult.levels)
    calibration: object = None  # compiler.Calibration sizing the integer network's ranges
    input_scale: float | None = None  # the inputs' unit, when a file of floats set it
    compare: bool = False  # fidelity: run the float network beside the integer one
    keep_outputs: bool = False  # fidelity: return each input's output levels (outputs.npz)
    exact: bool = False  # fidelity: inputs are (N, 2, ...): the integers and the exact values
    statistics: bool = False  # the levels' statistics (metrics.level_stats) travel back
    graph: Graph | None = field(default=None, compare=False, repr=False)

    @property
    def block_inputs(self) -> int:
        return self.profile.block_inputs if self.profile is not None else BLOCK_INPUTS

    @property
    def key(self) -> str:
        """Identity of the compiled network: the same key, the same network, in any process."""
        settings = {"model": self.model, "sha256": self.model_sha256, "levels": self.levels,
                    "timesteps": self.timesteps, "add_mode": self.add_mode,
                    "integer": self.integer, "graph": None if self.graph is None
                    else id(self.graph), "input_scale": self.input_scale,
                    "calibration": None if self.calibration is None
                    else vars(self.calibration),
                    "fidelity": [self.compare, self.keep_outputs, self.exact],
                    "profile": None if self.profile is None else self.profile.simulation()}
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def manifest_sha256(model) -> str:
    return hashlib.sha256((Path(model) / MANIFEST).read_bytes()).hexdigest()


def build_network(job: Job) -> tuple[Graph, CompiledNetwork]:
    """Load, override, compile and (with a profile) map the job's network."""
    if job.graph is not None:
        graph = job.graph
    else:
        found = manifest_sha256(job.model)
        if job.model_sha256 is not None and found != job.model_sha256:
            raise ShardError("this worker reads another model than the run was started with "
                             f"(manifest sha256 {found[:12]}, expected {job.model_sha256[:12]}): "
                             "every worker needs the same model directory", job.model)
        graph = load_model(job.model)
    if job.levels is not None:
        graph = graph.with_levels(job.levels)
    graph = graph.with_timesteps(job.timesteps)
    if job.input_scale is not None:
        graph = graph.with_input_scale(job.input_scale)
    widths = job.profile.widths if job.profile is not None else Widths()
    net = compile_graph(graph, widths, integer=job.integer, add_mode=job.add_mode,
                        calibration=job.calibration if job.integer else None)
    if job.profile is not None:
        net = map_to_cores(net, job.profile)
    return graph, net


_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()


def network(job: Job) -> tuple[Graph, CompiledNetwork]:
    """The job's (graph, network), compiled once per process and kept (least recently used
    out, CACHED_NETWORKS kept)."""
    with _CACHE_LOCK:
        if job.key in _CACHE:
            _CACHE.move_to_end(job.key)
            return _CACHE[job.key][0]
        built = build_network(job)
        # the entry keeps an in-process job's graph alive: its id() (part of the key) cannot
        # then be reused by another graph while the entry lives
        _CACHE[job.key] = (built, job.graph)
        while len(_CACHE) > CACHED_NETWORKS:
            _CACHE.popitem(last=False)
        return built


# Warnings of the machinery that carries shards (Dask's sockets, ports, event loop) say nothing
# about the run, and would make its notes depend on where it ran.
FOREIGN_WARNINGS = ("distributed", "dask", "tornado", "asyncio", "concurrent", "multiprocessing")


def warning_notes(caught) -> list[str]:
    """Caught warnings as notes ("Category: message"), once each, the foreign ones left out."""
    def foreign(w) -> bool:
        parts = Path(w.filename).parts
        return issubclass(w.category, ResourceWarning) or any(p in parts
                                                              for p in FOREIGN_WARNINGS)

    return list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught
                              if not foreign(w)))


# --- the split --------------------------------------------------------------------------------

def plan(inputs: int, block_inputs: int, shard_inputs: int | None = None,
         workers: int = 1) -> list[tuple[int, int]]:
    """Shards as (start, stop) input ranges of whole blocks. ``shard_inputs`` is rounded up to
    whole blocks; by default a shard holds at most MAX_SHARD_BLOCKS blocks, fewer so that every
    worker gets at least SHARDS_PER_WORKER shards where there are enough blocks, and with
    several workers the last ``workers`` shards' worth of blocks go one block a shard: workers
    take shards as they free up, so the last one to finish runs at most a block past the others
    (not a whole shard)."""
    blocks = math.ceil(inputs / block_inputs)
    if shard_inputs is not None:
        per = max(1, math.ceil(shard_inputs / block_inputs))
        tail = 0
    else:
        per = max(1, min(MAX_SHARD_BLOCKS, blocks // (SHARDS_PER_WORKER * max(1, workers))))
        tail = min(blocks, per * workers) if workers > 1 else 0
    edges = list(range(0, blocks - tail, per)) + list(range(blocks - tail, blocks))
    return [(b * block_inputs, min((edges[i + 1] if i + 1 < len(edges) else blocks)
                                   * block_inputs, inputs)) for i, b in enumerate(edges)]


def inputs_text(start: int, stop: int) -> str:
    return f"inputs {start}–{stop - 1}" if stop - start > 1 else f"input {start}"


# --- one shard --------------------------------------------------------------------------------

@dataclass
class ShardResult:
    """What one shard returns: integer counts, per-input results, per-block timing."""

    start: int
    stop: int
    counts: np.ndarray  # (layers, T, fields) int64, summed over the shard's inputs
    logits: np.ndarray  # (inputs, classes) float64
    levels: dict  # layer → (T, inputs, *out_shape) int32; empty when not recorded
    blocks: list  # per block: inputs, cycles, latency_cycles(_first, _max), stall, FIFO, host s
    cores: list | None  # per core: cores.csv's row summed over the shard's blocks (event engine)
    wall_s: float = 0.0
    warnings: list = field(default_factory=list)  # raised while it ran, as notes
    levels_dtype: str = "int32"  # the engine's; levels travel as uint8 when they fit
    extra: dict = field(default_factory=dict)  # fidelity: name → array, merged by MERGE_RULES
    links: list | None = None  # per NoC link: links.csv's row summed over the blocks (contention)


def _compact(levels: dict) -> tuple[dict, str]:
    """Recorded levels as uint8 where every value fits (a quarter of the bytes to carry and
    keep), with the dtype to restore."""
    dtype = str(next(iter(levels.values())).dtype) if levels else "int32"
    if all(a.size == 0 or (a.min() >= 0 and a.max() < 256) for a in levels.values()):
        levels = {k: a.astype(np.uint8) for k, a in levels.items()}
    return levels, dtype


def _engine(name: str):
    if name == "reference":
        from . import reference
        return reference.run
    if name == "event":
        try:
            from .engine import run
        except ImportError as err:
            raise NeurosimError(f"the event engine is not available: {err}", "engine") from None
        return run
    raise NeurosimError(f"unknown engine {name!r}; expected event or reference", "engine")


def _block_times(timing: dict, inputs: int) -> dict:
    keep = ("cycles", "latency_cycles", "latency_cycles_first", "latency_cycles_max",
            "stall_cycles", "stall_link_cycles", "max_fifo_occupancy")
    out = {"inputs": inputs, **{k: timing[k] for k in keep if k in timing}}
    out.update({k: float(v) for k, v in timing.items() if k.endswith("_s") and k != "wall_s"
                and k != "latency_s" and isinstance(v, (int, float))})
    return out


def _add_cores(total: list | None, rows: list) -> list:
    """Per-core rows of one more block added to ``total``: counts and cycles summed, FIFO
    occupancy the max (utilisation is set at the merge, over the whole run)."""
    if total is None:
        return [dict(row) for row in rows]
    for acc, row in zip(total, rows):
        for key in ("busy_cycles", "stall_cycles", "stall_link_cycles", *COUNT_FIELDS):
            acc[key] += row[key]
        acc["max_fifo_occupancy"] = max(acc["max_fifo_occupancy"], row["max_fifo_occupancy"])
    return total


def _add_links(total: list | None, rows: list | None) -> list | None:
    """Per-link rows of one more block (or shard) added to ``total``: busy and waiting cycles,
    packets and bits summed (every block has the same links; utilisation is set at the merge)."""
    if rows is None:
        return total
    if total is None:
        return [dict(row) for row in rows]
    for acc, row in zip(total, rows):
        for key in ("busy_cycles", "packets", "bits", "wait_cycles"):
            acc[key] += row[key]
    return total


def run_shard(net: CompiledNetwork, job: Job, inputs: np.ndarray, start: int,
              progress=None) -> ShardResult:
    """Run ``inputs`` (the shard starting at input ``start`` of the run), block by block, each
    block a fresh simulation on an empty chip."""
    if job.engine == "fidelity":
        return fidelity_shard(net, job, inputs, start, progress)
    began = time.perf_counter()
    run = _engine(job.engine)
    extra = {"profile": job.profile} if job.engine == "event" else {}
    graph = network(job)[0] if job.statistics else None
    profile = job.profile  # its NoC may count traffic from the levels (noc.level_tallies)
    tally = profile is not None and noc.needs_levels(net, profile.noc, profile.spike_bits)
    b = job.block_inputs
    counts = None
    logits, levels, blocks, cores, links, parts = [], {}, [], None, None, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for s in range(0, len(inputs), b):
            block = inputs[s:s + b]
            result = run(net, block, None, timesteps=job.timesteps,
                         record=job.record or job.statistics or tally, progress=progress,
                         batch_size=b, **extra)
            data = result.counts.data
            counts = data.copy() if counts is None else counts + data
            logits.append(np.asarray(result.logits, np.float64))
            part = level_stats(graph, net, result.levels, block, job.timesteps) \
                if job.statistics else {}
            if tally:
                part.update(noc.level_tallies(net, profile.noc, profile.spike_bits,
                                              result.levels))
            parts.append(part)
            for name, arr in (result.levels.items() if job.record else ()):
                levels.setdefault(name, []).append(arr)
            if "cores" in result.timing:
                blocks.append(_block_times(result.timing, len(block)))
                cores = _add_cores(cores, result.timing["cores"])
                links = _add_links(links, result.timing.get("links"))
    levels, dtype = _compact({k: np.concatenate(v, axis=1) for k, v in levels.items()})
    return ShardResult(start, start + len(inputs), counts, np.concatenate(logits), levels,
                       blocks, cores, time.perf_counter() - began, warning_notes(caught), dtype,
                       extra=merge_extra(parts), links=links)


def integer_job(job: Job) -> Job:
    """The integer network's job of a fidelity job (the same key as the run's "int" job)."""
    return replace(job, integer=True, engine="reference", compare=False, keep_outputs=False,
                   exact=False)


def fidelity_shard(net: CompiledNetwork, job: Job, inputs: np.ndarray, start: int,
                   progress=None) -> ShardResult:
    """A fidelity shard: ``net`` (the float network, None without ``job.compare``) and the
    integer network in lockstep; counts and logits are the float network's, ``extra`` the
    tallies and per-input outputs (neurosim.fidelity)."""
    from .fidelity import shard_arrays

    began = time.perf_counter()
    _, inet = network(integer_job(job))
    if job.exact:
        x, xf = np.rint(inputs[:, 0]).astype(np.int64), inputs[:, 1]
    else:
        x, xf = inputs, inputs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts, logits, extra = shard_arrays(inet, net if job.compare else None, x, xf,
                                             job.timesteps, job.keep_outputs, progress)
    return ShardResult(start, start + len(inputs), counts, logits, {}, [], None,
                       time.perf_counter() - began, warning_notes(caught), extra=extra)


# How extra arrays merge, by name (the levels' statistics, metrics.level_stats, and the NoC's
# tallies, noc.level_tallies, by the part up to the first ":"): a fidelity shard's tallies and the statistics add up or take the maximum,
# histograms of different lengths padded with zeros; per-input arrays are concatenated in input
# order.
MERGE_RULES = {"positions": "sum", "differing": "sum", "max_dz": "max", "levels:": "histogram",
               "synops:": "sum", "updates:": "sum", "noc_words:": "sum", "noc_split:": "sum"}


def merge_extra(parts: list[dict]) -> dict:
    out = {}
    for name in parts[0] if parts else ():
        arrays = [p[name] for p in parts]
        rule = MERGE_RULES.get(name.split(":", 1)[0] + ":" if ":" in name else name, "concat")
        if rule == "histogram":
            total = np.zeros(max(len(a) for a in arrays), np.int64)
            for a in arrays:
                total[:len(a)] += a
            out[name] = total
        elif rule == "sum":
            out[name] = np.sum(arrays, axis=0)
        elif rule == "max":
            out[name] = np.max(arrays, axis=0)
        else:
            out[name] = np.concatenate(arrays)
    return out


def run_task(job: Job, start: int, inputs: np.ndarray) -> ShardResult:
    """A worker's task: the shard through the job's network (compiled once per process). Any
    failure is raised as a ShardError naming the shard's inputs."""
    try:
        _, net = network(job)
        return run_shard(net, job, inputs, start)
    except ShardError:
        raise
    except NeurosimError as err:
        raise ShardError(str(err), inputs_text(start, start + len(inputs))) from None
    except Exception as err:  # a bug: still say which inputs, never hang
        raise ShardError(f"{type(err).__name__}: {err}",
                         inputs_text(start, start + len(inputs))) from None


# --- the merge --------------------------------------------------------------------------------

def merge(net: CompiledNetwork, job: Job, shards: list[ShardResult], labels=None,
          wall_s: float = 0.0) -> RunResult:
    """One RunResult from the shards of a run, in input order: the same bytes whatever the
    split (module docstring)."""
    shards = sorted(shards, key=lambda s: s.start)
    samples = shards[-1].stop if shards else 0
    counts = RunCounts(net, samples=samples, timesteps=job.timesteps)
    for s in shards:
        counts.data += s.counts
    logits = np.concatenate([s.logits for s in shards]) if shards else np.zeros((0, 0))
    levels = {}
    if shards and shards[0].levels:
        levels = {k: np.concatenate([s.levels[k] for s in shards], axis=1).astype(
            shards[0].levels_dtype) for k in shards[0].levels}
    result = RunResult(net, counts, logits, levels,
                       None if labels is None else np.asarray(labels))
    result.extra = merge_extra([s.extra for s in shards])
    for s in shards:
        result.warnings += [w for w in s.warnings if w not in result.warnings]
    blocks = [b for s in shards for b in s.blocks]
    if job.engine == "event" and blocks:
        cores = links = None
        for s in shards:
            cores = _add_cores(cores, s.cores)
            links = _add_links(links, s.links)
        result.timing = merge_timing(net, job, blocks, cores, wall_s, links)
    else:
        result.timing = {"wall_s": wall_s}
    return result


def _core_name(row: dict, split: set) -> str:
    return f"{row['layer']}[{row['channels']}]" if row["layer"] in split else row["layer"]


def merge_timing(net, job: Job, blocks: list[dict], cores: list[dict], wall_s: float,
                 links: list[dict] | None = None) -> dict:
    """The run's timing from its blocks (in input order), its per-core sums and (with link
    contention) its per-link sums."""
    timing = job.profile.timing if job.profile is not None else Timing()
    clock_hz = float(timing.clock_hz)
    n = sum(b["inputs"] for b in blocks)
    cycles = 0.0
    latency = 0.0
    for b in blocks:
        cycles += b["cycles"]
        latency += b["latency_cycles"] * b["inputs"]
    latency = latency / n if n else 0.0
    per_layer = {}
    for row in cores:
        per_layer[row["layer"]] = per_layer.get(row["layer"], 0) + 1
    split = {layer for layer, k in per_layer.items() if k > 1}
    rows = []
    for row in cores:
        row = dict(row)
        row["utilisation"] = float(row["busy_cycles"] / cycles) if cycles else 0.0
        rows.append(row)
    host = {}
    for b in blocks:
        for key in b:
            if key.endswith("_s"):
                host[key] = host.get(key, 0.0) + b[key]
    out = {
        "engine": "event",
        "clock_hz": clock_hz,
        "inferences": n,
        "blocks": len(blocks),
        "cycles": cycles,
        "latency_cycles": latency,
        "latency_cycles_first": float(blocks[0]["latency_cycles_first"]),
        "latency_cycles_max": float(max(b["latency_cycles_max"] for b in blocks)),
        "latency_s": latency / clock_hz,
        "throughput_per_s": n * clock_hz / cycles if cycles else 0.0,
        "seconds_per_inference": cycles / clock_hz / n if n else 0.0,
        "utilisation": {_core_name(r, split): r["utilisation"] for r in rows},
        "max_fifo_occupancy": int(max(b["max_fifo_occupancy"] for b in blocks)),
        "stall_cycles": int(sum(b["stall_cycles"] for b in blocks)),
        "cores": rows,
        **({"stall_link_cycles": int(sum(b["stall_link_cycles"] for b in blocks)),
            "links": [{**row, "utilisation": float(row["busy_cycles"] / cycles) if cycles
                       else 0.0} for row in links]} if links is not None else {}),
        "wall_s": wall_s,
        **host,
    }
    if "simpy_s" in host:
        busy = host.get("simulation_wall_s", 0.0)
        out["simpy_share"] = host["simpy_s"] / busy if busy else 0.0
    return out
