"""NeuroBench-compatible metrics against an independent twin of NeuroBench's own algorithm.

The twin (``neurobench_synops``) follows neurobench/metrics/utils/layers: per forward call it
clones the input, sets nonzeros to 1, binarises a deep copy of the torch layer, zeroes its bias,
runs it and sums the output; the call is ACs when every input value is in {-1, 0, 1}. The input
tensors are wired by hand for each test network, not through neurosim.reports.metrics.
"""

import copy
from dataclasses import replace

import numpy as np
import pytest

from neurosim.data import Dataset
from neurosim.model import builders
from neurosim.model.graph import Conv2d, Flatten, Graph, Input, Linear, Neuron
from neurosim.model.neurons import NeuronSpec
from neurosim import metrics
from neurosim.simulate import simulate
from test_reports import inputs_for

torch = pytest.importorskip("torch")


def torch_layer(node):
    if isinstance(node, Conv2d):
        cout, cin, kh, kw = node.weight.shape
        layer = torch.nn.Conv2d(cin, cout, (kh, kw), stride=node.stride, padding=node.padding,
                                bias=node.bias is not None)
    else:
        layer = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0],
                                bias=node.bias is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(np.array(node.weight), dtype=torch.float32))
        if node.bias is not None:
            layer.bias.copy_(torch.as_tensor(np.array(node.bias), dtype=torch.float32))
    return layer


def neurobench_synops(layer, calls):
    """(effective ACs, effective MACs, dense) over ``calls``: one input tensor per call."""
    acs = macs = dense = 0
    for x in calls:
        x = torch.as_tensor(np.array(x), dtype=torch.float32)
        spiking = len(x[(x != 0) & (x != 1) & (x != -1)]) == 0
        for all_ones in (False, True):
            inputs = x.detach().clone()
            inputs[inputs != 0] = 1
            if all_ones:
                inputs[inputs == 0] = 1
            binary = copy.deepcopy(layer)
            with torch.no_grad():
                w = binary.weight.data
                w[w != 0] = 1
                if all_ones:
                    w[w == 0] = 1
                if binary.bias is not None:
                    binary.bias.data = torch.zeros_like(binary.bias.data)
                ops = int(binary(inputs).sum())
            if all_ones:
                dense += ops
            elif spiking:
                acs += ops
            else:
                macs += ops
    return acs, macs, dense


def calls_of(tensor):
    """(T, B, ...) → one call per timestep and sample (NeuroBench with batch_size=1)."""
    t, b = tensor.shape[:2]
    return [tensor[i, j:j + 1] for i in range(t) for j in range(b)]


def run(graph, samples=4, seed=0, images=None):
    data = inputs_for(graph, samples, seed)
    if images is not None:
        data = replace(data, inputs=images)
    sim = simulate(graph, inputs=data, record=True, float_reference=False)
    return sim, data.inputs


def image_tensor(graph, x):
    return np.broadcast_to(x[None] * graph.input.scale, (graph.timesteps,) + x.shape)


def check_against_twin(graph, sim, x, wiring):
    got = metrics.synaptic_operations(graph, sim.net, sim.result.levels, x)
    for node, tensor in wiring.items():
        acs, macs, dense = neurobench_synops(torch_layer(graph[node]), calls_of(tensor))
        assert (got[node]["effective_acs"], got[node]["effective_macs"], got[node]["dense"]) \
            == (acs, macs, dense), node
    assert set(got) == set(wiring)


def values(sim, name):
    """A neuron layer's output as the next layer receives it: z·θ, θ = Vth/N (neurosim.train)."""
    return sim.result.levels[name] * sim.graph[name].spec.theta


@pytest.mark.parametrize("levels, timesteps, vth", [(1, 3, 1.0), (4, 2, 1.0), (1, 2, 0.8)])
def test_synops_convnet_match_neurobench(levels, timesteps, vth):
    graph = builders.small_convnet(levels=levels, timesteps=timesteps, input_shape=(1, 12, 12),
                                   vth=vth)
    sim, x = run(graph)
    t = timesteps
    wiring = {"conv1.conv": image_tensor(graph, x), "conv2.conv": values(sim, "conv1"),
              "fc1.fc": values(sim, "conv2").reshape(t, len(x), -1), "fc2": values(sim, "fc1")}
    check_against_twin(graph, sim, x, wiring)


@pytest.mark.parametrize("variant", ["sew", "sparse"])
def test_synops_resnet_match_neurobench(variant):
    graph = builders.small_resnet(variant=variant, levels=2, timesteps=2)
    sim, x = run(graph)
    v = lambda name: values(sim, name)  # noqa: E731
    sum0 = v("stem") + v("block0") if variant == "sew" else v("sum0")
    sum1 = v("block1") + v("res1") if variant == "sew" else v("sum1")
    pooled = sum1.mean(axis=(-2, -1))  # global average pool, then flatten
    wiring = {"stem.conv": image_tensor(graph, x), "block0.conv1": v("stem"),
              "block0.conv2": v("block0.sn1"), "block1.conv1": sum0,
              "block1.conv2": v("block1.sn1"), "res1.conv": sum0, "fc": pooled}
    check_against_twin(graph, sim, x, wiring)


def test_synops_zero_weights_and_binary_pixels():
    """Pruned weights do not count; pixels that are only 0 or 255 (values 0/1) are ACs."""
    graph = builders.small_convnet(levels=1, timesteps=2, input_shape=(1, 12, 12))
    nodes = []
    for node in graph.nodes:
        if node.name == "conv2.conv":
            w = node.weight.copy()
            w[:, :, 0, :] = 0
            node = replace(node, weight=w)
        nodes.append(node)
    pruned = Graph(nodes, graph.output, graph.name, graph.timesteps, graph.meta)
    rng = np.random.default_rng(3)
    images = (rng.random((4, 1, 12, 12)) < 0.5).astype(np.uint8) * 255
    sim, x = run(pruned, images=images)
    lv = sim.result.levels
    wiring = {"conv1.conv": image_tensor(pruned, x), "conv2.conv": values(sim, "conv1"),
              "fc1.fc": values(sim, "conv2").reshape(2, 4, -1), "fc2": values(sim, "fc1")}
    check_against_twin(pruned, sim, x, wiring)
    got = metrics.synaptic_operations(pruned, sim.net, lv, x)
    assert got["conv1.conv"]["effective_macs"] == 0 and got["conv1.conv"]["graded_calls"] == 0
    layers = sim.counts.table().set_index("layer")
    assert got["conv2.conv"]["effective_acs"] < layers.loc["conv2", "synapse_visits"]
    weights = sum(n.weight.size for n in pruned.nodes if isinstance(n, (Conv2d, Linear)))
    zeros = 16 * 8 * 3  # C_out × C_in × one row of the 3×3 kernel
    assert metrics.footprint(pruned)["ConnectionSparsity"] == round(zeros / weights, 4)


def test_binary_net_acs_equal_synapse_visits():
    """With binary spikes and no zero weight, NeuroBench's ACs are neurosim's synapse visits."""
    graph = builders.small_convnet(levels=1, timesteps=2, input_shape=(1, 12, 12))
    sim, x = run(graph)
    m = metrics.compute(sim, x)
    layers = sim.counts.table().set_index("layer")
    spike_fed = layers.loc[["conv2", "fc1", "fc2"], "synapse_visits"].sum()
    syn = m["neurobench"]["SynapticOperations"]
    assert syn["Effective_ACs"] == spike_fed / 4
    assert syn["Effective_MACs"] == layers.loc["conv1", "synapse_visits"] / 4


def test_footprint_matches_torch_modules():
    """NeuroBench's Footprint: Σ numel × element_size of parameters and buffers."""
    graph = builders.small_convnet(levels=4, timesteps=1, input_shape=(1, 12, 12))
    modules = []
    for node in graph.nodes:
        if isinstance(node, (Conv2d, Linear)):
            modules.append(torch_layer(node))
        elif type(node).__name__ == "BatchNorm":
            modules.append(torch.nn.BatchNorm2d(node.gamma.size))
    model = torch.nn.Sequential(*modules)
    expected = sum(p.numel() * p.element_size() for p in model.parameters())
    expected += sum(b.numel() * b.element_size() for b in model.buffers())
    got = metrics.footprint(graph)
    assert got["Footprint"] == expected
    assert got["ParameterCount"] == sum(p.numel() for p in model.parameters())


def test_activation_sparsity_from_levels():
    """No pooling in the ResNet: the sparsity is the share of zeros in the recorded outputs."""
    graph = builders.small_resnet(variant="sparse", levels=4, timesteps=2)
    sim, x = run(graph)
    m = metrics.compute(sim, x)["neurobench"]
    spiking = [l.name for l in sim.net.layers if l.mode == "spiking"]
    zeros = sum(int((sim.result.levels[n] == 0).sum()) for n in spiking)
    total = sum(sim.result.levels[n].size for n in spiking)
    assert m["ActivationSparsity"] == pytest.approx(zeros / total, abs=1e-12)
    for n in spiking:
        assert m["ActivationSparsityByLayer"][n] == pytest.approx(
            float((sim.result.levels[n] == 0).mean()), abs=1e-12)


def one_linear_net(weights, timesteps):
    """input (1 value) → linear → IF neurons, N=1, Vth=1: currents are exactly the weights."""
    nodes = [Input("input", shape=(1, 1, 1), scale=1.0), Flatten("flat", input="input"),
             Linear("fc", input="flat", weight=np.array(weights, np.float32).reshape(-1, 1)),
             Neuron("out", input="fc", spec=NeuronSpec(levels=1, vth=1.0))]
    return Graph(nodes, "out", "one_linear", timesteps)


def test_membrane_updates_by_hand():
    """I = θ: fire and return to 0 each step (no change after t=0); I = θ/2: v changes each step."""
    graph = one_linear_net([1.0, 0.5], timesteps=3)
    x = np.ones((2, 1, 1, 1), np.uint8)
    sim = simulate(graph, inputs=Dataset(x, np.zeros(2, int), "ones"), record=True,
                   float_reference=False)
    counts = metrics.membrane_updates(sim.net, x, 3, sim.result.levels)
    # neuron A: 1 (first call) + 0 + 0; neuron B: 1 + 1 + 1 — per sample, 2 samples
    assert counts == {"out": 2 * (1 + 3)}
    assert metrics.compute(sim, x)["neurobench"]["MembraneUpdates"] == 4
    assert sim.result.levels["out"][:, 0].tolist() == [[1, 0], [1, 1], [1, 0]]


def test_membrane_updates_single_step_count_every_neuron():
    graph = builders.small_convnet(levels=4, timesteps=1, input_shape=(1, 12, 12))
    sim, x = run(graph)
    m = metrics.compute(sim, x)["neurobench"]
    neurons = sum(l.neurons for l in sim.net.layers if l.mode == "spiking")
    assert m["MembraneUpdates"] == neurons


def test_membrane_replay_is_checked_against_the_run():
    graph = builders.small_convnet(levels=4, timesteps=2, input_shape=(1, 12, 12))
    sim, x = run(graph)
    levels = dict(sim.result.levels)
    levels["conv2"] = levels["conv2"] + 1
    with pytest.raises(Exception, match="conv2: replayed output levels differ"):
        metrics.membrane_updates(sim.net, x, 2, levels)


def test_graded_note_names_misclassified_layers(tmp_path):
    from neurosim.reports import load_run
    from neurosim.reports.run_report import graded_note
    from test_reports import build_run
    graded = load_run(build_run(tmp_path / "g", "sew", levels=4, energy=False))
    note = graded_note(graded)
    assert "misclassifies graded spikes" in note and "block0" in note
    binary = load_run(build_run(tmp_path / "b", "convnet", levels=1, energy=False))
    assert "agrees with neurosim" in graded_note(binary)


def test_metrics_without_recorded_levels():
    graph = builders.small_convnet(levels=4, timesteps=2, input_shape=(1, 12, 12))
    data = inputs_for(graph, 3)
    sim = simulate(graph, inputs=data, record=False, float_reference=False)
    m = metrics.compute(sim, data.inputs)
    assert "SynapticOperations" not in m["neurobench"]
    assert "MembraneUpdates" not in m["neurobench"]
    assert len(m["notes"]) == 2 and "record=False" in m["notes"][0]
    assert 0 < m["neurobench"]["ActivationSparsity"] < 1  # from the counters alone
