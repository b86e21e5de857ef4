"""Build the chip from a mapped network, run the event simulation, collect counts and timing."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import simpy

from ..compiler import (CompiledNetwork, MappedNetwork, check_inputs, default_mapping,
                        event_max_level, map_to_cores)
from ..counters import (COUNT_FIELDS, F, RunCounts, RunResult, charge_projection,
                        charge_timestep)
from .. import noc as traffic
from ..errors import EngineError, ProfileError
from ..kernels import noc as noc_k
from .core import Core, SharedSynapses
from .fifo import Chip, reach_terms, tap_maps
from .loop import run_chip
from .packets import Stream
from .source import InputPort


class RunState:
    """What the processes share: run geometry, outputs, recording and completion per input."""

    def __init__(self, env, net: MappedNetwork, inputs: np.ndarray, timesteps: int,
                 record: bool, progress, window: int):
        self.env = env
        self.net = net
        self.inputs = inputs
        self.timesteps = timesteps
        self.frames = len(inputs) * timesteps
        self.packet_events = net.packet_events
        self.window = max(1, int(window))
        self.progress = progress
        self.streams = {}  # stream name → packets.Stream: each frame's events until consumed
        b = len(inputs)
        input_max = int(inputs.max()) if inputs.size else 0
        self.max_level = {net.input_name: input_max}
        for layer in net.layers:
            self.max_level[layer.name] = event_max_level(net, layer.name, input_max)
        out = net.output_layer
        self.output = out
        if out.mode == "readout":
            self.logits = np.zeros((b,) + tuple(out.shape), np.float64)
        else:
            self.logits = np.zeros((b,) + tuple(out.out_shape), np.int64)
        self.levels = {layer.name: np.zeros((timesteps, b) + tuple(layer.out_shape), np.int32)
                       for layer in net.layers if layer.mode != "readout"} if record else {}
        self.pending = np.full(b, len(net.cores_of(out.name)), np.int64)
        self.completed = np.zeros(b, np.uint8)  # inputs the output layer has finished
        self.done = [env.event() for _ in range(b)] if env is not None else []
        self.on_done = None  # the compiled loop's: schedule input b's end (engine/loop.py)
        self.started = np.zeros(b, np.float64)
        self.finished = np.zeros(b, np.float64)

    @staticmethod
    def _chw(core, array):
        """A core's (H, W, C) slice as (C, H, W) (or (C,) for vectors)."""
        return array.transpose(2, 0, 1) if len(core.layer.out_shape) == 3 else array.reshape(-1)

    def record(self, core, b: int, t: int) -> None:
        """The core's output levels of (input b, timestep t): recording and spike outputs."""
        if self.levels:
            self.levels[core.layer.name][t, b, core.c0:core.c1] = self._chw(core, core.out)
        if core.layer is self.output:
            self.logits[b, core.c0:core.c1] += self._chw(core, core.out)

    def finish_input(self, core, b: int) -> None:
        """A core finished the last timestep of input b (before its potentials are cleared)."""
        if core.layer is not self.output:
            return
        if core.layer.mode == "readout":
            v = core.v.transpose(2, 0, 1) if len(core.layer.shape) == 3 else core.v.reshape(-1)
            self.logits[b, core.c0:core.c1] = v.astype(np.float64) * core.layer.scale / \
                self.timesteps
        self.finished[b] = max(self.finished[b], core.clock)
        self.pending[b] -= 1
        if self.pending[b] == 0:
            self.completed[b] = 1
            if self.on_done is not None:
                self.on_done(b)
            else:
                self.done[b].succeed()
            if self.progress is not None:
                self.progress(1)


def _wire(net: MappedNetwork, cores: list[Core], port: InputPort, noc, chip: Chip,
          spike_bits: int = 32) -> None:
    """One FIFO channel per (receiving core, source core), the FIFO shared equally; the host's
    input port sits next to the cores it feeds (no hops). Each sender learns the tap maps of the
    conv projections it feeds, each receiver which senders' events each projection reads. With
    ``noc.link_bits`` a channel between cores also gets its route, whose links its packets
    share with every other route through them (link contention)."""
    geometries = {id(port): {}, **{id(c): {} for c in cores}}
    for core in cores:
        sources = list(dict.fromkeys(p.source for p in core.layer.projections))
        senders = [(s, [port] if s == net.input_name else
                    [cores[c.index] for c in net.cores_of(s)]) for s in sources]
        depth = net.fifo_depth // sum(len(found) for _, found in senders)
        for source, found in senders:
            projections = [j for j, p in enumerate(core.layer.projections) if p.source == source]
            for sender in found:
                hops = 0 if sender is port else net.hops(sender.index, core.index)
                terms = reach_terms(core.layer, projections, core.c1 - core.c0, core.c0,
                                    geometries[id(sender)])
                links = {}
                if noc.link_bits and sender is not port:
                    links = {"route": traffic.route(net, sender.index, core.index),
                             "width": noc.link_bits,
                             "bits": traffic.packet_fields(net, sender.layer, sender.c0,
                                                           sender.c1, noc, spike_bits)}
                    sender.split = links["bits"][-1]
                sender.outputs.append(chip.channel(core, sender, depth, hops,
                                                   hops * noc.hop_cycles, terms, **links))
            for j in projections:
                p = core.layer.projections[j]
                core.feeds[j] = tuple(rank for rank, sender in enumerate(found)
                                      if p.kind != "identity" or sender is port
                                      or (sender.c0 < core.c1 and core.c0 < sender.c1))
    for sender in cores + [port]:
        known = list(geometries[id(sender)])
        if known:
            sender.taps = tap_maps(known)
            sender.plane = int(np.prod(known[0][0]))


def _shared_synapses(net: MappedNetwork, state: RunState) -> dict:
    """For each layer split across cores: its conv and linear projections, accumulated once for
    all its cores (core.SharedSynapses). Identity projections stay per core."""
    shared = {}
    for layer in net.layers:
        k = len(net.cores_of(layer.name))
        if k > 1:
            shared[layer.name] = {j: SharedSynapses(p, layer, net.integer,
                                                    state.max_level[p.source], k)
                                  for j, p in enumerate(layer.projections)
                                  if p.kind in ("conv", "linear")}
    return shared


def _slice(layer, c0: int, c1: int):
    """The part of ``layer`` one core holds: its channels, bias and weights."""
    projections = tuple(replace(p, weight=p.weight[c0:c1]) for p in layer.projections)
    bias = None if layer.bias is None else layer.bias[c0:c1]
    return replace(layer, shape=(c1 - c0,) + tuple(layer.shape[1:]), bias=bias,
                   projections=projections)


def _counts(net: MappedNetwork, cores: list[Core], samples: int, timesteps: int):
    """Per-layer counts (equal to the reference's) and per-core counts from the cores' raw tallies.

    A core charges what it did on its channels; a split layer's row adds its cores' per-synapse
    and per-neuron work, and the per-event work once (every core of the layer reads the same
    events: that replication shows in the per-core rows only). The counting rules are linear in
    events, visits and level visits, which is what lets raw totals be charged once per timestep.
    """
    counts = RunCounts(net, samples=samples, timesteps=timesteps)
    per_core = np.zeros((len(cores), timesteps, counts.data.shape[2]), np.int64)
    for core in cores:
        layer = core.layer
        part = _slice(layer, core.c0, core.c1)
        first = core.c0 == 0
        for t in range(timesteps):
            crow, lrow = per_core[core.index, t], counts.row(layer.name, t)
            if samples == 0:
                continue
            for j, p in enumerate(layer.projections):
                e, v, lv = (int(x) for x in core.proj_raw[t, j])
                charge_projection(crow, part.projections[j], part, e, v, lv)
                if first:
                    charge_projection(lrow, p, layer, e, 0, 0)
                charge_projection(lrow, p, layer, 0, v, lv)
            spikes, events, level_sum, sat = (int(x) for x in core.fire_raw[t])
            for row in (crow, lrow):
                charge_timestep(row, part, spikes, events, level_sum, sat, samples=samples)
                row[F["packets"]] += core.route_raw[t, 0]
                row[F["packet_hops"]] += core.route_raw[t, 1]
                row[F["event_hops"]] += core.route_raw[t, 2]
    return counts, per_core


def _core_rows(net: MappedNetwork, cores: list[Core], per_core: np.ndarray, makespan: float):
    rows = []
    for core in cores:
        totals = per_core[core.index].sum(axis=0)
        rows.append({"core": core.index, "layer": core.layer.name,
                     "channels": f"{core.c0}:{core.c1}", "x": core.spec.position[0],
                     "y": core.spec.position[1], "neurons": core.spec.neurons,
                     "busy_cycles": int(core.busy), "stall_cycles": int(core.stall),
                     "stall_link_cycles": int(core.stall_link),
                     "utilisation": float(core.busy / makespan) if makespan else 0.0,
                     "max_fifo_occupancy": int(core.max_occupied),
                     "fifo_depth": int(net.fifo_depth),
                     **{f: int(v) for f, v in zip(COUNT_FIELDS, totals)}})
    return rows


def _link_rows(chip: Chip, makespan: float) -> list[dict]:
    """links.csv's rows: every NoC link a route crosses (a crossbar port has no "from")."""
    rows = []
    for i, (a, b) in enumerate(chip.link_keys):
        port = a == traffic.CROSSBAR
        busy = int(chip.lf[i, noc_k.L_BUSY])  # whole cycles: ⌈bits / link_bits⌉ each
        rows.append({"from_x": None if port else a[0], "from_y": None if port else a[1],
                     "to_x": b[0], "to_y": b[1], "busy_cycles": busy,
                     "packets": int(chip.li[i, noc_k.L_PACKETS]),
                     "bits": int(chip.li[i, noc_k.L_BITS]),
                     "utilisation": busy / makespan if makespan else 0.0,
                     "wait_cycles": int(chip.lf[i, noc_k.L_WAIT])})
    return rows


def _check_cycles(timing, noc) -> None:
    """Cycle costs are whole cycles (the profile schema's rule; the FIFO tables count in them)."""
    costs = {f"timing.{name}": getattr(timing, name) for name in
             ("cycles_per_event", "cycles_per_synapse", "cycles_per_neuron", "cycles_per_packet")}
    costs["noc.hop_cycles"] = noc.hop_cycles
    for field, value in costs.items():
        if isinstance(value, bool) or not float(value).is_integer() or value < 0:
            raise ProfileError(f"expected a whole number of cycles >= 0, got {value!r}",
                               "profile", field)


def run(net: CompiledNetwork, inputs: np.ndarray, labels: np.ndarray | None = None,
        timesteps: int | None = None, record: bool = False, batch_size: int = 64,
        progress=None, profile=None, scheduler: str = "compiled") -> RunResult:
    """Simulate ``inputs`` on the event-driven hardware: the same logits, levels and counts as
    reference.run, plus the simulated time in ``result.timing``:

    cycles                  the whole run (makespan), at ``clock_hz``
    latency_cycles, _s      mean time from the host starting to send an input to the output
                            layer finishing it (``_first``: the first input, on an empty chip;
                            ``_max``: the worst)
    seconds_per_inference   makespan / inputs (1 / throughput_per_s): chip time per inference
    utilisation             busy cycles / makespan per core (layer, or layer[c0:c1] if split)
    max_fifo_occupancy      events held or reserved in any core's input FIFO, at most its depth
    stall_cycles            cycles senders waited for FIFO room (backpressure), all cores
    stall_link_cycles, links   with noc.link_bits only: cycles cores waited for their first
                            link, and one row per NoC link (links.csv)
    cores                   one row per core: position, busy/stall cycles, FIFO occupancy and
                            every count (what the core itself did: cores.csv)
    wall_s, simpy_s, simpy_share   host time, and the part spent in the event loop itself
                            (outside the cores' integrate, fire and emit stages)

    profile: the hardware profile (timing, FIFO depth, packet size, core limits, NoC); a
    network already placed by compiler.map_to_cores keeps its placement. batch_size: how many
    inputs may be in flight in the pipeline at once. scheduler: "compiled" runs the nodes in
    the compiled event loop (engine/loop.py), "simpy" as SimPy processes: the same steps in the
    same order, so the same results (tests/test_engine_loop.py); SimPy's is the slower one.
    """
    if scheduler not in ("compiled", "simpy"):
        raise EngineError(f"scheduler must be 'compiled' or 'simpy', not {scheduler!r}",
                          "engine")
    wall_start = time.perf_counter()
    timesteps = timesteps or net.timesteps
    inputs = check_inputs(net, inputs, timesteps)
    if isinstance(net, MappedNetwork):
        mapped = net
    else:
        mapped = map_to_cores(net, profile) if profile is not None else default_mapping(net)
    timing = profile.timing if profile is not None else mapped.timing
    noc = profile.noc if profile is not None else mapped.noc
    _check_cycles(timing, noc)
    env = simpy.Environment() if scheduler == "simpy" else None
    state = RunState(env, mapped, inputs, timesteps, record, progress, batch_size)
    shared = _shared_synapses(mapped, state)
    chip = Chip(len(mapped.cores) + 1, timing, timesteps)
    cores = [Core(env, spec, mapped.layer(spec.layer), mapped, timing, state, chip,
                  shared.get(spec.layer)) for spec in mapped.cores]
    for layer in mapped.layers:
        for rank, spec in enumerate(mapped.cores_of(layer.name)):
            cores[spec.index].rank = rank
    port = InputPort(env, state, chip, len(cores))
    chip.nodes = cores + [port]
    _wire(mapped, cores, port, noc, chip, profile.spike_bits if profile is not None else 32)
    chip.build(mapped.packet_events)
    for name in [mapped.input_name] + [layer.name for layer in mapped.layers]:
        consumers = len(mapped.destinations(name))
        if consumers:
            senders = 1 if name == mapped.input_name else len(mapped.cores_of(name))
            state.streams[name] = Stream(senders, consumers)
    sim_start = time.perf_counter()
    if env is None:
        now, loop_s = run_chip(chip, state, cores, port)
        sim_wall = time.perf_counter() - sim_start
    else:
        for node in chip.nodes:
            env.process(node.process())
        env.run()
        now = env.now
        sim_wall = time.perf_counter() - sim_start
        loop_s = max(0.0, sim_wall - sum(node.inside for node in chip.nodes))
    stuck = [c for c in cores if not c.finished]
    if stuck or not state.completed.all():
        where = ", ".join(f"core {c.index} ({c.layer.name}) at frame {c.frame}" for c in stuck[:4])
        raise EngineError(f"the simulation stopped before every input finished: {where}",
                          "engine")
    counts, per_core = _counts(mapped, cores, len(inputs), timesteps)
    makespan = float(max([now] + [c.clock for c in cores]))
    logits = state.logits.astype(np.float64)
    if mapped.output_layer.mode != "readout":
        logits = logits.reshape(len(inputs), int(np.prod(mapped.output_layer.out_shape)))
    result = RunResult(mapped, counts, logits, state.levels,
                       None if labels is None else np.asarray(labels))
    clock_hz = float(timing.clock_hz)
    latency = state.finished - state.started
    wall = time.perf_counter() - wall_start
    result.timing = {
        "engine": "event",
        "clock_hz": clock_hz,
        "inferences": len(inputs),
        "cycles": makespan,
        "latency_cycles": float(latency.mean()) if len(latency) else 0.0,
        "latency_cycles_first": float(latency[0]) if len(latency) else 0.0,
        "latency_cycles_max": float(latency.max()) if len(latency) else 0.0,
        "latency_s": float(latency.mean()) / clock_hz if len(latency) else 0.0,
        "throughput_per_s": len(inputs) * clock_hz / makespan if makespan else 0.0,
        "seconds_per_inference": makespan / clock_hz / len(inputs) if len(inputs) else 0.0,
        "utilisation": {c.layer.name if len(mapped.cores_of(c.layer.name)) == 1
                        else f"{c.layer.name}[{c.c0}:{c.c1}]": (c.busy / makespan if makespan
                                                                else 0.0) for c in cores},
        "max_fifo_occupancy": max((c.max_occupied for c in cores), default=0),
        "stall_cycles": int(sum(c.stall for c in cores) + port.stall),
        "cores": _core_rows(mapped, cores, per_core, makespan),
        **({"stall_link_cycles": int(sum(c.stall_link for c in cores)),
            "links": _link_rows(chip, makespan)} if noc.link_bits else {}),
        "wall_s": wall,
        "simulation_wall_s": sim_wall,
        "simpy_s": loop_s,
        "simpy_share": loop_s / wall if wall else 0.0,
    }
    return result
