"""The compiled network: layers of neurons fed by projections, as the hardware runs them.

The IR (neurosim.model) describes a network as a trained framework sees it (conv → BN → neuron
→ pool, adds). The hardware sees populations of neurons — one layer is one set of potentials —
each fed by *projections*: synaptic connections (conv, linear or identity) from the event
streams of other layers. These types are what the lowering (neurosim.compiler.lower) produces,
the quantiser fills with integers, the mapping places on cores, and every simulator runs.

This module also holds the one answer to "what is the largest value an event of this stream
can carry" (``event_max_level``), which FIFO words, accumulator widths, the readout's scale and
the energy model's level costs all depend on, and the check of a batch of inputs against the
network (``check_inputs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CompileError, InputError
from ..hardware.profile import Widths
from ..limits import INPUT_VALUE_MAX
from ..model.neurons import NeuronSpec

ADD_MODES = ("forward", "merge")
PIXEL_MAX = 255  # the largest input value of 8-bit images, the default bound of the input stream


@dataclass(frozen=True, eq=False)
class Projection:
    """Synapses from one event stream into a layer's potentials.

    kind "conv": weight (C_out, C_in, kH, kW); "linear": weight (N_out, N_in) with N_in the
    flattened (C, H, W) of the source; "identity": weight (C,) — one synapse per event, to the
    neuron at the same position, the per-channel factor kept in a register.
    ``analog`` marks the input stream (multi-bit pixel or event-count values: MACs, not ACCs).
    ``shift``: the projection accumulates Σ w·z in a wide register and adds ⌊acc / 2^shift⌋ to
    the potentials when they are read to fire, so small weights (the first layer's, whose input
    unit is 1/255) keep the full word width.
    """

    source: str
    kind: str
    weight: np.ndarray  # int64 (integer mode) or float64 (float mode), shape by kind
    in_shape: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    weight_group: str = ""
    analog: bool = False
    shift: int = 0

    @property
    def kernel(self) -> tuple[int, int]:
        return tuple(self.weight.shape[2:]) if self.kind == "conv" else (1, 1)


@dataclass(frozen=True)
class Pool:
    """Pooling on output levels inside the producing layer: "max", or "sum" (an average pool;
    the 1/k² is folded into the consumers' weights)."""

    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int]


@dataclass(frozen=True, eq=False)
class Layer:
    """One population of neurons (one set of potentials) and the projections that feed it.

    mode "spiking": multi-level neurons emit levels z ∈ {0..N};
    "readout": potentials accumulate over T, no firing (the classifier);
    "sum": a merge-mode adder, emits the level sum of its inputs every timestep.
    """

    name: str
    mode: str
    shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    projections: tuple[Projection, ...]
    bias: np.ndarray | None  # (C,) per channel, int64 or float64
    spec: NeuronSpec
    threshold: float | int  # θ in potential units (integer mode: an int)
    decay: float | int  # float factor, or integer multiplier of 2^-16 (integer mode)
    scale: float  # float value of one potential unit
    out_scale: float  # float value of one output level unit (θ of the float model)
    pool: Pool | None = None
    v_range: tuple[int, int] | None = None  # saturation bounds (integer mode)
    nodes: tuple[str, ...] = ()
    core: int = 0

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))

    @property
    def channels(self) -> int:
        return int(self.shape[0])

    @property
    def levels(self) -> int:
        return int(self.spec.levels)

    @property
    def kind(self) -> str:
        """The layer's kind as reports show it: its main projection's kind, or the mode; a
        merge-mode adder is "adder" (a layer that works: counted in every total), unlike the
        "add" rows of forward-mode sum points (bookkeeping of the events they forward)."""
        if self.mode == "sum":
            return "adder"
        return self.projections[0].kind if self.projections else self.mode

    @property
    def max_out_level(self) -> int:
        """Largest output value an event of this layer can carry."""
        if self.mode != "spiking":
            return 0
        k = self.pool.kernel[0] * self.pool.kernel[1] if self.pool and self.pool.kind == "sum" else 1
        return self.levels * k


@dataclass(frozen=True)
class AddPoint:
    """A residual sum in forward mode: the streams it forwards (for per-layer reports)."""

    name: str
    members: tuple[str, ...]  # source layers (or "input"), with repetition


@dataclass(eq=False)
class CompiledNetwork:
    name: str
    input_name: str
    input_shape: tuple[int, ...]
    input_scale: float
    layers: list[Layer]
    output: str
    timesteps: int
    integer: bool
    add_mode: str
    widths: Widths
    adds: list[AddPoint] = field(default_factory=list)
    quantisation: dict = field(default_factory=dict)  # per layer: what the quantiser chose
    calibration: dict | None = None  # the calibration that sized the potentials (describe())

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise CompileError(f"no layer named {name!r}", self.name)

    @property
    def output_layer(self) -> Layer:
        return self.layer(self.output)

    def consumers(self, source: str) -> list[tuple[Layer, Projection]]:
        return [(layer, p) for layer in self.layers for p in layer.projections if p.source == source]

    def stream_shape(self, source: str) -> tuple[int, ...]:
        return self.input_shape if source == self.input_name else self.layer(source).out_shape


def event_max_level(net: CompiledNetwork, source: str, input_max: int = PIXEL_MAX) -> int:
    """Largest value an event of stream ``source`` can carry: ``input_max`` for the input, N
    (times the pool window for a sum pool) for a spiking layer, the sum of its inputs' largest
    values for a merge-mode adder (bounded by its saturation), 0 for a readout."""
    if source == net.input_name:
        return int(input_max)
    layer = net.layer(source)
    if layer.mode == "sum":
        total = sum(event_max_level(net, p.source, input_max) for p in layer.projections)
        return min(total, int(layer.v_range[1])) if layer.v_range else total
    return layer.max_out_level


def check_inputs(net: CompiledNetwork, x: np.ndarray, timesteps: int,
                 where: str = "inputs") -> np.ndarray:
    """Validate a batch: (B, *input_shape) static, or (B, T, *input_shape) one frame per step.
    ``where`` names the input file in errors."""
    x = np.asarray(x)
    shape = tuple(net.input_shape)
    if x.ndim == len(shape) + 1 and x.shape[1:] == shape:
        pass
    elif x.ndim == len(shape) + 2 and x.shape[2:] == shape:
        if x.shape[1] != timesteps:
            raise InputError(f"has {x.shape[1]} frames per sample but the run has T={timesteps} "
                             f"(run with T={x.shape[1]}: neurosim simulate -T {x.shape[1]})",
                             where, "shape")
    else:
        raise InputError(f"expected shape (B, {', '.join(map(str, shape))}) or (B, T, ...), got "
                         f"{x.shape}", where, "shape")
    if not np.issubdtype(x.dtype, np.integer):
        raise InputError(f"expected integer input values (pixels, event counts), got {x.dtype}; "
                         f"quantise with the model's input scale {net.input_scale:g}", where,
                         "dtype")
    if x.size and x.min() < 0:
        raise InputError(f"input values must be >= 0, got minimum {x.min()}", where, "values")
    if x.size and x.max() > INPUT_VALUE_MAX:
        raise InputError(f"input values must be at most {INPUT_VALUE_MAX} (events carry 32-bit "
                         f"values), got {x.max()}", where, "values")
    return x
