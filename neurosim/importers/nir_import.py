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
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import CompileError, ConversionError, ModelError
from ..model.graph import Add, BatchNorm, Graph, Input, unique_name
from .dialects import DIALECTS, TOLERANCE, guess_dialect
from .nir_graph import flatten_graph, reachable, topological_order
from .nir_neurons import NeuronNodes
from .nir_read import read_nir, require_nir
from .nir_synapses import SynapseNodes
from .nir_values import EPS, Value, same_scales
from .sidecar import SideCar, load_sidecar

SPIKING = ("IF", "LIF", "CubaLIF", "Threshold")
READOUTS = ("I", "LI", "CubaLI")
POOLS = ("SumPool2d", "AvgPool2d")


class NirImportWarning(UserWarning):
    """An assumption the importer made (a default it had to use): printed by the CLI."""


class NirOverride(NirImportWarning):
    """A place where the dialect or the side-car overrides what the file says (recorded in
    ``graph.meta["import"]["overrides"]`` as ``node: field: file says X, using Y (because …)``)."""


def sidecar_beside(path) -> Path | None:
    """The side-car named like the .nir file beside it (FILE.yaml), if there is one."""
    beside = Path(path).with_suffix(".yaml")
    return beside if beside.is_file() else None


def import_nir(source, sidecar=None, dialect: str | None = None) -> Graph:
    """A neurosim Graph from a NIR file (or an in-memory ``nir.NIRGraph``).

    sidecar: a side-car path or a parsed SideCar (see neurosim.importers.sidecar); None uses
    the side-car named like the file beside it (and says so), False none.
    dialect: the framework that wrote the file, when no side-car names it.
    """
    nir = require_nir()
    found = None
    if isinstance(source, (str, Path)):
        graph, version = read_nir(source)
        where = str(source)
        if sidecar is None:
            sidecar = found = sidecar_beside(source)
    elif isinstance(source, nir.NIRGraph):
        graph, version, where = source, getattr(nir, "version", "unknown"), "<NIRGraph>"
    else:
        raise ConversionError(f"expected a .nir path or a nir.NIRGraph, got "
                              f"{type(source).__name__}", "import_nir", "source")
    if sidecar is False:
        sidecar = None
    if sidecar is not None and not isinstance(sidecar, SideCar):
        sidecar = load_sidecar(sidecar)
    importer = Importer(graph, where, version, sidecar, dialect)
    if found is not None:
        importer.note(f"using the side-car {found} found beside the file (pass --no-sidecar, "
                      "or sidecar=False, to import without it)")
    return importer.run()


class Importer(SynapseNodes, NeuronNodes):
    """The walk over a flattened NIR graph: bookkeeping, edges, and the Input/Output nodes;
    the node families' handlers come from SynapseNodes and NeuronNodes."""

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
        self.values: dict[str, Value] = {}
        self.defaulted: dict[str, list[str]] = {}
        self.overrides: list[str] = []
        self.fired: list[str] = []  # neuron nodes, for the one threshold-rule line

    # --- bookkeeping ------------------------------------------------------------------------

    def note(self, message: str) -> None:
        self.notes.append(message)
        warnings.warn(f"{self.where}: {message}", NirImportWarning, stacklevel=4)

    def override(self, node: str, field: str, says: str, using: str, because: str) -> None:
        line = f"{node}: {field}: file says {says}, using {using} (because {because})"
        self.overrides.append(line)
        warnings.warn(f"{self.where}: {line}", NirOverride, stacklevel=4)

    def fail(self, message: str, node: str | None = None):
        if self.car.input_shape and self.car.path:  # a shape clash may be the side-car's doing
            message += (f" (the side-car {self.car.path} sets input_shape "
                        f"{list(self.car.input_shape)})")
        raise ConversionError(message, self.where, node)

    def fresh(self, name: str) -> str:
        return unique_name(name, self.names)

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
        self._graph_overrides()
        if self.defaulted:
            parts = "; ".join(f"{k} for {', '.join(v)}" for k, v in self.defaulted.items())
            self.note(f"{self.dialect.name} dialect defaults used (not declared in a side-car): "
                      f"{parts}")
        if self.car.timesteps is None and self.car.path is not None:
            self.note("the side-car does not declare timesteps: T = 1")
        meta = dict(self.car.provenance)
        meta["import"] = {"format": "NIR", "file": self.where, "nir_version": self.version,
                          "dialect": self.dialect.name, "dt": self.dt,
                          "sidecar": self.car.path, "notes": list(self.notes),
                          "overrides": list(self.overrides)}
        name = self.car.name or (Path(self.where).stem if self.where != "<NIRGraph>" else "nir")
        try:
            graph = Graph(self.ir, output, name, self.timesteps, meta)
        except ModelError as err:
            self.fail(f"the imported graph is invalid: {err}")
        self._check_runs(graph)
        return graph

    def _graph_overrides(self) -> None:
        """What applies to every neuron: the time step, and the fire rule on equality."""
        if not self.fired:
            return
        nodes = ", ".join(self.fired[:6]) + (", …" if len(self.fired) > 6 else "")
        self.override(nodes, "dt", "nothing (NIR's neurons are continuous-time)",
                      f"dt = {self.dt:g}", f"the side-car {self.car.path} declares dt"
                      if self.car.dt else f"the {self.dialect.name} dialect's time step")
        self.override(nodes, "threshold", "fire when v > v_threshold (NIR)",
                      "v ≥ v_threshold", "neurosim fires on equality, z = ⌊v/θ⌋; the two "
                      "differ only where a potential lands exactly on a threshold")

    def _check_runs(self, graph: Graph) -> None:
        from ..compiler import compile_graph

        try:
            compile_graph(graph, integer=False)
        except CompileError as err:
            raise ConversionError(f"neurosim cannot run this graph: {err.message}", self.where,
                                  err.where) from None

    def _gather(self, name: str, identity: bool, voltage_ok: bool = False) -> Value:
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
        if all(v.kind == "stream" for v in values) and same_scales(values):
            self.emit(Add(add_name, args=tuple(v.source for v in values)))
            return replace(values[0], source=add_name)
        members = [self._current(v, f"{add_name}.{i}") for i, v in enumerate(values)]
        self.emit(Add(add_name, args=tuple(m.source for m in members)))
        return Value(add_name, "current", values[0].shape, values[0].ir_shape)

    def _current(self, value: Value, bn_name: str) -> Value:
        """``value`` with its pending scale applied (a BatchNorm), ready to feed a layer."""
        if value.scale is None or np.all(value.scale == 1):
            return replace(value, scale=None)
        name = self.fresh(bn_name)
        self._bn(name, value.source, value.scale, np.zeros_like(value.scale))
        return Value(name, "current", value.shape, value.ir_shape)

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
            self.override(name, "input_shape", str(list(declared)), str(list(shape)),
                          f"the side-car {self.car.path} declares input_shape")
        if len(shape) == 2:
            ir_shape = (shape[0], 1, shape[1])
        elif len(shape) in (1, 3):
            ir_shape = shape
        else:
            self.fail(f"expected an input of shape (C, H, W), (C, L) or (F,), got {list(shape)} "
                      "(did the exporter keep the batch dimension?)", name)
        self.emit(Input(name, shape=ir_shape, scale=self.car.input_scale or 1.0))
        return Value(name, "stream", shape, ir_shape)

    def _identity(self, name, node):
        """Output nodes and a subgraph's inner Input/Output: they pass their (summed) input."""
        return self._gather(name, identity=True, voltage_ok=True)


HANDLERS = {
    "Input": Importer._identity, "Output": Importer._identity,
    "Scale": Importer._scale, "Delay": Importer._delay, "Flatten": Importer._flatten,
    "Conv1d": lambda self, name, node: self._conv(name, node, one_d=True),
    "Conv2d": lambda self, name, node: self._conv(name, node, one_d=False),
    "Affine": Importer._affine, "Linear": Importer._affine,
    "SumPool2d": lambda self, name, node: self._pool(name, node, "SumPool2d"),
    "AvgPool2d": lambda self, name, node: self._pool(name, node, "AvgPool2d"),
    **{kind: Importer._neuron for kind in SPIKING},
    **{kind: Importer._readout for kind in READOUTS},
}
