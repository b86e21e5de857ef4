"""A core's input FIFO: one virtual channel per source core, with credit-based flow control.

The sender reserves room for a piece when it leaves, so a full channel stalls the sender
(backpressure) and nothing is ever dropped; the room comes back when the receiving core has
processed the piece. Splitting the FIFO by source keeps the engine free of deadlock where paths
rejoin: a stream that runs ahead (timestep t + 1) fills only its own channel and cannot block
the stream the receiver still waits for (timestep t).

Times are in cycles. Sender and receiver each keep a local clock that may run ahead of SimPy's
(neurosim/engine/core.py); the channel records *when* room comes back (``releases``, in the
order the receiver finishes pieces, so in rising time) and when a piece arrives (``Piece.arrival``),
so both sides can act on their own clock and SimPy only sees an event when one side must wait
for the other.
"""

from __future__ import annotations

from collections import deque


class Channel:
    """The part of ``owner``'s input FIFO that holds events from one source core."""

    __slots__ = ("env", "owner", "sender", "source", "depth", "reserved", "queue", "releases",
                 "credit", "need", "hops", "latency", "projections")

    def __init__(self, env, owner, sender, source: str, depth: int, hops: int, latency: int):
        self.env = env
        self.owner = owner  # the receiving core
        self.sender = sender  # the sending core or input port
        self.source = source  # the event stream (layer name or the input)
        self.depth = depth  # events
        self.reserved = 0  # room taken: in flight, queued or being processed
        self.queue: deque = deque()  # pieces sent, in order (arrival time on each)
        self.releases: deque = deque()  # (time, events): room the receiver gives back
        self.credit = None  # event a stalled sender waits on
        self.need = 0  # room that sender needs
        self.hops = hops
        self.latency = latency  # cycles from the sender's network interface to this FIFO
        self.projections = ()  # indices of the receiver's projections fed by this stream

    def room_time(self, events: int):
        """The earliest time the channel has room for ``events``, from the releases known so far
        (later ones can only come later), or None if that needs releases not yet scheduled."""
        free = self.depth - self.reserved
        if free >= events:
            return 0
        for time, n in self.releases:
            free += n
            if free >= events:
                return time
        return None

    def try_push(self, piece, time: float) -> bool:
        """Send ``piece`` at ``time`` if the channel has room for it then (it reaches the FIFO
        ``latency`` cycles later); False if the sender must wait for room."""
        releases = self.releases
        while releases and releases[0][0] <= time:
            n = releases.popleft()[1]
            self.reserved -= n
            self.owner.occupied -= n
        events = piece.stop - piece.start
        if self.depth - self.reserved < events:
            return False
        piece.arrival = time + self.latency
        self.reserved += events
        self.queue.append(piece)
        self.owner.offered(self, piece)
        return True

    def release(self, time: float, events: int) -> None:
        """The receiver is done with ``events`` at ``time``: their room comes back then."""
        if not events:
            return
        self.releases.append((time, events))
        if self.credit is not None and self.room_time(self.need) is not None:
            self.credit.succeed()
            self.credit = None
