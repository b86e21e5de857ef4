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
        self._events = None  # the current still image's events
        chip.ni[index, noc.SENDING] = 1  # never receiving: no fire stage ahead of its sends

    def frame_events(self, x: np.ndarray):
        """(C, H, W) values → events (flat index, value), the order of the cores' gather."""
        hwc = np.ascontiguousarray(x.transpose(1, 2, 0) if x.ndim == 3 else x.reshape(1, 1, -1))
        idx, val, _ = kernels.gather(hwc)
        return idx, val

    def frame(self, b: int, t: int):
        """Input b's events of timestep t, kept for the cores that receive them. Still images
        send the same events every timestep (computed once per input)."""
        run = self.run_state
        if run.inputs.ndim == len(run.net.input_shape) + 2:
            idx, val = self.frame_events(run.inputs[b, t])
        else:
            if t == 0:
                self._events = self.frame_events(run.inputs[b])
            idx, val = self._events
        stream = run.streams.get(run.net.input_name)
        if stream is not None:
            stream.put(0, b * run.timesteps + t, idx, val)
        return idx, val

    def process(self):
        run = self.run_state
        clock = time.perf_counter
        start = clock()
        for b in range(len(run.inputs)):
            if b >= run.window:
                if not run.completed[b - run.window]:
                    self.inside += clock() - start
                    yield run.done[b - run.window]
                    start = clock()
                self.clock = max(self.clock, self.env.now, run.finished[b - run.window])
            run.started[b] = self.clock
            for t in range(run.timesteps):
                idx, val = self.frame(b, t)
                self.inside += clock() - start
                yield from self.send(b * run.timesteps + t, idx, val)
                start = clock()
        self.inside += clock() - start
