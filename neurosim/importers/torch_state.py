"""PyTorch import of neurosim's own training modules: a state_dict onto a builder's graph.

The torch models of ``neurosim.train`` mirror the graph builders one to one, and every parameter
key is "<neurosim node name>.<torch parameter>":

    Conv2d / Linear   <node>.weight, <node>.bias (when the node has a bias)
    BatchNorm         <node>.weight = γ, <node>.bias = β, <node>.running_mean = μ,
                      <node>.running_var = σ² (ε is the node's; num_batches_tracked is ignored)

So importing is: build the graph with the settings the model was trained with, then replace
its arrays with the state_dict's, checking every key and shape. Checkpoints are read with
``torch.load(weights_only=True)`` only (no pickle); nothing here needs torch otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ConversionError, NeurosimError
from ..model.graph import BatchNorm, Conv2d, Graph, Linear

BN_KEYS = {"gamma": "weight", "beta": "bias", "mean": "running_mean", "var": "running_var"}
IGNORED_SUFFIXES = (".num_batches_tracked",)


def state_dict_keys(graph: Graph) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    """Every key a state_dict for ``graph`` holds: key → (node name, node field, shape)."""
    keys = {}
    for node in graph.nodes:
        if isinstance(node, (Conv2d, Linear)):
            fields = {"weight": "weight", "bias": "bias"}
        elif isinstance(node, BatchNorm):
            fields = BN_KEYS
        else:
            continue
        for field, arr in node.arrays().items():
            keys[f"{node.name}.{fields[field]}"] = (node.name, field, tuple(arr.shape))
    return keys


def state_dict_from_graph(graph: Graph) -> dict[str, np.ndarray]:
    """The graph's arrays as a state_dict of float32 numpy arrays (the inverse of the import)."""
    return {key: np.array(graph[name].arrays()[field], np.float32)
            for key, (name, field, _) in state_dict_keys(graph).items()}


def _as_array(value, key: str, where: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().float().numpy()
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ConversionError(f"not an array of numbers: {err}", where, key) from None


def graph_from_state_dict(graph: Graph, state_dict, where: str = "state_dict") -> Graph:
    """A copy of ``graph`` whose parameters are the state_dict's (every key and shape checked)."""
    if not hasattr(state_dict, "keys"):
        raise ConversionError(f"expected a mapping of parameter names to tensors, got "
                              f"{type(state_dict).__name__}", where)
    expected = state_dict_keys(graph)
    given = {k for k in state_dict.keys() if not str(k).endswith(IGNORED_SUFFIXES)}
    missing = sorted(set(expected) - given)
    if missing:
        raise ConversionError(f"missing parameter(s) {missing[:5]} (the model was built with "
                              f"other settings than the checkpoint?)", where, missing[0])
    unexpected = sorted(given - set(expected))
    if unexpected:
        raise ConversionError(f"unexpected parameter(s) {unexpected[:5]}: not in the "
                              f"{graph.name!r} graph", where, str(unexpected[0]))
    fields: dict[str, dict[str, np.ndarray]] = {}
    for key, (name, field, shape) in expected.items():
        arr = _as_array(state_dict[key], key, where)
        if arr.shape != shape:
            raise ConversionError(f"shape {list(arr.shape)} does not match the graph's "
                                  f"{list(shape)}", where, key)
        if not np.all(np.isfinite(arr)):
            raise ConversionError("holds NaN or inf values", where, key)
        fields.setdefault(name, {})[field] = arr
    nodes = [replace(node, **fields[node.name]) if node.name in fields else node
             for node in graph.nodes]
    try:
        return Graph(nodes, graph.output, graph.name, graph.timesteps, graph.meta)
    except NeurosimError as err:
        raise ConversionError(str(err), where) from None


def read_checkpoint(path: Path):
    """A torch checkpoint loaded with weights_only=True (plain tensors and containers only)."""
    try:
        import torch
    except ImportError as err:
        raise ConversionError(f"reading a torch checkpoint needs the 'train' extra (torch): "
                              f"{err}", str(path)) from None
    if not path.is_file():
        raise ConversionError("no such file", str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad or unsafe file
        raise ConversionError(f"cannot be read as a weights-only torch checkpoint: "
                              f"{str(err).splitlines()[0]}", str(path)) from None


def load_torch_checkpoint(path, **builder_kwargs) -> Graph:
    """A neurosim graph from a checkpoint written by ``neurosim train`` (or a bare state_dict).

    The graph is rebuilt with ``neurosim.model.builders.build_graph``: its settings come from the
    checkpoint's "config" and are overridden by ``builder_kwargs`` (arch, dataset, levels,
    timesteps, width, neuron); a bare state_dict needs them all.
    """
    from ..model.builders import build_graph

    path = Path(path)
    checkpoint = read_checkpoint(path)
    if isinstance(checkpoint, dict) and "model" in checkpoint and "config" in checkpoint:
        config = dict(checkpoint["config"])
        state = checkpoint["model"]
    else:
        config, state = {}, checkpoint
    config.update(builder_kwargs)
    try:
        graph = build_graph(**{k: config[k] for k in
                               ("arch", "dataset", "levels", "timesteps", "width", "neuron")
                               if k in config})
    except TypeError as err:
        raise ConversionError(f"cannot rebuild the network: {err} (pass arch=, dataset=, ...)",
                              str(path)) from None
    return graph_from_state_dict(graph, state, str(path))
