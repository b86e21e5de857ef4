"""What each framework means by the same NIR neuron: time step, discretisation, reset, levels.

NIR declares continuous-time equations; every exporter discretises them its own way, and NIR
cannot say how a neuron resets or how many spikes it may emit per step. A dialect records one
framework's conventions (read in its exporter's and neurons' source), so that the importer can
turn its NIR neurons back into the discrete update the framework ran. For
τ·dv/dt = (v_leak − v) + r·I, with a = dt/τ:

    dialect        dt     membrane update per step                          reset     levels
    neurosim       1      forward Euler: v ← (1 − a)·v + a·(r·I + v_leak)   subtract  1
    snntorch       1e-4   forward Euler (Leaky: τ = dt/(1 − β), r = τ/dt)    subtract  1
    sinabs         1      exact: v ← α·v + (1 − α)·r·I, α = e^(−a)            subtract  255
                          (LIF's default norm_input=True; LI: v ← α·v + r·I)
    spikingjelly   1e-4   forward Euler (IF: r = 1/dt; LIF: τ = τ_steps·dt)  zero      1
    norse          1e-3   forward Euler, τ written as dt·τ (see below)        zero      1

IF integrates v ← v + dt·r·I (Norse's IAF: v ← v + r·I, it ignores dt). Sinabs' IAF emits as
many spikes as v holds thresholds (MultiSpike, unbounded): neurosim caps the levels at 255.
Sinabs' LIF normalises its input by (1 − α) by default (norm_input=True, also the exact solution
of NIR's equation), its ExpLeak (NIR's LI) does not; the file says neither, a side-car can.
snnTorch exports β = 1 (an IF) as τ = r = ∞; its convention r = τ/dt makes the input gain 1.
snnTorch subtracts the threshold after the leak (mem = β·mem + I − s·θ), neurosim before it (the
reset decays with the potential): they agree for β = 1 or a hard reset only, so the importer
refuses the rest. Norse 1.1 exports τ = dt/τ_inv, which is dt times its time constant 1/τ_inv
(norse#411): the norse dialect divides the file's τ by dt. A current-based neuron (CubaLIF)
maps only when its synaptic current does not outlive the step (dt/τ_syn = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConversionError

TOLERANCE = 1e-6  # relative: float32 parameters written by exporters


@dataclass(frozen=True)
class Dialect:
    name: str
    dt: float
    exact_decay: bool  # True: decay = e^(−dt/τ) (Sinabs); False: forward Euler, 1 − dt/τ
    reset: str  # default reset mode
    levels: int  # default number of levels N
    subtract_after_leak: bool = False  # snnTorch's reset order
    if_uses_dt: bool = True  # IF: v ← v + dt·r·I (False: v ← v + r·I, Norse)
    tau_times_dt: bool = False  # the exporter writes dt·τ for τ (Norse 1.1)
    norm_input: tuple[str, ...] = ()  # node types whose input is scaled by (1 − α) by default
    reset_why: str = ""  # why its default reset is what it is (import overrides quote it)
    levels_why: str = ""  # likewise for its default levels


DIALECTS = {
    "neurosim": Dialect("neurosim", 1.0, False, "subtract", 1,
                        reset_why="neurosim's default soft reset"),
    "snntorch": Dialect("snntorch", 1e-4, False, "subtract", 1, subtract_after_leak=True,
                        reset_why="snnTorch's default reset_mechanism='subtract', which its "
                                  "exporter writes as v_reset = 0"),
    "sinabs": Dialect("sinabs", 1.0, True, "subtract", 255, norm_input=("LIF",),
                      reset_why="Sinabs' IAF and LIF subtract the threshold (MembraneSubtract)",
                      levels_why="Sinabs' MultiSpike emits as many spikes as v holds "
                                 "thresholds; neurosim caps it at 255"),
    "spikingjelly": Dialect("spikingjelly", 1e-4, False, "zero", 1),
    "norse": Dialect("norse", 1e-3, False, "zero", 1, if_uses_dt=False, tau_times_dt=True),
}


@dataclass(frozen=True)
class Discrete:
    """One neuron population's discrete update: v ← decay·v + gain·I + leak, fire at theta.

    Arrays have the population's shape; ``theta`` is None for integrators without a threshold.
    """

    decay: np.ndarray
    gain: np.ndarray
    leak: np.ndarray
    theta: np.ndarray | None
    v_reset: np.ndarray | None


def _f64(node, name: str) -> np.ndarray:
    return np.asarray(getattr(node, name), dtype=np.float64)


def _tau(node, name: str, dialect: Dialect, dt: float) -> np.ndarray:
    tau = _f64(node, name)
    return tau / dt if dialect.tau_times_dt else tau


def _membrane(tau, r, v_leak, dialect: Dialect, dt: float, norm_input: bool, where: str):
    """(decay, gain, leak) of τ·dv/dt = (v_leak − v) + r·I over one step dt."""
    if np.any(~(tau > 0)):
        raise ConversionError(f"time constants must be > 0, got min {tau.min():g}", where, "tau")
    if dialect.exact_decay:
        decay = np.exp(-dt / tau)
        if np.any(v_leak != 0):
            raise ConversionError(f"{dialect.name} neurons leak to 0; got v_leak != 0", where,
                                  "v_leak")
        gain = r * (1.0 - decay) if norm_input else r
        return decay, gain, np.zeros_like(decay)
    a = dt / tau  # 0 where τ = ∞
    decay = 1.0 - a
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isinf(tau) & np.isinf(r), 1.0 / dt, r / tau)  # snnTorch: r = τ/dt
    return decay, dt * ratio, a * v_leak


def discretise(node, kind: str, dialect: Dialect, dt: float, norm_input: bool | None,
               where: str) -> Discrete:
    """The discrete update of a NIR neuron node of type ``kind`` in ``dialect`` (norm_input
    None: the dialect's default for the node type)."""
    if norm_input is None:
        norm_input = kind in dialect.norm_input
    if kind in ("IF", "I"):
        r = _f64(node, "r")
        decay, gain, leak = np.ones_like(r), (dt if dialect.if_uses_dt else 1.0) * r, \
            np.zeros_like(r)
    elif kind == "Threshold":
        theta = _f64(node, "threshold")
        ones = np.ones_like(theta)
        return Discrete(np.zeros_like(theta), ones, np.zeros_like(theta), theta, None)
    elif kind in ("LIF", "LI"):
        decay, gain, leak = _membrane(_tau(node, "tau", dialect, dt), _f64(node, "r"),
                                      _f64(node, "v_leak"), dialect, dt, norm_input, where)
    elif kind in ("CubaLIF", "CubaLI"):
        decay, gain, leak = _membrane(_tau(node, "tau_mem", dialect, dt), _f64(node, "r"),
                                      _f64(node, "v_leak"), dialect, dt, norm_input, where)
        gain = gain * _synapse_gain(node, dialect, dt, where)
    else:
        raise ConversionError(f"{kind} is not a neuron", where)
    spiking = kind in ("IF", "LIF", "CubaLIF")
    theta = _f64(node, "v_threshold") if spiking else None
    v_reset = _f64(node, "v_reset") if spiking and getattr(node, "v_reset", None) is not None \
        else (np.zeros_like(theta) if spiking else None)
    return Discrete(decay, gain, leak, theta, v_reset)


def _synapse_gain(node, dialect: Dialect, dt: float, where: str) -> np.ndarray:
    """A current-based synapse is representable only when it passes its input straight on:
    a synaptic decay of 0 (snnTorch's Synaptic with α = 0: τ_syn = dt)."""
    tau_syn, w_in = _tau(node, "tau_syn", dialect, dt), _f64(node, "w_in")
    alpha = np.exp(-dt / tau_syn) if dialect.exact_decay else 1.0 - dt / tau_syn
    if np.any(np.abs(alpha) > TOLERANCE):
        raise ConversionError(f"has a synaptic current that decays by {float(np.max(alpha)):.4g} "
                              "per step: a second state variable neurosim's neurons do not have "
                              "(only τ_syn = dt, a synapse that passes its input on, maps)",
                              where, "tau_syn")
    return (dt / tau_syn) * w_in


def guess_dialect(nodes) -> tuple[str | None, str]:
    """The framework a file most likely comes from, by the conventions of its neurons."""
    for name, node in nodes.items():
        kind = type(node).__name__
        r = np.asarray(getattr(node, "r", np.nan), np.float64)
        if kind == "IF" and np.allclose(r, 1e4, rtol=TOLERANCE):
            return "spikingjelly", f"IF {name!r} has r = 1/dt with dt = 1e-4"
        if kind in ("LIF", "CubaLIF"):
            tau = np.asarray(getattr(node, "tau", getattr(node, "tau_mem", np.nan)), np.float64)
            with np.errstate(invalid="ignore"):
                snn = np.where(np.isinf(tau), np.isinf(r), np.isclose(r, tau / 1e-4, rtol=1e-4))
            if np.all(snn):
                return "snntorch", f"{kind} {name!r} has r = tau/dt with dt = 1e-4"
        if kind in ("LIF", "CubaLIF") and np.all(r == 1):
            tau = np.asarray(getattr(node, "tau", getattr(node, "tau_mem", np.nan)), np.float64)
            if np.all(tau < 1e-3):
                return "norse", f"{kind} {name!r} has r = 1 and tau = dt/tau_inv < 1e-3"
        if kind in ("IF", "LIF") and np.all(r == 1):
            return "sinabs", f"{kind} {name!r} has r = 1 (time in steps)"
    return None, ""
