"""Core mapping: one core per layer, splits by output channels, SRAM sizes, errors, mesh routes."""

import numpy as np
import pytest

from neurosim.compiler import (MappedNetwork, compile_graph, core_table, default_mapping,
                               map_to_cores)
from neurosim.errors import CompileError
from neurosim.hardware import CoreLimits, NoC, Profile
from neurosim.model.builders import small_convnet, small_resnet
from neurosim.model.graph import Conv2d, Flatten, Graph, Input, Linear, Neuron
from neurosim.model.neurons import NeuronSpec


def tiny_net():
    """1×4×4 input → conv 3×3 pad 1, 6 channels (no bias) → IF → flatten → FC 96→3 (bias)."""
    nodes = [Input("in", shape=(1, 4, 4), scale=1.0),
             Conv2d("conv", input="in", weight=np.ones((6, 1, 3, 3), np.float32), padding=1),
             Neuron("sn", input="conv", spec=NeuronSpec(levels=2)),
             Flatten("flat", input="sn"),
             Linear("fc", input="flat", weight=np.full((3, 96), 0.1, np.float32),
                    bias=np.zeros(3, np.float32))]
    return compile_graph(Graph(nodes, output="fc", timesteps=1))


def test_one_core_per_layer_by_default():
    net = tiny_net()
    mapped = map_to_cores(net, Profile("p"))
    assert isinstance(mapped, MappedNetwork)
    assert [(c.layer, c.channels) for c in mapped.cores] == [("sn", (0, 6)), ("fc", (0, 3))]
    assert [layer.core for layer in mapped.layers] == [0, 1]
    assert default_mapping(mapped) is mapped


def test_sram_words_and_bits_by_hand():
    """sn: 6·16 = 96 potentials, 6·9 = 54 weights, no bias; FIFO event word: the input has 16
    positions (4 address bits) of values up to 255 (8 bits). fc: 3 potentials, 3·96 weights,
    3 biases; its source has 96 positions (7 bits) of levels up to 2 (2 bits)."""
    net = tiny_net()
    table = core_table(net, Profile("p", fifo_depth=100)).set_index("layer")
    sn, fc = table.loc["sn"], table.loc["fc"]
    assert (sn.neurons, sn.weight_words, sn.bias_words, sn.potential_words) == (96, 54, 0, 96)
    assert (fc.neurons, fc.weight_words, fc.bias_words, fc.potential_words) == (3, 288, 3, 3)
    assert (sn.fifo_word_bits, fc.fifo_word_bits) == (12, 9)
    assert sn.sram_bits == 54 * 16 + 96 * 16 + 100 * 12
    assert fc.sram_bits == 288 * 16 + 3 * 16 + 3 * 16 + 100 * 9
    assert sn.channels == "0:6" and sn.fifo_depth == 100


def test_split_by_neurons_is_balanced():
    """max_neurons 40: 16 potentials per channel → 2 channels per core → 3 cores of 2."""
    mapped = map_to_cores(tiny_net(), Profile("p", core=CoreLimits(max_neurons=40)))
    assert [c.channels for c in mapped.cores_of("sn")] == [(0, 2), (2, 4), (4, 6)]
    assert [c.neurons for c in mapped.cores_of("sn")] == [32, 32, 32]
    assert mapped.layer("fc").core == 3
    # fc is fed by the three cores of sn: three FIFO channels
    assert mapped.cores_of("fc")[0].fifo_channels == 3


def test_split_by_weights():
    """max_weights 100: fc needs 96 words per output channel → one channel per core."""
    mapped = map_to_cores(tiny_net(), Profile("p", core=CoreLimits(max_weights=100)))
    assert [c.channels for c in mapped.cores_of("fc")] == [(0, 1), (1, 2), (2, 3)]
    assert [c.weight_words for c in mapped.cores_of("fc")] == [96, 96, 96]
    assert len(mapped.cores_of("sn")) == 1  # 54 words fit


def test_split_uneven_channels():
    """7 output channels into cores of at most 3: 3 cores, sizes 2, 2, 3."""
    net = compile_graph(small_convnet(channels=(7, 4), input_shape=(1, 8, 8), hidden=8))
    mapped = map_to_cores(net, Profile("p", core=CoreLimits(max_neurons=3 * 64)))
    assert [c.channels for c in mapped.cores_of("conv1")] == [(0, 2), (2, 4), (4, 7)]


def test_errors_name_the_limit():
    net = tiny_net()
    with pytest.raises(CompileError, match="sn: one output channel needs 16 potentials .* "
                                           "max_neurons=8"):
        map_to_cores(net, Profile("p", core=CoreLimits(max_neurons=8)))
    with pytest.raises(CompileError, match="fc: one output channel needs 96 weight words"):
        map_to_cores(net, Profile("p", core=CoreLimits(max_weights=50)))
    with pytest.raises(CompileError, match="core.max_cores: the network needs 4 cores but the "
                                           "profile has max_cores=3 .split layers fc: 3"):
        map_to_cores(net, Profile("p", core=CoreLimits(max_weights=100, max_cores=3)))
    split = Profile("p", fifo_depth=2, core=CoreLimits(max_neurons=40))
    with pytest.raises(CompileError, match="fifo_depth: fifo_depth=2 cannot give each of the 3"):
        map_to_cores(net, split)


def test_mesh_positions_and_xy_hops():
    net = compile_graph(small_resnet("sew"))
    mapped = map_to_cores(net, Profile("p", noc=NoC(mesh_width=3)))
    assert mapped.mesh == (3, 3)
    assert [c.position for c in mapped.cores[:4]] == [(0, 0), (1, 0), (2, 0), (0, 1)]
    assert mapped.hops(0, 4) == 2 and mapped.hops(2, 3) == 3 and mapped.hops(5, 5) == 0
    square = map_to_cores(net, Profile("p"))
    assert square.mesh == (3, 3)  # 7 cores: the smallest square
    xbar = map_to_cores(net, Profile("p", noc=NoC(topology="crossbar")))
    assert xbar.hops(0, 6) == 1


def test_routes_list_each_destination_core_once():
    """In SEW forward mode the stem's events go to block0.sn1 and, through sum0 = block0 + stem,
    to sum0's consumers block1.sn1 and res1; the readout sends nothing."""
    net = map_to_cores(compile_graph(small_resnet("sew")), Profile("p", noc=NoC(mesh_width=3)))
    dests = [c.layer for c in net.destinations("stem")]
    assert dests == ["block0.sn1", "block1.sn1", "res1"]
    ((channels, hops),) = net.routes("stem")
    assert channels == (0, 8) and hops == (1, 1, 2)
    assert net.routes("fc") == [((0, 10), ())]
