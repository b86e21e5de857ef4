"""NIR import: real files from snnTorch, Sinabs and SpikingJelly against the frameworks' own
outputs, every NIR node type against an independent NIR evaluator, and every error path.

The fixtures (tests/fixtures/nir, made by make_fixtures.py with the frameworks' exporters) hold
the frameworks' outputs on fixed inputs; nothing here chooses the expected numbers.
"""

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")
h5py = pytest.importorskip("h5py")

from neurosim import reference  # noqa: E402
from neurosim.compiler import compile_graph  # noqa: E402
from neurosim.errors import ConversionError  # noqa: E402
from neurosim.importers import NirImportWarning, import_nir  # noqa: E402
from neurosim.importers.nir_read import read_nir  # noqa: E402
from neurosim.importers.sidecar import load_sidecar, parse_sidecar  # noqa: E402
from neurosim.model.io import load_model  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "nir"
NAMES = ["spikingjelly_residual", "snntorch_convnet", "sinabs_convnet", "sinabs_residual",
         "norse_convnet"]


def quiet_import(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NirImportWarning)
        return import_nir(*args, **kw)


def import_with_warnings(*args, **kw):
    """(graph, the NirImportWarning messages the import issued)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NirImportWarning)
        graph = import_nir(*args, **kw)
    return graph, [str(w.message) for w in caught if w.category is NirImportWarning]


def load_fixture(name, sidecar=True):
    graph = quiet_import(FIXTURES / f"{name}.nir",
                         sidecar=FIXTURES / f"{name}.yaml" if sidecar else False)
    return graph, np.load(FIXTURES / f"{name}.npz", allow_pickle=False)


def framework_levels(net, expected, nir_graph):
    """(layer, neurosim levels key, framework levels) for every layer the framework recorded:
    the layer's last node (its pool, if pooled) is the module whose output was hooked."""
    pairs = []
    for layer in net.layers:
        key = next((n for n in reversed(layer.nodes) if f"levels/{n}" in expected.files), None)
        if key is None:
            continue
        ref = expected[f"levels/{key}"]
        if type(nir_graph.nodes[key]).__name__ == "AvgPool2d":  # neurosim sums, torch averages
            ref = ref * (layer.pool.kernel[0] * layer.pool.kernel[1])
        pairs.append((layer.name, key, ref))
    return pairs


@pytest.mark.parametrize("name", NAMES)
def test_fixture_matches_the_framework(name):
    """The float reference of the imported network emits, at every layer and timestep, exactly
    the spikes the exporting framework computed; the output spike counts are equal."""
    graph, expected = load_fixture(name)
    nir_graph, _ = read_nir(FIXTURES / f"{name}.nir")
    net = compile_graph(graph, integer=False)
    result = reference.run(net, expected["inputs"], record=True)
    pairs = framework_levels(net, expected, nir_graph)
    assert len(pairs) == sum(layer.mode == "spiking" for layer in net.layers) >= 2
    for layer, key, ref in pairs:
        assert result.levels[layer].shape == ref.shape
        assert np.array_equal(result.levels[layer], ref), f"{name}: {layer} vs {key}"
        assert ref.any()  # the layer spikes: the comparison is not vacuous
    assert np.array_equal(result.logits, expected["logits"])


@pytest.mark.parametrize("name", NAMES)
def test_fixture_integer_network_and_event_engine(name):
    """The 16-bit network agrees with the float one on nearly all levels (Sinabs' 255 levels
    leave 32 potential units per threshold step: 98.4% in its convnet's last layer) and on every
    prediction; the event engine equals the integer reference exactly."""
    from neurosim import engine

    graph, expected = load_fixture(name)
    x = expected["inputs"]
    float_run = reference.run(compile_graph(graph, integer=False), x, record=True)
    net = compile_graph(graph)
    ref = reference.run(net, x, record=True)
    for layer, levels in ref.levels.items():
        assert np.mean(levels == float_run.levels[layer]) >= 0.98, layer
    assert np.array_equal(ref.predictions, float_run.predictions)
    event = engine.run(net, x, record=True)
    assert ref.levels.keys() == event.levels.keys()
    assert all(np.array_equal(ref.levels[k], event.levels[k]) for k in ref.levels)
    assert np.array_equal(ref.counts.data, event.counts.data)
    assert np.array_equal(ref.logits, event.logits)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_integer_network_at_32_bits_equals_the_framework(name):
    """At 32-bit weights, biases and potentials (hw_configs/exact_32bit.yaml) the integer
    network the hardware runs emits the framework's own levels at every layer and timestep."""
    from neurosim.compiler import Widths

    graph, expected = load_fixture(name)
    nir_graph, _ = read_nir(FIXTURES / f"{name}.nir")
    net = compile_graph(graph, Widths(32, 32, 32))
    result = reference.run(net, expected["inputs"], record=True)
    for layer, key, ref in framework_levels(net, expected, nir_graph):
        assert np.array_equal(result.levels[layer], ref), f"{name}: {layer} vs {key}"
    assert np.array_equal(result.logits, expected["logits"])


def test_fixture_versions_are_recorded():
    versions = json.loads((FIXTURES / "versions.json").read_text())
    assert sorted(versions) == sorted(NAMES)
    for name, info in versions.items():
        assert (FIXTURES / info["file"]).is_file()
        assert info["framework"] in info["packages"] and "nir" in info["packages"]
        _, version = read_nir(FIXTURES / info["file"])
        assert version == info["packages"]["nir"]


def test_fixture_imports_record_provenance():
    graph, _ = load_fixture("sinabs_residual")
    info = graph.meta["import"]
    assert info["dialect"] == "sinabs" and info["nir_version"] == "1.0.4"
    assert info["sidecar"].endswith("sinabs_residual.yaml")
    assert any("input_shape" in note for note in info["notes"])
    assert {n.spec.levels for n in graph.neurons()} == {2}


def test_without_sidecar_the_dialect_defaults_are_used_and_said():
    """SpikingJelly's documented defaults (binary, hard reset) are what the fixture used, so
    the import without a side-car still matches the framework; the warning says so."""
    graph, messages = import_with_warnings(FIXTURES / "spikingjelly_residual.nir", sidecar=False)
    assert any("no side-car: using the spikingjelly dialect's defaults" in m for m in messages)
    assert graph.meta["import"]["sidecar"] is None
    assert any("assuming spikingjelly" in n for n in graph.meta["import"]["notes"])
    expected = np.load(FIXTURES / "spikingjelly_residual.npz")
    graph = graph.with_timesteps(expected["inputs"].shape[1])
    result = reference.run(compile_graph(graph, integer=False), expected["inputs"])
    assert np.array_equal(result.logits, expected["logits"])


def test_without_sidecar_sinabs_levels_default_to_the_cap():
    graph, messages = import_with_warnings(FIXTURES / "sinabs_convnet.nir", sidecar=False)
    assert any("levels (N=255) for 1, 4, 7" in m for m in messages)
    assert {n.spec.levels for n in graph.neurons()} == {255}


def test_norse_time_constants_are_recognised_without_sidecar():
    """Norse writes tau = dt/tau_inv (dt times its time constant): the guessed norse dialect
    divides it back, so that decay = 1 - dt*tau_inv (0.8 for tau_inv = 200 Hz, dt = 1 ms)."""
    graph, messages = import_with_warnings(FIXTURES / "norse_convnet.nir", sidecar=False)
    assert any("assuming norse" in m for m in messages)
    assert graph["1"].spec.decay == pytest.approx(0.8)
    assert graph["3"].spec.decay == pytest.approx(0.9)


def test_snntorch_leaky_with_subtract_reset_is_refused():
    with pytest.raises(ConversionError, match=r"snntorch_convnet.nir: 4: snntorch subtracts the "
                                              r"threshold after the leak"):
        quiet_import(FIXTURES / "snntorch_convnet.nir", sidecar=False)


def test_a_wrong_input_type_needs_the_sidecar():
    with pytest.raises(ConversionError, match=r"conv1: expects an input of 2 channels .* gets "
                                              r"\[1\] .* input_shape in the side-car"):
        quiet_import(FIXTURES / "sinabs_residual.nir", sidecar=False)


def test_a_wrong_convention_is_caught_by_the_framework_comparison(tmp_path):
    """The comparison can fail: Sinabs' LIF normalises its input by (1 − e^(−1/τ)); declaring
    norm_input: false makes layer 4 disagree with Sinabs."""
    car = tmp_path / "car.yaml"
    car.write_text((FIXTURES / "sinabs_convnet.yaml").read_text().replace(
        "  '4':\n    levels: 3", "  '4':\n    levels: 3\n    norm_input: false"))
    graph = quiet_import(FIXTURES / "sinabs_convnet.nir", sidecar=car)
    expected = np.load(FIXTURES / "sinabs_convnet.npz")
    result = reference.run(compile_graph(graph, integer=False), expected["inputs"], record=True)
    assert not np.array_equal(result.levels["4"], expected["levels/4"])


def test_dialect_argument_conflicting_with_sidecar():
    with pytest.raises(ConversionError, match="side-car says dialect 'sinabs' but 'snntorch'"):
        quiet_import(FIXTURES / "sinabs_convnet.nir", sidecar=FIXTURES / "sinabs_convnet.yaml",
                     dialect="snntorch")


# --- every NIR node type, against an independent evaluator of NIR semantics -----------------

torch = pytest.importorskip("torch")
F = torch.nn.functional


def naive_nir(graph, frames, levels, resets):
    """Evaluate a flat NIR graph step by step with torch (float64), forward Euler with dt = 1
    (the "neurosim" dialect): IF v += r·I; LIF v += (v_leak − v + r·I)/τ; CubaLIF with τ_syn = 1
    passes w_in·S to the membrane; z = clip(floor(v/θ), 0, N); reset subtract or to 0.
    Returns ({node: (T, B, ...) outputs of neurons}, output after T steps); an integrator
    output is reported as neurosim does (its mean input over T)."""
    names, edges = list(graph.nodes), graph.edges
    order, done = [], set()
    while len(order) < len(names):
        for n in names:
            if n not in done and all(a in done for a, b in edges if b == n):
                order.append(n)
                done.add(n)
    state, record, total = {}, {}, None
    steps = frames.shape[1]
    out_name = next(n for n in names if isinstance(graph.nodes[n], nir.Output))
    integrator = record_integrator(graph)
    for t in range(steps):
        values = {}
        for n in order:
            node = graph.nodes[n]
            kind = type(node).__name__
            ins = [values[a] for a, b in edges if b == n]
            x = torch.from_numpy(frames[:, t].astype(np.float64)) if kind == "Input" else sum(ins)
            p = {k: torch.as_tensor(np.asarray(v, np.float64)) for k, v in vars(node).items()
                 if isinstance(v, np.ndarray)}
            if kind == "Conv2d":
                y = F.conv2d(x, p["weight"], p["bias"], tuple(node.stride),
                             node.padding if isinstance(node.padding, str) else
                             tuple(node.padding), tuple(node.dilation), int(node.groups))
            elif kind == "Conv1d":
                y = F.conv1d(x, p["weight"], p["bias"], int(node.stride), int(node.padding),
                             int(node.dilation), int(node.groups))
            elif kind in ("Affine", "Linear"):
                y = x @ p["weight"].T + (p["bias"] if kind == "Affine" else 0)
            elif kind == "Scale":
                y = x * p["scale"]
            elif kind == "Flatten":
                y = x.reshape(x.shape[0], -1)
            elif kind in ("SumPool2d", "AvgPool2d"):
                k = tuple(int(v) for v in np.broadcast_to(node.kernel_size, 2))
                s = tuple(int(v) for v in np.broadcast_to(node.stride, 2))
                y = F.avg_pool2d(x, k, s) * (k[0] * k[1] if kind == "SumPool2d" else 1)
            elif kind in ("IF", "LIF", "CubaLIF", "Threshold", "I", "LI", "CubaLI"):
                v = state.get(n, torch.zeros_like(x))
                if kind in ("IF", "I"):
                    v = v + p["r"] * x
                elif kind in ("LIF", "LI"):
                    v = v + (p["v_leak"] - v + p["r"] * x) / p["tau"]
                elif kind in ("CubaLIF", "CubaLI"):  # τ_syn = 1: the synapse passes w_in·S on
                    v = v + (p["v_leak"] - v + p["r"] * p["w_in"] * x) / p["tau_mem"]
                else:
                    v = x
                if kind in ("I", "LI", "CubaLI"):
                    state[n] = v
                    y = v
                else:
                    theta = p["threshold"] if kind == "Threshold" else p["v_threshold"]
                    z = torch.clamp(torch.floor(v / theta), 0, levels[n])
                    if resets[n] == "subtract":
                        v = v - z * theta
                    else:
                        v = torch.where(z > 0, torch.zeros_like(v), v)
                    state[n] = v
                    record.setdefault(n, []).append(z.numpy())
                    y = z
            else:  # Input, Output, Delay(0)
                y = x
            values[n] = y
        final = values[out_name].numpy()
        total = final if integrator or total is None else total + final
    records = {k: np.stack(v) for k, v in record.items()}
    return records, (total / steps if integrator else total)


def record_integrator(graph):
    out = next(n for n in graph.nodes if isinstance(graph.nodes[n], nir.Output))
    (src,) = [a for a, b in graph.edges if b == out]
    return type(graph.nodes[src]).__name__ in ("I", "LI", "CubaLI")


def rng_array(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def zoo_graph():
    """Conv2d with groups, dilation and 'same' padding; per-channel thresholds; SumPool2d; a
    per-channel Scale; a strided Conv2d; LIF; AvgPool2d; Flatten; Affine; IF; Linear; I."""
    rng = np.random.default_rng(3)
    c = 4
    full = np.full
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2, 10, 10])}),
        "conv_g": nir.Conv2d(input_shape=np.array([10, 10]), weight=rng_array(rng, (c, 1, 3, 3)),
                             stride=1, padding="same", dilation=2, groups=2,
                             bias=rng_array(rng, (c,), 0.1)),
        "if1": nir.IF(r=full((c, 10, 10), 1.5, np.float32),
                      v_threshold=np.repeat(np.array([0.5, 0.7, 1.0, 1.3], np.float32),
                                            100).reshape(c, 10, 10),
                      v_reset=np.zeros((c, 10, 10), np.float32)),
        "sum1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "scale1": nir.Scale(np.repeat(np.array([1.0, 0.5, 2.0, 0.25], np.float32),
                                      25).reshape(c, 5, 5)),
        "conv2": nir.Conv2d(input_shape=np.array([5, 5]), weight=rng_array(rng, (6, c, 3, 3), 0.7),
                            stride=np.array([2, 2]), padding=np.array([1, 1]),
                            dilation=np.array([1, 1]), groups=1, bias=np.zeros(6, np.float32)),
        "lif2": nir.LIF(tau=full((6, 3, 3), 4.0), r=full((6, 3, 3), 4.0),
                        v_leak=full((6, 3, 3), 0.1), v_threshold=full((6, 3, 3), 0.5),
                        v_reset=np.zeros((6, 3, 3))),
        "avg2": nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([3, 3]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([6, 1, 1])}, start_dim=0, end_dim=-1),
        "fc1": nir.Affine(weight=rng_array(rng, (8, 6), 2.0), bias=rng_array(rng, (8,), 0.3)),
        "if3": nir.IF(r=np.ones(8), v_threshold=full(8, 0.8), v_reset=np.zeros(8)),
        "fc2": nir.Linear(weight=rng_array(rng, (3, 8))),
        "readout": nir.I(r=full(3, 0.5)),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes, list(zip(order[:-1], order[1:])), type_check=False)


def sidecar_for(levels, resets, timesteps, **extra):
    nodes = {n: {"levels": levels[n], "reset": resets[n]} for n in levels}
    return parse_sidecar({"dialect": "neurosim", "timesteps": timesteps, "nodes": nodes, **extra},
                         "test-sidecar.yaml")


def compare_with_naive(graph, frames, levels, resets, **extra):
    car = sidecar_for(levels, resets, frames.shape[1], **extra)
    imported = quiet_import(graph, sidecar=car)
    net = compile_graph(imported, integer=False)
    data = frames.reshape(frames.shape[:2] + imported.input.shape)  # (C, L) data as (C, 1, L)
    result = reference.run(net, data, record=True)
    expected, output = naive_nir(graph, frames, levels, resets)
    for name, ref in expected.items():
        layer = next(layer for layer in net.layers if name in layer.nodes)
        got = result.levels[layer.name]
        if layer.pool is not None:  # neurosim records after the pool: pool the naive levels
            continue
        assert got.size == ref.size and np.array_equal(got, ref.reshape(got.shape)), name
        assert ref.any(), f"{name} never spikes: the comparison would be vacuous"
    np.testing.assert_allclose(result.logits, output.reshape(len(frames), -1), rtol=1e-9,
                               atol=1e-9)
    return imported, net


def test_node_zoo_matches_naive_nir():
    frames = np.random.default_rng(0).integers(0, 4, (5, 3, 2, 10, 10)).astype(np.uint8)
    levels = {"if1": 3, "lif2": 2, "if3": 1}
    resets = {"if1": "subtract", "lif2": "zero", "if3": "subtract"}
    imported, net = compare_with_naive(zoo_graph(), frames, levels, resets)
    kinds = {n.name: type(n).__name__ for n in imported.nodes}
    assert kinds["conv_g"] == "Conv2d" and kinds["avg2"] == "AvgPool2d"
    assert imported["avg2"].is_global  # a pool over the whole map folds into the next Linear
    assert imported["lif2"].spec.kind == "lif" and imported["lif2"].spec.decay == 0.75
    assert imported["conv_g"].weight.shape == (4, 2, 5, 5)  # groups and dilation expanded
    assert net.output_layer.mode == "readout" and net.output == "readout"


def test_sum_pool_after_neuron_folds_into_next_layer():
    """The pooled levels of if1 (sums over 2×2) equal the naive sum of its spikes."""
    graph = zoo_graph()
    frames = np.random.default_rng(1).integers(0, 4, (3, 2, 2, 10, 10)).astype(np.uint8)
    levels = {"if1": 3, "lif2": 2, "if3": 1}
    resets = {n: "subtract" for n in levels}
    imported = quiet_import(graph, sidecar=sidecar_for(levels, resets, 2))
    result = reference.run(compile_graph(imported, integer=False), frames, record=True)
    expected, _ = naive_nir(graph, frames, levels, resets)
    z = torch.from_numpy(expected["if1"].reshape(-1, 4, 10, 10))
    pooled = (F.avg_pool2d(z, 2) * 4).numpy().reshape(result.levels["if1"].shape)
    assert np.array_equal(result.levels["if1"], pooled)


def one_d_graph(readout="LI"):
    rng = np.random.default_rng(5)
    nodes = {
        "in": nir.Input(input_type={"input": np.array([3, 20])}),
        "conv": nir.Conv1d(input_shape=20, weight=rng_array(rng, (4, 3, 3)), stride=2,
                           padding=1, dilation=1, groups=1, bias=rng_array(rng, (4,), 0.1)),
        "thr": nir.Threshold(threshold=np.full((4, 10), 0.6)),
        "flat": nir.Flatten(input_type={"input": np.array([4, 10])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng_array(rng, (5, 40)), bias=np.zeros(5, np.float32)),
        "ro": (nir.LI(tau=np.full(5, 2.0), r=np.full(5, 2.0), v_leak=np.zeros(5))
               if readout == "LI" else
               nir.CubaLI(tau_syn=np.ones(5), tau_mem=np.full(5, 2.0), r=np.full(5, 2.0),
                          v_leak=np.zeros(5), w_in=np.ones(5))),
        "out": nir.Output(output_type={"output": np.array([5])}),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes, list(zip(order[:-1], order[1:])), type_check=False)


def test_conv1d_threshold_and_li_readout_match_naive_nir():
    frames = np.random.default_rng(2).integers(0, 3, (6, 1, 3, 20)).astype(np.uint8)
    imported, net = compare_with_naive(one_d_graph(), frames, {"thr": 2}, {"thr": "zero"})
    assert imported.input.shape == (3, 1, 20)  # (C, L) as (C, 1, L)
    assert imported["thr"].spec.stateless


def test_cubali_readout_with_trivial_synapse():
    frames = np.random.default_rng(2).integers(0, 3, (4, 1, 3, 20)).astype(np.uint8)
    compare_with_naive(one_d_graph("CubaLI"), frames, {"thr": 1}, {"thr": "subtract"})


def fan_in_graph(nested=False):
    """Residual sums: currents into one neuron (two Affines into lif_b), events into one layer
    (a SEW-style sum of two spike vectors feeding fc_out), a CubaLIF with τ_syn = 1, and a
    Delay of 0 on the skip path. ``nested`` puts branch b inside a subgraph."""
    rng = np.random.default_rng(11)
    n = 6
    branch = {
        "fc_b": nir.Affine(weight=rng_array(rng, (n, n), 0.8), bias=np.zeros(n, np.float32)),
        "fc_skip": nir.Linear(weight=rng_array(rng, (n, n), 0.8)),
        "lif_b": nir.CubaLIF(tau_syn=np.ones(n), tau_mem=np.full(n, 2.0), r=np.full(n, 2.0),
                             v_leak=np.zeros(n), v_threshold=np.full(n, 0.5),
                             v_reset=np.zeros(n), w_in=np.full(n, 1.5)),
    }
    nodes = {
        "in": nir.Input(input_type={"input": np.array([4])}),
        "fc_a": nir.Affine(weight=rng_array(rng, (n, 4), 1.5), bias=rng_array(rng, (n,), 0.2)),
        "if_a": nir.IF(r=np.ones(n), v_threshold=np.full(n, 0.4), v_reset=np.zeros(n)),
        "delay": nir.Delay(np.zeros(n)),
        "fc_out": nir.Affine(weight=rng_array(rng, (3, n)), bias=np.zeros(3, np.float32)),
        "if_out": nir.IF(r=np.ones(3), v_threshold=np.full(3, 0.5), v_reset=np.zeros(3)),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    inner_edges = [("fc_b", "lif_b"), ("fc_skip", "lif_b")]
    if nested:
        sub = {"i": nir.Input(input_type={"input": np.array([n])}), **branch,
               "o": nir.Output(output_type={"output": np.array([n])})}
        nodes["G"] = nir.NIRGraph(sub, [("i", "fc_b"), ("i", "fc_skip"), *inner_edges,
                                        ("lif_b", "o")], type_check=False)
        b_in, b_out = ["G"], "G"
    else:
        nodes.update(branch)
        b_in, b_out = ["fc_b", "fc_skip"], "lif_b"
    edges = [("in", "fc_a"), ("fc_a", "if_a"), *[("delay", b) for b in b_in],
             ("if_a", "delay"), ("if_a", "fc_out"), (b_out, "fc_out"), ("fc_out", "if_out"),
             ("if_out", "out")]
    if not nested:
        edges += inner_edges
    return nir.NIRGraph(nodes, edges, type_check=False)


def test_fan_in_sums_and_cubalif_match_naive_nir():
    frames = np.random.default_rng(4).integers(0, 3, (8, 3, 4)).astype(np.uint8)
    levels = {"if_a": 2, "lif_b": 2, "if_out": 3}
    resets = {"if_a": "subtract", "lif_b": "subtract", "if_out": "zero"}
    imported, net = compare_with_naive(fan_in_graph(), frames, levels, resets)
    adds = {n.name: n.args for n in imported.nodes if type(n).__name__ == "Add"}
    assert adds == {"lif_b.add": ("fc_b", "fc_skip"), "fc_out.add": ("if_a", "lif_b")}


def test_nested_graph_equals_flat_graph():
    frames = np.random.default_rng(4).integers(0, 3, (8, 3, 4)).astype(np.uint8)
    levels = {"if_a": 2, "lif_b": 2, "if_out": 3}
    resets = {k: "subtract" for k in levels}
    flat = quiet_import(fan_in_graph(), sidecar=sidecar_for(levels, resets, 3))
    nested_levels = {("G.lif_b" if k == "lif_b" else k): v for k, v in levels.items()}
    nested = quiet_import(fan_in_graph(nested=True),
                          sidecar=sidecar_for(nested_levels, {k: "subtract"
                                                              for k in nested_levels}, 3))
    assert "G.lif_b" in nested and "G.fc_b" in nested
    a = reference.run(compile_graph(flat, integer=False), frames, record=True)
    b = reference.run(compile_graph(nested, integer=False), frames, record=True)
    assert np.array_equal(a.logits, b.logits)
    assert np.array_equal(a.levels["lif_b"], b.levels["G.lif_b"])


def test_threshold_scaling_keeps_one_spike_worth_one():
    """A neuron with threshold θ ≠ 1 gets its input divided by θ (a BatchNorm before it) and
    Vth = N, so a level is worth 1 downstream, as a spike was."""
    imported = quiet_import(zoo_graph(), sidecar=sidecar_for({"if1": 3, "lif2": 2, "if3": 1},
                                                             {"if1": "subtract", "lif2": "zero",
                                                              "if3": "subtract"}, 1))
    spec = imported["if1"].spec
    assert (spec.levels, spec.vth, spec.theta) == (3, 3.0, 1.0)
    bn = imported["if1.in"]
    np.testing.assert_allclose(bn.gamma, 1.5 / np.array([0.5, 0.7, 1.0, 1.3]), rtol=1e-6)


# --- what neurosim cannot run: one clear error each --------------------------------------------

def chain(*pairs, in_shape=(4,), out_shape=None, type_check=False):
    nodes = {"in": nir.Input(input_type={"input": np.array(in_shape)})}
    nodes.update(dict(pairs))
    nodes["out"] = nir.Output(output_type={"output": np.array(out_shape or [1])})
    order = list(nodes)
    return nir.NIRGraph(nodes, list(zip(order[:-1], order[1:])), type_check=type_check)


def affine(nout, nin, seed=0):
    return nir.Affine(weight=rng_array(np.random.default_rng(seed), (nout, nin)),
                      bias=np.zeros(nout, np.float32))


def if_node(n, **kw):
    return nir.IF(r=np.ones(n), v_threshold=np.ones(n), **kw)


UNRUNNABLE = [
    ("delay", chain(("fc", affine(3, 4)), ("if", if_node(3)), ("d", nir.Delay(np.ones(3))),
                    ("fc2", affine(2, 3))), r"d: delays its input by up to 1: neurosim has no"),
    ("hidden LI", chain(("fc", affine(3, 4)), ("li", nir.LI(tau=np.ones(3) * 2, r=np.ones(3),
                                                            v_leak=np.zeros(3))),
                        ("if", if_node(3))), r"if: receives the membrane voltage of 'li'"),
    ("synaptic decay", chain(("fc", affine(3, 4)), ("c", nir.CubaLIF(
        tau_syn=np.full(3, 2.0), tau_mem=np.full(3, 2.0), r=np.ones(3), v_leak=np.zeros(3),
        v_threshold=np.ones(3)))), r"c: tau_syn: has a synaptic current that decays by 0\.5"),
    ("per-neuron tau", chain(("fc", affine(3, 4)), ("lif", nir.LIF(
        tau=np.array([2.0, 3.0, 2.0]), r=np.ones(3), v_leak=np.zeros(3),
        v_threshold=np.ones(3)))), r"lif: time constants differ between neurons"),
    ("affine on a map", chain(("if", nir.IF(r=np.ones((2, 2, 2)), v_threshold=np.ones((2, 2, 2)))),
                              ("fc", affine(3, 8)), in_shape=(2, 2, 2)),
     r"fc: expects a vector of 8 features, gets \[2, 2, 2\] .* \(insert a Flatten\)"),
    ("linear after linear", chain(("fc", affine(3, 4)), ("fc2", affine(2, 3))),
     r"fc2: takes the current of \['fc'\] \(no neuron between\)"),
    ("pool of a current", chain(("c", nir.Conv2d(None, np.ones((2, 1, 1, 1), np.float32), 1, 0,
                                                 1, 1, np.zeros(2))),
                                ("p", nir.SumPool2d(np.array([2, 2]), np.array([2, 2]),
                                                    np.array([0, 0]))),
                                in_shape=(1, 4, 4)),
     r"p: pools the current of \['c'\]"),
    ("pool padding", chain(("if", nir.IF(r=np.ones((1, 4, 4)), v_threshold=np.ones((1, 4, 4)))),
                           ("p", nir.AvgPool2d(np.array([2, 2]), np.array([2, 2]),
                                               np.array([1, 1]))), in_shape=(1, 4, 4)),
     r"p: pooling with padding"),
    ("scale within a channel", chain(("if", nir.IF(r=np.ones((1, 2, 2)),
                                                   v_threshold=np.ones((1, 2, 2)))),
                                     ("s", nir.Scale(np.arange(4.0).reshape(1, 2, 2))),
                                     in_shape=(1, 2, 2)),
     r"s: scale differs between positions of one channel"),
]


@pytest.mark.parametrize("graph, match", [u[1:] for u in UNRUNNABLE],
                         ids=[u[0] for u in UNRUNNABLE])
def test_unrunnable_nodes_raise_naming_the_node(graph, match):
    with pytest.raises(ConversionError, match=match):
        quiet_import(graph, dialect="neurosim")


def test_reset_to_a_nonzero_potential_is_refused():
    g = chain(("fc", affine(3, 4)), ("if", if_node(3, v_reset=np.full(3, 0.5))))
    car = parse_sidecar({"dialect": "neurosim", "nodes": {"if": {"reset": "zero"}}}, "s.yaml")
    with pytest.raises(ConversionError, match=r"if: resets to v_reset = 0\.5; neurosim's hard "
                                              r"reset sets v to 0"):
        quiet_import(g, sidecar=car)
    quiet_import(g, dialect="neurosim")  # a subtractive reset does not use v_reset


def test_partial_flatten_is_refused():
    g = chain(("if", nir.IF(r=np.ones((2, 2, 2)), v_threshold=np.ones((2, 2, 2)))),
              ("f", nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=1,
                                end_dim=-1)), in_shape=(2, 2, 2))
    with pytest.raises(ConversionError, match=r"f: flattens dimensions 1\.\.2 of \[2, 2, 2\]"):
        quiet_import(g, dialect="neurosim")


def test_leaky_readout_over_several_timesteps_is_refused():
    car = sidecar_for({"thr": 1}, {"thr": "zero"}, 2)
    with pytest.raises(ConversionError, match=r"ro: leaks \(decay 0\.5 per step\) over T=2"):
        quiet_import(one_d_graph(), sidecar=car)


def test_declared_and_residual_is_refused():
    car = parse_sidecar({"dialect": "neurosim", "nodes": {"lif_b": {"residual": "iand"}}},
                        "s.yaml")
    with pytest.raises(ConversionError, match=r"lif_b: the side-car declares residual 'iand'"):
        quiet_import(fan_in_graph(), sidecar=car)


def test_cycle_is_refused():
    g = nir.NIRGraph({"in": nir.Input(input_type={"input": np.array([3])}),
                      "a": affine(3, 3), "if": if_node(3), "rec": affine(3, 3, seed=1),
                      "out": nir.Output(output_type={"output": np.array([3])})},
                     [("in", "a"), ("a", "if"), ("if", "rec"), ("rec", "a"), ("if", "out")],
                     type_check=False)
    with pytest.raises(ConversionError, match=r"cycle through a -> if -> rec -> a: recurrent"):
        quiet_import(g, dialect="neurosim")


def test_graph_shape_errors():
    two_inputs = nir.NIRGraph({"a": nir.Input(input_type={"input": np.array([3])}),
                               "b": nir.Input(input_type={"input": np.array([3])}),
                               "if": if_node(3),
                               "out": nir.Output(output_type={"output": np.array([3])})},
                              [("a", "if"), ("b", "if"), ("if", "out")], type_check=False)
    with pytest.raises(ConversionError, match=r"one Input and one Output node; the graph has "
                                              r"inputs \['a', 'b'\]"):
        quiet_import(two_inputs, dialect="neurosim")
    dead_end = nir.NIRGraph({"in": nir.Input(input_type={"input": np.array([3])}),
                             "if": if_node(3), "lost": if_node(3),
                             "out": nir.Output(output_type={"output": np.array([3])})},
                            [("in", "if"), ("in", "lost"), ("if", "out")], type_check=False)
    with pytest.raises(ConversionError, match=r"lost: does not lead to the Output node"):
        quiet_import(dead_end, dialect="neurosim")
    no_input = nir.NIRGraph({"in": nir.Input(input_type={"input": np.array([3])}),
                             "if": if_node(3), "orphan": affine(3, 3),
                             "out": nir.Output(output_type={"output": np.array([3])})},
                            [("in", "if"), ("orphan", "if"), ("if", "out")], type_check=False)
    with pytest.raises(ConversionError, match=r"orphan: receives no input"):
        quiet_import(no_input, dialect="neurosim")
    mismatch = chain(("fc", affine(3, 5)), ("if", if_node(3)))
    with pytest.raises(ConversionError, match=r"fc: expects a vector of 5 features, gets \[4\]"):
        quiet_import(mismatch, dialect="neurosim")
    params = chain(("fc", affine(3, 4)), ("if", if_node(5)))
    with pytest.raises(ConversionError, match=r"if: has parameters of shape \[5\] but receives "
                                              r"\[3\]"):
        quiet_import(params, dialect="neurosim")


def test_unknown_dialect_cannot_be_guessed():
    g = chain(("fc", affine(3, 4)), ("if", nir.IF(r=np.full(3, 7.0), v_threshold=np.ones(3))))
    with pytest.raises(ConversionError, match="cannot tell which framework wrote the file"):
        quiet_import(g)


# --- malformed NIR files ------------------------------------------------------------------------

@pytest.fixture
def good_file(tmp_path):
    rng = np.random.default_rng(0)
    g = nir.NIRGraph.from_list(
        nir.Input(input_type={"input": np.array([1, 4, 4])}),
        nir.Conv2d(np.array([4, 4]), rng_array(rng, (2, 1, 3, 3)), 1, 1, 1, 1, np.zeros(2)),
        nir.IF(r=np.ones((2, 4, 4)), v_threshold=np.ones((2, 4, 4))),
        nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0, end_dim=-1),
        nir.Affine(rng_array(rng, (3, 32)), np.zeros(3, np.float32)))
    path = tmp_path / "good.nir"
    nir.write(path, g)
    quiet_import(path, dialect="sinabs")  # it imports before we break it
    return path


def test_missing_dataset(good_file):
    with h5py.File(good_file, "a") as f:
        del f["node/nodes/conv2d/weight"]
    with pytest.raises(ConversionError, match=r"good\.nir: conv2d: node 'conv2d' \(Conv2d\) lacks "
                                              r"dataset\(s\) \['weight'\]"):
        quiet_import(good_file, dialect="sinabs")


def test_inconsistent_parameter_shapes(good_file):
    with h5py.File(good_file, "a") as f:
        del f["node/nodes/if/r"]
        f["node/nodes/if/r"] = np.ones(5)
    with pytest.raises(ConversionError, match=r"good\.nir: if: node 'if' \(IF\): All parameters "
                                              r"must have the same shape"):
        quiet_import(good_file, dialect="sinabs")


def test_wrong_weight_shape(good_file):
    with h5py.File(good_file, "a") as f:
        del f["node/nodes/conv2d/weight"]
        f["node/nodes/conv2d/weight"] = np.ones((2, 3, 3, 3), np.float32)
    with pytest.raises(ConversionError, match=r"conv2d: expects an input of 3 channels and 2 "
                                              r"spatial dimension\(s\), gets \[1, 4, 4\]"):
        quiet_import(good_file, dialect="sinabs")


def test_unknown_node_type(good_file):
    with h5py.File(good_file, "a") as f:
        del f["node/nodes/flatten/type"]
        f.create_dataset("node/nodes/flatten/type", data="Reshape", dtype=h5py.string_dtype())
    with pytest.raises(ConversionError, match=r"flatten: node 'flatten' has unknown type "
                                              r"'Reshape'; NIR 1\.0\.8 defines"):
        quiet_import(good_file, dialect="sinabs")


def test_cycle_in_file(good_file):
    with h5py.File(good_file, "a") as f:
        edges = [tuple(e) for e in f["node/edges"][()]] + [(b"if", b"conv2d")]
        del f["node/edges"]
        f["node/edges"] = np.array(edges, dtype=object).astype(h5py.string_dtype())
    with pytest.raises(ConversionError, match=r"good\.nir: conv2d: cycle through conv2d -> if -> "
                                              r"conv2d"):
        quiet_import(good_file, dialect="sinabs")


def test_dangling_and_duplicate_edges(good_file, tmp_path):
    dangling = tmp_path / "dangling.nir"
    shutil.copy(good_file, dangling)
    with h5py.File(dangling, "a") as f:
        edges = [tuple(e) for e in f["node/edges"][()]] + [(b"if", b"ghost")]
        del f["node/edges"]
        f["node/edges"] = np.array(edges, dtype=object).astype(h5py.string_dtype())
    with pytest.raises(ConversionError, match=r"edges\[\d+\]: edge destination 'ghost' is not a "
                                              r"node"):
        quiet_import(dangling, dialect="sinabs")
    with h5py.File(good_file, "a") as f:
        edges = [tuple(e) for e in f["node/edges"][()]]
        del f["node/edges"]
        f["node/edges"] = np.array(edges + edges[:1], dtype=object).astype(h5py.string_dtype())
    with pytest.raises(ConversionError, match=r"edges\[\d+\]: duplicate edge"):
        quiet_import(good_file, dialect="sinabs")


def test_truncated_file(good_file):
    data = good_file.read_bytes()
    good_file.write_bytes(data[:len(data) // 2])
    with pytest.raises(ConversionError, match=r"good\.nir: cannot be opened as HDF5 \(truncated"):
        quiet_import(good_file, dialect="sinabs")


@pytest.mark.parametrize("obj, match", [
    ("node", r"good\.nir: node: its root group cannot be read \(corrupt HDF5\)"),
    ("node/nodes/if", r"good\.nir: if: node 'if' cannot be read \(corrupt HDF5\)"),
    ("node/nodes/conv2d/weight", r"good\.nir: conv2d: node 'conv2d' \(Conv2d\): cannot read "
                                 r"its data"),
])
def test_corrupt_object_header(good_file, obj, match):
    """A damaged HDF5 object header makes h5py raise KeyError or RuntimeError on a mere lookup
    ("type" in group): still a ConversionError naming the file and the node, on one line."""
    with h5py.File(good_file, "r") as f:
        addr = h5py.h5o.get_info(f[obj].id).addr
    data = bytearray(good_file.read_bytes())
    data[addr + 16:addr + 32] = b"\xff" * 16
    good_file.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match=match) as err:
        quiet_import(good_file, dialect="sinabs")
    assert "\n" not in str(err.value)


def test_not_a_nir_file(tmp_path):
    with pytest.raises(ConversionError, match=r"missing\.nir: no such file"):
        import_nir(tmp_path / "missing.nir")
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.ones(3)
    with pytest.raises(ConversionError, match=r"other\.h5: node: no 'node' group: not a NIR file"):
        import_nir(path)
    text = tmp_path / "text.nir"
    text.write_text("not hdf5")
    with pytest.raises(ConversionError, match="cannot be opened as HDF5"):
        import_nir(text)
    with pytest.raises(ConversionError, match="expected a .nir path or a nir.NIRGraph"):
        import_nir(42)


# --- the side-car --------------------------------------------------------------------------------

SIDECAR_ERRORS = [
    ({"dialect": "keras"}, r"s\.yaml: dialect: expected one of \['neurosim', 'snntorch'"),
    ({"levels": 3}, r"s\.yaml: levels: unknown key\(s\) \['levels'\]"),
    ({"nodes": {"a": {"levels": 0}}}, r"nodes\.a\.levels: expected an integer in \[1, 255\], "
                                      r"got 0"),
    ({"nodes": {"a": {"levels": 256}}}, r"nodes\.a\.levels: expected an integer in \[1, 255\]"),
    ({"nodes": {"a": {"levels": "3"}}}, r"nodes\.a\.levels: expected an integer"),
    ({"nodes": {"a": {"reset": "hard"}}}, r"nodes\.a\.reset: expected one of \['subtract', "
                                          r"'zero'\], got 'hard'"),
    ({"nodes": {"a": {"colour": 1}}}, r"nodes\.a\.colour: unknown setting\(s\) \['colour'\]"),
    ({"nodes": {"a": {"pool": "median"}}}, r"nodes\.a\.pool: expected one of \['max'"),
    ({"nodes": {"a": {"residual": "mul"}}}, r"nodes\.a\.residual: expected one of \['add', "
                                            r"'and', 'iand'\]"),
    ({"nodes": {"a": {"barrier": "yes"}}}, r"nodes\.a\.barrier: expected true or false"),
    ({"nodes": {"a": {"batchnorm": {"gamma": [1.0]}}}}, r"nodes\.a\.batchnorm: expected keys"),
    ({"nodes": {"a": {"neuron": {"kind": "izhikevich"}}}}, r"nodes\.a\.neuron\.kind: unknown "
                                                           r"neuron kind"),
    ({"nodes": ["a"]}, r"s\.yaml: nodes: expected a mapping from NIR node name"),
    ({"timesteps": 0}, r"s\.yaml: timesteps: expected an integer in \[1, 1024\]"),
    ({"input_scale": -1}, r"s\.yaml: input_scale: expected a positive number"),
    ({"input_shape": [2, 0]}, r"s\.yaml: input_shape: expected a list of 1 to 3 positive"),
    ({"format": "other"}, r"s\.yaml: format: expected 'neurosim-nir-sidecar'"),
    ({"version": 2}, r"s\.yaml: version: expected an integer in \[1, 1\]"),
    ([1, 2], r"s\.yaml: expected a mapping at the top level"),
]


@pytest.mark.parametrize("data, match", SIDECAR_ERRORS)
def test_sidecar_validation(data, match):
    with pytest.raises(ConversionError, match=match):
        parse_sidecar(data, "s.yaml")


def test_sidecar_file_errors(tmp_path):
    with pytest.raises(ConversionError, match=r"nope\.yaml: side-car file not found"):
        load_sidecar(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: {a: [1, 2\n")
    with pytest.raises(ConversionError, match=r"bad\.yaml: not valid YAML: .* \(line 2, "
                                              r"column 1\)") as err:
        load_sidecar(bad)
    assert "\n" not in str(err.value)  # the CLI prints it as one line


def sidecar_file(tmp_path, text):
    path = tmp_path / "car.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("nodes: {ghost: {levels: 2}}", r"car\.yaml: nodes\.ghost: no node named 'ghost'"),
    ("nodes: {'2': {levels: 2}}", r"car\.yaml: nodes\.2\.levels: 'levels' applies to "
                                  r"IF/LIF/CubaLIF/Threshold nodes; '2' is a SumPool2d"),
    ("nodes: {'1': {pool: max}}", r"nodes\.1\.pool: 'pool' applies to SumPool2d/AvgPool2d"),
    ("dialect: snntorch\nnodes: {'1': {norm_input: true}}", r"nodes\.1\.norm_input: 'norm_input'"
                                                             r" applies to LIF/LI nodes"),
    ("nodes: {'1': {residual: add}}", r"nodes\.1\.residual: declares a residual operation but "
                                      r"'1' has 1 input edge"),
])
def test_sidecar_checked_against_the_file(tmp_path, text, match):
    with pytest.raises(ConversionError, match=match):
        quiet_import(FIXTURES / "sinabs_convnet.nir",
                     sidecar=sidecar_file(tmp_path, "dialect: sinabs\n" + text
                                          if "dialect" not in text else text))


def test_sidecar_declares_a_max_pool_and_levels(tmp_path):
    car = sidecar_file(tmp_path, "dialect: sinabs\ntimesteps: 4\n"
                                 "nodes: {'2': {pool: max}, '1': {levels: 2, reset: zero}}\n")
    graph = quiet_import(FIXTURES / "sinabs_convnet.nir", sidecar=car)
    assert type(graph["2"]).__name__ == "MaxPool2d"
    assert (graph["1"].spec.levels, graph["1"].spec.reset) == (2, "zero")
    assert graph.timesteps == 4


# --- the command line ----------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "neurosim.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_import(tmp_path):
    out = tmp_path / "model"
    r = run_cli("import-nir", FIXTURES / "sinabs_residual.nir", "--sidecar",
                FIXTURES / "sinabs_residual.yaml", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "imported" in r.stdout and "levels [2]" in r.stdout and "T=4" in r.stdout
    assert "warning:" in r.stderr and "input_shape" in r.stderr
    graph = load_model(out)
    assert graph.meta["import"]["dialect"] == "sinabs"
    assert [n.name for n in graph.nodes] == [n.name for n in load_fixture("sinabs_residual")[0]]


def test_cli_import_errors_are_one_line(tmp_path):
    r = run_cli("import-nir", FIXTURES / "sinabs_residual.nir", "--no-sidecar", "-o",
                tmp_path / "m")
    assert r.returncode == 2
    assert "exists beside the file; import without --no-sidecar to use it" in r.stderr
    error = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(error) == 1 and "Traceback" not in r.stderr
    assert "sinabs_residual.nir: conv1: expects an input of 2 channels" in error[0]
    assert not (tmp_path / "m").exists()
    r = run_cli("import-nir", tmp_path / "none.nir", "-o", tmp_path / "m")
    assert r.returncode == 2 and "none.nir: no such file" in r.stderr


def test_imported_fixture_simulates_and_writes_a_report(tmp_path):
    """The user's path: an imported network through neurosim.simulate with the event engine,
    on the framework's event frames, writing layers.csv."""
    import pandas as pd

    from neurosim.data import Dataset
    from neurosim.simulate import simulate

    graph, expected = load_fixture("spikingjelly_residual")
    data = Dataset(expected["inputs"], np.full(len(expected["inputs"]), -1), "fixture",
                   frames=True)
    sim = simulate(graph, inputs=data, engine="event", float_reference=False)
    assert np.array_equal(sim.result.logits, expected["logits"])  # integer net, event engine
    sim.write(tmp_path / "run", report=False)
    layers = pd.read_csv(tmp_path / "run" / "layers.csv")
    assert {"sn1", "sn2", "sn3", "flat.add"} <= set(layers["layer"])
    assert (layers.loc[layers["layer"] == "sn1", "events_out"] > 0).all()


def test_cli_import_without_sidecar_then_simulate_reports_the_defaults(tmp_path):
    """A new user's path: import without a side-car, simulate on the fixture's own frames; the
    dialect defaults the importer fell back on are in the run's summary and report."""
    model, run = tmp_path / "m", tmp_path / "run"
    r = run_cli("import-nir", FIXTURES / "sinabs_convnet.nir", "--no-sidecar", "-o", model)
    assert r.returncode == 0 and "sinabs dialect defaults used" in r.stderr
    r = run_cli("simulate", model, "--input", FIXTURES / "sinabs_convnet.npz", "-T", "4",
                "--out", run, "--quiet", "--no-float")
    assert r.returncode == 0, r.stderr
    report = (run / "report.md").read_text()
    assert "imported from" in report and "sinabs_convnet.nir" in report
    assert "import note 1" in report and "sinabs dialect defaults used" in report
    r = run_cli("simulate", model, "--input", FIXTURES / "sinabs_convnet.npz", "--quiet")
    assert r.returncode == 2 and "neurosim simulate -T 4" in r.stderr


def test_cli_sinabs_at_32_bits_reproduces_sinabs(tmp_path):
    """The Done-when path: import a real Sinabs export (its side-car found beside it), simulate
    the exporter's own inputs on hw_configs/exact_32bit.yaml with --save-outputs; outputs.npz
    holds Sinabs' output levels and logits exactly, and the import names the reset it changed."""
    model, run = tmp_path / "m", tmp_path / "run"
    r = run_cli("import-nir", FIXTURES / "sinabs_convnet.nir", "-o", model)
    assert r.returncode == 0, r.stderr
    assert "sinabs_convnet.yaml found beside the file" in r.stderr
    reset = [line for line in r.stderr.splitlines() if "override:" in line and ": reset:" in line]
    assert reset and all("file says v_reset = 0 (NIR: a hard reset), using subtract" in line
                         for line in reset)
    r = run_cli("simulate", model, "--input", FIXTURES / "sinabs_convnet.npz", "--hw",
                Path(__file__).parents[1] / "hw_configs" / "exact_32bit.yaml", "--save-outputs",
                "--out", run)
    assert r.returncode == 0, r.stderr
    expected = np.load(FIXTURES / "sinabs_convnet.npz")
    saved = np.load(run / "outputs.npz")
    assert np.array_equal(saved["logits"], expected["logits"])
    assert np.array_equal(saved["float_logits"], expected["logits"])
    key = str(saved["levels_layer"])
    assert np.array_equal(saved["levels"], expected[f"levels/{key}"].swapaxes(0, 1))  # (T, N)
    assert saved["index"].tolist() == list(range(len(expected["logits"])))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["fidelity"]["differing"] == 0 and summary["fidelity"]["positions"] > 0
    assert any(": reset:" in line for line in summary["settings"]["import"]["overrides"])
    assert "every level agrees" in r.stdout
