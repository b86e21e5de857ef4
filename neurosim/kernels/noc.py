"""The FIFOs and network interfaces of the chip: a core receiving pieces of packets, and a core
(or the host's input port) sending them, as steps over tables updated in place.

One call is what a core does between two SimPy events: ``receive_step`` serves the pieces of a
frame until the barrier is passed or the core must wait; ``send_step`` pushes a frame's packets
into the destination FIFO channels until all are sent or a channel is full. Neither touches
SimPy: each writes the SimPy events it wants triggered, in order, into ``ev`` (wake a core that
waits for a piece, give a stalled sender its credit), and the engine triggers them after the call
(neurosim/engine/fifo.py). The serving rules are those of docs/design.md §4; times are float64
cycles, exact for integer cycle costs.

Tables (row = node or channel; the field names below index the columns):

    nf  (nodes, NODE_F) float64   clock, busy and stall cycles (FIFO, link) of every core and
                                  the input port, and the link delay of the packet it sends
    ni  (nodes, NODE_I) int64     frame, flags, FIFO occupancy, ready list, cycle costs, the
                                  lists of its channels, the progress of its current send
    ch  (channels, CHAN_I) int64  receiving and sending node, depth, room reserved, latency,
                                  hops, the two rings, stall and barrier flags, ready-list links
    pq  (rows, PIECE_I) int64     ring rows: a piece (frame, events [start, stop), last, work,
                                  synapses) or, in a release ring, the events given back
    pt  (rows,) float64           ring rows: a piece's arrival, or a release's time
    links (n,) int64              each node's input and output channel lists (a core's
                                  inputs still pending for its frame first, in no set
                                  order; IN_POS: where a channel is), each channel's reach
                                  terms (REACH_FIELDS ints each) and route (the NoC links
                                  its packets cross, in order)
    lf  (links, LINK_F) float64   per NoC link (with link contention): its busy cycles and
                                  the waits it caused
    li  (links, LINK_I) int64     per NoC link: packets and payload bits it carried, and how
                                  many busy intervals it keeps in lb
    lb  (links, SLOTS, 2) float64 per NoC link: its busy intervals [start, end), in order
"""

from __future__ import annotations

import numpy as np

from .jit import kernel

INF = np.inf

# node columns: nf
CLOCK, BUSY, STALL, STALL_LINK, DELAY = range(5)
NODE_F = 5
# node columns: ni
(FRAME, SENDING, WAITING, OCCUPIED, MAX_OCCUPIED, READY_HEAD, READY_TAIL, FIRE_CYCLES,
 PER_PACKET, PER_SYNAPSE, PENDING, TIMED, IN_LO, IN_HI, OUT_LO, OUT_HI, ROUTED, S_K, S_OUT,
 S_START, S_CHARGED) = range(21)
NODE_I = 21
# channel columns: ch
(OWNER, SENDER, DEPTH, RESERVED, LATENCY, HOPS, Q_OFF, Q_CAP, Q_HEAD, Q_LEN, R_OFF, R_CAP,
 R_HEAD, R_LEN, NEED, STALLED, IN_READY, NEXT, PREV, PER_EVENT, TERM_LO, TERM_HI,
 ROUTE_LO, ROUTE_HI, LINK_W, HEAD_BITS, FRAME_BITS, EVENT_BITS, RL_SPAN, RL_BASE, SPLIT,
 R_SUM, IN_POS) = range(33)
CHAN_I = 33
# NoC link columns: lf, li
L_BUSY, L_WAIT = range(2)
LINK_F = 2
L_PACKETS, L_BITS, L_COUNT = range(3)
LINK_I = 3
SLOTS = 64  # busy intervals a link keeps (the earliest is forgotten when one more comes)
# ring rows: pq (a release uses P_EVENTS only)
P_FRAME, P_START, P_STOP, P_LAST, P_WORK, P_SYN = range(6)
P_EVENTS = 0
PIECE_I = 6
# reach terms in links: kind, tap map, multiplier, flat index range
REACH_TAPS, REACH_ALL, REACH_RANGE = 0, 1, 2
REACH_FIELDS = 5
# step results and SimPy events asked for
DONE, WAIT, STALLED_SEND, GROW = 0, 1, 2, 3
EV_WAKE, EV_CREDIT = 0, 1


@kernel(refcounts=False)
def _emit(ev, kind, x):
    """Ask for a SimPy event: ev[0] counts them, each is 2·x + kind (x a node or channel)."""
    n = ev[0]
    ev[1 + n] = 2 * x + kind
    ev[0] = n + 1


@kernel(refcounts=False)
def _room_known(ch, c, events):
    """Whether channel c has room for ``events`` once the releases known so far come back."""
    return ch[c, DEPTH] - ch[c, RESERVED] + ch[c, R_SUM] >= events


@kernel(refcounts=False)
def _room_time(ch, pq, pt, c, events):
    """(True, the earliest time channel c has room for ``events``) from the releases known so
    far (later ones can only come later; 0 if it has room now), or (False, 0) if that needs
    releases not yet scheduled."""
    free = ch[c, DEPTH] - ch[c, RESERVED]
    if free >= events:
        return True, 0.0
    if not _room_known(ch, c, events):
        return False, 0.0
    off, cap, head = ch[c, R_OFF], ch[c, R_CAP], ch[c, R_HEAD]
    for i in range(ch[c, R_LEN]):
        k = off + (head + i) % cap
        free += pq[k, P_EVENTS]
        if free >= events:
            return True, pt[k]
    return False, 0.0


@kernel(refcounts=False)
def _release(ch, pq, pt, ev, c, time, events):
    """The receiver is done with ``events`` of channel c at ``time``: their room comes back
    then; a sender stalled on c gets its credit once the room it needs is known."""
    if events == 0:
        return
    k = ch[c, R_OFF] + (ch[c, R_HEAD] + ch[c, R_LEN]) % ch[c, R_CAP]
    pt[k] = time
    pq[k, P_EVENTS] = events
    ch[c, R_LEN] += 1
    ch[c, R_SUM] += events
    if ch[c, STALLED] != 0 and _room_known(ch, c, ch[c, NEED]):
        ch[c, STALLED] = 0
        _emit(ev, EV_CREDIT, c)


@kernel(refcounts=False)
def _pop_releases(ni, ch, pq, pt, c, time):
    """Room released by ``time`` is free again for the sender (and leaves the FIFO's occupancy)."""
    owner = ch[c, OWNER]
    while ch[c, R_LEN] > 0:
        k = ch[c, R_OFF] + ch[c, R_HEAD]
        if pt[k] > time:
            break
        n = pq[k, P_EVENTS]
        ch[c, R_HEAD] = (ch[c, R_HEAD] + 1) % ch[c, R_CAP]
        ch[c, R_LEN] -= 1
        ch[c, R_SUM] -= n
        ch[c, RESERVED] -= n
        ni[owner, OCCUPIED] -= n


@kernel(refcounts=False)
def _unready(ni, ch, r, c):
    prev, nxt = ch[c, PREV], ch[c, NEXT]
    if prev >= 0:
        ch[prev, NEXT] = nxt
    else:
        ni[r, READY_HEAD] = nxt
    if nxt >= 0:
        ch[nxt, PREV] = prev
    else:
        ni[r, READY_TAIL] = prev
    ch[c, IN_READY] = 0


@kernel(refcounts=False)
def _reach(links, ch, idx, cum, c, start, stop):
    """Synapses that events [start, stop) of the frame visit at channel c's core: per reach term,
    taps × the core's channels (conv), the core's outputs per event (linear), or the events
    inside the core's channel range (identity; events are in rising index order)."""
    syn = 0
    for i in range(ch[c, TERM_LO], ch[c, TERM_HI], REACH_FIELDS):
        kind, mult = links[i], links[i + 2]
        if kind == REACH_TAPS:
            g = links[i + 1]
            syn += mult * (cum[g, stop] - cum[g, start])
        elif kind == REACH_ALL:
            syn += mult * (stop - start)
        else:
            a = np.searchsorted(idx, links[i + 3])
            b = np.searchsorted(idx, links[i + 4])
            lo = max(a, start)
            hi = min(b, stop)
            if hi > lo:
                syn += hi - lo
    return syn


@kernel(refcounts=False)
def _push(ni, ch, pq, pt, links, idx, cum, ev, c, frame, start, stop, last, time, delay):
    """Put a piece into channel c (room checked) at ``time``: it arrives ``latency`` (plus the
    ``delay`` its packet queued on busy links) later; the
    receiver notes the room taken and its queued work, and wakes if it waits for this frame."""
    events = stop - start
    owner = ch[c, OWNER]
    k = ch[c, Q_OFF] + (ch[c, Q_HEAD] + ch[c, Q_LEN]) % ch[c, Q_CAP]
    syn = _reach(links, ch, idx, cum, c, start, stop)
    pt[k] = time + ch[c, LATENCY] + delay
    pq[k, P_FRAME] = frame
    pq[k, P_START] = start
    pq[k, P_STOP] = stop
    pq[k, P_LAST] = last
    pq[k, P_WORK] = ch[c, PER_EVENT] * events + ni[owner, PER_SYNAPSE] * syn
    pq[k, P_SYN] = syn
    ch[c, Q_LEN] += 1
    ch[c, RESERVED] += events
    if ch[c, IN_READY] == 0:
        ch[c, IN_READY] = 1
        tail = ni[owner, READY_TAIL]
        ch[c, PREV] = tail
        ch[c, NEXT] = -1
        if tail >= 0:
            ch[tail, NEXT] = c
        else:
            ni[owner, READY_HEAD] = c
        ni[owner, READY_TAIL] = c
    ni[owner, OCCUPIED] += events
    ni[owner, MAX_OCCUPIED] = max(ni[owner, MAX_OCCUPIED], ni[owner, OCCUPIED])
    if ni[owner, WAITING] != 0 and frame == ni[owner, FRAME]:
        ni[owner, WAITING] = 0
        _emit(ev, EV_WAKE, owner)


@kernel(refcounts=False)
def _earliest_send(nf, ni, s, now):
    """No piece node s pushes from now on leaves before this: its clock (never behind SimPy's
    while it runs), plus, for a core still receiving its frame, the fire stage and one packet."""
    clock = nf[s, CLOCK]
    start = max(clock, now)
    if ni[s, SENDING] != 0:
        return start
    return start + ni[s, FIRE_CYCLES] + ni[s, PER_PACKET]


@kernel(refcounts=False)
def _swap_in(ch, links, a, b):
    """Swap places a and b of a core's list of input channels (their IN_POS follow)."""
    ca, cb = links[a], links[b]
    links[a], links[b] = cb, ca
    ch[ca, IN_POS], ch[cb, IN_POS] = b, a


@kernel(refcounts=False)
def _serve(nf, ni, ch, pq, pt, links, ev, r, c, frame, until):
    """Channel c's queued pieces of ``frame`` that arrive by ``until`` (at least one), in order:
    each is served no earlier than it arrives, and its room comes back when it is done."""
    clock, busy = nf[r, CLOCK], nf[r, BUSY]
    off, cap = ch[c, Q_OFF], ch[c, Q_CAP]
    last = 0
    first = True
    while ch[c, Q_LEN] > 0:
        k = off + ch[c, Q_HEAD]
        if not first and (pq[k, P_FRAME] != frame or pt[k] > until):
            break
        first = False
        arrival = pt[k]
        work = pq[k, P_WORK]
        clock = max(clock, arrival) + work
        busy += work
        ni[r, TIMED] += pq[k, P_SYN]
        last = pq[k, P_LAST]
        events = pq[k, P_STOP] - pq[k, P_START]
        ch[c, Q_HEAD] = (ch[c, Q_HEAD] + 1) % cap
        ch[c, Q_LEN] -= 1
        _release(ch, pq, pt, ev, c, clock, events)
    if ch[c, Q_LEN] == 0:
        _unready(ni, ch, r, c)
    nf[r, CLOCK] = clock
    nf[r, BUSY] = busy
    if last != 0:  # c has delivered its frame: out of the pending part at the list's front
        ni[r, PENDING] -= 1
        _swap_in(ch, links, ch[c, IN_POS], ni[r, IN_LO] + ni[r, PENDING])


@kernel(refcounts=False)
def receive_step(nf, ni, ch, pq, pt, links, ev, r, frame, now, resume):
    """Core r serves pieces of ``frame`` until every source has delivered its last one (DONE) or
    it must wait (WAIT, until when at most; inf: for a push); then how many SimPy events it asks
    for in ``ev`` and the first of them. ``resume``: 0 starts the frame,
    1 continues after a wait (the clock catches up with SimPy's ``now``).

    First whatever has arrived by the core's clock, channel by channel in the order they got
    work (round robin); when nothing has, the piece that arrives next, once no source without
    a queued piece can still send one that arrives before it (conservative lookahead)."""
    ev[0] = 0
    if resume == 0:
        ni[r, FRAME] = frame
        ni[r, SENDING] = 0
        ni[r, TIMED] = 0
        ni[r, PENDING] = ni[r, IN_HI] - ni[r, IN_LO]
    elif now > nf[r, CLOCK]:
        nf[r, CLOCK] = now
    while ni[r, PENDING] > 0:
        served = False
        c = ni[r, READY_HEAD]
        while c >= 0:
            nxt = ch[c, NEXT]
            k = ch[c, Q_OFF] + ch[c, Q_HEAD]
            if pq[k, P_FRAME] == frame and pt[k] <= nf[r, CLOCK]:
                _serve(nf, ni, ch, pq, pt, links, ev, r, c, frame, nf[r, CLOCK])
                served = True
            c = nxt
        if served:
            continue
        first, first_at, second_at = -1, INF, INF
        c = ni[r, READY_HEAD]
        while c >= 0:
            k = ch[c, Q_OFF] + ch[c, Q_HEAD]
            if pq[k, P_FRAME] == frame:
                if pt[k] < first_at:
                    first, first_at, second_at = c, pt[k], first_at
                elif pt[k] < second_at:
                    second_at = pt[k]
            c = ch[c, NEXT]
        if first < 0:
            ni[r, WAITING] = 1
            return WAIT, INF, ev[0], ev[1]
        bound = second_at
        lo = ni[r, IN_LO]
        for i in range(lo, lo + ni[r, PENDING]):  # the pending channels (any order: the
            c = links[i]  # answer is the same), the last one that made the core wait first
            if ch[c, Q_LEN] == 0:
                sent = _earliest_send(nf, ni, ch[c, SENDER], now) + ch[c, LATENCY]
                if sent < first_at:
                    _swap_in(ch, links, i, lo)
                    ni[r, WAITING] = 1
                    return WAIT, first_at, ev[0], ev[1]
                bound = min(bound, sent)
        _serve(nf, ni, ch, pq, pt, links, ev, r, first, frame, bound)
    return DONE, 0.0, ev[0], ev[1]


@kernel(refcounts=False)
def _packet_bits(ch, idx, messages, c, a, e, k):
    """Payload bits of packet k (events [a, e) of the frame) on channel c, coded as noc.py
    counts them: the header, the frame's bitmap on its first packet, and per event its bits
    (run-length: per word, a run of silent positions longer than RL_SPAN costing more; split
    events: per message, ``messages`` their running count)."""
    bits = ch[c, HEAD_BITS] + (ch[c, FRAME_BITS] if k == 0 else 0)
    if ch[c, SPLIT] != 0:
        return bits + ch[c, EVENT_BITS] * (messages[e] - messages[a])
    span = ch[c, RL_SPAN]
    if span == 0:
        return bits + ch[c, EVENT_BITS] * (e - a)
    words = 0
    for i in range(a, e):
        previous = idx[i - 1] if i > 0 else ch[c, RL_BASE] - 1
        words += 1 + (idx[i] - previous - 1) // span
    return bits + ch[c, EVENT_BITS] * words


@kernel(refcounts=False)
def _occupy(lf, li, lb, link, ready, cycles):
    """Link ``link`` carries a packet whose head reaches it at ``ready`` for ``cycles``: in the
    first gap of its busy intervals that starts no earlier and is long enough (the packets that
    reached it first keep it, whatever order the senders' steps ran in); returns when it
    entered. Touching intervals merge; past SLOTS the earliest one is forgotten."""
    n = li[link, L_COUNT]
    start = ready
    at = n  # where the new interval goes, in order
    for j in range(n):
        if lb[link, j, 1] <= start:
            continue
        if lb[link, j, 0] >= start + cycles:
            at = j
            break
        start = lb[link, j, 1]
    end = start + cycles
    lf[link, L_BUSY] += cycles
    lf[link, L_WAIT] += start - ready
    li[link, L_PACKETS] += 1
    if at > 0 and lb[link, at - 1, 1] == start:  # extends the interval before it
        at -= 1
        lb[link, at, 1] = end
    elif n == SLOTS and at == 0:  # full, and it is the earliest: forgotten at once
        return start
    else:
        if n == SLOTS:  # full: forget the earliest
            for j in range(n - 1):
                lb[link, j, 0], lb[link, j, 1] = lb[link, j + 1, 0], lb[link, j + 1, 1]
            n -= 1
            at -= 1
        for j in range(n, at, -1):
            lb[link, j, 0], lb[link, j, 1] = lb[link, j - 1, 0], lb[link, j - 1, 1]
        lb[link, at, 0], lb[link, at, 1] = start, end
        n += 1
    if at + 1 < n and lb[link, at + 1, 0] == end:  # and meets the one after it
        lb[link, at, 1] = lb[link, at + 1, 1]
        for j in range(at + 1, n - 1):
            lb[link, j, 0], lb[link, j, 1] = lb[link, j + 1, 0], lb[link, j + 1, 1]
        n -= 1
    li[link, L_COUNT] = n
    return start


@kernel(refcounts=False)
def _traverse(ch, lf, li, lb, links, c, time, bits):
    """A packet of ``bits`` leaving at ``time`` into channel c takes the links of its route in
    order, each busy for ⌈bits / link width⌉ cycles, waiting where one is busy, its head moving
    on ``hop_cycles`` after it entered a link; returns when it entered its first link and when
    its head arrives (time + latency where no link was busy)."""
    cycles = -(-bits // ch[c, LINK_W])
    hop = ch[c, LATENCY] // ch[c, HOPS]
    ready = time
    first = time
    for i in range(ch[c, ROUTE_LO], ch[c, ROUTE_HI]):
        link = links[i]
        start = _occupy(lf, li, lb, link, ready, cycles)
        li[link, L_BITS] += bits
        if i == ch[c, ROUTE_LO]:
            first = start
        ready = start + hop
    return first, ready


@kernel(refcounts=False)
def send_step(nf, ni, ch, pq, pt, links, lf, li, lb, idx, cum, messages, route, ev, s, frame,
              t, size, start):
    """Node s cuts ``frame``'s events ``idx`` into packets of ``size`` and pushes each, in order,
    into every output channel (pieces no larger than the channel), paying ``per_packet``
    cycles per packet and destination, then says what it asks of SimPy (as receive_step): DONE
    when all are sent; STALLED_SEND, c when channel c
    has no room and the time it will is not known yet (the sender waits for its credit); GROW, c
    when c's ring is full. ``start``: 1 begins the frame, 0 resumes where the last call stopped.
    ``cum``: running tap sums of the events (kernels.prefix_taps) for the reach terms;
    ``messages``: running message counts of the events where they are split (else unused);
    ``route[s, t]`` counts packets, packet hops and event hops. With link contention (a
    channel with a route), a packet's first piece takes the links (_traverse): the sender
    waits for its first link (STALL_LINK) and every piece of the packet arrives as late as
    the queueing made its head (DELAY)."""
    ev[0] = 0
    n = idx.shape[0]
    if start != 0:
        ni[s, S_K], ni[s, S_OUT], ni[s, S_START], ni[s, S_CHARGED] = 0, 0, 0, 0
    packets = max(1, -(-n // size))
    lo = ni[s, OUT_LO]
    outs = ni[s, OUT_HI] - lo
    per_packet = ni[s, PER_PACKET]
    k, o, first, charged = ni[s, S_K], ni[s, S_OUT], ni[s, S_START], ni[s, S_CHARGED]
    clock = nf[s, CLOCK]
    while k < packets:
        a = k * size
        e = min(n, a + size)
        while o < outs:
            c = links[lo + o]
            if charged == 0:
                clock += per_packet
                nf[s, BUSY] += per_packet
                if ni[s, ROUTED] != 0:
                    route[s, t, 0] += 1
                    route[s, t, 1] += ch[c, HOPS]
                    route[s, t, 2] += (e - a) * ch[c, HOPS]
                charged = 1
                first = a
            while True:
                stop = min(e, first + ch[c, DEPTH])
                events = stop - first
                _pop_releases(ni, ch, pq, pt, c, clock)
                code = DONE
                if ch[c, DEPTH] - ch[c, RESERVED] < events:
                    found, when = _room_time(ch, pq, pt, c, events)
                    if not found:
                        ch[c, STALLED] = 1
                        ch[c, NEED] = events
                        code = STALLED_SEND
                    else:
                        if when > clock:
                            nf[s, STALL] += when - clock
                            clock = when
                        _pop_releases(ni, ch, pq, pt, c, clock)
                if code == DONE and ch[c, Q_LEN] == ch[c, Q_CAP]:
                    code = GROW
                if code != DONE:
                    ni[s, S_K], ni[s, S_OUT], ni[s, S_START], ni[s, S_CHARGED] = k, o, first, 1
                    nf[s, CLOCK] = clock
                    return code, c, ev[0], ev[1]
                if first == a:
                    nf[s, DELAY] = 0.0
                    if ch[c, ROUTE_HI] > ch[c, ROUTE_LO]:
                        bits = _packet_bits(ch, idx, messages, c, a, e, k)
                        entered, arrival = _traverse(ch, lf, li, lb, links, c, clock, bits)
                        nf[s, STALL_LINK] += entered - clock
                        clock = entered
                        nf[s, DELAY] = arrival - clock - ch[c, LATENCY]
                _push(ni, ch, pq, pt, links, idx, cum, ev, c, frame, first, stop,
                      1 if (k == packets - 1 and stop == e) else 0, clock, nf[s, DELAY])
                first = stop
                if first >= e:
                    break
            o += 1
            charged = 0
        k += 1
        o = 0
    ni[s, S_K], ni[s, S_OUT], ni[s, S_START], ni[s, S_CHARGED] = k, 0, 0, 0
    nf[s, CLOCK] = clock
    return DONE, -1, ev[0], ev[1]
