"""Mapping a compiled network onto cores: channel ranges, mesh placement, SRAM sizing.

A layer goes on one core, or on several by output channels when it exceeds the profile's
core.max_neurons / core.max_weights. Cores are numbered in layer order and placed row by row
on the mesh. ``core_words`` is the one SRAM sizing: what a core holding some channels of a
layer stores (weights, biases, potentials), used here for the SRAM bits, by the energy model
for the memories' sizes and by the hardware footprint metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import CompileError
from ..hardware.profile import NoC, Profile, Timing
from .network import PIXEL_MAX, CompiledNetwork, Layer, event_max_level


@dataclass(frozen=True)
class CoreSpec:
    """One core of the chip: output channels [c0, c1) of one layer, at a mesh position.

    Words are counted in the profile's widths: weight words are the layer's weights for these
    channels (one copy per distinct weight group; identity factors are registers, not memory),
    potentials one word per neuron, biases one per channel. ``fifo_channels`` is how many source
    cores feed the core: its input FIFO is split into that many equal virtual channels, so that a
    stream running ahead cannot fill the FIFO that another stream must still use (no deadlock
    where paths rejoin)."""

    index: int
    layer: str
    channels: tuple[int, int]
    position: tuple[int, int]  # (x, y) on the mesh
    neurons: int
    weight_words: int
    bias_words: int
    potential_words: int
    fifo_depth: int  # events, the whole input FIFO
    fifo_channels: int
    fifo_word_bits: int  # one event: source address + value
    sram_bits: int

    @property
    def width(self) -> int:
        """Output channels held by this core."""
        return self.channels[1] - self.channels[0]


@dataclass(eq=False)
class MappedNetwork(CompiledNetwork):
    """A compiled network placed on cores (map_to_cores): what the event engine runs."""

    cores: tuple[CoreSpec, ...] = ()
    mesh: tuple[int, int] = (1, 1)  # (width, height) in cores
    topology: str = "mesh"
    packet_events: int = 64
    fifo_depth: int = 1000
    timing: Timing = field(default_factory=Timing)  # the profile's, for the event engine
    noc: NoC = field(default_factory=NoC)

    def cores_of(self, layer: str) -> list[CoreSpec]:
        return [c for c in self.cores if c.layer == layer]

    def hops(self, a: int, b: int) -> int:
        """Links a packet crosses from core a to core b: XY routing on a mesh, 1 on a crossbar."""
        if self.topology == "crossbar":
            return 1
        (xa, ya), (xb, yb) = self.cores[a].position, self.cores[b].position
        return abs(xa - xb) + abs(ya - yb)

    def destinations(self, source: str) -> list[CoreSpec]:
        """Every core that receives the event stream ``source`` (once, whatever its projections)."""
        layers = {layer.name for layer in self.layers
                  if any(p.source == source for p in layer.projections)}
        return [c for c in self.cores if c.layer in layers]

    def routes(self, layer: str) -> list[tuple[tuple[int, int], tuple[int, ...]]]:
        """For each core of ``layer``: its channel range and the hops to every destination."""
        dests = self.destinations(layer)
        return [(c.channels, tuple(self.hops(c.index, d.index) for d in dests))
                for c in self.cores_of(layer)]


def weight_words_per_channel(layer: Layer) -> int:
    """Weight words one output channel of ``layer`` stores (a shared weight group once)."""
    seen, words = set(), 0
    for p in layer.projections:
        if p.kind == "identity" or p.weight_group in seen:
            continue
        seen.add(p.weight_group)
        words += int(np.prod(p.weight.shape[1:]))
    return words


@dataclass(frozen=True)
class CoreWords:
    """Words a core stores for ``channels`` output channels of a layer: weights (one copy per
    distinct weight group; identity factors are registers), one bias per channel, one
    potential per neuron."""

    weights: int
    biases: int
    potentials: int


def core_words(layer: Layer, channels: int) -> CoreWords:
    """The one SRAM sizing: what a core holding ``channels`` of ``layer``'s channels stores."""
    return CoreWords(channels * weight_words_per_channel(layer),
                     channels if layer.bias is not None else 0,
                     channels * (layer.neurons // layer.channels))


def _split(layer: Layer, limits, where: str) -> list[tuple[int, int]]:
    """Balanced ranges of output channels, each within the core limits (``where``: the profile,
    which errors name)."""
    c = layer.channels
    per_channel_neurons = layer.neurons // c
    per_channel_weights = weight_words_per_channel(layer)
    fit = c
    if limits.max_neurons is not None:
        if per_channel_neurons > limits.max_neurons:
            raise CompileError(f"{layer.name}: one output channel needs {per_channel_neurons} "
                               f"potentials but a core holds max_neurons={limits.max_neurons}; "
                               "raise core.max_neurons", where, "core.max_neurons")
        fit = min(fit, limits.max_neurons // per_channel_neurons)
    if limits.max_weights is not None and per_channel_weights:
        if per_channel_weights > limits.max_weights:
            raise CompileError(f"{layer.name}: one output channel needs {per_channel_weights} "
                               f"weight words but a core holds max_weights={limits.max_weights}; "
                               "raise core.max_weights", where, "core.max_weights")
        fit = min(fit, limits.max_weights // per_channel_weights)
    k = -(-c // fit)
    edges = [i * c // k for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def map_to_cores(net: CompiledNetwork, profile, input_max: int = PIXEL_MAX) -> MappedNetwork:
    """Place every layer on one core, or on several by output channels when it exceeds the
    profile's core.max_neurons / core.max_weights; size each core's SRAMs.

    Cores are numbered in layer order and placed row by row on the mesh (profile.noc.mesh_width
    cores per row, default the smallest square), or where profile.noc.placement puts them. A network that needs more than core.max_cores
    cores, or an input FIFO too small for its virtual channels, raises CompileError.
    """
    limits, widths = profile.core, net.widths
    where = getattr(profile, "path", None) or profile.name
    ranges = {layer.name: _split(layer, limits, where) for layer in net.layers}
    n_cores = sum(len(r) for r in ranges.values())
    if limits.max_cores is not None and n_cores > limits.max_cores:
        per_layer = ", ".join(f"{k}: {len(v)}" for k, v in ranges.items() if len(v) > 1)
        raise CompileError(f"the network needs {n_cores} cores but the profile has max_cores="
                           f"{limits.max_cores}" + (f" (split layers {per_layer})" if per_layer
                                                    else ""), where, "core.max_cores")
    topology = profile.noc.topology
    width = profile.noc.mesh_width or max(1, math.ceil(math.sqrt(n_cores)))
    positions = [(n % width, n // width) for n in range(n_cores)]
    placement = profile.noc.placement
    if placement is not None:
        if len(placement) != n_cores:
            raise CompileError(f"noc.placement gives {len(placement)} core positions but the "
                               f"network needs {n_cores} cores on this profile; give one [x, y] "
                               "per core, in core order", where, "noc.placement")
        positions = [tuple(xy) for xy in placement]
    mesh = (max(x for x, _ in positions) + 1, max(y for _, y in positions) + 1)
    first = {}
    index = 0
    for layer in net.layers:
        first[layer.name] = index
        index += len(ranges[layer.name])
    feeders = {layer.name: sum(1 if p == net.input_name else len(ranges[p])
                               for p in dict.fromkeys(q.source for q in layer.projections))
               for layer in net.layers}
    cores, layers = [], []
    for layer in net.layers:
        sources = dict.fromkeys(p.source for p in layer.projections)
        size = max(int(np.prod(net.stream_shape(s))) for s in sources)
        level = max(event_max_level(net, s, input_max) for s in sources)
        word = max(1, (size - 1).bit_length()) + max(1, int(level).bit_length())
        if profile.fifo_depth < feeders[layer.name]:
            raise CompileError(f"fifo_depth={profile.fifo_depth} cannot give each of the "
                               f"{feeders[layer.name]} source cores of layer {layer.name!r} a "
                               "FIFO channel; raise fifo_depth", where, "fifo_depth")
        for c0, c1 in ranges[layer.name]:
            n = len(cores)
            words = core_words(layer, c1 - c0)
            bits = (words.weights * widths.weights + words.biases * widths.biases
                    + words.potentials * widths.potentials + profile.fifo_depth * word)
            cores.append(CoreSpec(n, layer.name, (c0, c1), positions[n],
                                  words.potentials, words.weights, words.biases,
                                  words.potentials, profile.fifo_depth, feeders[layer.name],
                                  word, bits))
        layers.append(replace(layer, core=first[layer.name]))
    fields = {f: getattr(net, f) for f in net.__dataclass_fields__
              if f in CompiledNetwork.__dataclass_fields__}
    fields["layers"] = layers
    return MappedNetwork(**fields, cores=tuple(cores), mesh=mesh, topology=topology,
                         packet_events=profile.packet_events, fifo_depth=profile.fifo_depth,
                         timing=profile.timing, noc=profile.noc)


def default_mapping(net: CompiledNetwork) -> MappedNetwork:
    """``net`` as placed on cores by the default profile (one core per layer), unless already
    mapped: the placement the engine and the reference use for routing counts."""
    if isinstance(net, MappedNetwork):
        return net
    return map_to_cores(net, Profile("default"))


def core_table(net: CompiledNetwork, profile=None):
    """One row per core: layer, channel range, neurons, weight/bias/potential words, FIFO depth
    and SRAM bits (``neurosim inspect --hw``)."""
    import pandas as pd

    mapped = net if isinstance(net, MappedNetwork) else (
        map_to_cores(net, profile) if profile is not None else default_mapping(net))
    rows = [{"core": c.index, "layer": c.layer, "channels": f"{c.channels[0]}:{c.channels[1]}",
             "x": c.position[0], "y": c.position[1], "neurons": c.neurons,
             "weight_words": c.weight_words, "bias_words": c.bias_words,
             "potential_words": c.potential_words, "fifo_depth": c.fifo_depth,
             "fifo_channels": c.fifo_channels, "fifo_word_bits": c.fifo_word_bits,
             "sram_bits": c.sram_bits, "sram_kib": round(c.sram_bits / 8192, 2)}
            for c in mapped.cores]
    return pd.DataFrame(rows)
