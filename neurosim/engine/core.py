"""A neuromorphic core: the output channels [c0, c1) of one layer, as a SimPy process.

Per frame (one timestep of one input) the core runs the hardware pipeline, one call per stage:

    receive    read pieces from the input FIFO channels, scatter-accumulate their events
    integrate  leak the potentials, add every projection's accumulator (⌊acc / 2^shift⌋)
    fire       add the bias, saturate, emit levels, reset
    emit       pool the levels, gather the non-zero ones into events
    send       cut the events into packets and push them into the NoC (stalls on a full FIFO)

The barrier: the core integrates frame f only when every source core has delivered its last
piece of f. Cores work on different frames at once, so layers pipeline across timesteps and
inputs.

Time: every core is a sequential server with its own clock (cycles). It serves a piece no earlier
than the piece arrives — first whatever has arrived by its clock, channel by channel; when
nothing has, the next piece to arrive, once no other source can still send one that arrives
before it (a conservative lookahead, as in parallel discrete-event simulation) — and a sender
takes FIFO room no earlier than the receiver gives it back. Clocks run ahead of SimPy's while a
core has work that needs no one else; a core yields to SimPy only when it must wait — for a
piece not yet sent, or for room not yet freed. So SimPy sees a few events per FIFO-full of
packets, never one per spike. The order in which a core serves pieces that have all arrived by
its clock may depend on which senders SimPy ran first: deterministic, but a modelling choice
(round robin by channel) rather than strict first come, first served.
"""

from __future__ import annotations

import weakref

import numpy as np
from simpy.events import Timeout

from .. import kernels
from ..compiler import CompiledNetwork, Layer, Projection
from .packets import Piece

INT32_LIMIT = 2 ** 31 - 1
INF = float("inf")


def _wake(event) -> None:
    """Timeout callback: wake a core if it still waits on the same event."""
    core, wake = event.value
    if core.wake is wake:
        core.wake = None
        wake.succeed()


def as_hwc(shape) -> tuple[int, int, int]:
    """(C, H, W) → (H, W, C); a vector (N,) is (1, 1, N)."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else (1, 1, shape[0])


class Synapses:
    """One projection as one core holds it: weights for its channels in the kernel's layout,
    and the accumulator of Σ w·z for the current frame — int32 where the worst case
    (Σ|w| per output × the source's largest level) fits, else int64: exact either way. Weights
    are stored in the narrowest integer type that holds them (int16 for 16-bit words)."""

    __slots__ = ("projection", "kind", "acc", "flat", "weight", "shift", "geometry", "c0")

    def __init__(self, p: Projection, layer: Layer, c0: int, c1: int, integer: bool,
                 max_level: int):
        self.projection = p
        self.kind = p.kind
        self.shift = int(p.shift)
        self.c0 = c0
        w = p.weight[c0:c1]
        if integer:
            per_output = np.abs(w).reshape(len(w), -1).sum(axis=1)
            bound = int(per_output.max(initial=0)) * int(max_level)
            dtype = np.int32 if bound <= INT32_LIMIT else np.int64
            wmax = int(np.abs(w).max(initial=0))
            wtype = np.int16 if wmax <= 2 ** 15 - 1 else np.int32 if wmax <= INT32_LIMIT \
                else np.int64
        else:
            dtype = wtype = np.float64
        self.weight = _layout(p, c0, c1, wtype)
        if p.kind == "conv":
            _, h, wd = p.in_shape
            self.geometry = (h, wd, p.stride[0], p.stride[1], p.padding[0], p.padding[1])
        else:
            self.geometry = ()
        h, wd, _ = as_hwc(layer.shape)
        self.acc = np.zeros((h, wd, c1 - c0), dtype)
        self.flat = self.acc.reshape(-1)

    def scatter(self, idx, val, bounds, visits, levels, acc=None) -> None:
        """Accumulate events [bounds[0], bounds[-1]) into ``acc`` (default: its own; layouts are
        validated here, at construction, so the private kernels are called directly)."""
        acc = self.acc if acc is None else acc
        if self.kind == "conv":
            kernels._conv_scatter(acc, self.weight, idx, val, bounds, visits, levels,
                                  *self.geometry)
        elif self.kind == "linear":
            kernels._linear_scatter(acc.reshape(-1), self.weight, idx, val, bounds, visits,
                                    levels)
        else:
            kernels._identity_scatter(acc, self.weight, idx, val, bounds, visits, levels,
                                      self.c0)


class SharedSynapses:
    """A conv or linear projection of a layer split across several cores, accumulated once for
    all of them: one accumulator per frame for all the layer's channels.

    Every core of the layer receives the same pieces in the same order (each source sends every
    packet to all of them), so the first core to serve a piece scatters it for the whole layer
    and records the output positions it reached (taps); each core then charges and times its
    own part, taps × its channels, and takes its channels from the frame's accumulator when it
    fires. The accumulator is dropped once every core has. The sums are those each core would
    form alone; the kernel runs once per piece instead of once per piece and core."""

    def __init__(self, p: Projection, layer: Layer, integer: bool, max_level: int, cores: int):
        self.full = Synapses(p, layer, 0, layer.channels, integer, max_level)
        self.shift = self.full.shift
        self.channels = layer.channels
        self.cores = cores
        self.banks = {}  # frame → accumulator (H, W, C)
        self.pieces = {}  # (sender, frame) → {piece start: (taps, level taps)}
        self.keys = {}  # frame → its (sender, frame) keys
        self.taken = {}  # frame → cores that took their channels

    def bank(self, frame: int) -> np.ndarray:
        acc = self.banks.get(frame)
        if acc is None:
            acc = self.banks[frame] = np.zeros_like(self.full.acc)
        return acc

    def taps(self, sender, frame: int, run: list[Piece]) -> list[tuple[int, int]]:
        """(taps, Σ z·taps) of each piece of ``run``, scattering the pieces no core has yet."""
        key = (sender, frame)
        known = self.pieces.get(key)
        if known is None:
            known = self.pieces[key] = {}
            self.keys.setdefault(frame, []).append(key)
        todo = [piece for piece in run if piece.start not in known]
        if todo:
            bounds = np.array([todo[0].start] + [piece.stop for piece in todo], np.int64)
            visits = np.zeros(len(todo), np.int64)
            levels = np.zeros(len(todo), np.int64)
            self.full.scatter(run[0].idx, run[0].val, bounds, visits, levels, self.bank(frame))
            c = self.channels
            for piece, v, lv in zip(todo, visits.tolist(), levels.tolist()):
                known[piece.start] = (v // c, lv // c)
        return [known[piece.start] for piece in run]

    def take(self, core, frame: int) -> None:
        """Add the core's channels of the frame's sums to its potentials."""
        kernels.integrate(core.v, self.bank(frame), self.shift, core.c0)
        taken = self.taken.get(frame, 0) + 1
        if taken == self.cores:
            del self.banks[frame]
            self.taken.pop(frame, None)
            for key in self.keys.pop(frame, ()):
                del self.pieces[key]
        else:
            self.taken[frame] = taken


_LAYOUTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
    """What sends packets: a core's network interface, or the host's input port.

    Subclasses set env, clock, busy, stall, outputs (FIFO channels at the destinations),
    run_state, timing and route_raw (routing counts, or None where nothing is counted)."""

    route_raw = None
    sending = True  # between frames a core is receiving, the input port is always sending

    def earliest_send(self, now: float) -> float:
        """No piece this sender pushes from now on leaves before this time: its clock (never
        behind SimPy's while it runs), plus, for a core still receiving its frame, the fire
        stage and one packet it must get through first."""
        start = self.clock if self.clock > now else now
        return start if self.sending else start + self.fire_cycles + self.timing.cycles_per_packet

    def send(self, frame: int, idx, val):
        """Cut one frame's events into packets and send each to every destination. A channel
        without room stalls the sender (backpressure) until the receiver frees it."""
        if not self.outputs:
            return
        n = len(idx)
        size = self.run_state.packet_events
        packets = max(1, -(-n // size))
        per_packet = self.timing.cycles_per_packet
        raw = None if self.route_raw is None else self.route_raw[frame % self.run_state.timesteps]
        for k in range(packets):
            s, e = k * size, min(n, (k + 1) * size)
            for ch in self.outputs:
                self.clock += per_packet
                self.busy += per_packet
                if raw is not None:
                    raw[0] += 1
                    raw[1] += ch.hops
                    raw[2] += (e - s) * ch.hops
                start = s
                while True:
                    stop = min(e, start + ch.depth)
                    piece = Piece(frame, idx, val, start, stop, k == packets - 1 and stop == e)
                    if not ch.try_push(piece, self.clock):
                        yield from self.wait_for_room(ch, stop - start)
                        ch.try_push(piece, self.clock)
                    start = stop
                    if start >= e:
                        break

    def wait_for_room(self, ch, events: int):
        """Stall until ``ch`` has room for ``events``: the time it comes back is known once the
        receiver has scheduled enough releases; until then, wait for it to schedule them."""
        when = ch.room_time(events)
        while when is None:
            ch.need = events
            ch.credit = self.env.event()
            yield ch.credit
            when = ch.room_time(events)
        ch.need = 0
        if when > self.clock:
            self.stall += when - self.clock
            self.clock = when


class Core(Port):
    """One core's state (potentials, accumulators), counters and timing, and its process."""

    def __init__(self, env, spec, layer: Layer, net: CompiledNetwork, timing, run,
                 shared: dict | None = None):
        self.env = env
        self.spec = spec
        self.index = spec.index
        self.layer = layer
        self.run_state = run  # the runner's shared state: frames, outputs, recording
        self.c0, self.c1 = spec.channels
        self.integer = net.integer
        self.timing = timing
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
        self.shared = shared or {}  # projection index → SharedSynapses (split layers)
        self.synapses = [None if j in self.shared else
                         Synapses(p, layer, self.c0, self.c1, self.integer,
                                  run.max_level[p.source])
                         for j, p in enumerate(layer.projections)]
        self.channels = []  # incoming FIFO channels, one per source core
        self.ready = {}  # channels with queued pieces, in the order they got them
        self.outputs = []  # FIFO channels at the destination cores
        self.wake = None
        self.fire_cycles = spec.neurons * timing.cycles_per_neuron
        self.finished = False
        self.frame = 0
        self.clock = 0  # local time in cycles, never behind SimPy's while the core runs
        self.busy = 0
        self.stall = 0
        self.occupied = 0  # room reserved in all input channels
        self.max_occupied = 0
        self.events = (np.zeros(0, np.int32), np.zeros(0, np.int32))
        t = run.timesteps
        self.proj_raw = np.zeros((t, len(self.synapses), 3), np.int64)  # events, visits, levels
        self.fire_raw = np.zeros((t, 4), np.int64)  # spikes, events out, level sum, saturations
        self.route_raw = np.zeros((t, 3), np.int64)  # packets, packet hops, event hops
        self._bounds = np.zeros(17, np.int64)
        self._visits = np.zeros((2, 16), np.int64)

    # --- FIFO side --------------------------------------------------------------------------

    def offered(self, ch, piece: Piece) -> None:
        """A sender pushed ``piece`` into ``ch``: note the room taken and the channel's queued
        work; wake the core if it waits for a piece of this frame."""
        self.ready[ch] = None
        self.occupied += piece.stop - piece.start
        if self.occupied > self.max_occupied:
            self.max_occupied = self.occupied
        if self.wake is not None and piece.frame == self.frame:
            self.wake.succeed()
            self.wake = None

    # --- the pipeline -----------------------------------------------------------------------

    def process(self):
        """The SimPy process: every frame through the five stages."""
        for frame in range(self.run_state.frames):
            self.frame = frame
            self.sending = False
            yield from self.receive(frame)
            self.integrate(frame)
            self.fire(frame)
            self.emit(frame)
            self.sending = True
            yield from self.send(frame, *self.events)
        self.finished = True

    def receive(self, frame: int):
        """Scatter-accumulate the pieces of ``frame`` until every source has delivered its last
        one (the barrier). Each piece is served no earlier than it arrives: first every piece
        that has arrived by the core's clock, channel by channel; when none has, the piece that
        arrives next, once no other source can still send one that arrives before it.
        Consecutive pieces of one channel go to the kernels in one call."""
        pending = dict.fromkeys(self.channels)  # channels still to deliver frame's last piece
        while pending:
            served = False
            for ch in list(self.ready):
                head = ch.queue[0]
                if head.frame == frame and head.arrival <= self.clock:
                    self.serve(ch, frame, self.clock, pending)
                    served = True
            if served:
                continue
            ch, until = self.next_arrival(pending, frame)
            if ch is None:
                yield from self.wait_for_pieces(until)
            else:
                self.serve(ch, frame, until, pending)

    def serve(self, ch, frame: int, until: float, pending: dict) -> None:
        """Accumulate ``ch``'s queued pieces of ``frame`` that arrive by ``until`` (at least one)."""
        q = ch.queue
        run = [q.popleft()]
        while q and q[0].frame == frame and q[0].arrival <= until:
            run.append(q.popleft())
        if not q:
            del self.ready[ch]
        self.accumulate(ch, run, frame)
        if run[-1].last:
            del pending[ch]

    def next_arrival(self, pending: dict, frame: int):
        """With nothing arrived yet: the channel whose queued piece arrives first and how far to
        serve it, if no source without a queued piece can send one that arrives earlier (a
        conservative bound on its next send, as in parallel discrete-event simulation);
        else (None, when to look again)."""
        first, first_at, second_at = None, INF, INF
        for ch in self.ready:
            head = ch.queue[0]
            if head.frame == frame:
                if head.arrival < first_at:
                    first, first_at, second_at = ch, head.arrival, first_at
                elif head.arrival < second_at:
                    second_at = head.arrival
        if first is None:
            return None, INF
        now, bound = self.env.now, second_at
        for ch in pending:
            if not ch.queue:
                sent = ch.sender.earliest_send(now) + ch.latency
                if sent < first_at:
                    return None, first_at
                bound = min(bound, sent)
        return first, bound

    def wait_for_pieces(self, until: float):
        """Idle until a sender pushes a piece of the current frame, or until ``until``."""
        self.wake = wake = self.env.event()
        if until < INF:
            Timeout(self.env, max(0.0, until - self.env.now), (self, wake)).callbacks.append(
                _wake)
        yield wake
        if self.env.now > self.clock:
            self.clock = self.env.now

    def accumulate(self, ch, run: list[Piece], frame: int) -> None:
        """One kernel call per projection for a run of consecutive pieces of one channel; the
        work of each piece gives the time it is done, when its FIFO room comes back."""
        raw = self.proj_raw[frame % self.run_state.timesteps]
        events = run[-1].stop - run[0].start
        per_piece = None
        for j in ch.projections:
            if j in self.shared:
                width = self.c1 - self.c0
                taps = self.shared[j].taps(ch.sender, frame, run)
                counted = [t * width for t, _ in taps]
                level_visits = sum(lt for _, lt in taps) * width
            else:
                counted, level_visits = self.scatter(j, run)
            tally = raw[j]
            tally[0] += events
            tally[1] += sum(counted)
            tally[2] += level_visits
            per_piece = counted if per_piece is None else [a + b for a, b in zip(per_piece,
                                                                                 counted)]
        per_event = self.timing.cycles_per_event * len(ch.projections)
        per_synapse = self.timing.cycles_per_synapse
        clock = self.clock
        busy = 0
        for piece, synapses in zip(run, per_piece):
            work = per_event * (piece.stop - piece.start) + per_synapse * synapses
            clock = max(clock, piece.arrival) + work
            busy += work
            ch.release(clock, piece.stop - piece.start)
        self.busy += busy
        self.clock = clock

    def scatter(self, j: int, run: list[Piece]) -> tuple[list[int], int]:
        """Projection j's kernel over a run: synapse visits of each piece, and Σ z·visits."""
        n = len(run)
        if n >= len(self._bounds):
            self._bounds = np.zeros(2 * n + 1, np.int64)
            self._visits = np.zeros((2, 2 * n), np.int64)
        bounds = self._bounds[:n + 1]
        bounds[0] = run[0].start
        for i, piece in enumerate(run):
            bounds[i + 1] = piece.stop
        visits, levels = self._visits[0, :n], self._visits[1, :n]
        visits[:] = 0
        levels[:] = 0
        self.synapses[j].scatter(run[0].idx, run[0].val, bounds, visits, levels)
        return visits.tolist(), int(levels.sum())

    def integrate(self, frame: int) -> None:
        """Leak, then add each projection's accumulator (floor-shifted) to the potentials."""
        spec = self.layer.spec
        kernels.leak(self.v, spec.kind, self.layer.decay, spec.stateless, self.integer)
        for j, s in enumerate(self.synapses):
            if s is None:
                self.shared[j].take(self, frame)
            else:
                kernels.integrate(self.v, s.acc, s.shift)

    def fire(self, frame: int) -> None:
        """Bias, saturation, levels and reset for every neuron of the core."""
        layer = self.layer
        spikes, saturations = kernels.fire(self.v, self.bias, layer.threshold, layer.levels,
                                           layer.v_range if self.integer else None, layer.mode,
                                           layer.spec.reset, self.z)
        raw = self.fire_raw[frame % self.run_state.timesteps]
        raw[0] += spikes
        raw[3] += saturations
        self.clock += self.fire_cycles
        self.busy += self.fire_cycles

    def emit(self, frame: int) -> None:
        """Pool the levels and gather the non-zero ones as this frame's events."""
        layer = self.layer
        run = self.run_state
        t = frame % run.timesteps
        b = frame // run.timesteps
        if layer.mode == "readout":
            self.events = (np.zeros(0, np.int32), np.zeros(0, np.int32))
        else:
            if layer.pool is not None:
                kernels.pool(self.z, layer.pool.kind, layer.pool.kernel, layer.pool.stride,
                             self.out)
            idx, val, level_sum = kernels.gather(self.out, self.c0, self.out_channels)
            self.events = (idx, val)
            raw = self.fire_raw[t]
            raw[1] += len(idx)
            raw[2] += level_sum
            run.record(self, b, t)
        if t == run.timesteps - 1:
            run.finish_input(self, b)
            self.v[...] = 0  # potentials start every input at 0
