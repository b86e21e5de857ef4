"""What travels between cores: pieces of spike packets."""

from __future__ import annotations


class Piece:
    """Events [start, stop) of a sending core's event arrays for one frame, in one FIFO channel.

    A frame is one timestep of one input (frame = input · T + t). A packet holds up to
    ``packet_events`` events; it travels as one piece, or as several when the receiving FIFO
    channel is smaller than the packet. ``last`` marks the sender's final piece of the frame:
    the end-of-timestep mark the receiver's barrier waits for (sent even when the frame has
    no events). ``arrival`` is set when it is sent. ``idx`` (flat (C, H, W) source positions)
    and ``val`` (levels) are shared, read-only, by every piece of the frame.
    """

    __slots__ = ("frame", "idx", "val", "start", "stop", "last", "arrival")

    def __init__(self, frame: int, idx, val, start: int, stop: int, last: bool):
        self.frame = frame
        self.idx = idx
        self.val = val
        self.start = start
        self.stop = stop
        self.last = last
        self.arrival = 0.0  # cycle at which it reaches the receiving FIFO

    @property
    def events(self) -> int:
        return self.stop - self.start
