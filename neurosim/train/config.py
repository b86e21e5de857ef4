"""Which network a training run builds: architecture, dataset, N, T, width, neuron (no torch).

The graph comes from neurosim.model.builders, so the torch model (built from the same graph)
and the exported model have the same layers and node names by construction.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import InputError
from ..model import builders
from ..model.graph import Graph, Neuron
from ..model.neurons import s3nn

ARCHS = ("vgg16", "sew-resnet18", "sparse-resnet18", "spiking-resnet18", "small")
DATASETS = {"cifar10": (3, 32, 32), "fashion-mnist": (1, 28, 28)}
NEURONS = ("if", "s3nn")
SMALL_CHANNELS, SMALL_HIDDEN = (8, 16), 64


def _check(value, allowed, field: str):
    if value not in allowed:
        raise InputError(f"unknown {field} {value!r}; expected one of {list(allowed)}", "train",
                         field)


def build_graph(arch: str, dataset: str, levels: int = 4, timesteps: int = 1,
                width: float = 1.0, neuron: str = "if", seed: int = 0,
                name: str | None = None) -> Graph:
    """The builder's graph (random weights) for these settings: the template training fills.

    ``width`` scales every layer's channels (reduced-width CPU variants); ``neuron="s3nn"``
    replaces every neuron by S3NN's single-step binary neuron (use with N = 1, T = 1).
    """
    _check(arch, ARCHS, "arch")
    _check(dataset, DATASETS, "dataset")
    _check(neuron, NEURONS, "neuron")
    if not width > 0:
        raise InputError(f"expected a width multiplier > 0, got {width!r}", "train", "width")
    shape = DATASETS[dataset]
    common = {"levels": int(levels), "timesteps": int(timesteps), "input_shape": shape,
              "seed": seed}
    if arch == "vgg16":
        graph = builders.vgg16(width=width, **common)
    elif arch.endswith("resnet18"):
        graph = builders.resnet18(arch.split("-")[0], width=width, **common)
    else:
        channels = tuple(max(1, round(c * width)) for c in SMALL_CHANNELS)
        graph = builders.small_convnet(channels=channels, hidden=max(1, round(SMALL_HIDDEN * width)),
                                       **common)
    if neuron == "s3nn":
        if levels != 1 or timesteps != 1:
            raise InputError(f"the S3NN neuron is binary and single-step: use --levels 1 "
                             f"--timesteps 1, got {levels} and {timesteps}", "train", "neuron")
        nodes = [replace(n, spec=s3nn(n.spec.vth)) if isinstance(n, Neuron) else n
                 for n in graph.nodes]
        graph = Graph(nodes, graph.output, graph.name, graph.timesteps, graph.meta)
    meta = dict(graph.meta, architecture=arch, width=width)
    return Graph(graph.nodes, graph.output, name or graph.name, graph.timesteps, meta)
