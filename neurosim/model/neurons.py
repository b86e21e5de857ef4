"""Neuron models and their exact update rules.

Every neuron in neurosim is one rule, applied once per timestep to a whole population:

    v ← decay(v) + I(t)                     integrate (decay = identity for IF)
    z = clip(floor(v / θ), 0, N)             fire: an integer level, θ = Vth / N, fires on equality
    v ← v − z·θ            (reset="subtract")  soft reset
    v ← 0 where z > 0      (reset="zero")      hard reset

N = 1 is the binary IF neuron of classic SNNs. The closed form equals N micro-steps of a binary
soft-reset IF charged with the same current (the paper's §4.1 two-phase description) whenever v
starts the timestep in [0, Vth); where the two readings differ, the closed form is the hardware's
behaviour (docs/design.md, "Timesteps and levels"). A barrier neuron (Sparse-ResNet, after a residual add) is a
multi-level IF with its own N and Vth; it differs only in how it is trained (straight-through
estimator). S3NN's single-step neuron is N = 1, T = 1 with ``stateless=True``: nothing is carried
from one timestep to the next.

The same functions run on float arrays (float reference) and on integer arrays (the compiled
fixed-point network): ``np.floor_divide`` is exact floor division in both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ModelError

NEURON_KINDS = ("if", "lif")
MAX_LEVELS = 255  # N: a level travels in one byte of an event
RESET_MODES = ("subtract", "zero")


@dataclass(frozen=True)
class NeuronSpec:
    """Parameters of one neuron population.

    kind: "if" (no leak) or "lif" (v ← decay·v before integrating; 0 < decay < 1).
    levels: N, the largest level a neuron may emit in one timestep (N = 1: binary spikes).
    vth: the firing threshold Vth of the multi-level neuron; the level step is θ = Vth / N.
    reset: "subtract" (soft reset, the paper's) or "zero" (hard reset).
    barrier: a Sparse-ResNet barrier neuron (trained with a straight-through estimator).
    stateless: S3NN-style single-step neuron, v starts at 0 at every timestep.
    """

    kind: str = "if"
    levels: int = 1
    vth: float = 1.0
    reset: str = "subtract"
    decay: float = 1.0
    barrier: bool = False
    stateless: bool = False

    def __post_init__(self):
        if self.kind not in NEURON_KINDS:
            raise ModelError(f"unknown neuron kind {self.kind!r}; expected one of {NEURON_KINDS}",
                             field="kind")
        if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)) \
                or not 1 <= int(self.levels) <= MAX_LEVELS:
            raise ModelError(f"expected an integer number of levels in [1, {MAX_LEVELS}], got "
                             f"{self.levels!r}",
                             field="levels")
        if not np.isfinite(self.vth) or self.vth <= 0:
            raise ModelError(f"expected a finite threshold vth > 0, got {self.vth!r}", field="vth")
        if self.reset not in RESET_MODES:
            raise ModelError(f"unknown reset {self.reset!r}; expected one of {RESET_MODES}",
                             field="reset")
        if not np.isfinite(self.decay) or not 0.0 < self.decay <= 1.0:
            raise ModelError(f"expected a decay in (0, 1], got {self.decay!r}", field="decay")
        if self.kind == "if" and self.decay != 1.0:
            raise ModelError("an IF neuron has no leak: use kind='lif' for decay < 1", field="decay")

    @property
    def theta(self) -> float:
        """The level step θ = Vth / N: the value of one unit of output level."""
        return self.vth / self.levels

    def with_levels(self, levels: int) -> "NeuronSpec":
        return replace(self, levels=int(levels))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "levels": int(self.levels), "vth": float(self.vth),
                "reset": self.reset, "decay": float(self.decay), "barrier": bool(self.barrier),
                "stateless": bool(self.stateless)}

    @classmethod
    def from_dict(cls, d: dict) -> "NeuronSpec":
        return cls(**d)


def multilevel_if(levels: int = 4, vth: float = 1.0) -> NeuronSpec:
    """The paper's multi-level IF neuron with soft reset."""
    return NeuronSpec(kind="if", levels=levels, vth=vth)


def binary_if(vth: float = 1.0) -> NeuronSpec:
    """Classic binary IF neuron with soft reset (N = 1)."""
    return NeuronSpec(kind="if", levels=1, vth=vth)


def s3nn(vth: float = 1.0) -> NeuronSpec:
    """S3NN single-step neuron: binary, no state carried between timesteps (use with T = 1)."""
    return NeuronSpec(kind="if", levels=1, vth=vth, stateless=True)


def lif(decay: float, levels: int = 1, vth: float = 1.0, reset: str = "subtract") -> NeuronSpec:
    """Leaky integrate-and-fire: v ← decay·v + I before firing."""
    return NeuronSpec(kind="lif", levels=levels, vth=vth, decay=decay, reset=reset)


def barrier(levels: int = 4, vth: float = 1.0) -> NeuronSpec:
    """Sparse-ResNet barrier neuron: a multi-level IF placed after a residual add."""
    return NeuronSpec(kind="if", levels=levels, vth=vth, barrier=True)


DECAY_BITS = 16  # an integer LIF's decay is a multiplier of 2^-16


def decay_multiplier(spec: NeuronSpec) -> int:
    """The fixed-point decay of an integer LIF population: round(decay · 2^DECAY_BITS)."""
    return int(round(spec.decay * 2 ** DECAY_BITS))


def leak(v, spec: NeuronSpec, decay=None):
    """v before this timestep's input: 0 (stateless), v (IF), v·decay (float LIF) or
    ⌊v·decay_q / 2^16⌋ (integer LIF; ``decay`` the multiplier, default decay_multiplier)."""
    if spec.stateless:
        return np.zeros_like(v)
    if spec.kind != "lif":
        return v
    if np.issubdtype(np.asarray(v).dtype, np.integer):
        q = decay_multiplier(spec) if decay is None else int(decay)
        return (v * q) >> DECAY_BITS
    return v * (spec.decay if decay is None else decay)


def saturate(v, lo, hi):
    """Clip v to the potential word [lo, hi] once, when it is read to fire: (v, clipped count)."""
    clipped = np.clip(v, lo, hi)
    return clipped, int(np.count_nonzero(clipped != v))


def fire(v, theta, levels):
    """z = clip(floor(v / θ), 0, N): the level emitted for potential v (fires on equality)."""
    return np.clip(np.floor_divide(v, theta), 0, levels)


def reset(v, z, theta, mode: str):
    """Soft reset subtracts z·θ; hard reset sets v to 0 where a spike was emitted."""
    if mode == "subtract":
        return v - z * theta
    return np.where(z > 0, np.zeros_like(v), v)


def step(v, current, spec: NeuronSpec, theta=None, decay=None, v_range=None):
    """One timestep of a population, the rule in this module's docstring in order: leak,
    integrate, saturate (``v_range``, integer potentials), fire, reset. Returns (new v, z).

    ``theta`` and ``decay`` override spec.theta and the decay (the compiled integer network
    uses its own units); the same code runs float and integer arrays."""
    theta = spec.theta if theta is None else theta
    v = leak(v, spec, decay) + current
    if v_range is not None:
        v, _ = saturate(v, *v_range)
    z = fire(v, theta, spec.levels)
    return reset(v, z, theta, spec.reset), z


def decode(levels_over_time, spec: NeuronSpec):
    """x̂ = Vth · Σ_t z(t) / (N·T): the value a rate decoder reads from T timesteps of levels."""
    z = np.asarray(levels_over_time)
    return spec.vth * z.sum(axis=0) / (spec.levels * z.shape[0])
