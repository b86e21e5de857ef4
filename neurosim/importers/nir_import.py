"""Import a NIR graph onto neurosim's IR, with a side-car for what NIR cannot say.

    graph = import_nir("net.nir", sidecar="net.yaml")      # a neurosim Graph

Every NIR node type maps onto the existing IR nodes or raises a ConversionError that names the
file and the node (nothing is skipped):

    NIR node             neurosim IR
    Input / Output       Input / the graph's output; a 2-D input (C, L) becomes (C, 1, L)
    NIRGraph             flattened; its inner nodes keep dotted names ("G.lif")
    Conv2d, Conv1d       Conv2d (Conv1d as H = 1; groups and dilation expanded with zeros)
    Affine, Linear       Linear (on a vector: the Flatten must be explicit)
    Conv/Affine on a     BatchNorm γ = diagonal, β = bias, when it is per-channel (a folded
      current            BatchNorm exported as a depthwise 1×1 conv); anything else raises
    Scale                a per-channel factor folded into the next conv/linear weights, or a
                         BatchNorm before the next neuron
    SumPool2d            AvgPool2d, the k² folded into the next layer like a Scale
    AvgPool2d            AvgPool2d; covering the whole map: a global average pool
    Flatten              Flatten (whole maps only)
    IF, LIF, CubaLIF,    Neuron; the dialect's input gain and threshold become a BatchNorm
      Threshold          before it, so that one level is worth what one spike was
    I, LI, CubaLI        the readout (only as the graph's output: they emit voltages); the
                         readout reports its input averaged over T (an I holds T times that;
                         an LI must not leak over T > 1). A conv/affine output without neuron
                         is a readout too.
    Delay                identity if all delays are 0, else an error
    several in-edges     an Add (named after the node when the node itself is an identity,
                         "<node>.add" otherwise)

A per-channel factor k and shift c is a BatchNorm(γ = k, β = c, μ = 0, σ² = 1, ε = 1e-30): the
compiler folds it into the weights in float64 exactly (1 + 1e-30 == 1 in float64).

Levels. A framework's spike is worth 1 downstream whatever its threshold θ; a neurosim level is
worth Vth/N. The importer divides each neuron's input by θ and sets Vth = N, so one level is
worth 1, exactly as one spike was. (neurosim's own exports restore the exact NeuronSpec from the
side-car instead, and absorb the Scale(θ) that follows each neuron in the file.)

NIR fires when v > θ, neurosim (like Sinabs and SpikingJelly) when v ≥ θ: they differ only when a
potential lands exactly on a threshold.

The imported graph is compiled once (float) to check that neurosim can run it; a CompileError
becomes a ConversionError naming the file. Assumptions the importer had to make (no side-car,
default levels, T = 1 ...) are issued as NirImportWarning and recorded in
``graph.meta["import"]["notes"]``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import CompileError, ConversionError, ModelError
from ..model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                           MaxPool2d, Neuron)
from ..model.neurons import NeuronSpec
from .dialects import DIALECTS, TOLERANCE, discretise, guess_dialect
from .nir_graph import flatten_graph, reachable, topological_order
from .nir_read import require_nir, read_nir
from .sidecar import SideCar, load_sidecar

EPS = 1e-30  # BatchNorm ε for an exact per-channel affine (see the module docstring)
SPIKING = ("IF", "LIF", "CubaLIF", "Threshold")
READOUTS = ("I", "LI", "CubaLI")
POOLS = ("SumPool2d", "AvgPool2d")


class NirImportWarning(UserWarning):
    """An assumption the importer made (a default it had to use): printed by the CLI."""


@dataclass(frozen=True)
class _Value:
    """What flows along a NIR edge, in IR terms.

    kind: "stream" (events: the input, neuron levels, pools, flatten), "current" (conv, linear,
    BatchNorm, adds of currents) or "voltage" (an integrator's output: only the readout).
    shape: the NIR shape; ir_shape: the IR node's ((C, L) maps are (C, 1, L) in the IR).
    scale: the NIR value is scale ⊙ the IR value; per channel (C,) for maps, per feature for
    vectors; None when 1.
    """

    source: str
    kind: str
    shape: tuple[int, ...]
    ir_shape: tuple[int, ...]
    scale: np.ndarray | None = None


def import_nir(source, sidecar=None, dialect: str | None = None) -> Graph:
    """A neurosim Graph from a NIR file (or an in-memory ``nir.NIRGraph``).

    sidecar: a side-car path or a parsed SideCar (see neurosim.importers.sidecar).
    dialect: the framework that wrote the file, when no side-car names it.
    """
    nir = require_nir()
    if isinstance(source, (str, Path)):
        graph, version = read_nir(source)
        where = str(source)
    elif isinstance(source, nir.NIRGraph):
        graph, version, where = source, getattr(nir, "version", "unknown"), "<NIRGraph>"
    else:
        raise ConversionError(f"expected a .nir path or a nir.NIRGraph, got "
                              f"{type(source).__name__}", "import_nir", "source")
    if sidecar is not None and not isinstance(sidecar, SideCar):
        sidecar = load_sidecar(sidecar)
    return _Importer(graph, where, version, sidecar, dialect).run()


def _pair(value, n: int, what: str, where: str, node: str) -> tuple[int, ...]:
    arr = np.asarray(value).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, n)
    if arr.size != n or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ConversionError(f"expected {n} integer {what}, got {np.asarray(value).tolist()}",
                              where, f"{node}.{what}")
    return tuple(int(v) for v in arr)


class _Importer:
    def __init__(self, graph, where: str, version: str, car: SideCar | None, dialect: str | None):
        self.where = where
        self.version = version
        self.notes: list[str] = []
        self.car = car if car is not None else SideCar()
        self.nodes, self.edges, inputs, outputs = flatten_graph(graph, where)
        if len(inputs) != 1 or len(outputs) != 1:
            raise ConversionError(f"a neurosim network has one Input and one Output node; the "
                                  f"graph has inputs {inputs} and outputs {outputs}", where)
        self.top_input, self.top_output = inputs[0], outputs[0]
        self.preds = {n: [] for n in self.nodes}
        for a, b in self.edges:
            self.preds[b].append(a)
        self._check_connected()
        self.order = topological_order(list(self.nodes), self.edges, where)
        self.dialect = self._dialect(dialect, graph)
        self.dt = self.car.dt or self.dialect.dt
        self._check_sidecar_nodes()
        self.timesteps = self.car.timesteps or 1
        self.ir: list = []
        self.names: set[str] = set(self.nodes)
        self.values: dict[str, _Value] = {}
        self.defaulted: dict[str, list[str]] = {}

    # --- bookkeeping ------------------------------------------------------------------------

    def note(self, message: str) -> None:
        self.notes.append(message)
        warnings.warn(f"{self.where}: {message}", NirImportWarning, stacklevel=4)

    def fail(self, message: str, node: str | None = None):
        if self.car.input_shape and self.car.path:  # a shape clash may be the side-car's doing
            message += (f" (the side-car {self.car.path} sets input_shape "
                        f"{list(self.car.input_shape)})")
        raise ConversionError(message, self.where, node)

    def fresh(self, name: str) -> str:
        candidate, i = name, 1
        while candidate in self.names:
            candidate, i = f"{name}{i}", i + 1
        self.names.add(candidate)
        return candidate

    def emit(self, node):
        self.ir.append(node)
        return node

    def _check_connected(self):
        fed = {self.top_input}
        for n in reachable(self.top_input, self.edges):
            fed.add(n)
        leads = set(reachable(self.top_output, [(b, a) for a, b in self.edges]))
        leads.add(self.top_output)
        for name in self.nodes:
            if name not in fed:
                self.fail("receives no input (no path from the Input node): an edge the "
                          "exporter dropped?", name)
            if name not in leads:
                self.fail("does not lead to the Output node: an edge the exporter dropped?", name)

    def _dialect(self, requested, graph):
        car = self.car
        if car.dialect and requested and car.dialect != requested:
            self.fail(f"the side-car says dialect {car.dialect!r} but {requested!r} was "
                      "requested", "dialect")
        name = car.dialect or requested
        if name is not None and name not in DIALECTS:
            self.fail(f"unknown dialect {name!r}; expected one of {list(DIALECTS)}", "dialect")
        if name is None:
            meta = getattr(graph, "metadata", None) or {}
            source = meta.get("source", b"")
            source = source.decode() if isinstance(source, bytes) else str(source)
            if source.startswith("neurosim"):
                name, why = "neurosim", f"the file's metadata says source {source!r}"
            else:
                name, why = guess_dialect(self.nodes)
            if name is None:
                if any(type(n).__name__ in SPIKING + READOUTS for n in self.nodes.values()):
                    self.fail("cannot tell which framework wrote the file (its neurons follow "
                              "no known convention): name the dialect in a side-car or with "
                              f"--dialect ({', '.join(DIALECTS)})", "dialect")
                name, why = "neurosim", "the graph has no neurons"
            self.note(f"no dialect declared; assuming {name} ({why})")
        if car.path is None:
            d = DIALECTS[name]
            self.note(f"no side-car: using the {name} dialect's defaults (dt={d.dt:g}, reset="
                      f"{d.reset}, levels={d.levels}, timesteps=1, input_scale=1)")
        return DIALECTS[name]

    def _check_sidecar_nodes(self):
        allowed = {"levels": SPIKING, "reset": SPIKING, "barrier": SPIKING, "neuron": SPIKING,
                   "norm_input": ("LIF", "LI"), "pool": POOLS,
                   "bias": ("Conv1d", "Conv2d", "Affine", "Linear"),
                   "batchnorm": ("Conv2d", "Affine", "Linear")}
        for name, settings in self.car.nodes.items():
            field = f"nodes.{name}"
            if name not in self.nodes:
                raise ConversionError(f"no node named {name!r} in {self.where}", self.car.path,
                                      field)
            kind = type(self.nodes[name]).__name__
            for key in settings.declared():
                if key in allowed and kind not in allowed[key]:
                    raise ConversionError(f"'{key}' applies to {'/'.join(allowed[key])} nodes; "
                                          f"{name!r} is a {kind}", self.car.path,
                                          f"{field}.{key}")
            if settings.norm_input is not None and self.dialect.name != "sinabs":
                raise ConversionError("norm_input is a sinabs setting", self.car.path,
                                      f"{field}.norm_input")
            if settings.residual is not None and len(self.preds[name]) < 2:
                raise ConversionError(f"declares a residual operation but {name!r} has "
                                      f"{len(self.preds[name])} input edge(s)", self.car.path,
                                      f"{field}.residual")

    # --- the walk ----------------------------------------------------------------------------

    def run(self) -> Graph:
        for name in self.order:
            node = self.nodes[name]
            kind = type(node).__name__
            try:
                if name == self.top_input:
                    value = self._input(name, node)
                else:
                    value = HANDLERS[kind](self, name, node)
            except ModelError as err:  # an IR node rejected what it was given
                self.fail(f"{kind}: {err.message}" + (f" ({err.field})" if err.field else ""),
                          name)
            self.values[name] = value
        output = self._output_value(self.values[self.top_output])
        if self.defaulted:
            parts = "; ".join(f"{k} for {', '.join(v)}" for k, v in self.defaulted.items())
            self.note(f"{self.dialect.name} dialect defaults used (not declared in a side-car): "
                      f"{parts}")
        if self.car.timesteps is None and self.car.path is not None:
            self.note("the side-car does not declare timesteps: T = 1")
        meta = dict(self.car.provenance)
        meta["import"] = {"format": "NIR", "file": self.where, "nir_version": self.version,
                          "dialect": self.dialect.name, "dt": self.dt,
                          "sidecar": self.car.path, "notes": list(self.notes)}
        name = self.car.name or (Path(self.where).stem if self.where != "<NIRGraph>" else "nir")
        try:
            graph = Graph(self.ir, output, name, self.timesteps, meta)
        except ModelError as err:
            self.fail(f"the imported graph is invalid: {err}")
        self._check_runs(graph)
        return graph

    def _check_runs(self, graph: Graph) -> None:
        from ..compiler import compile_graph

        try:
            compile_graph(graph, integer=False)
        except CompileError as err:
            raise ConversionError(f"neurosim cannot run this graph: {err.message}", self.where,
                                  err.where) from None

    def _gather(self, name: str, identity: bool, voltage_ok: bool = False) -> _Value:
        """The sum of a node's inputs (NIR sums several in-edges)."""
        preds = self.preds[name]
        if not preds:
            self.fail("has no input edge", name)
        values = [self.values[p] for p in preds]
        for p, v in zip(preds, values):
            if v.kind == "voltage" and not (voltage_ok and len(values) == 1):
                self.fail(f"receives the membrane voltage of {p!r} ({type(self.nodes[p]).__name__})"
                          ": neurosim layers exchange events, so an integrator can only be the "
                          "network's readout", name)
        if len(values) == 1:
            return values[0]
        op = self.car.node(name).residual or "add"
        if op != "add":
            self.fail(f"the side-car declares residual '{op}': neurosim implements SEW's ADD "
                      "(a sum of events) only", name)
        shapes = {v.shape for v in values}
        if len(shapes) != 1:
            self.fail(f"sums inputs of different shapes: "
                      f"{ {p: v.shape for p, v in zip(preds, values)} }", name)
        add_name = name if identity else self.fresh(f"{name}.add")  # an identity's own name
        if all(v.kind == "stream" for v in values) and _same_scales(values):
            self.emit(Add(add_name, args=tuple(v.source for v in values)))
            return replace(values[0], source=add_name)
        members = [self._current(v, f"{add_name}.{i}") for i, v in enumerate(values)]
        self.emit(Add(add_name, args=tuple(m.source for m in members)))
        return _Value(add_name, "current", values[0].shape, values[0].ir_shape)

    def _current(self, value: _Value, bn_name: str) -> _Value:
        """``value`` with its pending scale applied (a BatchNorm), ready to feed a layer."""
        if value.scale is None or np.all(value.scale == 1):
            return replace(value, scale=None)
        name = self.fresh(bn_name)
        self._bn(name, value.source, value.scale, np.zeros_like(value.scale))
        return _Value(name, "current", value.shape, value.ir_shape)

    def _bn(self, name: str, source: str, k, c) -> None:
        k = np.asarray(k, np.float64)
        self.emit(BatchNorm(name, input=source, gamma=k.astype(np.float32),
                            beta=np.asarray(c, np.float32), mean=np.zeros(k.shape, np.float32),
                            var=np.ones(k.shape, np.float32), eps=EPS))

    def _per_channel(self, arr, shape, what: str, name: str) -> np.ndarray:
        """A per-position array reduced to one value per channel (per feature for vectors)."""
        arr = np.asarray(arr, np.float64)
        if arr.size == 1:
            arr = np.full(shape, float(arr.ravel()[0]))
        if tuple(arr.shape) != tuple(shape):
            self.fail(f"{what} has shape {tuple(arr.shape)} but the node receives "
                      f"{tuple(shape)}", name)
        if len(shape) == 1:
            return arr
        rows = arr.reshape(shape[0], -1)
        spread = np.abs(rows - rows[:, :1]).max(axis=1)
        if np.any(spread > TOLERANCE * np.maximum(np.abs(rows[:, 0]), 1e-30)):
            self.fail(f"{what} differs between positions of one channel; neurosim keeps one "
                      "value per channel", name)
        return rows[:, 0].copy()

    # --- node handlers -----------------------------------------------------------------------

    def _input(self, name, node):
        if self.preds[name]:
            self.fail("the Input node has input edges", name)
        declared = tuple(int(s) for s in np.asarray(node.input_type["input"]).ravel())
        shape = self.car.input_shape or declared
        if self.car.input_shape and declared != shape:
            self.note(f"input {name!r}: the side-car's input_shape {list(shape)} replaces the "
                      f"declared {list(declared)}")
        if len(shape) == 2:
            ir_shape = (shape[0], 1, shape[1])
        elif len(shape) in (1, 3):
            ir_shape = shape
        else:
            self.fail(f"expected an input of shape (C, H, W), (C, L) or (F,), got {list(shape)} "
                      "(did the exporter keep the batch dimension?)", name)
        self.emit(Input(name, shape=ir_shape, scale=self.car.input_scale or 1.0))
        return _Value(name, "stream", shape, ir_shape)

    def _identity(self, name, node):
        """Output nodes and a subgraph's inner Input/Output: they pass their (summed) input."""
        return self._gather(name, identity=True, voltage_ok=True)

    def _scale(self, name, node):
        value = self._gather(name, identity=True)
        s = self._per_channel(node.scale, value.shape, "scale", name)
        if value.scale is not None:
            s = s * value.scale
        if np.allclose(s, 1, rtol=0, atol=TOLERANCE):  # e.g. a neuron's level value θ absorbed
            return replace(value, scale=None)
        return replace(value, scale=s)

    def _delay(self, name, node):
        value = self._gather(name, identity=True)
        delay = np.asarray(node.delay, np.float64)
        if np.any(delay != 0):
            self.fail(f"delays its input by up to {delay.max():g}: neurosim has no synaptic "
                      "delays", name)
        return value

    def _flatten(self, name, node):
        value = self._gather(name, identity=False)
        nd = len(value.shape)
        declared = node.input_type.get("input") if isinstance(node.input_type, dict) else None
        if declared is not None and np.size(declared) and \
                int(np.prod(declared)) != int(np.prod(value.shape)):
            self.fail(f"declares input {np.asarray(declared).tolist()} but receives "
                      f"{list(value.shape)}", name)
        start, end = int(node.start_dim), int(node.end_dim)
        start, end = start % nd if start < 0 else start, end % nd if end < 0 else end
        if nd == 1:
            return value
        if (start, end) != (0, nd - 1):
            self.fail(f"flattens dimensions {start}..{end} of {list(value.shape)}: neurosim "
                      "flattens whole feature maps only", name)
        if value.kind != "stream":
            self.fail("flattens a current (put a neuron before it)", name)
        self.emit(Flatten(name, input=value.source))
        size = int(np.prod(value.shape))
        scale = None if value.scale is None else np.repeat(value.scale, size // value.shape[0])
        return _Value(name, "stream", (size,), (size,), scale)

    def _conv(self, name, node, one_d: bool):
        value = self._gather(name, identity=False)
        w = np.asarray(node.weight, np.float64)
        nd = 1 if one_d else 2
        if w.ndim != nd + 2:
            self.fail(f"weight must have {nd + 2} dimensions, got shape {list(w.shape)}", name)
        groups = int(np.asarray(node.groups).ravel()[0])
        cout, cin_g = w.shape[:2]
        if groups < 1 or cout % groups:
            self.fail(f"groups={groups} does not divide {cout} output channels", name)
        if len(value.shape) != nd + 1 or value.shape[0] != cin_g * groups:
            self.fail(f"expects an input of {cin_g * groups} channels and {nd} spatial "
                      f"dimension(s), gets {list(value.shape)} from {self.preds[name]}"
                      + self._input_hint(name), name)
        if value.kind != "stream" or self.car.node(name).batchnorm is not None:
            return self._affine_on_current(name, node, value, w.reshape(cout, cin_g, -1), groups)
        kernel = w.shape[2:]
        stride = _pair(node.stride, nd, "stride", self.where, name)
        dilation = _pair(node.dilation, nd, "dilation", self.where, name)
        spatial = value.shape[1:]
        declared = np.asarray(node.input_shape if node.input_shape is not None else [],
                              np.float64).ravel()
        if declared.size and tuple(int(s) for s in declared) != tuple(spatial):
            self.fail(f"declares input_shape {declared.astype(int).tolist()} but receives "
                      f"{list(spatial)}", name)
        if isinstance(node.padding, str):
            if node.padding == "valid":
                padding = (0,) * nd
            else:  # "same"
                total = [d * (k - 1) for d, k in zip(dilation, kernel)]
                if any(t % 2 for t in total) or any(s != 1 for s in stride):
                    self.fail("padding 'same' needs stride 1 and an odd (dilated) kernel here",
                              name)
                padding = tuple(t // 2 for t in total)
        else:
            padding = _pair(node.padding, nd, "padding", self.where, name)
        if groups > 1:
            dense = np.zeros((cout, cin_g * groups) + kernel)
            og = cout // groups
            for g in range(groups):
                dense[g * og:(g + 1) * og, g * cin_g:(g + 1) * cin_g] = w[g * og:(g + 1) * og]
            w = dense
        if any(d > 1 for d in dilation):
            shape = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
            dilated = np.zeros(w.shape[:2] + shape)
            dilated[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
            w = dilated
        if value.scale is not None:
            w = w * value.scale.reshape((1, -1) + (1,) * nd)
        if one_d:
            w, stride, padding = w[:, :, None, :], (1,) + stride, (0,) + padding
        out = [(s + 2 * p - k) // st + 1
               for s, p, k, st in zip(spatial, padding[-nd:], w.shape[-nd:], stride[-nd:])]
        if min(out) < 1:
            self.fail(f"kernel {list(w.shape[-nd:])} does not fit input {list(spatial)}", name)
        bias = self._bias(name, node, cout)
        weight = w.astype(np.float32) if w.dtype != np.float32 else w
        self.emit(Conv2d(name, input=value.source, weight=weight, bias=bias, stride=stride,
                         padding=padding))
        shape = (cout, *out)
        return _Value(name, "current", shape, (cout, 1, out[0]) if one_d else shape)

    def _input_hint(self, name) -> str:
        if self.top_input not in self.preds[name] or self.car.input_shape:
            return ""
        return ("; if the exporter declared a wrong input shape, give the real one as "
                "input_shape in the side-car")

    def _bias(self, name, node, n: int):
        bias = getattr(node, "bias", None)
        if bias is None:
            return None
        bias = np.asarray(bias, np.float64).ravel()
        if bias.size == 1 and n > 1:
            bias = np.full(n, bias[0])
        if bias.shape != (n,):
            self.fail(f"bias has {bias.size} values for {n} outputs", name)
        if self.car.node(name).bias is False:
            if np.any(bias != 0):
                self.fail("the side-car says 'bias: false' but the node's bias is not zero", name)
            return None
        return bias.astype(np.float32)

    def _affine(self, name, node):
        value = self._gather(name, identity=False)
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2:
            self.fail(f"weight must be a matrix (out, in), got shape {list(w.shape)}", name)
        if value.shape != (w.shape[1],):
            self.fail(f"expects a vector of {w.shape[1]} features, gets {list(value.shape)} from "
                      f"{self.preds[name]}" + (" (insert a Flatten)" if len(value.shape) > 1
                                               else self._input_hint(name)), name)
        if value.kind != "stream" or self.car.node(name).batchnorm is not None:
            return self._affine_on_current(name, node, value, w[:, :, None], 1)
        if value.scale is not None:
            w = w * value.scale[None, :]
        weight = w.astype(np.float32)
        self.emit(Linear(name, input=value.source, weight=weight,
                         bias=self._bias(name, node, w.shape[0])))
        return _Value(name, "current", (w.shape[0],), (w.shape[0],))

    def _affine_on_current(self, name, node, value, w, groups):
        """A conv/affine applied to a current is only possible as a per-channel scale and shift
        (a BatchNorm): a diagonal 1×1 map, such as a BatchNorm exported as a depthwise conv."""
        c = value.shape[0]
        cout = w.shape[0]
        diag = None
        if w.shape[2] == 1 and cout == c:
            stride = np.asarray(getattr(node, "stride", 1)).ravel()
            padding = getattr(node, "padding", 0)
            padding = np.asarray(padding if not isinstance(padding, str) else
                                 (0 if padding in ("valid", "same") else 1)).ravel()
            if np.all(stride == 1) and np.all(padding == 0):
                if groups == c and w.shape[1] == 1:
                    diag = w[:, 0, 0]
                elif groups == 1 and w.shape[1] == c:
                    m = w[:, :, 0]
                    if np.all(m[~np.eye(c, dtype=bool)] == 0):
                        diag = np.diag(m).copy()
        if diag is None:
            self.fail(f"takes the current of {self.preds[name]} (no neuron between): neurosim's "
                      "layers are fed by events, so only a per-channel scale and shift (a "
                      "diagonal 1x1 map) can follow a conv or linear layer", name)
        bias = self._bias(name, node, c)
        shift = np.zeros(c) if bias is None else bias.astype(np.float64)
        k = diag * (1.0 if value.scale is None else value.scale)
        bn = self.car.node(name).batchnorm
        if bn is not None:
            if value.scale is not None:
                self.fail("a side-car batchnorm cannot follow a scaled value", name)
            self._restore_bn(name, value, bn, diag, shift)
        else:
            self._bn(name, value.source, k, shift)
        return _Value(name, "current", value.shape, value.ir_shape)

    def _restore_bn(self, name, value, bn, k, c):
        """The exact BatchNorm a neurosim export folded into a depthwise node (side-car)."""
        n = value.shape[0]
        if bn["gamma"].shape != (n,):
            raise ConversionError(f"batchnorm has {bn['gamma'].size} channels, the node has {n}",
                                  self.car.path, f"nodes.{name}.batchnorm")
        node = BatchNorm(name, input=value.source, gamma=bn["gamma"], beta=bn["beta"],
                         mean=bn["mean"], var=bn["var"], eps=bn["eps"])
        k_bn, c_bn = node.scale_shift()
        if not (np.allclose(k_bn, k, rtol=1e-5, atol=1e-6)
                and np.allclose(c_bn, c, rtol=1e-5, atol=1e-6)):
            raise ConversionError("batchnorm does not match the node's folded weight and bias "
                                  "(a side-car written for another file?)", self.car.path,
                                  f"nodes.{name}.batchnorm")
        self.emit(node)

    def _pool(self, name, node, kind):
        value = self._gather(name, identity=False)
        if value.kind != "stream":
            self.fail(f"pools the current of {self.preds[name]}: neurosim pools the output "
                      "levels of a neuron layer (put the pool after the neuron)", name)
        if len(value.shape) != 3:
            self.fail(f"expects a feature map (C, H, W), gets {list(value.shape)}", name)
        kernel = _pair(node.kernel_size, 2, "kernel_size", self.where, name)
        stride = _pair(node.stride, 2, "stride", self.where, name)
        if any(_pair(node.padding, 2, "padding", self.where, name)):
            self.fail("pooling with padding: neurosim pools have none", name)
        c, h, w = value.shape
        out = ((h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1)
        if min(out) < 1 or min(kernel) < 1 or min(stride) < 1:
            self.fail(f"pool {list(kernel)} stride {list(stride)} does not fit {list(value.shape)}",
                      name)
        declared = self.car.node(name).pool
        scale = value.scale
        if declared == "max":
            self.emit(MaxPool2d(name, input=value.source, kernel=kernel, stride=stride))
        elif declared == "global" or (declared is None and kind == "AvgPool2d"
                                      and out == (1, 1) and kernel == (h, w)):
            if kind != "AvgPool2d" or out != (1, 1):
                self.fail("the side-car declares a global pool, but this is not an average pool "
                          "over the whole map", name)
            self.emit(AvgPool2d(name, input=value.source, kernel=None))
        else:
            if declared is not None and declared != {"AvgPool2d": "avg",
                                                     "SumPool2d": "sum"}[kind]:
                self.fail(f"the side-car declares pool '{declared}' but the node is a {kind}",
                          name)
            self.emit(AvgPool2d(name, input=value.source, kernel=kernel, stride=stride))
            if kind == "SumPool2d":
                k2 = float(kernel[0] * kernel[1])
                scale = np.full(c, k2) if scale is None else scale * k2
        return _Value(name, "stream", (c, *out), (c, *out), scale)

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
        if settings.neuron is not None:
            spec, out_scale = self._exact_neuron(name, kind, settings.neuron, theta, decay, gain,
                                                 leak)
            gamma, beta = incoming, np.zeros_like(gain)
        else:
            spec = self._spec(name, kind, settings, d, theta, decay)
            gamma, beta, out_scale = gain * incoming / theta, leak / theta, None
        source = value.source
        if np.any(gamma != 1) or np.any(beta != 0):
            source = self.fresh(f"{name}.in")
            self._bn(source, value.source, gamma, beta)
        self.emit(Neuron(name, input=source, spec=spec))
        return _Value(name, "stream", value.shape, value.ir_shape, out_scale)

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
            value = _Value(name, "current", value.shape, value.ir_shape)
        if kind == "I" and self.timesteps > 1:
            self.note(f"{name!r} integrates over T: neurosim's readout reports the mean over the "
                      f"T={self.timesteps} timesteps (the integrator holds T times that)")
        return replace(value, kind="voltage", scale=None)

    def _output_value(self, value: _Value) -> str:
        """The IR node whose value is the network's output."""
        if value.kind == "stream":
            if value.scale is not None and not np.all(value.scale == 1):
                self.fail("the network's output spikes are scaled (a Scale after the last "
                          "neuron): neurosim's output is the spike count", self.top_output)
            return value.source
        value = self._current(value, f"{self.top_output}.scale")
        return value.source


def _same_scales(values) -> bool:
    first = values[0].scale
    for v in values[1:]:
        if (first is None) != (v.scale is None):
            a = first if first is not None else v.scale
            if not np.all(a == 1):
                return False
        elif first is not None and not np.array_equal(first, v.scale):
            return False
    return True


HANDLERS = {
    "Input": _Importer._identity, "Output": _Importer._identity,
    "Scale": _Importer._scale, "Delay": _Importer._delay, "Flatten": _Importer._flatten,
    "Conv1d": lambda self, name, node: self._conv(name, node, one_d=True),
    "Conv2d": lambda self, name, node: self._conv(name, node, one_d=False),
    "Affine": _Importer._affine, "Linear": _Importer._affine,
    "SumPool2d": lambda self, name, node: self._pool(name, node, "SumPool2d"),
    "AvgPool2d": lambda self, name, node: self._pool(name, node, "AvgPool2d"),
    **{kind: _Importer._neuron for kind in SPIKING},
    **{kind: _Importer._readout for kind in READOUTS},
}
