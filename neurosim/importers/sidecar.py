"""The YAML side-car: what a NIR file cannot say, keyed by NIR node name.

NIR has binary spikes, hard reset and no BatchNorm, max-pool or named residual operations. The
side-car declares them, and the framework conventions (dialect) the file was written with:

    format: neurosim-nir-sidecar     # optional
    version: 1                       # optional
    dialect: sinabs                  # neurosim | snntorch | sinabs | spikingjelly | norse
    dt: 1.0                          # optional: the dialect's time step otherwise
    timesteps: 4                     # T the network runs for (NIR has no notion of it)
    input_scale: 1.0                 # float value of one integer input unit (1/255 for pixels)
    input_shape: [2, 8, 8]           # only when the file declares a wrong input type
    name: my_net
    provenance: {...}                # copied into the imported model's manifest
    nodes:
      iaf1: {levels: 3, reset: subtract}       # neurons: levels N (1..255), reset subtract|zero
      lif2: {barrier: true}                     # a Sparse-ResNet barrier neuron
      lif3: {norm_input: true}                  # sinabs LIF trained with norm_input=True
      pool1: {pool: max}                        # pools: max | avg | sum | global
      block1: {residual: add}                   # fan-in: add (NIR's sum) | and | iand
      conv1: {bias: false}                      # neurosim export: the conv had no bias
      conv1.bn: {batchnorm: {gamma: [...], beta: [...], mean: [...], var: [...], eps: 1e-5}}
      conv1.sn: {neuron: {kind: if, levels: 4, vth: 1.0, reset: subtract, decay: 1.0, ...}}

``batchnorm`` and ``neuron`` are written by neurosim's exporter (dialect neurosim) so that an
exported model imports back exactly. Every error names the side-car file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .. import safe_yaml
from ..limits import MAX_TIMESTEPS
from ..errors import ConversionError, ModelError
from ..model.neurons import RESET_MODES, NeuronSpec
from .dialects import DIALECTS

FORMAT = "neurosim-nir-sidecar"
VERSION = 1
POOL_KINDS = ("max", "avg", "sum", "global")
RESIDUAL_OPS = ("add", "and", "iand")
TOP_KEYS = ("format", "version", "dialect", "dt", "timesteps", "input_scale", "input_shape",
            "name", "provenance", "nodes")
NODE_KEYS = ("levels", "reset", "barrier", "norm_input", "pool", "residual", "bias",
             "batchnorm", "neuron")
BN_KEYS = ("gamma", "beta", "mean", "var", "eps")


@dataclass(frozen=True)
class NodeSettings:
    """What the side-car declares for one NIR node (None: not declared)."""

    levels: int | None = None
    reset: str | None = None
    barrier: bool | None = None
    norm_input: bool | None = None
    pool: str | None = None
    residual: str | None = None
    bias: bool | None = None
    batchnorm: dict | None = None  # gamma, beta, mean, var: float32 (C,); eps: float
    neuron: NeuronSpec | None = None

    def declared(self) -> list[str]:
        return [k for k in NODE_KEYS if getattr(self, k) is not None]


@dataclass(frozen=True)
class SideCar:
    path: str | None = None
    dialect: str | None = None
    dt: float | None = None
    timesteps: int | None = None
    input_scale: float | None = None
    input_shape: tuple[int, ...] | None = None
    name: str | None = None
    provenance: dict = field(default_factory=dict)
    nodes: dict[str, NodeSettings] = field(default_factory=dict)

    def node(self, name: str) -> NodeSettings:
        return self.nodes.get(name, NodeSettings())


def _int(value, where, path, lo, hi) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConversionError(f"expected an integer in [{lo}, {hi}], got {value!r}", where, path)
    return value


def _positive(value, where, path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ConversionError(f"expected a positive number, got {value!r}", where, path)
    return float(value)


def _choice(value, choices, where, path) -> str:
    if value not in choices:
        raise ConversionError(f"expected one of {list(choices)}, got {value!r}", where, path)
    return value


def _bool(value, where, path) -> bool:
    if not isinstance(value, bool):
        raise ConversionError(f"expected true or false, got {value!r}", where, path)
    return value


def _batchnorm(value, where, path) -> dict:
    if not isinstance(value, dict):
        raise ConversionError("expected a mapping with gamma, beta, mean, var, eps", where, path)
    unknown = sorted(set(value) - set(BN_KEYS))
    missing = [k for k in BN_KEYS if k not in value]
    if unknown or missing:
        raise ConversionError(f"expected keys {list(BN_KEYS)}; unknown {unknown}, missing "
                              f"{missing}", where, path)
    out = {"eps": _positive(value["eps"], where, f"{path}.eps")}
    sizes = set()
    for key in BN_KEYS[:4]:
        arr = value[key]
        if not isinstance(arr, list) or not all(isinstance(v, (int, float))
                                                and not isinstance(v, bool) for v in arr):
            raise ConversionError("expected a list of numbers", where, f"{path}.{key}")
        out[key] = np.asarray(arr, dtype=np.float32)
        sizes.add(len(arr))
    if len(sizes) != 1:
        raise ConversionError("gamma, beta, mean and var must have one length", where, path)
    return out


def _node(entry, where: str, path: str) -> NodeSettings:
    if not isinstance(entry, dict):
        raise ConversionError(f"expected a mapping of settings, got {type(entry).__name__}",
                              where, path)
    unknown = sorted(set(entry) - set(NODE_KEYS))
    if unknown:
        raise ConversionError(f"unknown setting(s) {unknown}; expected some of {list(NODE_KEYS)}",
                              where, f"{path}.{unknown[0]}")
    kw = {}
    if "levels" in entry:
        kw["levels"] = _int(entry["levels"], where, f"{path}.levels", 1, 255)
    if "reset" in entry:
        kw["reset"] = _choice(entry["reset"], RESET_MODES, where, f"{path}.reset")
    for key in ("barrier", "norm_input", "bias"):
        if key in entry:
            kw[key] = _bool(entry[key], where, f"{path}.{key}")
    if "pool" in entry:
        kw["pool"] = _choice(entry["pool"], POOL_KINDS, where, f"{path}.pool")
    if "residual" in entry:
        kw["residual"] = _choice(entry["residual"], RESIDUAL_OPS, where, f"{path}.residual")
    if "batchnorm" in entry:
        kw["batchnorm"] = _batchnorm(entry["batchnorm"], where, f"{path}.batchnorm")
    if "neuron" in entry:
        spec = entry["neuron"]
        if not isinstance(spec, dict):
            raise ConversionError("expected a mapping (kind, levels, vth, reset, decay, ...)",
                                  where, f"{path}.neuron")
        try:
            kw["neuron"] = NeuronSpec.from_dict(spec)
        except ModelError as err:
            raise ConversionError(err.message, where, f"{path}.neuron.{err.field}") from None
        except TypeError as err:
            raise ConversionError(f"malformed neuron settings: {err}", where,
                                  f"{path}.neuron") from None
    return NodeSettings(**kw)


def parse_sidecar(data, where: str) -> SideCar:
    """Validate a loaded side-car mapping (``where`` names it in errors)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConversionError(f"expected a mapping at the top level, got {type(data).__name__}",
                              where)
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ConversionError(f"unknown key(s) {unknown}; expected some of {list(TOP_KEYS)}",
                              where, unknown[0])
    if "format" in data and data["format"] != FORMAT:
        raise ConversionError(f"expected {FORMAT!r}, got {data['format']!r}", where, "format")
    if "version" in data:
        _int(data["version"], where, "version", 1, VERSION)
    kw = {"path": where}
    if "dialect" in data:
        kw["dialect"] = _choice(data["dialect"], DIALECTS, where, "dialect")
    if "dt" in data:
        kw["dt"] = _positive(data["dt"], where, "dt")
    if "timesteps" in data:
        kw["timesteps"] = _int(data["timesteps"], where, "timesteps", 1, MAX_TIMESTEPS)
    if "input_scale" in data:
        kw["input_scale"] = _positive(data["input_scale"], where, "input_scale")
    if "input_shape" in data:
        shape = data["input_shape"]
        if not isinstance(shape, list) or not 1 <= len(shape) <= 3 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
            raise ConversionError(f"expected a list of 1 to 3 positive integers, got {shape!r}",
                                  where, "input_shape")
        kw["input_shape"] = tuple(shape)
    if "name" in data:
        if not isinstance(data["name"], str) or not data["name"]:
            raise ConversionError(f"expected a non-empty string, got {data['name']!r}", where,
                                  "name")
        kw["name"] = data["name"]
    if "provenance" in data:
        if not isinstance(data["provenance"], dict):
            raise ConversionError("expected a mapping", where, "provenance")
        kw["provenance"] = data["provenance"]
    nodes = data.get("nodes") or {}
    if not isinstance(nodes, dict):
        raise ConversionError("expected a mapping from NIR node name to settings", where, "nodes")
    kw["nodes"] = {str(name): _node(entry, where, f"nodes.{name}")
                   for name, entry in nodes.items()}
    return SideCar(**kw)


def load_sidecar(path) -> SideCar:
    """Read and validate a side-car file (neurosim.safe_yaml: safe tags, bounded size)."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError("side-car file not found", str(path))
    return parse_sidecar(safe_yaml.load_file(path, ConversionError), str(path))


def write_sidecar(data: dict, path, generator: str | None = None) -> Path:
    """Write a side-car mapping atomically (temporary file, then rename), with the user's umask.
    ``generator`` (e.g. "neurosim export-nir 0.1") goes into a header comment, by which export-nir
    recognises a side-car it may overwrite."""
    from ..outputs import atomic_file

    with atomic_file(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write("# neurosim side-car: what this NIR file cannot say "
                     "(levels, soft reset, BatchNorm, max-pool, ...)\n")
            if generator:
                fh.write(f"# generator: {generator}\n")
            yaml.safe_dump(data, fh, sort_keys=False, default_flow_style=None, width=100)
    return Path(path)
