import numpy as np
import pytest

from naive import run_graph
from neurosim.compiler import Widths, compile_graph
from neurosim.errors import CompileError
from neurosim.model import builders
from neurosim.model.graph import (Add, AvgPool2d, Conv2d, Graph, Input,
                                  MaxPool2d, Neuron)
from neurosim.model.neurons import NeuronSpec
from neurosim.reference import run

GRAPHS = [
    builders.small_convnet(levels=4, timesteps=2, input_shape=(1, 12, 12)),
    builders.small_convnet(levels=1, timesteps=3, input_shape=(1, 12, 12)),
    builders.small_resnet("sew", levels=4, timesteps=2, input_shape=(3, 8, 8)),
    builders.small_resnet("sparse", levels=3, timesteps=1, input_shape=(3, 8, 8)),
    builders.small_resnet("spiking", levels=2, timesteps=2, input_shape=(3, 8, 8)),
]


def inputs_for(graph, n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + graph.input.shape)


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.name)
@pytest.mark.parametrize("add_mode", ["forward", "merge"])
def test_float_compile_matches_the_unfolded_graph(graph, add_mode):
    """BN folding, scale folding, pooling and add resolution preserve the float network."""
    x = inputs_for(graph)
    levels, logits = run_graph(graph, x)
    r = run(compile_graph(graph, integer=False, add_mode=add_mode), x, record=True)
    for name, z in levels.items():
        if name in r.levels and r.net.layer(name).pool is None:
            mismatch = np.mean(r.levels[name] != z)
            assert mismatch <= 1e-3, (name, mismatch)  # only float rounding at exact thresholds
    assert np.allclose(r.logits, logits, atol=1e-6 * max(1, np.abs(logits).max()))


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.name)
def test_integer_network_tracks_the_float_one(graph):
    x = inputs_for(graph, n=8)
    f = run(compile_graph(graph, integer=False), x, record=True)
    q = run(compile_graph(graph, integer=True), x, record=True)
    for name in f.levels:
        assert np.mean(f.levels[name] != q.levels[name]) < 0.02, name
    assert np.mean(f.predictions == q.predictions) >= 0.75


def test_quantised_values_fit_their_widths():
    g = builders.vgg16(width=0.25)
    w = Widths(weights=8, biases=12, potentials=16)
    net = compile_graph(g, w)
    for layer in net.layers:
        for p in layer.projections:
            assert np.abs(p.weight).max() <= 127 and p.weight.dtype == np.int64
        if layer.bias is not None:
            assert np.abs(layer.bias).max() <= 2047
        if layer.mode == "spiking":  # T = 1: the word holds the fire range [0, N·θ]
            assert layer.threshold * layer.levels <= 2 ** 15 - 1
            assert layer.v_range == (-2 ** 15, 2 ** 15 - 1)
    assert net.quantisation["conv1"]["threshold"] >= 1


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_the_quantiser_uses_the_words(bits):
    """Every conv/linear projection's largest weight uses more than half its word (all of it
    where the scale was lowered to fill it), and the fire range fills the potential word to
    within the weights' demands."""
    w = Widths(weights=bits, biases=bits, potentials=bits)
    net = compile_graph(builders.vgg16(width=0.25), w)
    wlim, vlim = 2 ** (bits - 1) - 1, 2 ** (bits - 1) - 1
    for layer in net.layers:
        q = net.quantisation[layer.name]
        for p in layer.projections:
            assert np.abs(p.weight).max() > wlim / 2, (layer.name, p.shift)
        if "weights filled" in q["limited_by"] or q["limited_by"] == "weights":
            rounding = 1 / layer.threshold if layer.mode == "spiking" else 0  # θ_q an integer
            assert q["weight_fill"] >= 1 - rounding - 2 / wlim, layer.name
        if layer.mode == "spiking":
            assert layer.threshold * layer.levels <= vlim
            assert q["limited_by"] != "potentials" or layer.threshold * layer.levels > vlim / 2


def test_thresholds_are_shared_across_adds():
    net = compile_graph(builders.small_resnet("sparse", levels=4))
    barrier = net.layer("sum0")
    assert [p.kind for p in barrier.projections] == ["identity", "identity"]
    # a level-z event from a neuron with the same θ adds exactly z·θ to the barrier's potential
    assert all(int(p.weight[0]) == barrier.threshold for p in barrier.projections)


def test_forward_mode_consumers_see_every_member_stream():
    net = compile_graph(builders.resnet18("sew", width=0.125), add_mode="forward")
    assert [p.source for p in net.layer("block2.sn1").projections] == ["block1", "block0", "stem"]
    assert [p.source for p in net.layer("block4.sn1").projections] == ["block3", "block2", "res2"]
    # one weight memory serves all three: same folded weights (same θ)
    assert len({p.weight_group for p in net.layer("block2.sn1").projections}) == 1
    assert [a.name for a in net.adds] == [f"sum{i}" for i in range(8)]
    merged = compile_graph(builders.resnet18("sew", width=0.125), add_mode="merge")
    assert merged.layer("sum3").mode == "sum"
    assert [p.source for p in merged.layer("block4.sn1").projections] == ["sum3"]


def test_global_pool_is_folded_into_the_classifier():
    g = builders.small_resnet("sew")
    net = compile_graph(g, integer=False)
    fc = net.layer("fc")
    c, h, w = g.shapes["sum1"]
    assert all(p.weight.shape == (10, c * h * w) for p in fc.projections)


def nodes_prefix():
    return [Input("in", shape=(2, 4, 4), scale=1.0),
            Conv2d("c", input="in", weight=np.ones((2, 2, 1, 1), np.float32))]


@pytest.mark.parametrize("extra,output,match", [
    ([MaxPool2d("p", input="c"), Neuron("n", input="p")], "n",
     "p: expects events from a neuron layer"),
    ([Neuron("n", input="c"), Neuron("m", input="c")], "m", "a current can feed one layer"),
    ([Neuron("n", input="c"), MaxPool2d("p", input="n"), Conv2d("d", input="n",
      weight=np.ones((2, 2, 1, 1), np.float32)), Neuron("m", input="d")], "m",
     "feeds other nodes besides this pool"),
    ([Neuron("n", input="c"), AvgPool2d("g", input="n", kernel=None),
      Conv2d("d", input="g", weight=np.ones((2, 2, 1, 1), np.float32)), Neuron("m", input="d")],
     "m", "global average pool can only feed a Linear"),
])
def test_unsupported_structures_name_the_node(extra, output, match):
    with pytest.raises(CompileError, match=match):
        compile_graph(Graph(nodes_prefix() + extra, output=output))


def test_merge_mode_needs_one_level_step():
    one = np.ones((1, 1, 1, 1), np.float32)
    g = Graph([Input("in", shape=(1, 2, 2), scale=1.0),
               Conv2d("ca", input="in", weight=one), Neuron("a", input="ca",
                                                            spec=NeuronSpec(levels=2)),
               Conv2d("cb", input="in", weight=one), Neuron("b", input="cb",
                                                            spec=NeuronSpec(levels=4)),
               Add("s", args=("a", "b")), Conv2d("o", input="s", weight=one)], output="o")
    compile_graph(g, add_mode="forward")  # fine: each member keeps its own weights
    with pytest.raises(CompileError, match="s: merge mode needs inputs with one level step"):
        compile_graph(g, add_mode="merge")


def test_bad_widths_and_add_mode():
    with pytest.raises(CompileError, match="widths: weights: expected an integer in"):
        Widths(weights=40)
    with pytest.raises(CompileError, match="unknown add mode"):
        compile_graph(builders.small_convnet(), add_mode="teleport")
