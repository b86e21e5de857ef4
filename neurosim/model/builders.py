"""Builders of the paper's networks and of small nets for tests.

Weights are random (He-normal, seeded) unless loaded from a trained model; widths and the input
size are parameters, so a 128×128×2 DVS-size VGG16 or a reduced-width CPU variant is one call.

Node names are the contract with reports and training code:
  VGG16:    conv{i}.conv, conv{i}.bn, conv{i} (neuron), conv{i}.pool, flatten, fc1.fc, fc1, fc2.fc,
            fc2, fc3 (readout)
  ResNet18: stem.conv, stem.bn, stem; block{i}.conv1/.bn1/.sn1/.conv2/.bn2; block{i} (direct-path
            neuron); res{i}.conv/.bn, res{i} (projection shortcut neuron); sum{i} (the paper's
            summation point: the Add in SEW, the barrier neuron after add{i} in Sparse); pool,
            flatten, fc — the names of the paper's Figure 10, so runs align layer by layer.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError, ModelError
from .graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                    MaxPool2d, Neuron)
from .neurons import NeuronSpec, barrier, s3nn

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M")
RESNET_VARIANTS = ("sew", "sparse", "spiking")


class _Init:
    """Seeded He-normal weights and mildly random BatchNorm statistics."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def conv(self, cout: int, cin: int, k: int) -> np.ndarray:
        std = np.sqrt(2.0 / (cin * k * k))
        return (self.rng.standard_normal((cout, cin, k, k)) * std).astype(np.float32)

    def linear(self, nout: int, nin: int) -> np.ndarray:
        return (self.rng.standard_normal((nout, nin)) * np.sqrt(2.0 / nin)).astype(np.float32)

    def bn(self, name: str, source: str, c: int) -> BatchNorm:
        r = self.rng
        return BatchNorm(name, input=source,
                         gamma=r.uniform(0.6, 1.4, c).astype(np.float32),
                         beta=r.uniform(-0.1, 0.4, c).astype(np.float32),
                         mean=r.normal(0.0, 0.1, c).astype(np.float32),
                         var=r.uniform(0.5, 1.5, c).astype(np.float32))


def _scaled(width: int, multiplier: float) -> int:
    return max(1, int(round(width * multiplier)))


def vgg16(levels: int = 4, timesteps: int = 1, width: float = 1.0,
          input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
          fc: tuple[int, ...] = (512, 512), vth: float = 1.0, input_scale: float = 1 / 255,
          seed: int = 0, name: str | None = None) -> Graph:
    """VGG16 as the paper's group configures it for CIFAR-10 (qualia-plugin-snn's VGG16 configuration).

    13 conv 3×3 (pad 1) + BN + IF, max-pool 2×2 after conv 2, 4, 7, 10 and 13, then
    flatten → FC → IF → FC → IF → FC (readout). ``width`` scales every layer's channels.
    """
    init = _Init(seed)
    spec = NeuronSpec(levels=levels, vth=vth)
    nodes = [Input("input", shape=tuple(input_shape), scale=input_scale)]
    src, cin, i = "input", input_shape[0], 0
    h, w = input_shape[1:]
    for item in VGG16_CONFIG:
        if item == "M":
            nodes.append(MaxPool2d(f"conv{i}.pool", input=src, kernel=2))
            src = f"conv{i}.pool"
            h, w = h // 2, w // 2
            continue
        i += 1
        cout = _scaled(item, width)
        nodes += [Conv2d(f"conv{i}.conv", input=src, weight=init.conv(cout, cin, 3), padding=1),
                  init.bn(f"conv{i}.bn", f"conv{i}.conv", cout),
                  Neuron(f"conv{i}", input=f"conv{i}.bn", spec=spec)]
        src, cin = f"conv{i}", cout
    nodes.append(Flatten("flatten", input=src))
    src, nin = "flatten", cin * h * w
    for j, nout in enumerate(_scaled(f, width) for f in fc):
        nodes += [Linear(f"fc{j + 1}.fc", input=src, weight=init.linear(nout, nin),
                         bias=np.zeros(nout, np.float32)),
                  Neuron(f"fc{j + 1}", input=f"fc{j + 1}.fc", spec=spec)]
        src, nin = f"fc{j + 1}", nout
    out = f"fc{len(fc) + 1}"
    nodes.append(Linear(out, input=src, weight=init.linear(num_classes, nin),
                        bias=np.zeros(num_classes, np.float32)))
    default = f"vgg16_n{levels}_t{timesteps}" + (f"_w{width:g}" if width != 1 else "")
    return Graph(nodes, out, name or default, timesteps,
                 meta={"architecture": "vgg16", "width": width})


def _basic_block(init: _Init, i: int, src: str, cin: int, planes: int, stride: int,
                 variant: str, spec: NeuronSpec, bspec: NeuronSpec) -> list:
    """One BasicBlock named block{i}/res{i}/sum{i}; its output node is ``sum{i}``."""
    p = f"block{i}"
    nodes = [Conv2d(f"{p}.conv1", input=src, weight=init.conv(planes, cin, 3), stride=stride,
                    padding=1),
             init.bn(f"{p}.bn1", f"{p}.conv1", planes),
             Neuron(f"{p}.sn1", input=f"{p}.bn1", spec=spec),
             Conv2d(f"{p}.conv2", input=f"{p}.sn1", weight=init.conv(planes, planes, 3), padding=1),
             init.bn(f"{p}.bn2", f"{p}.conv2", planes)]
    projecting = stride != 1 or cin != planes
    if projecting:
        nodes += [Conv2d(f"res{i}.conv", input=src, weight=init.conv(planes, cin, 1),
                         stride=stride),
                  init.bn(f"res{i}.bn", f"res{i}.conv", planes)]
    if variant == "spiking":
        shortcut = f"res{i}.bn" if projecting else src
        return nodes + [Add(f"add{i}", args=(f"{p}.bn2", shortcut)),
                        Neuron(f"sum{i}", input=f"add{i}", spec=spec)]
    if projecting:
        nodes.append(Neuron(f"res{i}", input=f"res{i}.bn", spec=spec))
    nodes.append(Neuron(p, input=f"{p}.bn2", spec=spec))
    args = (p, f"res{i}" if projecting else src)
    if variant == "sew":
        return nodes + [Add(f"sum{i}", args=args)]
    return nodes + [Add(f"add{i}", args=args), Neuron(f"sum{i}", input=f"add{i}", spec=bspec)]


def _resnet_head(src: str, cin: int, num_classes: int, init: _Init) -> list:
    return [AvgPool2d("pool", input=src, kernel=None), Flatten("flatten", input="pool"),
            Linear("fc", input="flatten", weight=init.linear(num_classes, cin),
                   bias=np.zeros(num_classes, np.float32))]


def resnet18(variant: str = "sew", levels: int = 4, timesteps: int = 1, width: float = 1.0,
             input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
             vth: float = 1.0, barrier_levels: int | None = None, input_scale: float = 1 / 255,
             seed: int = 0, name: str | None = None) -> Graph:
    """CIFAR ResNet18 (He et al.'s CIFAR variant): 3×3 stem without max-pool, 4 stages × 2 BasicBlocks.

    variant "sew": SEW-ResNet ADD — neuron on the direct path, block output = sum (values grow).
    variant "sparse": Sparse-ResNet — as SEW, plus a barrier neuron after every sum.
    variant "spiking": Spiking ResNet — the sum of currents goes through one neuron.
    """
    if variant not in RESNET_VARIANTS:
        raise ModelError(f"unknown ResNet variant {variant!r}; expected one of {RESNET_VARIANTS}",
                         "resnet18", "variant")
    init = _Init(seed)
    spec = NeuronSpec(levels=levels, vth=vth)
    bspec = barrier(levels if barrier_levels is None else barrier_levels, vth)
    c0 = _scaled(64, width)
    nodes = [Input("input", shape=tuple(input_shape), scale=input_scale),
             Conv2d("stem.conv", input="input", weight=init.conv(c0, input_shape[0], 3), padding=1),
             init.bn("stem.bn", "stem.conv", c0),
             Neuron("stem", input="stem.bn", spec=spec)]
    src, cin, i = "stem", c0, 0
    for stage, planes in enumerate(_scaled(p, width) for p in (64, 128, 256, 512)):
        for b in range(2):
            stride = 2 if (stage > 0 and b == 0) else 1
            nodes += _basic_block(init, i, src, cin, planes, stride, variant, spec, bspec)
            src, cin, i = f"sum{i}", planes, i + 1
    nodes += _resnet_head(src, cin, num_classes, init)
    default = f"{variant}_resnet18_n{levels}_t{timesteps}" + (f"_w{width:g}" if width != 1 else "")
    return Graph(nodes, "fc", name or default, timesteps,
                 meta={"architecture": f"{variant}-resnet18", "width": width})


def small_convnet(levels: int = 4, timesteps: int = 2, channels: tuple[int, int] = (8, 16),
                  input_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10,
                  hidden: int = 64, vth: float = 1.0, seed: int = 0,
                  name: str | None = None) -> Graph:
    """A small multi-level CNN (two conv blocks with max-pool, one hidden FC): seconds to simulate."""
    init = _Init(seed)
    spec = NeuronSpec(levels=levels, vth=vth)
    c1, c2 = channels
    h, w = input_shape[1] // 4, input_shape[2] // 4
    nodes = [Input("input", shape=tuple(input_shape), scale=1 / 255),
             Conv2d("conv1.conv", input="input", weight=init.conv(c1, input_shape[0], 3), padding=1),
             init.bn("conv1.bn", "conv1.conv", c1),
             Neuron("conv1", input="conv1.bn", spec=spec),
             MaxPool2d("conv1.pool", input="conv1", kernel=2),
             Conv2d("conv2.conv", input="conv1.pool", weight=init.conv(c2, c1, 3), padding=1),
             init.bn("conv2.bn", "conv2.conv", c2),
             Neuron("conv2", input="conv2.bn", spec=spec),
             MaxPool2d("conv2.pool", input="conv2", kernel=2),
             Flatten("flatten", input="conv2.pool"),
             Linear("fc1.fc", input="flatten", weight=init.linear(hidden, c2 * h * w),
                    bias=np.zeros(hidden, np.float32)),
             Neuron("fc1", input="fc1.fc", spec=spec),
             Linear("fc2", input="fc1", weight=init.linear(num_classes, hidden),
                    bias=np.zeros(num_classes, np.float32))]
    return Graph(nodes, "fc2", name or f"small_convnet_n{levels}_t{timesteps}", timesteps,
                 meta={"architecture": "small-convnet"})


def small_resnet(variant: str = "sew", levels: int = 4, timesteps: int = 1, channels: int = 8,
                 input_shape: tuple[int, int, int] = (3, 16, 16), num_classes: int = 10,
                 seed: int = 0) -> Graph:
    """A two-block residual net (one identity, one projecting block) with ResNet18's naming."""
    if variant not in RESNET_VARIANTS:
        raise ModelError(f"unknown ResNet variant {variant!r}; expected one of {RESNET_VARIANTS}",
                         "small_resnet", "variant")
    init = _Init(seed)
    spec = NeuronSpec(levels=levels)
    c = channels
    nodes = [Input("input", shape=tuple(input_shape), scale=1 / 255),
             Conv2d("stem.conv", input="input", weight=init.conv(c, input_shape[0], 3), padding=1),
             init.bn("stem.bn", "stem.conv", c),
             Neuron("stem", input="stem.bn", spec=spec)]
    src, cin = "stem", c
    for i, (planes, stride) in enumerate(((c, 1), (2 * c, 2))):
        nodes += _basic_block(init, i, src, cin, planes, stride, variant, spec, barrier(levels))
        src, cin = f"sum{i}", planes
    nodes += _resnet_head(src, cin, num_classes, init)
    return Graph(nodes, "fc", f"small_{variant}_resnet_n{levels}_t{timesteps}", timesteps,
                 meta={"architecture": f"small-{variant}-resnet"})


BUILDERS = {"vgg16": vgg16, "resnet18": resnet18, "small_convnet": small_convnet,
            "small_resnet": small_resnet}


# --- a builder by name: what ``neurosim train`` and checkpoint import rebuild ------------------

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
        graph = vgg16(width=width, **common)
    elif arch.endswith("resnet18"):
        graph = resnet18(arch.split("-")[0], width=width, **common)
    else:
        channels = tuple(max(1, round(c * width)) for c in SMALL_CHANNELS)
        graph = small_convnet(channels=channels, hidden=max(1, round(SMALL_HIDDEN * width)),
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
