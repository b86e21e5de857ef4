"""Compile a graph into the network the hardware runs: layers of neurons fed by projections.

The IR describes a network as a trained framework sees it (conv → BN → neuron → pool, adds).
The hardware sees populations of neurons (one layer = one set of potentials on a core), each
fed by *projections*: synaptic connections (conv, linear, or identity) from the event streams of
other layers. Compiling:

1. folds BatchNorm into the projection weights and the bias (methods.md §4.5);
2. folds the value of one input level into the weights: a spike of level z from a layer with
   step θ is worth z·θ, an input unit is worth ``Input.scale``, an average-pooled member 1/k²;
3. resolves residual adds: in ``forward`` mode (the paper's) an add of event streams is not a
   layer — its consumers receive every member stream; in ``merge`` mode an adder layer sums the
   levels and emits one valued event per non-zero sum. An add of currents (Spiking ResNet) is
   a layer with several projections;
4. puts max/sum pooling in the producing layer (it acts on output levels);
5. quantises weights, biases and thresholds to the profile's fixed-point widths (``integer``
   mode) with a per-layer power-of-two threshold, or keeps float64 (``float`` mode: the float
   reference of the trained model).

Both the dense reference and the event engine run the result, which is why they agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import CompileError
from .model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                          MaxPool2d, Neuron)
from .model.neurons import NeuronSpec

ADD_MODES = ("forward", "merge")
MAX_SHIFT = 16


@dataclass(frozen=True)
class Widths:
    """Fixed-point word widths in bits (the paper's group uses 16 everywhere)."""

    weights: int = 16
    biases: int = 16
    potentials: int = 16
    headroom: int = 4  # potentials hold ±headroom·N·θ: the threshold is 2^⌊log2(vmax/(headroom·N))⌋

    def __post_init__(self):
        for name in ("weights", "biases", "potentials"):
            bits = getattr(self, name)
            if not isinstance(bits, int) or not 2 <= bits <= 32:
                raise CompileError(f"expected an integer in [2, 32], got {bits!r}", "widths", name)
        if not isinstance(self.headroom, int) or self.headroom < 1:
            raise CompileError(f"expected an integer >= 1, got {self.headroom!r}", "widths",
                               "headroom")


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
        """The layer's kind as reports show it: its main projection's kind, or the mode."""
        if self.mode == "sum":
            return "add"
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
    quantisation: dict = field(default_factory=dict)

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


# --- symbolic values during compilation --------------------------------------------------------

@dataclass(frozen=True)
class _Member:
    source: str  # layer name or the input name
    factor: float  # float value of one unit of this member, as seen by consumers
    shape: tuple[int, ...]  # native shape of the source stream
    global_pool: bool = False  # a global average pool still to be folded into a Linear


@dataclass(frozen=True)
class _Stream:
    members: tuple[_Member, ...]
    shape: tuple[int, ...]  # logical shape seen by consumers


@dataclass(frozen=True)
class _Term:
    member: _Member
    kind: str
    weight: np.ndarray  # float64, member factor already folded in
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    origin: str = ""  # IR node that holds the weights (names the weight memory)


@dataclass(frozen=True)
class _Current:
    terms: tuple[_Term, ...]
    bias: np.ndarray | None  # (C,) float64
    shape: tuple[int, ...]
    nodes: tuple[str, ...]


@dataclass
class _Draft:
    name: str
    mode: str
    current: _Current
    spec: NeuronSpec
    pool: Pool | None = None
    out_shape: tuple[int, ...] = ()
    nodes: tuple[str, ...] = ()


def _identity_terms(stream: _Stream, node: str) -> list[_Term]:
    c = stream.shape[0]
    terms = []
    for m in stream.members:
        if m.global_pool:
            raise CompileError("a global average pool can only feed a Linear layer", node)
        if int(np.prod(m.shape)) != int(np.prod(stream.shape)):
            raise CompileError(f"cannot connect {m.source} {m.shape} elementwise to {stream.shape}",
                               node)
        terms.append(_Term(m, "identity", np.full(c, m.factor), origin=node))
    return terms


def _as_current(value, node: str) -> _Current:
    if isinstance(value, _Current):
        return value
    return _Current(tuple(_identity_terms(value, node)), None, value.shape, (node,))


class _Compiler:
    def __init__(self, graph: Graph, add_mode: str):
        if add_mode not in ADD_MODES:
            raise CompileError(f"unknown add mode {add_mode!r}; expected one of {ADD_MODES}",
                               graph.name, "add_mode")
        self.graph = graph
        self.add_mode = add_mode
        self.values: dict[str, object] = {}
        self.drafts: dict[str, _Draft] = {}
        self.order: list[str] = []
        self.adds: list[AddPoint] = []
        self.current_uses: dict[str, str] = {}

    # Each handler turns a node into a _Stream or a _Current (or a layer draft).
    def run(self) -> list[_Draft]:
        g = self.graph
        for node in g.nodes:
            handler = getattr(self, "_" + type(node).__name__.lower())
            self.values[node.name] = handler(node)
        out = g[g.output]
        value = self.values[g.output]
        if isinstance(value, _Current):
            self._new_layer(g.output, "readout", value, NeuronSpec())
        elif not (isinstance(value, _Stream) and len(value.members) == 1
                  and value.members[0].source in self.drafts):
            raise CompileError("the output must be a Linear/Conv readout or a neuron layer",
                               out.name)
        return [self.drafts[n] for n in self.order]

    def _input(self, node: Input):
        return _Stream((_Member(node.name, node.scale, node.shape),), node.shape)

    def _stream(self, node, name: str) -> _Stream:
        value = self.values[name]
        if not isinstance(value, _Stream):
            raise CompileError(f"expects events from a neuron layer or the input, but {name!r} "
                               "is a current (put a neuron before it)", node.name)
        return value

    def _use_current(self, node, name: str) -> _Current:
        value = self.values[name]
        if isinstance(value, _Current):
            if name in self.current_uses:
                raise CompileError(f"the current of {name!r} already feeds "
                                   f"{self.current_uses[name]!r}; a current can feed one layer",
                                   node.name)
            self.current_uses[name] = node.name
        return value

    def _conv2d(self, node: Conv2d):
        stream = self._stream(node, node.input)
        w = node.weight.astype(np.float64)
        terms = []
        for m in stream.members:
            if m.global_pool:
                raise CompileError("a global average pool can only feed a Linear layer", node.name)
            terms.append(_Term(m, "conv", w * m.factor, node.stride, node.padding, node.name))
        bias = None if node.bias is None else node.bias.astype(np.float64)
        return _Current(tuple(terms), bias, self.graph.shapes[node.name], (node.name,))

    def _linear(self, node: Linear):
        stream = self._stream(node, node.input)
        w = node.weight.astype(np.float64)
        terms = []
        for m in stream.members:
            if m.global_pool:
                c, h, wd = m.shape
                wm = np.repeat(w, h * wd, axis=1) / (h * wd)
            else:
                wm = w
            terms.append(_Term(m, "linear", wm * m.factor, origin=node.name))
        bias = None if node.bias is None else node.bias.astype(np.float64)
        return _Current(tuple(terms), bias, self.graph.shapes[node.name], (node.name,))

    def _batchnorm(self, node: BatchNorm):
        cur = _as_current(self._use_current(node, node.input), node.name)
        k, c = node.scale_shift()
        terms = []
        for t in cur.terms:
            shape = (-1,) + (1,) * (t.weight.ndim - 1)
            terms.append(replace(t, weight=t.weight * k.reshape(shape)))
        bias = c if cur.bias is None else k * cur.bias + c
        return _Current(tuple(terms), bias, cur.shape, cur.nodes + (node.name,))

    def _neuron(self, node: Neuron):
        cur = _as_current(self._use_current(node, node.input), node.name)
        self._new_layer(node.name, "spiking", cur, node.spec)
        shape = self.graph.shapes[node.name]
        return _Stream((_Member(node.name, node.spec.theta, shape),), shape)

    def _add(self, node: Add):
        values = [self.values[a] for a in node.args]
        if any(isinstance(v, _Current) for v in values):
            terms, bias, nodes = [], None, (node.name,)
            for a in node.args:
                cur = _as_current(self._use_current(node, a), node.name)
                terms += cur.terms
                nodes += cur.nodes
                if cur.bias is not None:
                    bias = cur.bias if bias is None else bias + cur.bias
            return _Current(tuple(terms), bias, self.graph.shapes[node.name], nodes)
        members = tuple(m for v in values for m in v.members)
        self.adds.append(AddPoint(node.name, tuple(m.source for m in members)))
        shape = self.graph.shapes[node.name]
        if self.add_mode == "forward":
            return _Stream(members, shape)
        factors = {round(m.factor, 12) for m in members}
        if len(factors) != 1:
            raise CompileError(f"merge mode needs inputs with one level step θ, got "
                               f"{sorted(factors)}", node.name)
        stream = _Stream(members, shape)
        unit = members[0].factor
        terms = tuple(replace(t, weight=t.weight / unit) for t in _identity_terms(stream, node.name))
        self._new_layer(node.name, "sum", _Current(terms, None, shape, (node.name,)),
                        NeuronSpec(levels=255))
        return _Stream((_Member(node.name, unit, shape),), shape)

    def _pool_source(self, node, kind: str) -> _Draft:
        stream = self._stream(node, node.input)
        (m,) = stream.members if len(stream.members) == 1 else (None,)
        draft = self.drafts.get(m.source) if m is not None else None
        if draft is None or draft.mode != "spiking" or draft.pool is not None or m.global_pool:
            raise CompileError("pooling must follow a neuron layer directly (it runs on output "
                               "levels in the producing core)", node.name)
        if len(self.graph.consumers[node.input]) != 1:
            raise CompileError(f"{node.input!r} feeds other nodes besides this pool; a layer "
                               "emits either pooled or unpooled events", node.name)
        return draft

    def _maxpool2d(self, node: MaxPool2d):
        draft = self._pool_source(node, "max")
        draft.pool = Pool("max", node.kernel, node.stride)
        return self._pooled(node, draft, 1.0)

    def _avgpool2d(self, node: AvgPool2d):
        stream = self._stream(node, node.input)
        shape = self.graph.shapes[node.name]
        if node.is_global:
            members = tuple(replace(m, global_pool=True) for m in stream.members)
            if any(len(m.shape) != 3 for m in members):
                raise CompileError("a global pool needs (C, H, W) inputs", node.name)
            return _Stream(members, shape)
        draft = self._pool_source(node, "sum")
        draft.pool = Pool("sum", node.kernel, node.stride)
        return self._pooled(node, draft, 1.0 / (node.kernel[0] * node.kernel[1]))

    def _pooled(self, node, draft: _Draft, factor: float) -> _Stream:
        shape = self.graph.shapes[node.name]
        draft.out_shape = shape
        draft.nodes += (node.name,)
        return _Stream((_Member(draft.name, draft.spec.theta * factor, shape),), shape)

    def _flatten(self, node: Flatten):
        stream = self._stream(node, node.input)
        return _Stream(stream.members, self.graph.shapes[node.name])

    def _new_layer(self, name: str, mode: str, current: _Current, spec: NeuronSpec):
        if not current.terms:
            raise CompileError("receives no events", name)
        shape = current.shape
        self.drafts[name] = _Draft(name, mode, current, spec, None, shape,
                                   tuple(dict.fromkeys(current.nodes + (name,))))
        self.order.append(name)


# --- quantisation --------------------------------------------------------------------------------

class _Quantiser:
    """Chooses each layer's potential scale and rounds weights, biases and thresholds."""

    def __init__(self, widths: Widths, timesteps: int, input_name: str, input_max: int):
        self.w = widths
        self.timesteps = timesteps
        self.report: dict[str, dict] = {}
        self.max_level = {input_name: input_max}

    @staticmethod
    def _limit(bits: int) -> int:
        return 2 ** (bits - 1) - 1

    def scale_for(self, d: _Draft) -> float:
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

    def quantise(self, d: _Draft) -> tuple[list, list, np.ndarray | None, int, float, dict]:
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


def compile_graph(graph: Graph, widths: Widths | None = None, integer: bool = True,
                  add_mode: str = "forward", input_max: int = 255) -> CompiledNetwork:
    """Compile ``graph`` for the hardware: integer fixed point (default) or float64.

    ``input_max`` bounds the integer input values (255 for 8-bit pixels); it only bounds the
    readout's scale so that no logit can overflow.
    """
    widths = widths or Widths()
    compiler = _Compiler(graph, add_mode)
    drafts = compiler.run()
    quant = _Quantiser(widths, graph.timesteps, graph.input.name, input_max)
    vlim = 2 ** (widths.potentials - 1)
    layers: list[Layer] = []
    for d in drafts:
        if integer:
            weights, shifts, bias, threshold, s, _ = quant.quantise(d)
            decay = int(round(d.spec.decay * 2 ** 16))
            v_range = (-vlim, vlim - 1)
        else:
            weights = [t.weight for t in d.current.terms]
            shifts = [0] * len(weights)
            bias, threshold, s = d.current.bias, d.spec.theta, 1.0
            decay, v_range = d.spec.decay, None
            if d.mode == "sum":
                threshold = 1.0
        groups: dict[tuple, str] = {}
        projections = []
        for t, w, shift in zip(d.current.terms, weights, shifts):
            key = (t.origin, t.kind, w.shape, w.tobytes())
            group = groups.setdefault(key, f"{t.origin}#{len(groups)}" if groups else t.origin)
            projections.append(Projection(t.member.source, t.kind, w, t.member.shape, t.stride,
                                          t.padding, group, t.member.source == graph.input.name,
                                          shift))
        layer = Layer(d.name, d.mode, d.current.shape, d.out_shape, tuple(projections), bias,
                      d.spec, threshold, decay, 1.0 / s,
                      d.spec.theta if d.mode == "spiking" else d.current.terms[0].member.factor,
                      d.pool, v_range, d.nodes, core=len(layers))
        layers.append(layer)
        if d.mode == "sum":
            quant.max_level[d.name] = sum(quant.max_level[p.source] for p in projections)
        else:
            quant.max_level[d.name] = layer.max_out_level
    return CompiledNetwork(graph.name, graph.input.name, graph.input.shape, graph.input.scale,
                           layers, graph.output, graph.timesteps, integer, add_mode, widths,
                           compiler.adds, quant.report if integer else {})


# --- mapping onto cores --------------------------------------------------------------------------

@dataclass(frozen=True)
class CoreSpec:
    """One core of the chip: output channels [c0, c1) of one layer, at a mesh position.

    Words are counted in the profile's widths: weight words are the layer's weights for these
    channels (one copy per distinct weight group; identity factors are registers, not memory),
    potentials one word per neuron, biases one per channel. ``fifo_channels`` is how many source
    cores feed the core: its input FIFO is split into that many equal virtual channels, so that a
    stream running ahead cannot fill the FIFO that another stream must still use (no deadlock
    where paths rejoin)."""

    index: int
    layer: str
    channels: tuple[int, int]
    position: tuple[int, int]  # (x, y) on the mesh
    neurons: int
    weight_words: int
    bias_words: int
    potential_words: int
    fifo_depth: int  # events, the whole input FIFO
    fifo_channels: int
    fifo_word_bits: int  # one event: source address + value
    sram_bits: int

    @property
    def width(self) -> int:
        """Output channels held by this core."""
        return self.channels[1] - self.channels[0]


@dataclass(eq=False)
class MappedNetwork(CompiledNetwork):
    """A compiled network placed on cores (map_to_cores): what the event engine runs."""

    cores: tuple[CoreSpec, ...] = ()
    mesh: tuple[int, int] = (1, 1)  # (width, height) in cores
    topology: str = "mesh"
    packet_events: int = 64
    fifo_depth: int = 1000

    def cores_of(self, layer: str) -> list[CoreSpec]:
        return [c for c in self.cores if c.layer == layer]

    def hops(self, a: int, b: int) -> int:
        """Links a packet crosses from core a to core b: XY routing on a mesh, 1 on a crossbar."""
        if self.topology == "crossbar":
            return 1
        (xa, ya), (xb, yb) = self.cores[a].position, self.cores[b].position
        return abs(xa - xb) + abs(ya - yb)

    def destinations(self, source: str) -> list[CoreSpec]:
        """Every core that receives the event stream ``source`` (once, whatever its projections)."""
        layers = {layer.name for layer in self.layers
                  if any(p.source == source for p in layer.projections)}
        return [c for c in self.cores if c.layer in layers]

    def routes(self, layer: str) -> list[tuple[tuple[int, int], tuple[int, ...]]]:
        """For each core of ``layer``: its channel range and the hops to every destination."""
        dests = self.destinations(layer)
        return [(c.channels, tuple(self.hops(c.index, d.index) for d in dests))
                for c in self.cores_of(layer)]


def weight_words_per_channel(layer: Layer) -> int:
    """Weight words one output channel of ``layer`` stores (a shared weight group once)."""
    seen, words = set(), 0
    for p in layer.projections:
        if p.kind == "identity" or p.weight_group in seen:
            continue
        seen.add(p.weight_group)
        words += int(np.prod(p.weight.shape[1:]))
    return words


def stream_max_level(net: CompiledNetwork, source: str, input_max: int) -> int:
    """Largest value an event of ``source`` can carry (``input_max`` for the input)."""
    if source == net.input_name:
        return input_max
    layer = net.layer(source)
    if layer.mode == "sum":
        return int(layer.v_range[1]) if layer.v_range else 2 ** 15 - 1
    return layer.max_out_level


def _split(layer: Layer, limits, where: str) -> list[tuple[int, int]]:
    """Balanced ranges of output channels, each within the core limits (``where``: the profile,
    which errors name)."""
    c = layer.channels
    per_channel_neurons = layer.neurons // c
    per_channel_weights = weight_words_per_channel(layer)
    fit = c
    if limits.max_neurons is not None:
        if per_channel_neurons > limits.max_neurons:
            raise CompileError(f"{layer.name}: one output channel needs {per_channel_neurons} "
                               f"potentials but a core holds max_neurons={limits.max_neurons}; "
                               "raise core.max_neurons", where, "core.max_neurons")
        fit = min(fit, limits.max_neurons // per_channel_neurons)
    if limits.max_weights is not None and per_channel_weights:
        if per_channel_weights > limits.max_weights:
            raise CompileError(f"{layer.name}: one output channel needs {per_channel_weights} "
                               f"weight words but a core holds max_weights={limits.max_weights}; "
                               "raise core.max_weights", where, "core.max_weights")
        fit = min(fit, limits.max_weights // per_channel_weights)
    k = -(-c // fit)
    edges = [i * c // k for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def map_to_cores(net: CompiledNetwork, profile, input_max: int = 255) -> MappedNetwork:
    """Place every layer on one core, or on several by output channels when it exceeds the
    profile's core.max_neurons / core.max_weights; size each core's SRAMs.

    Cores are numbered in layer order and placed row by row on the mesh (profile.noc.mesh_width
    cores per row, default the smallest square). A network that needs more than core.max_cores
    cores, or an input FIFO too small for its virtual channels, raises CompileError.
    """
    limits, widths = profile.core, net.widths
    where = getattr(profile, "path", None) or profile.name
    ranges = {layer.name: _split(layer, limits, where) for layer in net.layers}
    n_cores = sum(len(r) for r in ranges.values())
    if limits.max_cores is not None and n_cores > limits.max_cores:
        per_layer = ", ".join(f"{k}: {len(v)}" for k, v in ranges.items() if len(v) > 1)
        raise CompileError(f"the network needs {n_cores} cores but the profile has max_cores="
                           f"{limits.max_cores}" + (f" (split layers {per_layer})" if per_layer
                                                    else ""), where, "core.max_cores")
    topology = profile.noc.topology
    width = profile.noc.mesh_width or max(1, math.ceil(math.sqrt(n_cores)))
    mesh = (width, -(-n_cores // width))
    first = {}
    index = 0
    for layer in net.layers:
        first[layer.name] = index
        index += len(ranges[layer.name])
    feeders = {layer.name: sum(1 if p == net.input_name else len(ranges[p])
                               for p in dict.fromkeys(q.source for q in layer.projections))
               for layer in net.layers}
    cores, layers = [], []
    for layer in net.layers:
        sources = dict.fromkeys(p.source for p in layer.projections)
        size = max(int(np.prod(net.stream_shape(s))) for s in sources)
        level = max(stream_max_level(net, s, input_max) for s in sources)
        word = max(1, (size - 1).bit_length()) + max(1, int(level).bit_length())
        if profile.fifo_depth < feeders[layer.name]:
            raise CompileError(f"fifo_depth={profile.fifo_depth} cannot give each of the "
                               f"{feeders[layer.name]} source cores of layer {layer.name!r} a "
                               "FIFO channel; raise fifo_depth", where, "fifo_depth")
        per_channel = layer.neurons // layer.channels
        wpc = weight_words_per_channel(layer)
        for c0, c1 in ranges[layer.name]:
            n = len(cores)
            neurons = (c1 - c0) * per_channel
            weights = (c1 - c0) * wpc
            biases = (c1 - c0) if layer.bias is not None else 0
            bits = (weights * widths.weights + biases * widths.biases
                    + neurons * widths.potentials + profile.fifo_depth * word)
            cores.append(CoreSpec(n, layer.name, (c0, c1), (n % width, n // width), neurons,
                                  weights, biases, neurons, profile.fifo_depth,
                                  feeders[layer.name], word, bits))
        layers.append(replace(layer, core=first[layer.name]))
    fields = {f: getattr(net, f) for f in net.__dataclass_fields__
              if f in CompiledNetwork.__dataclass_fields__}
    fields["layers"] = layers
    return MappedNetwork(**fields, cores=tuple(cores), mesh=mesh, topology=topology,
                         packet_events=profile.packet_events, fifo_depth=profile.fifo_depth)


def default_mapping(net: CompiledNetwork) -> MappedNetwork:
    """``net`` as placed on cores by the default profile (one core per layer), unless already
    mapped: the placement the engine and the reference use for routing counts."""
    if isinstance(net, MappedNetwork):
        return net
    from .hardware.profile import Profile
    return map_to_cores(net, Profile("default"))


def core_table(net: CompiledNetwork, profile=None):
    """One row per core: layer, channel range, neurons, weight/bias/potential words, FIFO depth
    and SRAM bits (``neurosim inspect --hw``)."""
    import pandas as pd

    mapped = net if isinstance(net, MappedNetwork) else (
        map_to_cores(net, profile) if profile is not None else default_mapping(net))
    rows = [{"core": c.index, "layer": c.layer, "channels": f"{c.channels[0]}:{c.channels[1]}",
             "x": c.position[0], "y": c.position[1], "neurons": c.neurons,
             "weight_words": c.weight_words, "bias_words": c.bias_words,
             "potential_words": c.potential_words, "fifo_depth": c.fifo_depth,
             "fifo_channels": c.fifo_channels, "fifo_word_bits": c.fifo_word_bits,
             "sram_bits": c.sram_bits, "sram_kib": round(c.sram_bits / 8192, 2)}
            for c in mapped.cores]
    return pd.DataFrame(rows)
