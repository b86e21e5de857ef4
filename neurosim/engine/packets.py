"""What travels between cores: each frame's events of a stream, cut into packets on the way.

A frame is one timestep of one input (frame = input · T + t). A sending core's events of a frame
are (flat (C, H, W) index in the stream, value) arrays in rising index order; the FIFO tables
carry only the pieces' bounds, arrival and work (neurosim/engine/fifo.py), and the events stay
here until every core that receives the stream has integrated the frame: each receiving core
accumulates a frame's events in one kernel call per projection and sending core.
"""

from __future__ import annotations


class Stream:
    """The events of one stream (a layer's output or the input), per frame and sending core."""

    __slots__ = ("senders", "consumers", "frames")

    def __init__(self, senders: int, consumers: int):
        self.senders = senders  # cores (or the input port) that send the stream
        self.consumers = consumers  # cores that receive it
        self.frames = {}  # frame → [events per sender, events in all, consumers done]

    def put(self, rank: int, frame: int, idx, val) -> None:
        """Sender ``rank``'s events of ``frame``."""
        entry = self.frames.get(frame)
        if entry is None:
            entry = self.frames[frame] = [[None] * self.senders, 0, 0]
        entry[0][rank] = (idx, val)
        entry[1] += len(idx)

    def get(self, frame: int) -> list:
        """Every sender's (idx, val) of ``frame`` (all have sent it by the receivers' barrier)."""
        return self.frames[frame][0]

    def events(self, frame: int) -> int:
        return self.frames[frame][1]

    def done(self, frame: int) -> None:
        """One receiving core has integrated ``frame``; the last one drops it."""
        entry = self.frames[frame]
        entry[2] += 1
        if entry[2] == self.consumers:
            del self.frames[frame]
