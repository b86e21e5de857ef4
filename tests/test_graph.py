import numpy as np
import pytest

from neurosim.errors import ModelError
from neurosim.model import builders
from neurosim.model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                                  MaxPool2d, Neuron)
from neurosim.model.neurons import NeuronSpec


def w(*shape):
    return np.ones(shape, np.float32)


def test_shapes_are_inferred():
    g = Graph([Input("in", shape=(3, 8, 8)),
               Conv2d("c", input="in", weight=w(4, 3, 3, 3), stride=2, padding=1),
               Neuron("n", input="c"),
               MaxPool2d("p", input="n", kernel=2),
               AvgPool2d("g", input="p", kernel=None),
               Flatten("f", input="g"),
               Linear("fc", input="f", weight=w(5, 4))], output="fc")
    assert g.shapes == {"in": (3, 8, 8), "c": (4, 4, 4), "n": (4, 4, 4), "p": (4, 2, 2),
                        "g": (4, 1, 1), "f": (4,), "fc": (5,)}
    assert [n.name for n in g.nodes][0] == "in"


def test_nodes_in_any_order_are_sorted():
    nodes = [Linear("fc", input="in", weight=w(2, 3)), Input("in", shape=(3,))]
    g = Graph(nodes, output="fc")
    assert [n.name for n in g.nodes] == ["in", "fc"]


@pytest.mark.parametrize("nodes,output,match", [
    ([Input("in", shape=(3, 8, 8)), Conv2d("c", input="in", weight=w(4, 2, 3, 3))], "c",
     "c: weight: expects input \\(C=2"),
    ([Input("in", shape=(3,)), Linear("fc", input="nope", weight=w(2, 3))], "fc",
     "fc: input: unknown input 'nope'"),
    ([Input("in", shape=(3,)), Linear("a", input="b", weight=w(3, 3)),
      Linear("b", input="a", weight=w(3, 3))], "b", "cycle"),
    ([Input("in", shape=(12,)), Linear("fc", input="in", weight=w(2, 3))], "fc",
     "expects input \\(3,\\)"),
    ([Input("in", shape=(3, 4, 4)), Linear("fc", input="in", weight=w(2, 48))], "fc",
     "insert a Flatten"),
    ([Input("in", shape=(3,)), Input("in", shape=(3,))], "in", "duplicate node name"),
    ([Input("in", shape=(3,))], "out", "output node 'out' is not in the graph"),
    ([Input("in", shape=(2, 4, 4)), Conv2d("c", input="in", weight=w(2, 2, 5, 5))], "c",
     "does not fit"),
    ([Input("in", shape=(2, 4, 4)), Conv2d("a", input="in", weight=w(2, 2, 1, 1)),
      Conv2d("b", input="in", weight=w(2, 2, 3, 3)), Add("s", args=("a", "b"))], "s",
     "different shapes"),
    ([Input("in", shape=(2, 4, 4)), BatchNorm("bn", input="in", gamma=w(3), beta=w(3),
                                              mean=w(3), var=w(3))], "bn", "has 3 channels"),
])
def test_bad_graphs_raise_naming_the_node(nodes, output, match):
    with pytest.raises(ModelError, match=match):
        Graph(nodes, output=output)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_rejected(bad):
    weight = w(4, 3, 3, 3)
    weight[1, 2, 0, 0] = bad
    with pytest.raises(ModelError, match="conv1: weight: 1 non-finite"):
        Conv2d("conv1", input="in", weight=weight)
    with pytest.raises(ModelError, match="bn: var"):
        BatchNorm("bn", input="x", gamma=w(2), beta=w(2), mean=w(2), var=np.array([1, bad]))


def test_other_bad_nodes():
    with pytest.raises(ModelError, match="c: bias: expected 4 biases"):
        Conv2d("c", input="in", weight=w(4, 3, 3, 3), bias=w(3))
    with pytest.raises(ModelError, match="weight: expected 4 dimensions"):
        Conv2d("c", input="in", weight=w(4, 3, 3))
    with pytest.raises(ModelError, match="at least two inputs"):
        Add("s", args=("a",))
    with pytest.raises(ModelError, match="shape"):
        Input("in", shape=(3, 0, 4))
    with pytest.raises(ModelError, match="unknown node type"):
        Graph([Input("in", shape=(3,)), object()], output="in")
    with pytest.raises(ModelError, match="timesteps"):
        Graph([Input("in", shape=(3,))], output="in", timesteps=0)


def test_weights_are_read_only():
    c = Conv2d("c", input="in", weight=w(1, 1, 1, 1))
    with pytest.raises(ValueError):
        c.weight[0, 0, 0, 0] = 2.0


def test_vgg16_matches_the_standard_architecture():
    g = builders.vgg16()
    assert g.parameter_count() == 15_249_354  # ≈ 15.25 M (DESIGN.md)
    # 277,504 spiking neurons + the 10 readout neurons = the 277,514 of energy_model.md §4.2
    assert g.neuron_count() + 10 == 277_514
    convs = [n for n in g.nodes if isinstance(n, Conv2d)]
    assert len(convs) == 13 and all(c.weight.shape[2:] == (3, 3) for c in convs)
    pools = [n.input for n in g.nodes if isinstance(n, MaxPool2d)]
    assert pools == ["conv2", "conv4", "conv7", "conv10", "conv13"]
    assert g.shapes["flatten"] == (512,) and g.shapes["fc3"] == (10,)


def test_vgg16_dvs_size():
    g = builders.vgg16(input_shape=(2, 128, 128), input_scale=1.0)
    assert g.neuron_count() + 10 == 4_424_714  # energy_model.md §4.2
    assert g.shapes["flatten"] == (512 * 4 * 4,)


@pytest.mark.parametrize("variant", ["sew", "sparse", "spiking"])
def test_resnet18_parameter_count(variant):
    g = builders.resnet18(variant)
    assert abs(g.parameter_count() - 11.17e6) < 0.02e6  # ResNet18-CIFAR ≈ 11.2 M
    assert g.shapes["sum7"] == (512, 4, 4)
    for i in range(8):
        assert f"sum{i}" in g and f"block{i}.conv1" in g
    for i in (2, 4, 6):
        assert g[f"block{i}.conv1"].stride == (2, 2)
        assert f"res{i}.conv" in g


def test_resnet_variants_differ_where_the_paper_says():
    sew, sparse, spiking = (builders.resnet18(v) for v in ("sew", "sparse", "spiking"))
    assert isinstance(sew["sum3"], Add)
    assert isinstance(sparse["sum3"], Neuron) and sparse["sum3"].spec.barrier
    assert isinstance(sparse["add3"], Add) and "block3" in sparse
    assert isinstance(spiking["sum3"], Neuron) and "block3" not in spiking


def test_with_levels_and_timesteps():
    g = builders.small_convnet(levels=4, timesteps=2).with_levels(8).with_timesteps(3)
    assert {n.spec.levels for n in g.neurons()} == {8}
    assert g.timesteps == 3


def test_neuron_spec_default_is_binary_if():
    assert NeuronSpec().levels == 1 and NeuronSpec().theta == 1.0
