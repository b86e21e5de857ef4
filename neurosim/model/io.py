"""The native model format: a directory with a human-readable manifest and a compressed npz.

    MODEL/
      manifest.yaml   format, version, graph (nodes, attributes, neuron settings N/T/Vth),
                      provenance (dataset, accuracy, training settings), sha256 of weights.npz
      weights.npz     every parameter array as "<node>/<field>" (float32 or float16), no pickle

``save_model`` writes both files atomically (a temporary directory renamed into place), so a
failed save leaves no half model. ``load_model`` checks the format version, the checksum, and
that every array the manifest lists is present with the listed shape, and raises ModelError
naming the file and field otherwise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import yaml

from .. import limits, safe_yaml
from ..errors import ModelError
from ..outputs import atomic_dir
from .graph import (MAX_NAME, NODE_TYPES, Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph,
                    Input, MaxPool2d, Neuron, Node)
from .neurons import NeuronSpec

FORMAT = "neurosim-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.yaml"
WEIGHTS = "weights.npz"
STORAGE_DTYPES = {"float32": np.float32, "float16": np.float16}


def _attributes(node: Node) -> dict:
    """The non-array fields of a node, as plain YAML values."""
    if isinstance(node, Input):
        return {"shape": list(node.shape), "scale": float(node.scale)}
    if isinstance(node, Conv2d):
        return {"stride": list(node.stride), "padding": list(node.padding)}
    if isinstance(node, BatchNorm):
        return {"eps": float(node.eps)}
    if isinstance(node, Neuron):
        return {"neuron": node.spec.to_dict()}
    if isinstance(node, (MaxPool2d, AvgPool2d)):
        return {"kernel": None if node.kernel is None else list(node.kernel),
                "stride": None if node.stride is None else list(node.stride)}
    return {}


def _build_node(entry: dict, arrays: dict, where: str, index: int) -> Node:
    field = f"graph[{index}]"
    if not isinstance(entry, dict):
        raise ModelError(f"expected a mapping, got {type(entry).__name__}", where, field)
    kind, name = entry.get("type"), entry.get("name")
    if not isinstance(kind, str) or kind not in NODE_TYPES:
        raise ModelError(f"unknown node type {kind!r}; expected one of {sorted(NODE_TYPES)}",
                         where, f"{field}.type")
    inputs = entry.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ModelError(f"expected a list of node names, got {_short(inputs)}", where,
                         f"{field}.inputs")
    attrs = entry.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise ModelError(f"expected a mapping, got {_short(attrs)}", where, f"{field}.attributes")
    try:
        if kind == "Input":
            return Input(name, shape=tuple(attrs["shape"]), scale=attrs["scale"])
        if kind == "Add":
            return Add(name, args=tuple(inputs))
        (src,) = inputs
        if kind in ("Conv2d", "Linear"):
            extra = {k: tuple(v) for k, v in attrs.items()}
            return NODE_TYPES[kind](name, input=src, weight=arrays["weight"],
                                    bias=arrays.get("bias"), **extra)
        if kind == "BatchNorm":
            return BatchNorm(name, input=src, eps=attrs["eps"], **arrays)
        if kind == "Neuron":
            return Neuron(name, input=src, spec=NeuronSpec.from_dict(attrs["neuron"]))
        if kind in ("MaxPool2d", "AvgPool2d"):
            return NODE_TYPES[kind](name, input=src, kernel=attrs["kernel"], stride=attrs["stride"])
        return Flatten(name, input=src)
    except ModelError as err:
        raise ModelError(err.message, where, f"{field} ({name}).{err.field or ''}".rstrip(".")) \
            from None
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"malformed {kind} node {name!r}: {err!r}", where, field) from None


def graph_to_manifest(graph: Graph, dtype: str = "float32") -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest dictionary and the arrays (keyed "<node>/<field>") of a graph."""
    if dtype not in STORAGE_DTYPES:
        raise ModelError(f"unknown storage dtype {dtype!r}; expected one of {list(STORAGE_DTYPES)}",
                         graph.name, "dtype")
    entries, arrays = [], {}
    for node in graph.nodes:
        listed = {}
        for key, arr in node.arrays().items():
            stored = np.ascontiguousarray(arr, dtype=STORAGE_DTYPES[dtype])
            arrays[f"{node.name}/{key}"] = stored
            listed[key] = {"shape": list(arr.shape), "dtype": dtype}
        entry = {"name": node.name, "type": type(node).__name__, "inputs": list(node.inputs)}
        attrs = _attributes(node)
        if attrs:
            entry["attributes"] = attrs
        if listed:
            entry["arrays"] = listed
        entries.append(entry)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": graph.name,
        "timesteps": graph.timesteps,
        "output": graph.output,
        "summary": {"parameters": graph.parameter_count(), "neurons": graph.neuron_count(),
                    "levels": sorted({n.spec.levels for n in graph.neurons()})},
        "provenance": graph.meta,
        "graph": entries,
    }
    return manifest, arrays


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(graph: Graph, path, dtype: str = "float32", overwrite: bool = True,
               force: bool = False, command: str = "neurosim.save_model",
               extra_files: dict | None = None) -> Path:
    """Write ``graph`` to the model directory ``path``: created, or replaced when ``overwrite``
    and neurosim created it (see neurosim.outputs); ``force`` writes manifest.yaml and
    weights.npz into any existing directory and touches nothing else. ``extra_files`` maps more
    file names to ``writer(path)`` functions, written in the same atomic step."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelError("already exists (pass overwrite=True to replace it)", str(path))
    manifest, arrays = graph_to_manifest(graph, dtype)
    with atomic_dir(path, "model", command, force=force) as tmp:
        np.savez_compressed(tmp / WEIGHTS, **arrays)
        manifest["weights_sha256"] = _sha256(tmp / WEIGHTS)
        with open(tmp / MANIFEST, "w") as fh:
            yaml.safe_dump(manifest, fh, sort_keys=False, default_flow_style=None, width=100)
        for name, writer in (extra_files or {}).items():
            writer(tmp / name)
    return path


def read_manifest(path) -> dict:
    """The manifest of a model directory, checked for format and version."""
    path = Path(path)
    where = str(path / MANIFEST)
    if not path.is_dir():
        raise ModelError("is not a model directory (expected manifest.yaml and weights.npz)",
                         str(path))
    if not (path / MANIFEST).is_file():
        raise ModelError("missing", where)
    manifest = safe_yaml.load_file(path / MANIFEST, ModelError, where)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"not a neurosim model manifest (format must be {FORMAT!r})", where,
                         "format")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelError(f"expected a positive integer, got {version!r}", where, "format_version")
    if version > FORMAT_VERSION:
        raise ModelError(f"format version {version} is newer than this neurosim supports "
                         f"({FORMAT_VERSION}); upgrade neurosim", where, "format_version")
    for key in ("name", "timesteps", "output", "graph"):
        if key not in manifest:
            raise ModelError("required key is missing", where, key)
    if not isinstance(manifest["graph"], list):
        raise ModelError("expected a list of nodes", where, "graph")
    for key in ("name", "output"):
        value = manifest[key]
        if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
            raise ModelError(f"expected a name of 1 to {MAX_NAME} characters, got "
                             f"{_short(value)}", where, key)
    if not isinstance(manifest.get("provenance") or {}, dict):
        raise ModelError(f"expected a mapping, got {type(manifest['provenance']).__name__}",
                         where, "provenance")
    return manifest


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}... ({type(value).__name__})"


def _listed_arrays(entry, where: str, index: int) -> dict[str, dict]:
    """The ``arrays`` of a manifest node: {field: {"shape": [...], "dtype": ...}}, checked."""
    listed = entry.get("arrays") if isinstance(entry, dict) else None
    field = f"graph[{index}].arrays"
    if listed is None:
        return {}
    if not isinstance(listed, dict):
        raise ModelError(f"expected a mapping of array names to shape and dtype, got "
                         f"{type(listed).__name__}", where, field)
    for key, info in listed.items():
        if not isinstance(info, dict):
            raise ModelError(f"expected a mapping with shape and dtype, got "
                             f"{type(info).__name__}", where, f"{field}.{key}")
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise ModelError(f"expected a list of non-negative integers, got {shape!r}", where,
                             f"{field}.{key}.shape")
        dtype = info.get("dtype", "float32")
        if not isinstance(dtype, str) or dtype not in STORAGE_DTYPES:
            raise ModelError(f"expected one of {list(STORAGE_DTYPES)}, got {dtype!r}", where,
                             f"{field}.{key}.dtype")
    return listed


def _read_arrays(path: Path, manifest: dict) -> dict[str, np.ndarray]:
    """The arrays of weights.npz, each checked against the manifest's shape and dtype from its
    header before it is decompressed (a file cannot make neurosim allocate what the manifest
    does not declare)."""
    where = str(path / WEIGHTS)
    if not (path / WEIGHTS).is_file():
        raise ModelError("missing", where)
    expected = manifest.get("weights_sha256")
    if expected is not None and _sha256(path / WEIGHTS) != expected:
        raise ModelError("checksum does not match the manifest's weights_sha256 (the file was "
                         "modified or truncated)", where)
    declared = {f"{entry.get('name')}/{key}": (info, index)
                for index, entry in enumerate(manifest["graph"])
                for key, info in _listed_arrays(entry, str(path / MANIFEST), index).items()}
    headers = limits.check_npz(path / WEIGHTS, where, ModelError)
    for name, (shape, dtype) in headers.items():
        if name not in declared:
            continue  # load_model names arrays the manifest does not list
        info, index = declared[name]
        field = f"graph[{index}].arrays.{name.rsplit('/', 1)[1]}"
        if list(shape) != info["shape"]:
            raise ModelError(f"array {name!r} has shape {list(shape)}, manifest says "
                             f"{info['shape']}", str(path / MANIFEST), field)
        if dtype != np.dtype(STORAGE_DTYPES[info.get("dtype", "float32")]):
            raise ModelError(f"array {name!r} is stored as {dtype}, manifest says "
                             f"{info.get('dtype', 'float32')}", str(path / MANIFEST), field)
    try:
        with np.load(path / WEIGHTS, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except limits.NPZ_ERRORS as err:
        raise ModelError(f"cannot be read as npz: {err}", where) from None


def load_model(path) -> Graph:
    """Load a model directory written by ``save_model`` (or by ``neurosim train``)."""
    path = Path(path)
    manifest = read_manifest(path)
    where = str(path / MANIFEST)
    limits.check_declared_arrays(manifest, where)
    stored = _read_arrays(path, manifest)
    nodes, used = [], set()
    for index, entry in enumerate(manifest["graph"]):
        arrays = {}
        for key, info in _listed_arrays(entry, where, index).items():
            name = f"{entry.get('name')}/{key}"
            if name not in stored:
                raise ModelError(f"array {name!r} listed in the manifest is missing from "
                                 f"{WEIGHTS}", where, f"graph[{index}].arrays.{key}")
            arr = stored[name]
            if list(arr.shape) != info["shape"]:
                raise ModelError(f"array {name!r} has shape {list(arr.shape)}, manifest says "
                                 f"{info.get('shape')}", where, f"graph[{index}].arrays.{key}")
            arrays[key] = arr.astype(np.float32)
            used.add(name)
        nodes.append(_build_node(entry, arrays, where, index))
    extra = sorted(set(stored) - used)
    if extra:
        raise ModelError(f"{WEIGHTS} holds arrays the manifest does not list: {extra[:5]}", where,
                         "graph")
    try:
        return Graph(nodes, manifest["output"], manifest["name"], manifest["timesteps"],
                     meta=manifest.get("provenance") or {})
    except ModelError as err:
        raise ModelError(str(err), where) from None
