"""The network graph IR: named, typed nodes; shapes inferred and checked at construction.

A Graph is a list of nodes in any order plus the name of its output node. Each node names its
input(s); the graph checks that every input exists, that there is no cycle, that every array is
finite and has the shape its node type needs, and infers the output shape of every node.

Shapes exclude the batch and time axes: (C, H, W) for feature maps, (F,) for vectors.
Node types follow NIR's habit of one small dataclass each. Array fields carry a shape comment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..errors import ModelError
from ..limits import MAX_TIMESTEPS
from .neurons import NeuronSpec


MAX_NAME = 200  # characters


def unique_name(base: str, taken: set) -> str:
    """``base``, or ``base1``, ``base2``… the first not in ``taken`` (which it joins)."""
    name, i = base, 1
    while name in taken:
        name, i = f"{base}{i}", i + 1
    taken.add(name)
    return name


def name_problem(name) -> str | None:
    """Why ``name`` cannot name a node, or None. Names become file members ("<node>/<field>" in
    weights.npz) and report rows, so no path separators, no "." or "..", no control
    characters, no surrounding spaces."""
    if not isinstance(name, str) or not name:
        return "every node needs a non-empty name"
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "a node name cannot contain '/' or '\\' or be '.' or '..'"
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or name != name.strip():
        return "a node name cannot hold control characters or start or end with a space"
    return None


def _pair(value, name: str, node: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ModelError(f"expected an int or a pair of ints, got {value!r}", node, name)
    return value


def _array(value, name: str, node: str, ndim: int | None = None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if ndim is not None and arr.ndim != ndim:
        raise ModelError(f"expected {ndim} dimensions, got shape {arr.shape}", node, name)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ModelError(f"{bad} non-finite value(s) (NaN or inf)", node, name)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Node:
    name: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)  # type: ignore[attr-defined]

    def arrays(self) -> dict[str, np.ndarray]:
        """The node's parameter arrays by field name (what the model file stores)."""
        return {}


@dataclass(frozen=True, eq=False)
class Input(Node):
    """The network input. ``scale`` is the float value of one integer input unit
    (1/255 for 8-bit pixels, 1 for event counts), so integer data feeds the model exactly."""

    shape: tuple[int, ...] = (3, 32, 32)
    scale: float = 1.0 / 255.0

    def __post_init__(self):
        shape = tuple(int(s) for s in self.shape)
        if len(shape) not in (1, 3) or min(shape) < 1:
            raise ModelError(f"expected (C, H, W) or (F,) with positive sizes, got {shape}",
                             self.name, "shape")
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise ModelError(f"expected a positive scale, got {self.scale!r}", self.name, "scale")
        object.__setattr__(self, "shape", shape)

    @property
    def inputs(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class Conv2d(Node):
    input: str = ""
    weight: np.ndarray = field(default=None)  # (C_out, C_in, kH, kW) float32
    bias: np.ndarray | None = None  # (C_out,) float32
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self):
        w = _array(self.weight, "weight", self.name, ndim=4)
        object.__setattr__(self, "weight", w)
        if self.bias is not None:
            b = _array(self.bias, "bias", self.name, ndim=1)
            if b.shape[0] != w.shape[0]:
                raise ModelError(f"expected {w.shape[0]} biases (C_out), got {b.shape[0]}",
                                 self.name, "bias")
            object.__setattr__(self, "bias", b)
        stride = _pair(self.stride, "stride", self.name)
        padding = _pair(self.padding, "padding", self.name)
        if min(stride) < 1 or min(padding) < 0:
            raise ModelError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}",
                             self.name, "stride")
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "padding", padding)

    def arrays(self):
        return {"weight": self.weight} | ({"bias": self.bias} if self.bias is not None else {})


@dataclass(frozen=True, eq=False)
class Linear(Node):
    input: str = ""
    weight: np.ndarray = field(default=None)  # (N_out, N_in) float32
    bias: np.ndarray | None = None  # (N_out,) float32

    def __post_init__(self):
        w = _array(self.weight, "weight", self.name, ndim=2)
        object.__setattr__(self, "weight", w)
        if self.bias is not None:
            b = _array(self.bias, "bias", self.name, ndim=1)
            if b.shape[0] != w.shape[0]:
                raise ModelError(f"expected {w.shape[0]} biases (N_out), got {b.shape[0]}",
                                 self.name, "bias")
            object.__setattr__(self, "bias", b)

    def arrays(self):
        return {"weight": self.weight} | ({"bias": self.bias} if self.bias is not None else {})


@dataclass(frozen=True, eq=False)
class BatchNorm(Node):
    """y = γ·(x − μ)/sqrt(σ² + ε) + β per channel (inference statistics)."""

    input: str = ""
    gamma: np.ndarray = field(default=None)  # (C,) float32
    beta: np.ndarray = field(default=None)  # (C,) float32
    mean: np.ndarray = field(default=None)  # (C,) float32
    var: np.ndarray = field(default=None)  # (C,) float32, > 0 after adding eps
    eps: float = 1e-5

    def __post_init__(self):
        arrays = {k: _array(getattr(self, k), k, self.name, ndim=1)
                  for k in ("gamma", "beta", "mean", "var")}
        sizes = {a.shape[0] for a in arrays.values()}
        if len(sizes) != 1:
            raise ModelError(f"gamma, beta, mean and var must have one length, got "
                             f"{ {k: a.shape[0] for k, a in arrays.items()} }", self.name)
        if np.any(arrays["var"] < 0) or not self.eps > 0:
            raise ModelError("var must be >= 0 and eps > 0", self.name, "var")
        for k, a in arrays.items():
            object.__setattr__(self, k, a)

    def arrays(self):
        return {"gamma": self.gamma, "beta": self.beta, "mean": self.mean, "var": self.var}

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """(k, c) with BN(x) = k·x + c, in float64 (the BatchNorm fold: k = γ/√(σ² + ε), c = β − k·μ)."""
        k = self.gamma.astype(np.float64) / np.sqrt(self.var.astype(np.float64) + self.eps)
        return k, self.beta.astype(np.float64) - k * self.mean.astype(np.float64)


@dataclass(frozen=True, eq=False)
class Neuron(Node):
    input: str = ""
    spec: NeuronSpec = field(default_factory=NeuronSpec)


@dataclass(frozen=True, eq=False)
class _Pool(Node):
    input: str = ""
    kernel: tuple[int, int] | None = (2, 2)
    stride: tuple[int, int] | None = None  # None: equal to kernel

    def __post_init__(self):
        if self.kernel is None:
            return
        kernel = _pair(self.kernel, "kernel", self.name)
        stride = kernel if self.stride is None else _pair(self.stride, "stride", self.name)
        if min(kernel) < 1 or min(stride) < 1:
            raise ModelError(f"kernel and stride must be >= 1, got {kernel}, {stride}", self.name)
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "stride", stride)

    @property
    def is_global(self) -> bool:
        return self.kernel is None


@dataclass(frozen=True, eq=False)
class MaxPool2d(_Pool):
    """Max over each window; on spikes it runs in the producing core on output levels."""

    def __post_init__(self):
        if self.kernel is None:
            raise ModelError("a max pool needs a kernel", self.name, "kernel")
        super().__post_init__()


@dataclass(frozen=True, eq=False)
class AvgPool2d(_Pool):
    """Average over each window; ``kernel=None`` is a global average pool (output (C, 1, 1))."""


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    input: str = ""


@dataclass(frozen=True, eq=False)
class Add(Node):
    """Elementwise sum of valued events or currents (SEW's ADD; a residual sum point)."""

    args: tuple[str, ...] = ()

    def __post_init__(self):
        args = tuple(self.args)
        if len(args) < 2:
            raise ModelError(f"an Add needs at least two inputs, got {len(args)}", self.name, "args")
        object.__setattr__(self, "args", args)

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.args


NODE_TYPES: dict[str, type[Node]] = {cls.__name__: cls for cls in (
    Input, Conv2d, Linear, BatchNorm, Neuron, MaxPool2d, AvgPool2d, Flatten, Add)}


# --- shape inference: one function per node type --------------------------------------------

def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _shape_conv(node: Conv2d, shapes):
    (shape,) = shapes
    cout, cin, kh, kw = node.weight.shape
    if len(shape) != 3 or shape[0] != cin:
        raise ModelError(f"expects input (C={cin}, H, W), got {shape} from {node.input!r}",
                         node.name, "weight")
    ho = _conv_out(shape[1], kh, node.stride[0], node.padding[0])
    wo = _conv_out(shape[2], kw, node.stride[1], node.padding[1])
    if ho < 1 or wo < 1:
        raise ModelError(f"kernel {kh}x{kw} does not fit input {shape[1]}x{shape[2]} with padding "
                         f"{node.padding}", node.name, "weight")
    return (cout, ho, wo)


def _shape_linear(node: Linear, shapes):
    (shape,) = shapes
    nout, nin = node.weight.shape
    if len(shape) != 1 or shape[0] != nin:
        raise ModelError(f"expects input ({nin},), got {shape} from {node.input!r} "
                         "(insert a Flatten after a feature map)", node.name, "weight")
    return (nout,)


def _shape_bn(node: BatchNorm, shapes):
    (shape,) = shapes
    if shape[0] != node.gamma.shape[0]:
        raise ModelError(f"has {node.gamma.shape[0]} channels, input {node.input!r} has {shape[0]}",
                         node.name, "gamma")
    return shape


def _shape_pool(node, shapes):
    (shape,) = shapes
    if len(shape) != 3:
        raise ModelError(f"expects a feature map (C, H, W), got {shape}", node.name)
    if node.is_global:
        return (shape[0], 1, 1)
    kh, kw = node.kernel
    ho = _conv_out(shape[1], kh, node.stride[0], 0)
    wo = _conv_out(shape[2], kw, node.stride[1], 0)
    if ho < 1 or wo < 1:
        raise ModelError(f"pool {node.kernel} does not fit input {shape[1]}x{shape[2]}", node.name)
    return (shape[0], ho, wo)


def _shape_add(node: Add, shapes):
    if len(set(shapes)) != 1:
        raise ModelError(f"inputs have different shapes: "
                         f"{dict(zip(node.args, shapes))}", node.name, "args")
    return shapes[0]


_SHAPE_RULES: dict[type, Callable] = {
    Conv2d: _shape_conv,
    Linear: _shape_linear,
    BatchNorm: _shape_bn,
    Neuron: lambda node, shapes: shapes[0],
    MaxPool2d: _shape_pool,
    AvgPool2d: _shape_pool,
    Flatten: lambda node, shapes: (int(np.prod(shapes[0])),),
    Add: _shape_add,
}


class Graph:
    """A validated network: nodes in topological order, their shapes, and one output node.

    ``timesteps`` is the number of timesteps the network was trained for (T).
    ``meta`` holds provenance (dataset, accuracy, training settings) written to the manifest.
    """

    def __init__(self, nodes, output: str, name: str = "network", timesteps: int = 1,
                 meta: dict | None = None):
        self.name = name
        self.meta = dict(meta or {})
        if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) \
                or not 1 <= timesteps <= MAX_TIMESTEPS:
            raise ModelError(f"expected timesteps in [1, {MAX_TIMESTEPS}], got {timesteps!r}",
                             name, "timesteps")
        self.timesteps = int(timesteps)
        by_name: dict[str, Node] = {}
        for node in nodes:
            if not isinstance(node, Node) or type(node) not in NODE_TYPES.values():
                raise ModelError(f"unknown node type {type(node).__name__}; expected one of "
                                 f"{sorted(NODE_TYPES)}", name)
            problem = name_problem(node.name)
            if problem:
                raise ModelError(f"node name {str(node.name)[:60]!r}: {problem}", name)
            if node.name in by_name:
                raise ModelError("duplicate node name", node.name)
            by_name[node.name] = node
        for node in by_name.values():
            for src in node.inputs:
                if src not in by_name:
                    raise ModelError(f"unknown input {src!r}", node.name, "input")
        if output not in by_name:
            raise ModelError(f"output node {output!r} is not in the graph", name, "output")
        inputs = [n for n in by_name.values() if isinstance(n, Input)]
        if len(inputs) != 1:
            raise ModelError(f"expected exactly one Input node, got {len(inputs)}", name)
        self.input = inputs[0]
        self.output = output
        self.nodes: list[Node] = self._toposort(by_name)
        self._by_name = by_name
        self.shapes: dict[str, tuple[int, ...]] = {}
        for node in self.nodes:
            if isinstance(node, Input):
                self.shapes[node.name] = node.shape
            else:
                self.shapes[node.name] = _SHAPE_RULES[type(node)](
                    node, [self.shapes[s] for s in node.inputs])
        self.consumers: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for node in self.nodes:
            for src in node.inputs:
                self.consumers[src].append(node.name)

    def _toposort(self, by_name: dict[str, Node]) -> list[Node]:
        order: list[Node] = []
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done

        for root in by_name:
            if state.get(root):
                continue
            stack = [(root, iter(by_name[root].inputs))]
            state[root] = 1
            while stack:
                name, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    state[name] = 2
                    order.append(by_name[name])
                elif state.get(nxt) == 1:
                    cycle = [n for n, _ in stack] + [nxt]
                    raise ModelError(f"cycle through {' -> '.join(cycle)}", nxt)
                elif not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(by_name[nxt].inputs)))
        return order

    def __getitem__(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise ModelError(f"no node named {name!r}", self.name) from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self):
        return len(self.nodes)

    def neurons(self) -> list[Neuron]:
        return [n for n in self.nodes if isinstance(n, Neuron)]

    def parameter_count(self) -> int:
        """Weights and biases of Conv2d/Linear plus BN affine parameters (what papers report)."""
        total = 0
        for node in self.nodes:
            if isinstance(node, (Conv2d, Linear)):
                total += sum(a.size for a in node.arrays().values())
            elif isinstance(node, BatchNorm):
                total += node.gamma.size + node.beta.size
        return total

    def neuron_count(self) -> int:
        return sum(int(np.prod(self.shapes[n.name])) for n in self.neurons())

    def with_levels(self, levels: int, include_barriers: bool = True) -> "Graph":
        """A copy whose neurons emit up to ``levels`` per timestep (the -N option)."""
        nodes = []
        for node in self.nodes:
            if isinstance(node, Neuron) and (include_barriers or not node.spec.barrier):
                node = Neuron(node.name, input=node.input, spec=node.spec.with_levels(levels))
            nodes.append(node)
        return Graph(nodes, self.output, self.name, self.timesteps, self.meta)

    def with_input_scale(self, scale: float) -> "Graph":
        """A copy whose integer input unit is worth ``scale`` (a file of float inputs)."""
        nodes = [replace(n, scale=float(scale)) if isinstance(n, Input) else n
                 for n in self.nodes]
        return Graph(nodes, self.output, self.name, self.timesteps, self.meta)

    def with_timesteps(self, timesteps: int) -> "Graph":
        return Graph(self.nodes, self.output, self.name, timesteps, self.meta)

    def summary(self) -> list[dict]:
        """One row per node: name, type, inputs, output shape, parameters, neurons."""
        rows = []
        for node in self.nodes:
            shape = self.shapes[node.name]
            params = sum(a.size for a in node.arrays().values())
            row = {"name": node.name, "type": type(node).__name__,
                   "inputs": ",".join(node.inputs), "shape": "x".join(map(str, shape)),
                   "params": params,
                   "neurons": int(np.prod(shape)) if isinstance(node, Neuron) else 0}
            if isinstance(node, Neuron):
                row["detail"] = (f"{node.spec.kind} N={node.spec.levels} Vth={node.spec.vth:g}"
                                 + (" barrier" if node.spec.barrier else ""))
            elif isinstance(node, Conv2d):
                k = node.weight.shape
                row["detail"] = f"{k[2]}x{k[3]} s{node.stride[0]} p{node.padding[0]}"
            elif isinstance(node, _Pool):
                row["detail"] = "global" if node.is_global else f"{node.kernel[0]}x{node.kernel[1]}"
            else:
                row["detail"] = ""
            rows.append(row)
        return rows
