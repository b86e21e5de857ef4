"""Lowering: the IR graph → layer drafts → the compiled network (integer or float).

Each IR node type has a handler (``LOWERING``, a registry by type) that turns it into a symbolic
value: a *stream* of events (the input, a neuron layer's output, pooled or flattened, or the
members of a forward-mode residual sum) or a *current* (synaptic terms and a bias feeding one
layer). Compiling

1. folds BatchNorm into the projection weights and the bias;
2. folds the value of one input level into the weights: a spike of level z from a layer with
   step θ is worth z·θ, an input unit is worth ``Input.scale``, an average-pooled member 1/k²;
3. resolves residual adds: in ``forward`` mode (the paper's) an add of event streams is not a
   layer — its consumers receive every member stream; in ``merge`` mode an adder layer sums the
   levels and emits one valued event per non-zero sum. An add of currents (Spiking ResNet) is
   a layer with several projections;
4. puts max/sum pooling in the producing layer (it acts on output levels);
5. quantises weights, biases and thresholds (neurosim.compiler.quantise) to the profile's
   fixed-point widths (``integer`` mode), or keeps float64 (``float`` mode: the float reference
   of the trained model).

Both the dense reference and the event engine run the result, which is why they agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import CompileError
from ..hardware.profile import Widths
from ..model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                           MaxPool2d, Neuron)
from ..model.neurons import NeuronSpec, decay_multiplier
from .network import ADD_MODES, PIXEL_MAX, AddPoint, CompiledNetwork, Layer, Pool, Projection
from .quantise import Calibration, Quantiser


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


class _Lowering:
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

    def run(self) -> list[_Draft]:
        """Lower every node in topological order (LOWERING gives each type's handler)."""
        g = self.graph
        for node in g.nodes:
            handler = LOWERING.get(type(node))
            if handler is None:
                raise CompileError(f"no lowering rule for node type {type(node).__name__}; "
                                   f"expected one of {sorted(t.__name__ for t in LOWERING)}",
                                   node.name)
            self.values[node.name] = handler(self, node)
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


LOWERING = {Input: _Lowering._input, Conv2d: _Lowering._conv2d, Linear: _Lowering._linear,
            BatchNorm: _Lowering._batchnorm, Neuron: _Lowering._neuron, Add: _Lowering._add,
            MaxPool2d: _Lowering._maxpool2d, AvgPool2d: _Lowering._avgpool2d,
            Flatten: _Lowering._flatten}


def compile_graph(graph: Graph, widths: Widths | None = None, integer: bool = True,
                  add_mode: str = "forward", input_max: int = PIXEL_MAX,
                  calibration: Calibration | None = None) -> CompiledNetwork:
    """Compile ``graph`` for the hardware: integer fixed point (default) or float64.

    ``input_max`` bounds the integer input values (255 for 8-bit pixels): the uncalibrated
    readout's worst case and the accumulators' bounds use it. ``calibration`` (measured by
    neurosim.calibration) sizes the potential words of readouts and of layers that carry state
    (neurosim.compiler.quantise).
    """
    widths = widths or Widths()
    compiler = _Lowering(graph, add_mode)
    drafts = compiler.run()
    quant = Quantiser(widths, graph.timesteps, graph.input.name, input_max, calibration)
    vlim = 2 ** (widths.potentials - 1)
    layers: list[Layer] = []
    for d in drafts:
        if integer:
            weights, shifts, bias, threshold, s, _ = quant.quantise(d)
            decay = decay_multiplier(d.spec)
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
                           compiler.adds, quant.report if integer else {},
                           calibration.describe() if integer and calibration else None)
