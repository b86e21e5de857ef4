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
from numba.typed import List

from ..errors import EngineError
from ..kernels import events

NO_EVENTS = np.zeros(0, np.int32)


def run_chip(chip, state, cores, port) -> tuple[float, float]:
    """Run every node to the end; returns the last event's time and the host seconds spent in
    the loop itself (between the Python stages)."""
    n = len(chip.nodes)
    sn, hf, he, hk, hs = events.tables(n, 4 * (n + len(chip.ch)) + 64)
    idx_of = List([NO_EVENTS] * n)
    cum_of = List([np.zeros((0, 1), np.int64)] * n)
    messages_of = List([np.zeros(1, np.int64)] * n)
    now = 0.0

    def input_done(b):
        nonlocal hf, he, hk
        if hs[events.SIZE] == len(hf):
            hf, he, hk = events.grow_heap(hf, he, hk)
        events.input_done(hf, he, hk, hs, state.completed, b, now)

    state.on_done = input_done
    clock = time.perf_counter
    inside = 0.0
    args = (state.completed, state.finished, state.started, state.frames, state.timesteps,
            state.window, len(state.inputs), state.packet_events, port.index)
    while True:
        start = clock()
        what, node, c, now = events.advance(
            chip.nf, chip.ni, chip.ch, chip.pq, chip.pt, chip.links, chip.lf, chip.li, chip.lb,
            chip.route, chip.ev, idx_of, cum_of, messages_of, sn, hf, he, hk, hs, *args, now)
        inside += clock() - start
        if what == events.END:
            break
        if what == events.GROW_HEAP:
            hf, he, hk = events.grow_heap(hf, he, hk)
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
            idx_of[node] = idx
            cum_of[node], messages_of[node] = sender.packing(idx, val)
        hs[events.CONT_NODE], hs[events.CONT_WHAT] = node, events.SEND_FRAME
    for core in cores:
        core.finished = sn[core.index, events.PHASE] == events.FINISHED
    return now, inside
