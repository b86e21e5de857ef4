"""Fixed-point quantisation of a layer draft: scale, weights, shifts, bias and threshold.

Each layer gets one scale s (potential units per float unit), chosen to use the words:

- **the potential word** holds the range the layer's potentials must keep exact. A spiking layer
  that carries no state from one timestep to the next (T = 1, or stateless) needs only its fire
  range [0, N·θ] (a larger v still fires N, a negative one 0, so clipping it changes no level),
  or less when calibration saw smaller potentials; one that carries state needs its whole
  calibrated range |v| (``MARGIN`` times the largest the float network reached on the
  calibration inputs), or ``Widths.headroom``·N·θ without calibration. A readout needs its
  calibrated range, or without calibration the worst case over T timesteps (no logit can
  overflow). The threshold θ_q = ⌊θ·s⌋ is any integer (the fire stage divides by it).
- **the weight word** is filled: each conv/linear projection stores w·s·2^k with the largest
  shift k ≤ MAX_SHIFT that fits, and s is lowered by less than 2× where that lets the largest
  weights fill the word exactly (weights errors add up over every synapse, a potential's
  rounding once). Identity projections (their factor is a register) take k = 0. A spiking
  layer takes, of the filled scale, the unfilled one and the one whose θ_q is a power of two
  (integer weights stay exact), the one whose weight rounding is the smallest fraction of θ_q.
- **the bias word** and **the accumulator** must hold what they receive: s never puts a bias
  outside the bias word, and no projection's worst-case Σ|w|·z reaches ACC_EXACT (the
  reference's float64 products and the kernels' int64 registers stay exact).

Weights and biases are rounded to nearest (clipping, which these rules avoid, is counted); the
accumulator is added to the potentials as round(acc / 2^k) (ties up), when they are read to
fire. A merge-mode adder counts levels (s = 1/θ). The calibration (``Calibration``, measured by
neurosim.calibration on the model's own samples, never on a run's inputs) only sizes ranges: a
run does not depend on how its inputs are split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..hardware.profile import Widths

MAX_SHIFT = 16  # the widest right shift of an accumulator
MARGIN = 2.0  # calibrated ranges: the word holds MARGIN × the largest potential seen
ACC_EXACT = 2 ** 53  # bound of every accumulator's worst case |Σ w·z|


@dataclass(frozen=True)
class Calibration:
    """The float network's potentials as they are read to fire (before saturation), over the
    calibration inputs: per layer the largest |v| (``peak``) and the largest v (``top``), in
    float units."""

    source: str
    samples: int
    peak: dict = field(default_factory=dict)  # layer → max |v|
    top: dict = field(default_factory=dict)  # layer → max v

    def describe(self) -> dict:
        return {"source": self.source, "samples": self.samples, "margin": MARGIN}


class Quantiser:
    """Chooses each layer's potential scale and rounds weights, biases and thresholds, draft by
    draft in layer order (``d``: a layer draft of neurosim.compiler.lower); ``max_level`` holds
    the largest event value of every stream quantised so far (readout and accumulator bounds
    need it)."""

    def __init__(self, widths: Widths, timesteps: int, input_name: str, input_max: int,
                 calibration: Calibration | None = None):
        self.w = widths
        self.timesteps = timesteps
        self.cal = calibration
        self.report: dict[str, dict] = {}
        self.max_level = {input_name: input_max}
        self._seen: dict[int, tuple] = {}  # id(weight) → (weight kept alive, max, max Σ)

    @staticmethod
    def _limit(bits: int) -> int:
        return 2 ** (bits - 1) - 1

    def _magnitudes(self, t) -> tuple[float, float]:
        """(largest |w|, largest Σ|w| over one output's weights) of term ``t``: read many times
        per layer, computed once per weight array (a full-width VGG16 has 15 M weights)."""
        key = id(t.weight)
        if key not in self._seen:
            a = np.abs(t.weight)
            per_out = a.reshape(a.shape[0], -1).sum(axis=1) if t.kind != "identity" else a
            self._seen[key] = (t.weight, float(a.max(initial=0.0)),
                               float(per_out.max(initial=0.0)))
        return self._seen[key][1:]

    def _fan_in(self, t) -> float:
        """Largest Σ|w|·(largest source value) over the outputs of term ``t``, float units."""
        return self._magnitudes(t)[1] * self.max_level[t.member.source]

    def potential_range(self, d) -> tuple[float, str]:
        """(the range the potential word must hold, in float units; why)."""
        cal = self.cal if self.cal is not None and d.name in self.cal.peak else None
        if d.mode == "spiking":
            theta, levels = d.spec.theta, d.spec.levels
            if self.timesteps == 1 or d.spec.stateless:
                if cal is not None and MARGIN * cal.top[d.name] < levels * theta:
                    return max(MARGIN * cal.top[d.name], theta), "calibration (fire side)"
                return levels * theta, "fire range N·θ (no state carried)"
            span = self.w.headroom * levels * theta
            if cal is not None and MARGIN * cal.peak[d.name] < span:
                return max(MARGIN * cal.peak[d.name], theta), "calibration"
            return span, "headroom·N·θ"
        if cal is not None and cal.peak[d.name] > 0:
            return MARGIN * cal.peak[d.name], "calibration"
        worst = sum(self._fan_in(t) for t in d.current.terms)
        if d.current.bias is not None:
            worst += float(np.abs(d.current.bias).max(initial=0.0))
        return worst * self.timesteps, "worst case over T (not calibrated)"

    def scale_for(self, d) -> tuple[float, dict]:
        """The layer's scale s and what set it."""
        if d.mode == "sum":
            return 1.0 / d.current.terms[0].member.factor, {"limited_by": "levels"}
        wlim, vlim, blim = (self._limit(self.w.weights), self._limit(self.w.potentials),
                            self._limit(self.w.biases))
        span, why = self.potential_range(d)
        caps = {"potentials": vlim / span if span > 0 else math.inf}
        for t in d.current.terms:
            wmax = self._magnitudes(t)[0]
            if wmax > 0:  # at shift 0 every weight fits its word
                caps["weights"] = min(caps.get("weights", math.inf), wlim / wmax)
            acc = self._fan_in(t)
            if acc > 0:
                caps["accumulator"] = min(caps.get("accumulator", math.inf), ACC_EXACT / acc)
        if d.current.bias is not None and np.any(d.current.bias != 0):
            caps["biases"] = blim / float(np.abs(d.current.bias).max())
        limited_by = min(caps, key=caps.get)
        s = caps[limited_by]
        if not math.isfinite(s):
            return 1.0, {"range": span, "range_from": why, "limited_by": "nothing"}
        main = [t for t in d.current.terms if t.kind != "identity" and np.any(t.weight != 0)]
        candidates = [(s, limited_by)]
        if main:  # lower s (by < 2×) so that the largest weights fill their word exactly
            wmax = max(self._magnitudes(t)[0] for t in main)
            k = self._shift(wmax, s) + 1
            filled = wlim / (wmax * 2.0 ** k)
            if wmax * s * 2.0 ** (k - 1) < wlim * (1 - 1e-9) and k <= MAX_SHIFT and all(
                    self._shift_exact(t, filled, k) for t in main):
                candidates.insert(0, (filled, f"{limited_by}, weights filled"))
        if d.mode != "spiking":
            return candidates[0][0], {"range": span, "range_from": why,
                                      "limited_by": candidates[0][1]}
        theta = d.spec.theta  # θ_q = ⌊θ·s⌋ ≥ 1, an integer; or a power of two, where the
        step = 2.0 ** math.floor(math.log2(max(theta * s, 1.0)))  # weights are then exact
        candidates.append((step / theta, f"{limited_by}, exact weights"))
        best = None
        for c, label in candidates:
            c = max(1, math.floor(theta * c * (1 + 1e-12))) / theta
            error = self._rounding_error(main, c, d.mode) / (theta * c)
            if best is None or error < best[0] * (1 - 1e-9):
                best = (error, c, label)
        return best[1], {"range": span, "range_from": why, "limited_by": best[2]}

    def _rounding_error(self, terms, s: float, mode: str) -> float:
        """The worst potential error the weights' rounding at scale ``s`` adds per timestep (in
        potential units, Σ over terms of the largest per-output Σ|Δw|, each input at 1)."""
        total = 0.0
        for t in terms:
            k = self.shift_for(t, s, mode)
            x = t.weight * s
            x *= 2.0 ** k  # in place: the same numbers as t.weight * s * 2^k, a third the memory
            x -= np.rint(x)
            err = np.abs(x, out=x).reshape(len(x), -1).sum(axis=1) / 2.0 ** k
            total += float(err.max(initial=0.0))
        return total

    def _shift(self, wmax: float, s: float) -> int:
        """The largest k ≤ MAX_SHIFT with wmax·s·2^k in the weight word (0 if none)."""
        room = self._limit(self.w.weights) / (wmax * s)
        return int(min(MAX_SHIFT, max(0, math.floor(math.log2(room) + 1e-12)))) if room >= 1 \
            else 0

    def _shift_exact(self, t, s: float, k: int) -> bool:
        return self._fan_in(t) * s * 2.0 ** k < ACC_EXACT

    def shift_for(self, t, s: float, mode: str) -> int:
        """The largest right shift that keeps term ``t``'s weights in the word and its
        accumulator below ACC_EXACT."""
        wmax = self._magnitudes(t)[0]
        if mode == "sum" or t.kind == "identity" or wmax == 0:
            return 0
        k = self._shift(wmax, s)
        while k > 0 and not self._shift_exact(t, s, k):
            k -= 1
        return k

    def quantise(self, d) -> tuple[list, list, np.ndarray | None, int, float, dict]:
        s, why = self.scale_for(d)
        wlim, blim = self._limit(self.w.weights), self._limit(self.w.biases)
        weights, shifts, clipped, peak = [], [], 0, 0
        for t in d.current.terms:
            shift = self.shift_for(t, s, d.mode)
            q = np.rint(t.weight * s * 2.0 ** shift)
            clipped += int(np.count_nonzero(np.abs(q) > wlim))
            weights.append(np.clip(q, -wlim, wlim).astype(np.int64))
            shifts.append(shift)
            peak = max(peak, int(np.abs(weights[-1]).max(initial=0)))
        bias, bias_clipped = None, 0
        if d.current.bias is not None:
            qb = np.rint(d.current.bias * s)
            bias_clipped = int(np.count_nonzero(np.abs(qb) > blim))
            bias = np.clip(qb, -blim, blim).astype(np.int64)
        threshold = max(1, int(round(d.spec.theta * s))) if d.mode == "spiking" else 1
        info = {"mode": d.mode, "scale": s, "threshold": threshold, "unit": 1.0 / s,
                "shifts": shifts, "weight_fill": peak / wlim, "weights_clipped": clipped,
                "biases_clipped": bias_clipped}
        if "range" in why:
            theta = d.spec.theta if d.mode == "spiking" else 1.0
            info["range"] = why["range"] / theta  # in θ units (float units for a readout)
            info["range_from"] = why["range_from"]
        info["limited_by"] = why["limited_by"]
        self.report[d.name] = info
        return weights, shifts, bias, threshold, s, info
