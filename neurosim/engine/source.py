"""The host's input port: feeds each input's pixels (or event counts) to the first cores."""

from __future__ import annotations

import time

import numpy as np

from .. import kernels
from ..kernels import noc
from .core import Port


class InputPort(Port):
    """Injects input b's frames (timesteps) as packets, in order, at most ``window`` inputs
    ahead of the last one the network has finished (the pipeline's inputs in flight). Input
    values are events like any other (a pixel 0 sends nothing); the host is not a core, so its
    packets are not counted as routing."""

    def __init__(self, env, run, chip, index: int):
        self.env = env
        self.run_state = run
        self.chip = chip
        self.index = index
        self.outputs = []
        chip.ni[index, noc.SENDING] = 1  # never receiving: no fire stage ahead of its sends

    def frame_events(self, x: np.ndarray):
        """(C, H, W) values → events (flat index, value), the order of the cores' gather."""
        hwc = np.ascontiguousarray(x.transpose(1, 2, 0) if x.ndim == 3 else x.reshape(1, 1, -1))
        idx, val, _ = kernels.gather(hwc)
        return idx, val

    def process(self):
        run = self.run_state
        clock = time.perf_counter
        start = clock()
        stream = run.streams.get(run.net.input_name)
        per_step = run.inputs.ndim == len(run.net.input_shape) + 2
        for b in range(len(run.inputs)):
            if b >= run.window:
                if not run.done[b - run.window].triggered:
                    self.inside += clock() - start
                    yield run.done[b - run.window]
                    start = clock()
                self.clock = max(self.clock, self.env.now, run.finished[b - run.window])
            run.started[b] = self.clock
            events = None if per_step else self.frame_events(run.inputs[b])
            for t in range(run.timesteps):
                idx, val = self.frame_events(run.inputs[b, t]) if per_step else events
                frame = b * run.timesteps + t
                if stream is not None:
                    stream.put(0, frame, idx, val)
                self.inside += clock() - start
                yield from self.send(frame, idx, val)
                start = clock()
        self.inside += clock() - start
