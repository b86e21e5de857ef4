"""NIR neuron nodes onto the IR (the neuron family of the importer): IF, LIF, CubaLIF and
Threshold as Neuron nodes (the dialect's gain and threshold as a BatchNorm before them), I, LI
and CubaLI as the readout. See neurosim.importers.nir_import for the mapping table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import ConversionError
from ..model.graph import Neuron
from ..model.neurons import NeuronSpec
from .dialects import TOLERANCE, discretise
from .nir_values import Value


class NeuronNodes:
    """Handlers of the importer (neurosim.importers.nir_import.Importer) for neuron nodes."""

    def _neuron(self, name, node):
        kind = type(node).__name__
        value = self._gather(name, identity=False)
        settings = self.car.node(name)
        d = discretise(node, kind, self.dialect, self.dt, self._norm_input(name, kind),
                       f"{self.where}: {name}")
        for key in ("decay", "gain", "leak", "theta", "v_reset"):
            arr = getattr(d, key)
            if arr is not None and arr.size != 1 and tuple(arr.shape) != tuple(value.shape):
                self.fail(f"has parameters of shape {list(arr.shape)} but receives "
                          f"{list(value.shape)}", name)
        theta = self._per_channel(d.theta, value.shape, "threshold", name)
        if np.any(~(theta > 0)):
            self.fail(f"thresholds must be > 0, got min {theta.min():g}", name)
        decay = np.asarray(d.decay, np.float64).ravel()
        if np.ptp(decay) > TOLERANCE:
            self.fail(f"time constants differ between neurons (decay {decay.min():.6g} to "
                      f"{decay.max():.6g}); a neurosim population shares one decay", name)
        decay = float(decay.mean())
        gain = self._per_channel(d.gain, value.shape, "input gain", name)
        leak = self._per_channel(d.leak, value.shape, "leak", name)
        incoming = np.ones_like(gain) if value.scale is None else value.scale
        self._parameter_overrides(name, node, kind, gain)
        if settings.neuron is not None:
            spec, out_scale = self._exact_neuron(name, kind, settings.neuron, theta, decay, gain,
                                                 leak)
            gamma, beta = incoming, np.zeros_like(gain)
            because = f"the side-car {self.car.path} declares the neuron spec"
        else:
            spec = self._spec(name, kind, settings, d, theta, decay)
            gamma, beta, out_scale = gain * incoming / theta, leak / theta, None
            because = None
        self._neuron_overrides(name, kind, spec, d, settings, because)
        source = value.source
        if np.any(gamma != 1) or np.any(beta != 0):
            source = self.fresh(f"{name}.in")
            self._bn(source, value.source, gamma, beta)
        self.emit(Neuron(name, input=source, spec=spec))
        return Value(name, "stream", value.shape, value.ir_shape, out_scale)

    def _neuron_overrides(self, name, kind, spec, d, settings, because) -> None:
        """Say where the levels and the reset differ from what the file says (NIR: binary
        spikes, a hard reset to v_reset), and why."""
        if kind == "Threshold":
            return
        d_name = f"the {self.dialect.name} dialect"
        if spec.levels != 1:
            self.override(name, "levels", "binary spikes (NIR)", f"N={spec.levels}",
                          because or (f"the side-car {self.car.path} declares levels: "
                                      f"{settings.levels}" if settings.levels else
                                      f"{d_name}: {self.dialect.levels_why or 'its default'}"))
        if spec.reset == "subtract":
            v_reset = np.asarray(d.v_reset, np.float64)
            says = (f"v_reset = {float(v_reset.ravel()[0]):g}" if np.ptp(v_reset) == 0 else
                    "per-neuron v_reset") + " (NIR: a hard reset)"
            self.override(name, "reset", says, "subtract (soft reset v ← v − z·θ)",
                          because or (f"the side-car {self.car.path} declares reset: subtract"
                                      if settings.reset else
                                      f"{d_name}: {self.dialect.reset_why or 'its default'}"))
        self.fired.append(name)

    def _parameter_overrides(self, name, node, kind, gain) -> None:
        """Say where the dialect reads a parameter otherwise than NIR's equations do: Norse's
        τ written as dt·τ, Sinabs' input normalised by (1 − α)."""
        if self.dialect.tau_times_dt and kind in ("LIF", "LI", "CubaLIF", "CubaLI"):
            key = "tau" if hasattr(node, "tau") else "tau_mem"
            tau = np.asarray(getattr(node, key), np.float64).ravel()
            self.override(name, key, f"{tau[0]:g}", f"{tau[0] / self.dt:g} (÷ dt = {self.dt:g})",
                          f"the {self.dialect.name} dialect: its exporter writes dt·τ for τ, "
                          "norse#411")
        if kind in ("LIF", "LI") and self.dialect.exact_decay:
            declared = self.car.node(name).norm_input
            if declared or (declared is None and kind in self.dialect.norm_input):
                r = np.asarray(node.r, np.float64).ravel()
                self.override(name, "r", f"{r[0]:g}", f"(1 − α)·r = "
                              f"{float(np.ravel(gain)[0]):.6g}",
                              f"the side-car {self.car.path} declares norm_input: true"
                              if declared else "the sinabs dialect: Sinabs' LIF normalises its "
                              "input by (1 − α) by default (norm_input=True)")

    def _norm_input(self, name, kind) -> bool | None:
        declared = self.car.node(name).norm_input
        if declared is None and kind in self.dialect.norm_input:
            self.defaulted.setdefault("norm_input (true)", []).append(name)
        return declared

    def _spec(self, name, kind, settings, d, theta, decay) -> NeuronSpec:
        dialect = self.dialect
        if settings.levels is None:
            self.defaulted.setdefault(f"levels (N={dialect.levels})", []).append(name)
        if settings.reset is None and kind != "Threshold":
            self.defaulted.setdefault(f"reset ({dialect.reset})", []).append(name)
        levels = settings.levels or dialect.levels
        reset = settings.reset or dialect.reset
        if reset == "zero" and kind != "Threshold":
            v_reset = np.abs(np.asarray(d.v_reset, np.float64)) / np.max(theta)
            if np.any(v_reset > TOLERANCE):
                self.fail(f"resets to v_reset = {np.max(np.abs(d.v_reset)):g}; neurosim's hard "
                          "reset sets v to 0 (declare reset: subtract in the side-car if the "
                          "framework subtracted)", name)
        stateless = kind == "Threshold" or decay <= 1e-12
        if decay < -1e-12 or decay > 1 + 1e-12:
            self.fail(f"decay {decay:g} per step is outside [0, 1]", name)
        lif = not stateless and decay < 1 - 1e-12
        if lif and dialect.subtract_after_leak and reset == "subtract":
            self.fail(f"{dialect.name} subtracts the threshold after the leak (mem = beta*mem + "
                      f"I - s*theta, beta={decay:.6g}); neurosim's soft reset decays with the "
                      "potential, so they agree only for beta = 1 or reset: zero (declare it in "
                      "the side-car if the network was trained with reset_mechanism='zero')",
                      name)
        return NeuronSpec(kind="lif" if lif else "if", levels=levels, vth=float(levels),
                          reset=reset, decay=decay if lif else 1.0,
                          barrier=bool(settings.barrier), stateless=stateless)

    def _exact_neuron(self, name, kind, spec: NeuronSpec, theta, decay, gain, leak):
        """The side-car's exact NeuronSpec (neurosim's own export), checked against the file."""
        field = f"nodes.{name}.neuron"
        if not np.allclose(theta, spec.theta, rtol=1e-6):
            raise ConversionError(f"says theta = Vth/N = {spec.theta:g}, the file's threshold is "
                                  f"{theta.max():g}", self.car.path, field)
        expected = 0.0 if spec.stateless else spec.decay
        if kind != "Threshold" and abs(decay - expected) > 1e-9 and not spec.stateless:
            raise ConversionError(f"says decay {spec.decay:g}, the file's is {decay:g}",
                                  self.car.path, field)
        if np.any(np.abs(gain - 1) > 1e-9) or np.any(leak != 0):
            raise ConversionError("the file's neuron scales or shifts its input; a side-car "
                                  "neuron spec expects r·dt/tau = 1 and no leak", self.car.path,
                                  field)
        scale = None if spec.theta == 1 else np.full(theta.shape, 1.0 / spec.theta)
        return spec, scale

    def _readout(self, name, node):
        kind = type(node).__name__
        value = self._gather(name, identity=False)
        d = discretise(node, kind, self.dialect, self.dt, self._norm_input(name, kind),
                       f"{self.where}: {name}")
        decay = np.asarray(d.decay, np.float64).ravel()
        if np.any(np.abs(decay - 1) > 1e-12) and self.timesteps > 1:
            self.fail(f"leaks (decay {decay.min():.6g} per step) over T={self.timesteps} "
                      "timesteps; neurosim's readout averages its input over T without leak "
                      "(exact for an integrator I, or for T = 1)", name)
        gain = self._per_channel(d.gain, value.shape, "input gain", name)
        leak = self._per_channel(d.leak, value.shape, "leak", name)
        gamma = gain * (1.0 if value.scale is None else value.scale)
        if value.kind == "stream" or np.any(gamma != 1) or np.any(leak != 0):
            # a current for the readout layer, which takes this node's name (on spikes too: the
            # readout averages them over T, it is not a spiking output layer)
            self._bn(name, value.source, gamma, leak)
            value = Value(name, "current", value.shape, value.ir_shape)
        if kind == "I" and self.timesteps > 1:
            self.note(f"{name!r} integrates over T: neurosim's readout reports the mean over the "
                      f"T={self.timesteps} timesteps (the integrator holds T times that)")
        return replace(value, kind="voltage", scale=None)

    def _output_value(self, value: Value) -> str:
        """The IR node whose value is the network's output."""
        if value.kind == "stream":
            if value.scale is not None and not np.all(value.scale == 1):
                self.fail("the network's output spikes are scaled (a Scale after the last "
                          "neuron): neurosim's output is the spike count", self.top_output)
            return value.source
        value = self._current(value, f"{self.top_output}.scale")
        return value.source
