"""A core's input FIFO: one virtual channel per source core, with credit-based flow control.

The sender reserves room for a piece before it leaves, so a full channel stalls the sender
(backpressure) and nothing is ever dropped; the room comes back when the receiving core has
processed the piece. Splitting the FIFO by source keeps the engine free of deadlock where paths
rejoin: a stream that runs ahead (timestep t + 1) fills only its own channel and cannot block
the stream the receiver still waits for (timestep t).
"""

from __future__ import annotations

from collections import deque

from simpy.events import Timeout


class Channel:
    """The part of ``owner``'s input FIFO that holds events from one source core."""

    __slots__ = ("env", "owner", "source", "depth", "reserved", "queue", "credit", "hops",
                 "latency", "projections")

    def __init__(self, env, owner, source: str, depth: int, hops: int, latency: int):
        self.env = env
        self.owner = owner  # the receiving core
        self.source = source  # the event stream (layer name or the input)
        self.depth = depth  # events
        self.reserved = 0  # in flight + queued + being processed
        self.queue: deque = deque()
        self.credit = None  # event a stalled sender waits on
        self.hops = hops
        self.latency = latency  # cycles from the sender's network interface to this FIFO
        self.projections: list = []  # the receiver's projections fed by this stream

    @property
    def free(self) -> int:
        return self.depth - self.reserved

    def send(self, piece, delay: float) -> None:
        """Reserve room for ``piece`` (the caller checked ``free``) and let the NoC deliver it
        after ``delay`` cycles."""
        self.reserved += piece.events
        Timeout(self.env, delay, (self, piece)).callbacks.append(_deliver)

    def release_at(self, events: int, delay: float) -> None:
        """Return ``events`` of room after ``delay`` cycles (when the receiver is done)."""
        if events:
            Timeout(self.env, delay, (self, events)).callbacks.append(_release)


def _deliver(event) -> None:
    channel, piece = event.value
    channel.queue.append(piece)
    channel.owner.arrived(piece)


def _release(event) -> None:
    channel, events = event.value
    channel.reserved -= events
    channel.owner.occupied -= events
    if channel.credit is not None and not channel.credit.triggered:
        channel.credit.succeed()
