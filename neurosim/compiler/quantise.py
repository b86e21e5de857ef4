"""Fixed-point quantisation of a layer draft: scale, weights, shifts, bias and threshold.

Each layer gets one scale s (potential units per float unit). For a spiking layer s makes the
threshold θ·s a power of two that leaves ``Widths.headroom``·N·θ of room in the potential word
(and lowers it while the largest weight would not fit its word); a readout's s keeps every
logit inside the potential word over T timesteps; a merge-mode adder counts levels. Weights
are rounded to nearest and clipped to the weight word (clipping counted); a projection whose
weights are small (the first layer's, whose input unit is 1/255) gets a right shift so they keep
the full word width: it accumulates Σ w·z wide and adds ⌊acc / 2^shift⌋.
"""

from __future__ import annotations

import math

import numpy as np

from ..hardware.profile import Widths

MAX_SHIFT = 16


class Quantiser:
    """Chooses each layer's potential scale and rounds weights, biases and thresholds, draft by
    draft in layer order (``d``: a layer draft of neurosim.compiler.lower); ``max_level`` holds
    the largest event value of every stream quantised so far (the readout's bound needs it)."""

    def __init__(self, widths: Widths, timesteps: int, input_name: str, input_max: int):
        self.w = widths
        self.timesteps = timesteps
        self.report: dict[str, dict] = {}
        self.max_level = {input_name: input_max}

    @staticmethod
    def _limit(bits: int) -> int:
        return 2 ** (bits - 1) - 1

    def scale_for(self, d) -> float:
        wmax = max(float(np.max(np.abs(t.weight))) for t in d.current.terms)
        wlim = self._limit(self.w.weights)
        vlim = self._limit(self.w.potentials)
        by_weights = wlim / wmax if wmax > 0 else math.inf
        if d.mode == "sum":
            return 1.0 / d.current.terms[0].member.factor
        if d.mode == "spiking":
            target = 2 ** math.floor(math.log2(vlim / (self.w.headroom * d.spec.levels)))
            while target > 1 and target / d.spec.theta > by_weights:
                target //= 2
            return max(target, 1) / d.spec.theta
        # readout: no potential can overflow over T timesteps
        bound = np.zeros(d.current.shape[0])
        for t in d.current.terms:
            level = self.max_level[t.member.source]
            a = np.abs(t.weight)
            per_out = a.reshape(a.shape[0], -1).sum(axis=1) if t.kind != "identity" else a
            bound = bound + per_out * level
        if d.current.bias is not None:
            bound = bound + np.abs(d.current.bias)
        worst = float(bound.max()) * self.timesteps
        scale = min(by_weights, vlim / worst if worst > 0 else math.inf)
        return scale if math.isfinite(scale) else 1.0  # all weights and biases 0: any scale fits

    def shift_for(self, weight: np.ndarray, s: float, mode: str) -> int:
        """The largest right shift (≤ MAX_SHIFT) that keeps s·2^shift·max|w| in the word."""
        wmax = float(np.max(np.abs(weight)))
        if mode == "sum" or wmax == 0:
            return 0
        room = self._limit(self.w.weights) / (wmax * s)
        return int(min(MAX_SHIFT, max(0, math.floor(math.log2(room))))) if room >= 1 else 0

    def quantise(self, d) -> tuple[list, list, np.ndarray | None, int, float, dict]:
        s = self.scale_for(d)
        wlim, blim = self._limit(self.w.weights), self._limit(self.w.biases)
        weights, shifts, clipped = [], [], 0
        for t in d.current.terms:
            shift = 0 if t.kind == "identity" else self.shift_for(t.weight, s, d.mode)
            q = np.rint(t.weight * s * 2.0 ** shift)
            clipped += int(np.count_nonzero(np.abs(q) > wlim))
            weights.append(np.clip(q, -wlim, wlim).astype(np.int64))
            shifts.append(shift)
        bias, bias_clipped = None, 0
        if d.current.bias is not None:
            qb = np.rint(d.current.bias * s)
            bias_clipped = int(np.count_nonzero(np.abs(qb) > blim))
            bias = np.clip(qb, -blim, blim).astype(np.int64)
        threshold = max(1, int(round(d.spec.theta * s))) if d.mode == "spiking" else 1
        info = {"scale": s, "threshold": threshold, "shifts": shifts, "weights_clipped": clipped,
                "biases_clipped": bias_clipped}
        self.report[d.name] = info
        return weights, shifts, bias, threshold, s, info
