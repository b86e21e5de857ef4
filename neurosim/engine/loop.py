"""The chip's nodes run in the compiled event loop (kernels.events) rather than as SimPy
processes: the same steps in the same order, so the same simulated times, without a Python
resumption per wait.

The SimPy processes (Core.process, InputPort.process) stay the statement of the model, and
``run(..., scheduler="simpy")`` runs them; tests/test_engine_loop.py holds both equal on every
timing case. Python still does what needs the network: each core's integrate, fire and emit
once per frame, and the port's events once per frame.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import EngineError
from ..kernels import events


class Outbox:
    """Every node's rows for the frame it sends (kernels.events._sending): its events (int32),
    their running taps under its destinations' G tap maps and, where events are split into
    messages, their running message counts; sized for the most events a frame of it holds."""

    def __init__(self, nodes, port, input_size: int):
        sizes = [input_size if node is port else node.gathered[0].size for node in nodes]
        self.bo = np.zeros((len(nodes), 6), np.int64)
        i = c = m = 0
        for node, n in zip(nodes, sizes):
            g = len(node.taps)
            split = 1 if node.split else 0
            self.bo[node.index] = i, 0, c, g, m, split
            i, c, m = i + n, c + g * (n + 1), m + (n + 1 if split else 1)
        self.bi = np.zeros(max(i, 1), np.int32)
        self.bc = np.zeros(max(c, 1), np.int64)
        self.bm = np.zeros(max(m, 1), np.int64)

    def put(self, node, idx, val) -> None:
        """Node's frame (idx, val): its events, running taps and message counts in its rows."""
        lo, _, c_lo, g, m_lo, split = self.bo[node.index].tolist()
        n = len(idx)
        self.bo[node.index, 1] = n
        self.bi[lo:lo + n] = idx
        cum = self.bc[c_lo:c_lo + g * (n + 1)].reshape(g, n + 1)
        node.packing(idx, val, cum, self.bm[m_lo:m_lo + n + 1] if split else None)


def run_chip(chip, state, cores, port) -> tuple[float, float]:
    """Run every node to the end; returns the last event's time and the host seconds spent in
    the loop itself (between the Python stages)."""
    n = len(chip.nodes)
    sn, hf, he, hk, qk, hs = events.tables(n, 4 * (n + len(chip.ch)) + 64)
    box = Outbox(chip.nodes, port, int(np.prod(state.net.input_shape)))
    now = 0.0

    def input_done(b):
        nonlocal hf, he, hk, qk
        if events.full(hf, hs):
            hf, he, hk, qk = events.grow_queue(hf, he, hk, qk, hs)
        events.input_done(qk, hs, state.completed, b)

    state.on_done = input_done
    clock = time.perf_counter
    inside = 0.0
    args = (state.completed, state.finished, state.started, state.frames, state.timesteps,
            state.window, len(state.inputs), state.packet_events, port.index)
    while True:
        start = clock()
        what, node, c, now = events.advance(
            chip.nf, chip.ni, chip.ch, chip.pq, chip.pt, chip.links, chip.lf, chip.li, chip.lb,
            chip.route, chip.ev, box.bi, box.bc, box.bm, box.bo, sn, hf, he, hk, qk, hs, *args,
            now)
        inside += clock() - start
        if what == events.END:
            break
        if what == events.GROW_QUEUE:
            hf, he, hk, qk = events.grow_queue(hf, he, hk, qk, hs)
            continue
        if what == events.GROW_RING:
            chip.grow(c)
            continue
        sender = chip.nodes[node]
        if what == events.STAGE:
            frame = int(sn[node, events.FRAME])
            sender.frame = frame
            sender.stage(frame)
            idx, val = sender.events
        elif what == events.PORT_FRAME:
            idx, val = sender.frame(int(sn[node, events.INPUT]), int(sn[node, events.STEP]))
        else:
            raise EngineError(f"the event loop returned {what}", "engine")
        if sender.outputs:
            box.put(sender, idx, val)
        hs[events.CONT_NODE], hs[events.CONT_WHAT] = node, events.SEND_FRAME
    for core in cores:
        core.finished = sn[core.index, events.PHASE] == events.FINISHED
    return now, inside
