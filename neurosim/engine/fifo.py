"""The chip's input FIFOs and network interfaces, as the tables kernels.noc updates in place.

Each core's input FIFO is split into one virtual channel per source core, with credit-based flow
control: the sender reserves room for a piece when it leaves, so a full channel stalls the sender
(backpressure) and nothing is ever dropped; the room comes back when the receiving core has
processed the piece. Splitting the FIFO by source keeps the engine free of deadlock where paths
rejoin: a stream that runs ahead (timestep t + 1) fills only its own channel and cannot block the
stream the receiver still waits for (timestep t).

A channel keeps two rings: the pieces sent and not yet served (with their arrival times), and the
room given back (time, events) that the sender has not taken yet. Sender and receiver each keep a
local clock that may run ahead of SimPy's, so both act on their own clock and SimPy only sees an
event when one side must wait for the other: ``Chip.trigger`` fires the SimPy events a kernel
step asked for, in the order it asked.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..kernels import noc

SENTINEL_ROWS = 1  # row 0 of the rings is never used, so an empty table still has a row
RING_SLACK = 4  # piece-ring rows beyond a FIFO-full of whole pieces (grown when they run out)


class Chip:
    """Tables of every node (the cores, then the input port) and FIFO channel."""

    def __init__(self, nodes: int, timing, timesteps: int):
        self.nf = np.zeros((nodes, noc.NODE_F), np.float64)
        self.ni = np.zeros((nodes, noc.NODE_I), np.int64)
        self.ni[:, noc.READY_HEAD] = self.ni[:, noc.READY_TAIL] = -1
        self.ni[:, noc.PER_PACKET] = timing.cycles_per_packet
        self.ni[:, noc.PER_SYNAPSE] = timing.cycles_per_synapse
        self.per_event = timing.cycles_per_event
        self.route = np.zeros((nodes, timesteps, 3), np.int64)  # packets, packet/event hops
        self.nodes = []  # the Port objects, by node index
        self.channels = []  # (owner, sender, depth, hops, latency, terms) while wiring
        self.routes = []  # per channel: (its NoC links, in order; link width, bit fields)
        self.link_keys = []  # the NoC links, ((x, y) from, (x, y) to), sorted (build)
        self.credits = {}  # channel → the SimPy event its stalled sender waits on
        self.ev = np.zeros(1, np.int64)

    def channel(self, owner, sender, depth: int, hops: int, latency: int, terms,
                route=(), width: int = 0, bits=(0, 0, 0, 0, 0, 0)) -> int:
        """A FIFO channel from ``sender`` to ``owner``; ``terms``: the reach terms of the
        projections it feeds, (kind, tap map, multiplier, lo, hi) each. With link contention:
        ``route``, the NoC links its packets cross (keys), ``width`` the link width in bits,
        ``bits`` how its packets' payload is counted (header, bitmap per frame, bits per
        message, run-length span and base, split: noc.packet_fields)."""
        self.channels.append((owner.index, sender.index, depth, hops, latency, tuple(terms)))
        self.routes.append((tuple(route), width, tuple(bits)))
        return len(self.channels) - 1

    def build(self, packet_events: int) -> None:
        """Lay the channels out: rings sized for the pieces a channel can hold (grown when a
        ring fills, see grow), node channel lists and reach terms in ``links``."""
        n = len(self.channels)
        ch = np.zeros((max(n, 1), noc.CHAN_I), np.int64)
        links, row = [], SENTINEL_ROWS
        ins = [[] for _ in self.nodes]
        outs = [[] for _ in self.nodes]
        for c, (owner, sender, depth, hops, latency, terms) in enumerate(self.channels):
            ins[owner].append(c)
            outs[sender].append(c)
            piece = max(1, min(packet_events, depth))
            q_cap = max(1, depth // piece + RING_SLACK)
            ch[c, [noc.OWNER, noc.SENDER, noc.DEPTH, noc.HOPS, noc.LATENCY]] = \
                owner, sender, depth, hops, latency
            ch[c, [noc.Q_OFF, noc.Q_CAP, noc.R_OFF, noc.R_CAP]] = \
                row, q_cap, row + q_cap, depth + 1  # a release holds ≥ 1 event: ≤ depth of them
            row += q_cap + depth + 1
            ch[c, noc.PER_EVENT] = self.per_event * len(terms)
            ch[c, noc.TERM_LO] = len(links)
            for term in terms:
                links.extend(term)
            ch[c, noc.TERM_HI] = len(links)
        self.link_keys = sorted({key for route, _, _ in self.routes for key in route})
        ids = {key: i for i, key in enumerate(self.link_keys)}
        for c, (route, width, bits) in enumerate(self.routes):
            ch[c, noc.ROUTE_LO] = len(links)
            links.extend(ids[key] for key in route)
            ch[c, noc.ROUTE_HI] = len(links)
            ch[c, [noc.LINK_W, noc.HEAD_BITS, noc.FRAME_BITS, noc.EVENT_BITS, noc.RL_SPAN,
                   noc.RL_BASE, noc.SPLIT]] = (width,) + bits
        nl = max(1, len(self.link_keys))
        self.lf = np.zeros((nl, noc.LINK_F), np.float64)
        self.li = np.zeros((nl, noc.LINK_I), np.int64)
        self.lb = np.zeros((nl, noc.SLOTS, 2), np.float64)
        ch[:, [noc.NEXT, noc.PREV]] = -1
        for i, (mine_in, mine_out) in enumerate(zip(ins, outs)):
            self.ni[i, noc.IN_LO] = len(links)
            ch[mine_in, noc.IN_POS] = len(links) + np.arange(len(mine_in))
            links.extend(mine_in)
            self.ni[i, noc.IN_HI] = self.ni[i, noc.OUT_LO] = len(links)
            links.extend(mine_out)
            self.ni[i, noc.OUT_HI] = len(links)
        self.ch = ch
        self.links = np.array(links or [0], np.int64)
        self.pq = np.zeros((row, noc.PIECE_I), np.int64)
        self.pt = np.zeros(row, np.float64)
        self.ev = np.zeros(len(self.nodes) + n + 2, np.int64)

    def grow(self, c: int) -> None:
        """Double channel c's piece ring: its queue moves, in order, to new rows at the end."""
        ch = self.ch
        off, cap, head, size = (int(x) for x in ch[c, [noc.Q_OFF, noc.Q_CAP, noc.Q_HEAD,
                                                        noc.Q_LEN]])
        order = off + (head + np.arange(size)) % cap
        new = len(self.pt)
        self.pq = np.concatenate([self.pq, np.zeros((2 * cap, noc.PIECE_I), np.int64)])
        self.pt = np.concatenate([self.pt, np.zeros(2 * cap, np.float64)])
        self.pq[new:new + size] = self.pq[order]
        self.pt[new:new + size] = self.pt[order]
        ch[c, [noc.Q_OFF, noc.Q_CAP, noc.Q_HEAD]] = new, 2 * cap, 0

    def trigger(self, count: int, first: int) -> None:
        """Fire the ``count`` SimPy events the last kernel step asked for (``first``, then the
        rest from ``ev``), in order: wake a waiting core, give a stalled sender its credit."""
        for e in (first,) if count == 1 else self.ev[1:1 + count].tolist():
            if e & 1 == noc.EV_CREDIT:
                self.credits.pop(e >> 1).succeed()
            else:
                core = self.nodes[e >> 1]
                wake, core.wake = core.wake, None
                wake.succeed()


def reach_terms(layer, projections, width: int, c0: int, geometries: dict) -> list[tuple]:
    """The reach terms of a channel into a core holding ``width`` channels of ``layer`` from c0,
    for the projections (indices) it feeds: conv taps × width, width per event (linear), the
    events inside the core's channels (identity). ``geometries``: the sender's tap geometries
    (tap_geometry → index of its tap map), extended with the new ones."""
    terms = []
    for j in projections:
        p = layer.projections[j]
        if p.kind == "conv":
            g = geometries.setdefault(tap_geometry(p, layer), len(geometries))
            terms.append((noc.REACH_TAPS, g, width, 0, 0))
        elif p.kind == "linear":
            terms.append((noc.REACH_ALL, 0, width, 0, 0))
        else:
            plane = int(np.prod(layer.shape[1:]))
            terms.append((noc.REACH_RANGE, 0, 1, c0 * plane, (c0 + width) * plane))
    return terms


def tap_geometry(p, layer) -> tuple:
    """What a conv projection's taps depend on: source (H, W), kernel, stride, padding, output."""
    return (tuple(p.in_shape[1:]), tuple(p.weight.shape[2:]), tuple(p.stride),
            tuple(p.padding), tuple(layer.shape[1:]))


def tap_maps(geometries: list[tuple]) -> np.ndarray:
    """(G, H·W) taps of every source position, one row per geometry (kernels.conv_taps)."""
    if not geometries:
        return np.zeros((0, 1), np.int64)
    return np.stack([kernels.conv_taps(hw, k, s, p, out) for hw, k, s, p, out in geometries])
