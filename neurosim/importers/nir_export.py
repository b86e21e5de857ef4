"""Export a neurosim model to NIR, with a side-car for what NIR loses, so that it imports back
exactly: import_nir(export_nir(m)) compiles to the same network (same levels, same counts).

How each IR node is written (the NIR file alone is a faithful NIR graph wherever NIR can say
it; the side-car, dialect "neurosim", carries the rest):

    IR node         NIR node(s)                                    side-car
    Input           Input (shape)                                  input_scale, timesteps
    Conv2d          Conv2d (bias zeros when it has none)           bias: false
    Linear          Affine, or Linear without bias
    BatchNorm       folded per channel, k = γ/sqrt(σ²+ε), c = β − kμ:
                    a diagonal 1×1 Conv2d on maps (not a depth-    batchnorm: γ, β, μ, σ², ε
                    wise one: nir 1.0.8's type check ignores       (exact, float32 values)
                    groups), a diagonal Affine on vectors
    Neuron          IF (r = 1) / LIF (τ = 1/(1 − decay), r = τ,    neuron: the whole NeuronSpec
                    dt = 1) / Threshold (stateless), threshold
                    θ = Vth/N; then Scale(θ) "<name>.level" when
                    θ ≠ 1, because a NIR spike is worth 1 and a
                    neurosim level θ
    MaxPool2d       SumPool2d (NIR has no max-pool: for sparse     pool: max
                    spikes a sum is the closer stand-in)
    AvgPool2d       AvgPool2d; a global pool as the whole-map one  pool: avg | global
    Flatten         Flatten (start_dim 0)
    Add             Scale(1) named after the Add, fed by one edge  residual: add
                    per member (NIR sums a node's in-edges)

A sinabs-style reader (multi-spike IF, subtractive reset) computes what neurosim does, up to the
cap of N levels; a binary reader gets the binary approximation. The graph's metadata says
``source: neurosim <version>`` so that the importer recognises the dialect without a side-car.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConversionError
from ..outputs import atomic_file, check_file, head_of
from ..model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                           MaxPool2d, Neuron, unique_name)
from .nir_read import require_nir
from .sidecar import FORMAT, VERSION, write_sidecar


def default_sidecar_path(path) -> Path:
    """FILE.nir → FILE.yaml."""
    return Path(path).with_suffix(".yaml")


def _yaml_safe(value):
    if isinstance(value, dict):
        return {str(k): _yaml_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _floats(arr) -> list[float]:
    return [float(v) for v in np.asarray(arr, np.float32)]


class _Exporter:
    def __init__(self, graph: Graph):
        self.nir = require_nir()
        self.graph = graph
        self.nodes: dict = {}
        self.edges: list[tuple[str, str]] = []
        self.sidecar_nodes: dict[str, dict] = {}
        self.out_of: dict[str, str] = {}  # IR node → the NIR node that carries its value
        self.names = {n.name for n in graph.nodes}

    def unique(self, base: str) -> str:
        return unique_name(base, self.names)

    def run(self):
        nir = self.nir
        for node in self.graph.nodes:  # NIR stores each node as an HDF5 group of that name
            if "/" in node.name or node.name in ("", "."):
                raise ConversionError(f"node name {node.name!r} cannot be a NIR (HDF5 group) "
                                      "name: rename the node (no '/')", self.graph.name,
                                      node.name)
        for node in self.graph.nodes:
            for src in node.inputs:
                self.edges.append((self.out_of[src], node.name))
            self.out_of[node.name] = node.name
            self.nodes[node.name] = getattr(self, "_" + type(node).__name__.lower())(node)
            if isinstance(node, Neuron) and node.spec.theta != 1:
                level = self.unique(f"{node.name}.level")
                shape = self.graph.shapes[node.name]
                self.nodes[level] = nir.Scale(np.full(shape, node.spec.theta, np.float32))
                self.edges.append((node.name, level))
                self.out_of[node.name] = level
        output = self.unique("output")
        self.nodes[output] = nir.Output(
            output_type={"output": np.array(self.graph.shapes[self.graph.output])})
        self.edges.append((self.out_of[self.graph.output], output))
        try:
            return nir.NIRGraph(nodes=self.nodes, edges=self.edges,
                                metadata={"source": f"neurosim {__version__}"}, type_check=True)
        except Exception as err:  # nir's own type check of what we wrote: a bug here
            raise ConversionError(f"nir rejects the exported graph: {err}", self.graph.name) \
                from None

    def settings(self, name: str, **kw) -> None:
        self.sidecar_nodes.setdefault(name, {}).update(kw)

    def in_shape(self, node) -> tuple[int, ...]:
        return self.graph.shapes[node.inputs[0]]

    # --- one method per IR node type --------------------------------------------------------

    def _input(self, node: Input):
        return self.nir.Input(input_type={"input": np.array(node.shape)})

    def _conv2d(self, node: Conv2d):
        cout = node.weight.shape[0]
        if node.bias is None:
            self.settings(node.name, bias=False)
        return self.nir.Conv2d(input_shape=np.array(self.in_shape(node)[1:]),
                               weight=np.asarray(node.weight, np.float32),
                               stride=np.array(node.stride), padding=np.array(node.padding),
                               dilation=np.array([1, 1]), groups=1,
                               bias=np.zeros(cout, np.float32) if node.bias is None
                               else np.asarray(node.bias, np.float32))

    def _linear(self, node: Linear):
        weight = np.asarray(node.weight, np.float32)
        if node.bias is None:
            return self.nir.Linear(weight=weight)
        return self.nir.Affine(weight=weight, bias=np.asarray(node.bias, np.float32))

    def _batchnorm(self, node: BatchNorm):
        k, c = node.scale_shift()
        self.settings(node.name, batchnorm={
            "gamma": _floats(node.gamma), "beta": _floats(node.beta),
            "mean": _floats(node.mean), "var": _floats(node.var), "eps": float(node.eps)})
        shape = self.in_shape(node)
        diagonal = np.diag(k).astype(np.float32)
        if len(shape) == 3:
            return self.nir.Conv2d(input_shape=np.array(shape[1:]),
                                   weight=diagonal[:, :, None, None],
                                   stride=np.array([1, 1]), padding=np.array([0, 0]),
                                   dilation=np.array([1, 1]), groups=1, bias=c.astype(np.float32))
        return self.nir.Affine(weight=diagonal, bias=c.astype(np.float32))

    def _neuron(self, node: Neuron):
        spec = node.spec
        shape = self.graph.shapes[node.name]
        self.settings(node.name, neuron=spec.to_dict())
        theta = np.full(shape, spec.theta, np.float32)
        zeros = np.zeros(shape, np.float32)
        if spec.stateless:
            return self.nir.Threshold(threshold=theta)
        if spec.kind == "if":
            return self.nir.IF(r=np.ones(shape, np.float32), v_threshold=theta, v_reset=zeros)
        tau = np.full(shape, 1.0 / (1.0 - spec.decay))  # dt = 1: v ← (1 − 1/τ)·v + (r/τ)·I
        return self.nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(shape), v_threshold=theta,
                            v_reset=zeros)

    def _pool_arrays(self, kernel, stride):
        return {"kernel_size": np.array(kernel), "stride": np.array(stride),
                "padding": np.array([0, 0])}

    def _maxpool2d(self, node: MaxPool2d):
        self.settings(node.name, pool="max")
        return self.nir.SumPool2d(**self._pool_arrays(node.kernel, node.stride))

    def _avgpool2d(self, node: AvgPool2d):
        if node.is_global:
            self.settings(node.name, pool="global")
            hw = self.in_shape(node)[1:]
            return self.nir.AvgPool2d(**self._pool_arrays(hw, hw))
        self.settings(node.name, pool="avg")
        return self.nir.AvgPool2d(**self._pool_arrays(node.kernel, node.stride))

    def _flatten(self, node: Flatten):
        return self.nir.Flatten(input_type={"input": np.array(self.in_shape(node))},
                                start_dim=0, end_dim=-1)

    def _add(self, node: Add):
        self.settings(node.name, residual="add")
        return self.nir.Scale(np.ones(self.graph.shapes[node.name], np.float32))

    def sidecar(self, nir_file: str) -> dict:
        g = self.graph
        return {"format": FORMAT, "version": VERSION, "dialect": "neurosim", "dt": 1.0,
                "timesteps": g.timesteps, "input_scale": float(g.input.scale), "name": g.name,
                "provenance": _yaml_safe({**g.meta, "exported_to_nir": nir_file}),
                "nodes": self.sidecar_nodes}


GENERATOR = "neurosim export-nir"


def written_by_export(path) -> bool:
    """Whether ``path`` is a NIR file or side-car that export-nir wrote (so it may be replaced):
    a side-car's header names the generator; a NIR file's metadata says ``source: neurosim``."""
    path = Path(path)
    if f"# generator: {GENERATOR}" in head_of(path, 1024):
        return True
    try:
        import h5py
        with h5py.File(path, "r") as f:
            source = f["node/metadata/source"][()]
    except (OSError, KeyError, TypeError, ValueError):  # not HDF5, or no such dataset
        return False
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="replace")
    return isinstance(source, str) and source.startswith("neurosim ")


def export_nir(graph: Graph, path, sidecar_path=None, force: bool = False) -> tuple[Path, Path]:
    """Write ``graph`` as a NIR file and its side-car (default: FILE.yaml beside FILE.nir);
    both atomically. An existing file is replaced only if export-nir wrote it, or with
    ``force``. Returns (nir path, side-car path)."""
    nir = require_nir()
    path = Path(path)
    sidecar_path = Path(sidecar_path) if sidecar_path else default_sidecar_path(path)
    if sidecar_path.resolve() == path.resolve():
        raise ConversionError("the side-car would overwrite the NIR file; choose another name",
                              str(sidecar_path))
    check_file(path, written_by_export, force, "NIR file")
    check_file(sidecar_path, written_by_export, force, "side-car")
    exporter = _Exporter(graph)
    nir_graph = exporter.run()
    with atomic_file(path) as tmp:
        nir.write(tmp, nir_graph)
        write_sidecar(exporter.sidecar(path.name), sidecar_path, f"{GENERATOR} {__version__}")
    return path, sidecar_path
