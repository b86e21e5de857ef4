"""A neuromorphic core: the output channels [c0, c1) of one layer, as a SimPy process.

Per frame (one timestep of one input) the core runs the hardware pipeline, one call per stage:

    receive    read pieces from the input FIFO channels, scatter-accumulate their events
    integrate  leak the potentials, add every projection's accumulator (⌊acc / 2^shift⌋)
    fire       add the bias, saturate, emit levels, reset
    emit       pool the levels, gather the non-zero ones into events
    send       cut the events into packets and push them into the NoC (stalls on a full FIFO)

The barrier: the core integrates frame f only when every source core has delivered its last
piece of f. Cores work on different frames at once, so layers pipeline across timesteps and
inputs. Time: each core keeps its own clock (cycles), which may run ahead of the SimPy clock while
it works through pieces already queued; it synchronises (a SimPy yield) only when it must wait —
for a delivery, or for room in a full FIFO — so that SimPy sees a few events per packet, never
one per spike.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..compiler import CompiledNetwork, Layer, Projection
from .packets import Piece

INT32_LIMIT = 2 ** 31 - 1


def as_hwc(shape) -> tuple[int, int, int]:
    """(C, H, W) → (H, W, C); a vector (N,) is (1, 1, N)."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else (1, 1, shape[0])


class Synapses:
    """One projection as one core holds it: weights for its channels in the kernel's layout,
    and the wide accumulator of Σ w·z for the current frame."""

    __slots__ = ("projection", "kind", "acc", "flat", "weight", "shift", "geometry", "c0")

    def __init__(self, p: Projection, layer: Layer, c0: int, c1: int, integer: bool,
                 max_level: int):
        self.projection = p
        self.kind = p.kind
        self.shift = int(p.shift)
        self.c0 = c0
        w = p.weight[c0:c1]
        if integer:
            per_output = np.abs(w).reshape(len(w), -1).sum(axis=1) if w.size else np.zeros(1)
            bound = int(per_output.max(initial=0)) * int(max_level)
            dtype = np.int32 if bound <= INT32_LIMIT else np.int64
        else:
            dtype = np.float64
        if p.kind == "conv":
            self.weight = np.ascontiguousarray(w.transpose(2, 3, 1, 0), dtype)  # kH, kW, Cin, C
            _, h, wd = p.in_shape
            self.geometry = (h, wd, p.stride[0], p.stride[1], p.padding[0], p.padding[1])
        elif p.kind == "linear":
            self.weight = np.ascontiguousarray(w.T, dtype)  # N_in, C
            self.geometry = ()
        else:
            self.weight = np.ascontiguousarray(w, dtype)  # C: per-channel factor register
            self.geometry = ()
        h, wd, _ = as_hwc(layer.shape)
        self.acc = np.zeros((h, wd, c1 - c0), dtype)
        self.flat = self.acc.reshape(-1)

    def scatter(self, idx, val, bounds, visits, levels) -> None:
        """Accumulate events [bounds[0], bounds[-1]) (validated layouts: the private kernels)."""
        if self.kind == "conv":
            kernels._conv_scatter(self.acc, self.weight, idx, val, bounds, visits, levels,
                                  *self.geometry)
        elif self.kind == "linear":
            kernels._linear_scatter(self.flat, self.weight, idx, val, bounds, visits, levels)
        else:
            kernels._identity_scatter(self.acc, self.weight, idx, val, bounds, visits, levels,
                                      self.c0)


class Port:
    """What sends packets: a core's network interface, or the host's input port.

    Subclasses set env, clock, busy, stall, outputs (FIFO channels at the destinations),
    run_state, timing and route_raw (routing counts, or None where nothing is counted)."""

    route_raw = None

    def send(self, frame: int, idx, val):
        """Cut this frame's events into packets; send each to every destination core. A channel
        without room stalls the core (backpressure) until the receiver frees it."""
        if not self.outputs:
            return
        n = len(idx)
        size = self.run_state.packet_events
        packets = max(1, -(-n // size))
        per_packet = self.timing.cycles_per_packet
        counted = self.route_raw is not None
        raw = self.route_raw[frame % self.run_state.timesteps] if counted else None
        for k in range(packets):
            s, e = k * size, min(n, (k + 1) * size)
            for ch in self.outputs:
                self.clock += per_packet
                self.busy += per_packet
                if counted:
                    raw[0] += 1
                    raw[1] += ch.hops
                    raw[2] += (e - s) * ch.hops
                start = s
                while True:
                    stop = min(e, start + ch.depth)
                    if ch.free < stop - start:
                        yield from self.wait_for_room(ch, stop - start)
                    ch.send(Piece(frame, idx, val, start, stop, k == packets - 1 and stop == e),
                            self.clock - self.env.now + ch.latency)
                    start = stop
                    if start >= e:
                        break

    def wait_for_room(self, ch, events: int):
        """Stall until ``ch`` has room for ``events``: catch the SimPy clock up with the core's,
        then wait for the receiver to return room."""
        before = self.clock
        if self.clock > self.env.now:
            yield self.env.timeout(self.clock - self.env.now)
        while ch.free < events:
            ch.credit = self.env.event()
            yield ch.credit
        ch.credit = None
        if self.env.now > self.clock:
            self.clock = self.env.now
        self.stall += self.clock - before


class Core(Port):
    """One core's state (potentials, accumulators), counters and timing, and its process."""

    def __init__(self, env, spec, layer: Layer, net: CompiledNetwork, timing, run):
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
        self.synapses = [Synapses(p, layer, self.c0, self.c1, self.integer,
                                  run.max_level[p.source]) for p in layer.projections]
        self.channels = []  # incoming FIFO channels, one per source core
        self.outputs = []  # FIFO channels at the destination cores
        self.wake = None
        self.finished = False
        self.frame = 0
        self.clock = 0  # local time in cycles, >= the SimPy time of its last yield
        self.busy = 0
        self.stall = 0
        self.occupied = 0
        self.max_occupied = 0
        self.events = (np.zeros(0, np.int32), np.zeros(0, np.int32))
        t = run.timesteps
        self.proj_raw = np.zeros((t, len(self.synapses), 3), np.int64)  # events, visits, levels
        self.fire_raw = np.zeros((t, 4), np.int64)  # spikes, events out, level sum, saturations
        self.route_raw = np.zeros((t, 3), np.int64)  # packets, packet hops, event hops

    # --- FIFO side --------------------------------------------------------------------------

    def arrived(self, piece: Piece) -> None:
        """The NoC put ``piece`` into one of this core's channels."""
        self.occupied += piece.events
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
            yield from self.receive(frame)
            self.integrate()
            self.fire(frame)
            self.emit(frame)
            yield from self.send(frame, *self.events)
        self.finished = True

    def receive(self, frame: int):
        """Scatter-accumulate queued pieces of ``frame`` until every source has delivered its
        last one; wait for the NoC when nothing is queued."""
        open_channels = len(self.channels)
        while open_channels:
            took = False
            for ch in self.channels:
                q = ch.queue
                if q and q[0].frame == frame:
                    run = [q.popleft()]
                    while q and q[0].frame == frame:
                        run.append(q.popleft())
                    self.accumulate(ch, run, frame)
                    if run[-1].last:
                        open_channels -= 1
                    took = True
            if not took:
                self.wake = self.env.event()
                yield self.wake
                if self.env.now > self.clock:
                    self.clock = self.env.now

    def accumulate(self, ch, run: list[Piece], frame: int) -> None:
        """One kernel call per projection for a run of consecutive pieces of one channel; the
        per-piece work gives each piece's finishing time, when its FIFO room comes back."""
        first = run[0]
        bounds = np.empty(len(run) + 1, np.int64)
        bounds[0] = first.start
        for i, piece in enumerate(run):
            bounds[i + 1] = piece.stop
        counts = np.zeros((len(ch.projections), 2, len(run)), np.int64)
        t = frame % self.run_state.timesteps
        events = int(bounds[-1] - bounds[0])
        for row, j in enumerate(ch.projections):
            self.synapses[j].scatter(first.idx, first.val, bounds, counts[row, 0], counts[row, 1])
            raw = self.proj_raw[t, j]
            raw[0] += events
            raw[1] += int(counts[row, 0].sum())
            raw[2] += int(counts[row, 1].sum())
        per_piece = (np.diff(bounds) * (self.timing.cycles_per_event * len(ch.projections))
                     + counts[:, 0].sum(axis=0) * self.timing.cycles_per_synapse)
        now = self.env.now
        clock = self.clock
        for piece, cycles in zip(run, per_piece.tolist()):
            clock += cycles
            ch.release_at(piece.events, clock - now)
        self.busy += clock - self.clock
        self.clock = clock

    def integrate(self) -> None:
        """Leak, then add each projection's accumulator (floor-shifted) to the potentials."""
        spec = self.layer.spec
        kernels.leak(self.v, spec.kind, self.layer.decay, spec.stateless, self.integer)
        for s in self.synapses:
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
        cycles = self.spec.neurons * self.timing.cycles_per_neuron
        self.clock += cycles
        self.busy += cycles

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
