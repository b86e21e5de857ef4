"""A neuromorphic core: the output channels [c0, c1) of one layer, as a SimPy process.

Per frame (one timestep of one input) the core runs the hardware pipeline, one call per stage:

    receive    serve the pieces in the input FIFO channels until the barrier (kernels.noc)
    integrate  leak the potentials; accumulate the frame's events of every projection and add
               the accumulator (acc / 2^shift rounded to nearest)
    fire       add the bias, saturate, emit levels, reset; pool the levels and gather the
               non-zero ones into events (one kernel)
    emit       count, record and keep the frame's events for the cores that receive them
    send       cut the events into packets and push them into the NoC (stalls on a full FIFO,
               and with link contention on a busy first link)

The barrier: the core integrates frame f only when every source core has delivered its last
piece of f. Cores work on different frames at once, so layers pipeline across timesteps and
inputs.

Time: every core is a sequential server with its own clock (cycles). It serves a piece no earlier
than the piece arrives — first whatever has arrived by its clock, channel by channel; when
nothing has, the next piece to arrive, once no other source can still send one that arrives
before it (a conservative lookahead, as in parallel discrete-event simulation) — and a sender
takes FIFO room no earlier than the receiver gives it back. A piece's work is its events'
cycles plus its synapse visits', known when it is sent from the reach of its events (taps
summed over the frame once per sender, kernels.prefix_taps), so serving pieces needs no weights:
the frame's events are accumulated once, at integrate, in one kernel call per projection and
sending core, and the kernel's own count of visits must equal the served pieces'. Clocks run
ahead of SimPy's while a core has work that needs no one else; a core yields to SimPy only when
it must wait — for a piece not yet sent, or for room not yet freed. So SimPy sees a few events
per FIFO-full of packets, never one per spike. The order in which a core serves pieces that have
all arrived by its clock may depend on which senders SimPy ran first: deterministic, but a
modelling choice (round robin by channel) rather than strict first come, first served.
"""

from __future__ import annotations

import time
import weakref

import numpy as np
from simpy.events import Timeout

from .. import kernels
from ..compiler import CompiledNetwork, Layer, Projection
from ..errors import EngineError
from ..kernels import noc

INT32_LIMIT = 2 ** 31 - 1
INF = float("inf")
DONE = noc.DONE
NO_TAPS = np.zeros((0, 1), np.int64)
NO_MESSAGES = np.zeros(1, np.int64)


def _wake(event) -> None:
    """Timeout callback: wake a core if it still waits on the same event."""
    core, wake = event.value
    if core.wake is wake:
        core.wake = None
        core.chip.ni[core.index, noc.WAITING] = 0
        wake.succeed()


def as_hwc(shape) -> tuple[int, int, int]:
    """(C, H, W) → (H, W, C); a vector (N,) is (1, 1, N)."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else (1, 1, shape[0])


class Synapses:
    """One projection as one core holds it: weights for its channels in the kernel's layout,
    and the accumulator of Σ w·z for the current frame — int32 where the worst case
    (Σ|w| per output × the source's largest level) fits, else int64: exact either way. Weights
    are stored in the narrowest integer type that holds them (int16 for 16-bit words)."""

    __slots__ = ("projection", "kind", "acc", "weight", "shift", "half", "geometry", "c0", "_bounds",
                 "_counts")

    def __init__(self, p: Projection, layer: Layer, c0: int, c1: int, integer: bool,
                 max_level: int):
        self.projection = p
        self.kind = p.kind
        self.shift = int(p.shift)
        self.half = kernels.half_of(self.shift)  # rounding to nearest before the shift
        self.c0 = c0
        if integer:
            per_output, wmax = _magnitudes(p, c0, c1)
            bound = per_output * int(max_level)
            dtype = np.int32 if bound <= INT32_LIMIT else np.int64
            wtype = np.int16 if wmax <= 2 ** 15 - 1 else np.int32 if wmax <= INT32_LIMIT \
                else np.int64
        else:
            dtype = wtype = np.float64
        self.weight = _layout(p, c0, c1, wtype)
        if p.kind == "conv":  # the plane of the source and its reach tables
            _, h, wd = p.in_shape
            self.geometry = (h * wd,) + kernels.conv_reach((h, wd), p.weight.shape[2:], p.stride,
                                                           p.padding, layer.shape[1:])
        else:
            self.geometry = ()
        h, wd, _ = as_hwc(layer.shape)
        self.acc = np.zeros((h, wd, c1 - c0), dtype)
        self._bounds = np.zeros(2, np.int64)
        self._counts = np.zeros(2, np.int64)  # synapse visits, Σ z·visits

    def scatter(self, idx, val, acc=None) -> tuple[int, int]:
        """Accumulate events (idx, val) into ``acc`` (default: its own); returns the synapse
        visits and Σ z·visits the kernel counted. Layouts are validated here, at construction,
        so the private kernels are called directly."""
        acc = self.acc if acc is None else acc
        bounds, counts = self._bounds, self._counts
        bounds[1] = len(idx)
        counts[:] = 0
        visits, levels = counts[0:1], counts[1:2]
        if self.kind == "conv":
            kernels._conv_scatter(acc, self.weight, idx, val, bounds, visits, levels,
                                  *self.geometry)
        elif self.kind == "linear":
            kernels._linear_scatter(acc.reshape(-1), self.weight, idx, val, bounds, visits,
                                    levels)
        else:
            kernels._identity_scatter(acc, self.weight, idx, val, bounds, visits, levels,
                                      self.c0)
        return int(counts[0]), int(counts[1])


class SharedSynapses:
    """A conv or linear projection of a layer split across several cores, accumulated once for
    all of them: one accumulator per frame for all the layer's channels.

    Every core of the layer receives the same events, so the first core to integrate a frame
    scatters every sender's events for the whole layer; each core takes its channels from the
    frame's accumulator and charges its own part of the visits (taps × its channels). The
    accumulator is dropped once every core has. The sums are those each core would form alone;
    the kernel runs once per frame and sender instead of once per frame, sender and core."""

    def __init__(self, p: Projection, layer: Layer, integer: bool, max_level: int, cores: int):
        self.full = Synapses(p, layer, 0, layer.channels, integer, max_level)
        self.shift = self.full.shift
        self.channels = layer.channels
        self.cores = cores
        self.banks = {}  # frame → [accumulator (H, W, C), taps, Σ z·taps, cores that took it]

    def take(self, core, frame: int, stream) -> tuple[int, int]:
        """Add the core's channels of the frame's sums to its potentials; returns its visits and
        Σ z·visits."""
        entry = self.banks.get(frame)
        if entry is None:
            acc = np.zeros_like(self.full.acc)
            visits = levels = 0
            for idx, val in stream.get(frame):
                if len(idx):
                    v, lv = self.full.scatter(idx, val, acc)
                    visits += v
                    levels += lv
            entry = self.banks[frame] = [acc, visits // self.channels, levels // self.channels, 0]
        core.add(entry[0], self.shift, self.full.half, core.c0)
        entry[3] += 1
        if entry[3] == self.cores:
            del self.banks[frame]
        width = core.c1 - core.c0
        return entry[1] * width, entry[2] * width


_LAYOUTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _magnitudes(p: Projection, c0: int, c1: int) -> tuple[int, int]:
    """The largest Σ|w| of one output and the largest |w| of channels [c0, c1), kept while
    the projection lives (see _layout)."""
    cache = _LAYOUTS.setdefault(p, {})
    key = (c0, c1, "magnitudes")
    if key not in cache:
        w = np.abs(p.weight[c0:c1])
        cache[key] = (int(w.reshape(len(w), -1).sum(axis=1).max(initial=0)),
                      int(w.max(initial=0)))
    return cache[key]


def _layout(p: Projection, c0: int, c1: int, dtype) -> np.ndarray:
    """Weights of channels [c0, c1) in the kernel's layout — conv (kH, kW, C_in, C), linear
    (N_in, C), identity (C,) — kept while the projection lives, so that repeated runs of one
    network (sweeps, benchmarks) transpose its weights once."""
    cache = _LAYOUTS.setdefault(p, {})
    key = (c0, c1, np.dtype(dtype).str)
    if key not in cache:
        w = p.weight[c0:c1]
        if p.kind == "conv":
            w = w.transpose(2, 3, 1, 0)
        elif p.kind == "linear":
            w = w.T
        cache[key] = np.ascontiguousarray(w, dtype)
        cache[key].setflags(write=False)
    return cache[key]


class Port:
    """What sends packets: a core's network interface, or the host's input port (node ``index``
    of the chip's tables, neurosim/engine/fifo.py). Subclasses set env, chip, index, run_state,
    outputs (channels it sends into) and the tap maps of its destinations' conv projections."""

    taps = NO_TAPS  # (G, plane) tap maps of the conv projections it feeds
    plane = 1  # positions per channel of its stream
    split = 0  # with link contention: the largest value one message holds, if events split
    inside = 0.0  # wall time in its own code (between its yields)

    @property
    def clock(self) -> float:
        return float(self.chip.nf[self.index, noc.CLOCK])

    @clock.setter
    def clock(self, value: float) -> None:
        self.chip.nf[self.index, noc.CLOCK] = value

    @property
    def busy(self) -> float:
        return float(self.chip.nf[self.index, noc.BUSY])

    @property
    def stall(self) -> float:
        return float(self.chip.nf[self.index, noc.STALL])

    @property
    def stall_link(self) -> float:
        """Cycles it waited for its first NoC link (link contention)."""
        return float(self.chip.nf[self.index, noc.STALL_LINK])

    def packing(self, idx, val, cum=None, messages=None):
        """What sending a frame's events needs besides them: the running taps of its
        destinations' conv projections (G, n + 1), and (split events) the running message
        counts (n + 1); written into ``cum`` and ``messages`` where given."""
        if len(self.taps):
            if cum is None:
                cum = np.empty((len(self.taps), len(idx) + 1), np.int64)
            kernels._prefix_taps(idx, self.taps, self.plane, cum)  # taps checked at wiring
        else:
            cum = NO_TAPS
        if self.split:
            if messages is None:
                messages = np.empty(len(idx) + 1, np.int64)
            messages[0] = 0
            np.cumsum(-(-np.asarray(val, np.int64) // self.split), out=messages[1:])
        else:
            messages = NO_MESSAGES
        return cum, messages

    def send(self, frame: int, idx, val):
        """Cut one frame's events into packets and send each to every destination. A channel
        without room stalls the sender (backpressure) until the receiver frees it."""
        if not self.outputs:
            return
        clock = time.perf_counter
        begin = clock()
        chip = self.chip
        run = self.run_state
        cum, messages = self.packing(idx, val)
        t = frame % run.timesteps
        start = 1
        while True:
            code, c, count, first = kernels.noc.send_step(
                chip.nf, chip.ni, chip.ch, chip.pq, chip.pt, chip.links, chip.lf, chip.li,
                chip.lb, idx, cum, messages, chip.route, chip.ev, self.index, frame, t,
                run.packet_events, start)
            start = 0
            if count:
                chip.trigger(count, first)
            if code == DONE:
                self.inside += clock() - begin
                return
            if code == noc.GROW:
                chip.grow(c)
                continue
            chip.credits[c] = credit = self.env.event()
            self.inside += clock() - begin
            yield credit
            begin = clock()


class Core(Port):
    """One core's state (potentials, accumulators), counters and timing, and its process."""

    def __init__(self, env, spec, layer: Layer, net: CompiledNetwork, timing, run, chip,
                 shared: dict | None = None):
        self.env = env
        self.spec = spec
        self.index = spec.index
        self.layer = layer
        self.run_state = run  # the runner's shared state: frames, outputs, recording
        self.chip = chip
        self.c0, self.c1 = spec.channels
        self.integer = net.integer
        h, w, _ = as_hwc(layer.shape)
        cs = self.c1 - self.c0
        dtype = np.int64 if self.integer else np.float64
        self.v = np.zeros((h, w, cs), dtype)
        self.z = np.zeros((h, w, cs), np.int32)
        if layer.pool is not None:
            oh, ow, _ = as_hwc(layer.out_shape)
            self.out = np.zeros((oh, ow, cs), np.int32)
        else:
            self.out = self.z
        self.out_channels = as_hwc(layer.out_shape)[2]
        self.bias = None if layer.bias is None else np.ascontiguousarray(
            layer.bias[self.c0:self.c1], dtype)
        cast = int if self.integer else float
        v_range = layer.v_range if self.integer else None  # saturation: integer mode only
        lo, hi = v_range if v_range is not None else (0, 0)
        self.fire_args = (np.zeros(cs, dtype) if self.bias is None else self.bias,
                          self.bias is not None, cast(layer.threshold),
                          kernels.theta_shift(layer.threshold, self.integer), int(layer.levels),
                          cast(lo), cast(hi), v_range is not None, kernels.MODES[layer.mode],
                          layer.spec.reset == "zero")
        pool = layer.pool
        self.pool_args = (-1, 1, 1, 1, 1) if pool is None else \
            (kernels.POOLS[pool.kind],) + tuple(pool.kernel) + tuple(pool.stride)
        self.gathered = (np.empty(self.out.size, np.int32), np.empty(self.out.size, np.int32))
        self.emitted = (0, 0)  # events and level sum the fire stage gathered
        self.leaks = layer.spec.stateless or layer.spec.kind == "lif"
        self.shared = shared or {}  # projection index → SharedSynapses (split layers)
        self.synapses = [None if j in self.shared else
                         Synapses(p, layer, self.c0, self.c1, self.integer,
                                  run.max_level[p.source])
                         for j, p in enumerate(layer.projections)]
        self.feeds = [()] * len(layer.projections)  # per projection: sender ranks it reads
        self.sources = list(dict.fromkeys(p.source for p in layer.projections))
        self.rank = 0  # its place among the cores of its layer (the senders of its stream)
        self.outputs = []  # FIFO channels at the destination cores
        self.wake = None
        self.fire_cycles = spec.neurons * timing.cycles_per_neuron
        chip.ni[spec.index, noc.FIRE_CYCLES] = self.fire_cycles
        chip.ni[spec.index, noc.ROUTED] = 1
        self.finished = False
        self.frame = 0
        self.events = (np.zeros(0, np.int32), np.zeros(0, np.int32))
        t = run.timesteps
        self.proj_raw = np.zeros((t, len(self.synapses), 3), np.int64)  # events, visits, levels
        self.fire_raw = np.zeros((t, 4), np.int64)  # spikes, events out, level sum, saturations

    @property
    def max_occupied(self) -> int:
        return int(self.chip.ni[self.index, noc.MAX_OCCUPIED])

    @property
    def route_raw(self) -> np.ndarray:
        return self.chip.route[self.index]

    # --- the pipeline -----------------------------------------------------------------------

    def process(self):
        """The SimPy process: every frame through the five stages. ``inside`` adds up the wall
        time spent here between yields (the rest of the run is SimPy's)."""
        env, chip, r = self.env, self.chip, self.index
        nf, ni, ch, links, ev = chip.nf, chip.ni, chip.ch, chip.links, chip.ev
        receive_step = kernels.noc.receive_step
        clock = time.perf_counter
        start = clock()
        for frame in range(self.run_state.frames):
            self.frame = frame
            resume = 0
            while True:  # receive: serve pieces until the barrier, waiting for pieces not yet sent
                code, until, count, first = receive_step(nf, ni, ch, chip.pq, chip.pt, links, ev,
                                                         r, frame, env.now, resume)
                if count:
                    chip.trigger(count, first)
                if code == DONE:
                    break
                self.wake = wake = env.event()
                if until < INF:
                    Timeout(env, max(0.0, until - env.now), (self, wake)).callbacks.append(_wake)
                self.inside += clock() - start
                yield wake
                start = clock()
                resume = 1
            self.stage(frame)
            self.inside += clock() - start
            yield from self.send(frame, *self.events)
            start = clock()
        self.finished = True
        self.inside += clock() - start

    def stage(self, frame: int) -> None:
        """What a core does with a frame once every piece of it has been served: integrate,
        fire, emit; then it is sending."""
        self.integrate(frame)
        self.fire(frame)
        self.emit(frame)
        self.chip.ni[self.index, noc.SENDING] = 1

    def integrate(self, frame: int) -> None:
        """Leak, then accumulate every projection's events of the frame and add the accumulator
        (shifted, rounded to nearest) to the potentials."""
        spec = self.layer.spec
        run = self.run_state
        if self.leaks:
            kernels.leak(self.v, spec.kind, self.layer.decay, spec.stateless, self.integer)
        raw = self.proj_raw[frame % run.timesteps]
        counted = 0
        for j, p in enumerate(self.layer.projections):
            stream = run.streams[p.source]
            s = self.synapses[j]
            if s is None:
                visits, levels = self.shared[j].take(self, frame, stream)
            else:
                visits = levels = 0
                events = stream.get(frame)
                for rank in self.feeds[j]:
                    idx, val = events[rank]
                    if len(idx):
                        v, lv = s.scatter(idx, val)
                        visits += v
                        levels += lv
                self.add(s.acc, s.shift, s.half, 0)
            tally = raw[j]
            tally[0] += stream.events(frame)
            tally[1] += visits
            tally[2] += levels
            counted += visits
        for source in self.sources:
            run.streams[source].done(frame)
        timed = int(self.chip.ni[self.index, noc.TIMED])
        if timed != counted:
            raise EngineError(f"core {self.index} ({self.layer.name}), frame {frame}: the pieces "
                              f"served were timed for {timed} synapse visits but the kernels "
                              f"visited {counted}", "engine")

    def add(self, acc, shift: int, half, offset: int) -> None:
        """v += acc's channels [offset, offset + C), shifted and rounded in integer mode
        (kernels.integrate without its checks: the shapes were checked at construction)."""
        if self.integer:
            kernels._integrate_int(self.v, acc, shift, half, offset)
        else:
            kernels._integrate_float(self.v, acc, offset)

    def fire(self, frame: int) -> None:
        """Bias, saturation, levels and reset for every neuron of the core, then the levels
        pooled and the non-zero ones gathered as events, in one kernel (kernels.fire_emit)."""
        spikes, saturations, events, level_sum = kernels._fire_emit(
            self.v, *self.fire_args, self.z, *self.pool_args, self.out, self.c0, *self.gathered)
        raw = self.fire_raw[frame % self.run_state.timesteps]
        raw[0] += spikes
        raw[3] += saturations
        self.emitted = (events, level_sum)
        nf = self.chip.nf
        nf[self.index, noc.CLOCK] += self.fire_cycles
        nf[self.index, noc.BUSY] += self.fire_cycles

    def emit(self, frame: int) -> None:
        """This frame's events: counted, recorded, kept for the cores that receive them."""
        layer = self.layer
        run = self.run_state
        t = frame % run.timesteps
        b = frame // run.timesteps
        if layer.mode == "readout":
            self.events = (np.zeros(0, np.int32), np.zeros(0, np.int32))
        else:
            n, level_sum = self.emitted
            idx, val = self.gathered[0][:n].copy(), self.gathered[1][:n].copy()
            self.events = (idx, val)
            stream = run.streams.get(layer.name)
            if stream is not None:
                stream.put(self.rank, frame, idx, val)
            raw = self.fire_raw[t]
            raw[1] += n
            raw[2] += level_sum
            run.record(self, b, t)
        if t == run.timesteps - 1:
            run.finish_input(self, b)
            self.v[...] = 0  # potentials start every input at 0
