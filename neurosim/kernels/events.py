"""The chip's event loop, compiled: the cores' and the input port's waits for pieces, room and
inputs, resolved in one Numba loop instead of one SimPy process per node.

It takes the SimPy processes of neurosim/engine/core.py and source.py step for step, in the
order SimPy would run them, so every simulated time is the same: events are served by (time,
order of scheduling), as SimPy's queue serves them; a core woken by a piece or by the end of its
lookahead, a sender given its credit and the port given a finished input resume exactly where
the processes would. What needs the network's weights — a core's integrate, fire and emit
stages, and the port's next input — goes back to Python (``advance`` returns), once per core and
frame; the loop then continues from where it stopped.

Tables: the chip's (kernels.noc), plus

    sn  (nodes, NODE_S) int64    per node: whether it has finished (or, the port, waits for an
                                 input to finish: PHASE), its frame, the id of the wait a
                                 lookahead timeout belongs to, its wake (-1: none); the port's
                                 input and timestep
    hf, he, hk                   the events scheduled for later, a binary heap: time, order of
                                 scheduling, (kind, node or channel or input, wait id)
    qk  (capacity, 3) int64      the events scheduled for now (most: wakes and credits), a ring
                                 in order of scheduling; they come after the heap's events for
                                 now, which were all scheduled before them
    hs  (HEAP_S,) int64          heap size, next order number, the next node to start, the
                                 continuation ``advance`` starts with (node, what), the ring's
                                 head and length
    bi, bc, bm, bo               what each node sends: its frame's events, running taps and
                                 message counts, in rows of its own (offsets and sizes in bo)
"""

from __future__ import annotations

import numpy as np

from .jit import kernel
from .noc import (CLOCK, DONE, EV_CREDIT, GROW, OUT_HI, OUT_LO, SENDER, WAITING, receive_step,
                  send_step)

INF = np.inf

# sn columns
PHASE, FRAME, GEN, WAKE, INPUT, STEP = range(6)
NODE_S = 6
RUNNING, INPUT_WAIT, FINISHED = range(3)
# event kinds
K_WAKE, K_TIMEOUT, K_CREDIT, K_INPUT, K_NONE = range(5)
# hs fields
SIZE, ORDER, NEXT_START, CONT_NODE, CONT_WHAT, Q_HEAD, Q_LEN = range(7)
HEAP_S = 7
# what a node does next (hs[CONT_WHAT] when advance is called again)
RECEIVE, RECEIVE_MORE, SEND_FRAME, SEND_MORE, NEXT_INPUT, INPUT_READY = range(6)
# what advance returns
END, STAGE, PORT_FRAME, GROW_RING, GROW_QUEUE = range(5)


def tables(nodes: int, capacity: int = 1024):
    """Fresh scheduler tables for ``nodes`` nodes: (sn, hf, he, hk, qk, hs)."""
    sn = np.zeros((nodes, NODE_S), np.int64)
    sn[:, WAKE] = -1
    hs = np.zeros(HEAP_S, np.int64)
    hs[CONT_NODE] = -1
    return (sn, np.zeros(capacity, np.float64), np.zeros(capacity, np.int64),
            np.zeros((capacity, 3), np.int64), np.zeros((capacity, 3), np.int64), hs)


def full(hf, hs) -> bool:
    """No room left for one more event (heap and ring share the capacity)."""
    return hs[SIZE] + hs[Q_LEN] >= len(hf)


def grow_queue(hf, he, hk, qk, hs):
    """The queue with twice the room, the heap's entries where they were, the ring's unwound."""
    n = len(hf)
    ring = qk[(hs[Q_HEAD] + np.arange(hs[Q_LEN])) % n]
    qk = np.zeros((2 * n, 3), np.int64)
    qk[:len(ring)] = ring
    hs[Q_HEAD] = 0
    return (np.concatenate([hf, np.zeros(n, np.float64)]),
            np.concatenate([he, np.zeros(n, np.int64)]),
            np.concatenate([hk, np.zeros((n, 3), np.int64)]), qk)


@kernel(refcounts=False)
def _before(hf, he, a, b):
    return hf[a] < hf[b] or (hf[a] == hf[b] and he[a] < he[b])


@kernel(refcounts=False)
def _swap(hf, he, hk, a, b):
    hf[a], hf[b] = hf[b], hf[a]
    he[a], he[b] = he[b], he[a]
    for j in range(3):
        hk[a, j], hk[b, j] = hk[b, j], hk[a, j]


@kernel(refcounts=False)
def _push(hf, he, hk, hs, time, kind, x, gen):
    """Schedule an event at ``time``, after every event already scheduled for that time."""
    i = hs[SIZE]
    hf[i], he[i] = time, hs[ORDER]
    hk[i, 0], hk[i, 1], hk[i, 2] = kind, x, gen
    hs[SIZE] = i + 1
    hs[ORDER] += 1
    while i > 0:
        parent = (i - 1) // 2
        if not _before(hf, he, i, parent):
            break
        _swap(hf, he, hk, i, parent)
        i = parent


@kernel(refcounts=False)
def _push_now(qk, hs, kind, x, gen):
    """Schedule an event for now: after every event scheduled so far, in the ring."""
    k = (hs[Q_HEAD] + hs[Q_LEN]) % qk.shape[0]
    qk[k, 0], qk[k, 1], qk[k, 2] = kind, x, gen
    hs[Q_LEN] += 1


@kernel(refcounts=False)
def _pop(hf, he, hk, hs):
    """Remove the first event; its fields are left in the heap's last row (returned)."""
    n = hs[SIZE] - 1
    _swap(hf, he, hk, 0, n)
    hs[SIZE] = n
    i = 0
    while True:
        a, b, best = 2 * i + 1, 2 * i + 2, i
        if a < n and _before(hf, he, a, best):
            best = a
        if b < n and _before(hf, he, b, best):
            best = b
        if best == i:
            return n
        _swap(hf, he, hk, i, best)
        i = best


@kernel(refcounts=False)
def _next(hf, he, hk, qk, hs, now):
    """The next event: (its time, kind, x, wait id); K_NONE when none is left. The heap's events
    for now were scheduled before the ring's, so they come first."""
    if hs[SIZE] > 0 and (hs[Q_LEN] == 0 or hf[0] <= now):
        k = _pop(hf, he, hk, hs)
        return hf[k], hk[k, 0], hk[k, 1], hk[k, 2]
    if hs[Q_LEN] > 0:
        k = hs[Q_HEAD]
        hs[Q_HEAD] = (k + 1) % qk.shape[0]
        hs[Q_LEN] -= 1
        return now, qk[k, 0], qk[k, 1], qk[k, 2]
    return now, K_NONE, -1, 0


@kernel(refcounts=False)
def _trigger(ev, sn, qk, hs):
    """The SimPy events the last step asked for, now, in order: wake a core, credit a sender."""
    for i in range(ev[0]):
        e = ev[1 + i]
        if e & 1 == EV_CREDIT:
            _push_now(qk, hs, K_CREDIT, e >> 1, 0)
        else:
            sn[e >> 1, WAKE] = -1
            _push_now(qk, hs, K_WAKE, e >> 1, 0)


@kernel(refcounts=False)
def _sending(bi, bc, bm, bo, s):
    """Node s's frame as send_step reads it: events, running taps, running message counts."""
    lo, n, c_lo, g, m_lo, split = bo[s, 0], bo[s, 1], bo[s, 2], bo[s, 3], bo[s, 4], bo[s, 5]
    return (bi[lo:lo + n], bc[c_lo:c_lo + g * (n + 1)].reshape((g, n + 1)),
            bm[m_lo:m_lo + (n + 1 if split != 0 else 1)])


@kernel(refcounts=False)
def _full(hf, hs, ev):
    """Too little room left in the queue for what one more kernel step may schedule."""
    return hf.shape[0] - hs[SIZE] - hs[Q_LEN] < ev.shape[0] + 4


@kernel(refcounts=False)
def advance(nf, ni, ch, pq, pt, links, lf, li, lb, route, ev, bi, bc, bm, bo, sn, hf, he, hk,
            qk, hs, done, finished, started, frames, timesteps, window, inputs, size, port, now):
    """Run the chip from ``now`` until a node needs Python or nothing is left; returns (what,
    node, channel, now): END; STAGE (core ``node`` has received its frame: integrate, fire,
    emit, set SENDING, then continue with SEND_FRAME); PORT_FRAME (the port's next frame: its
    events, then SEND_FRAME); GROW_RING (grow ``channel``'s ring); GROW_QUEUE. After the last
    two, calling again continues where it stopped.

    What each node sends (Port.packing, written by Python into its own rows of the buffers):
    the frame's events in ``bi`` (int32), their running taps in ``bc`` (G × (n + 1)) and running
    message counts in ``bm``, at the offsets of ``bo`` (see _sending). ``done``: inputs the
    output layer has finished (1), ``finished``/``started``: their times; ``size``: events per
    packet.
    """
    node, what = hs[CONT_NODE], hs[CONT_WHAT]
    hs[CONT_NODE] = -1
    while True:
        if node < 0:  # the next node to start, in the order they were created, then the queue
            if hs[NEXT_START] < sn.shape[0]:
                node = hs[NEXT_START]
                hs[NEXT_START] += 1
                if node == port:
                    sn[node, INPUT] = -1
                    what = NEXT_INPUT
                elif frames == 0:
                    sn[node, PHASE] = FINISHED
                    node = -1
                    continue
                else:
                    what = RECEIVE
            else:
                now, kind, x, gen = _next(hf, he, hk, qk, hs, now)
                if kind == K_WAKE:
                    node, what = x, RECEIVE_MORE
                elif kind == K_CREDIT:
                    node, what = ch[x, SENDER], SEND_MORE
                elif kind == K_TIMEOUT:  # the end of a lookahead: wake the core if it still waits
                    if sn[x, WAKE] == gen:
                        sn[x, WAKE] = -1
                        ni[x, WAITING] = 0
                        _push_now(qk, hs, K_WAKE, x, 0)
                    continue
                elif kind == K_NONE:
                    return END, -1, -1, now
                elif sn[port, PHASE] == INPUT_WAIT and sn[port, INPUT] - window == x:
                    node, what = port, INPUT_READY  # the input the port waited for finished
                else:
                    continue
        # --- one node runs until it waits or needs Python ---------------------------------
        if what == NEXT_INPUT or what == INPUT_READY:  # the port: its next input, once the
            b = sn[node, INPUT] + (1 if what == NEXT_INPUT else 0)  # window has room for it
            if b >= inputs:
                sn[node, PHASE] = FINISHED
                node = -1
                continue
            sn[node, INPUT] = b
            if b >= window:
                if what == NEXT_INPUT and done[b - window] == 0:
                    sn[node, PHASE] = INPUT_WAIT
                    node = -1
                    continue
                nf[node, CLOCK] = max(nf[node, CLOCK], now, finished[b - window])
            started[b] = nf[node, CLOCK]
            sn[node, PHASE] = RUNNING
            sn[node, STEP] = 0
            sn[node, FRAME] = b * timesteps
            return PORT_FRAME, node, -1, now
        if what == SEND_FRAME or what == SEND_MORE:
            if ni[node, OUT_HI] > ni[node, OUT_LO]:
                if _full(hf, hs, ev):
                    hs[CONT_NODE], hs[CONT_WHAT] = node, what
                    return GROW_QUEUE, node, -1, now
                idx, cum, messages = _sending(bi, bc, bm, bo, node)
                code, c, count, first = send_step(
                    nf, ni, ch, pq, pt, links, lf, li, lb, idx, cum, messages, route, ev, node,
                    sn[node, FRAME], sn[node, FRAME] % timesteps, size,
                    1 if what == SEND_FRAME else 0)
                if count:
                    _trigger(ev, sn, qk, hs)
                if code == GROW:
                    hs[CONT_NODE], hs[CONT_WHAT] = node, SEND_MORE
                    return GROW_RING, node, c, now
                if code != DONE:  # stalled: waits for the credit of channel c
                    node = -1
                    continue
            if node == port:  # the next timestep of its input, or the next input
                if sn[node, STEP] + 1 < timesteps:
                    sn[node, STEP] += 1
                    sn[node, FRAME] += 1
                    return PORT_FRAME, node, -1, now
                what = NEXT_INPUT
                continue
            sn[node, FRAME] += 1
            if sn[node, FRAME] == frames:
                sn[node, PHASE] = FINISHED
                node = -1
                continue
            what = RECEIVE
        # a core receives its frame (RECEIVE starts it, RECEIVE_MORE resumes after a wait)
        if _full(hf, hs, ev):
            hs[CONT_NODE], hs[CONT_WHAT] = node, what
            return GROW_QUEUE, node, -1, now
        code, until, count, first = receive_step(nf, ni, ch, pq, pt, links, ev, node,
                                                 sn[node, FRAME], now,
                                                 1 if what == RECEIVE_MORE else 0)
        if count:
            _trigger(ev, sn, qk, hs)
        if code == DONE:
            return STAGE, node, -1, now
        sn[node, GEN] += 1
        sn[node, WAKE] = sn[node, GEN]
        if until < INF:
            at = now + max(0.0, until - now)
            if at == now:
                _push_now(qk, hs, K_TIMEOUT, node, sn[node, GEN])
            else:
                _push(hf, he, hk, hs, at, K_TIMEOUT, node, sn[node, GEN])
        node = -1


@kernel(refcounts=False)
def input_done(qk, hs, done, b):
    """The output layer finished input ``b``: its SimPy event succeeds now (the port, if it
    waits for it, resumes when the event comes up)."""
    done[b] = 1
    _push_now(qk, hs, K_INPUT, b, 0)
