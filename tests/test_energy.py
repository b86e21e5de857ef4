"""The energy model: hand-set counts × hand-computed per-access energies, each counting policy
changing exactly the rows it should, the ANN baseline by hand, energy.csv's layout."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from neurosim.cli import main
from neurosim.compiler import compile_graph, map_to_cores
from neurosim.counters import F, RunCounts
from neurosim.energy import ann_baseline, estimate
from neurosim.errors import ProfileError
from neurosim.hardware import Profile, profile_from_data
from neurosim.model.graph import Conv2d, Flatten, Graph, Input, Linear, MaxPool2d, Neuron
from neurosim.model.neurons import NeuronSpec
from neurosim.reference import run

PROFILE = """
name: hand
widths: {weights: 8, biases: 8, potentials: 16}
fifo_depth: 100
energy_models:
  lin: {model: linear, per_bit: 0.001 pJ, offset: 1 pJ, source: test numbers}
memories:
  weights: {bits: 8, size: layer_weights, energy: lin}
  biases: {bits: 8, size: layer_channels, energy: lin}
  potentials: {bits: 16, size: layer_neurons, energy: lin}
  fifo: {bits: 10, size: fifo_depth, energy: lin}
  activations: {bits: 8, size: feature_map, energy: lin}
operations:
  operand_bits: 16
  add: {energy: {16: 0.5 pJ}, source: test}
  multiply: {energy: {16: 2 pJ}, source: test}
policies:
  visits: exact
  synaptic_levels: n_acc
  addressing: {conv: code, linear: per_output}
  first_layer: {synaptic: mac, input_reads: charge, addressing: charge, timesteps: all}
  bias_reads: per_neuron
  output_writes: after_pool
"""
ACC, MAC = 0.5, 2.5
# E(M, b) = 0.001·M·b + 1 pJ for the tiny net below (hand computed):
E_W = {"sn1": 0.001 * 18 * 8 + 1, "sn2": 0.001 * 36 * 8 + 1, "fc": 0.001 * 24 * 8 + 1}
E_POT = {"sn1": 0.001 * 32 * 16 + 1, "sn2": 0.001 * 32 * 16 + 1, "fc": 0.001 * 3 * 16 + 1}
E_B = {"sn1": 0.001 * 2 * 8 + 1, "sn2": 0.001 * 2 * 8 + 1, "fc": 0.001 * 3 * 8 + 1}
E_FIFO = 0.001 * 100 * 10 + 1


def profile(**policies) -> Profile:
    data = yaml.safe_load(PROFILE)
    for key, value in policies.items():
        if key.startswith("first_"):
            data["policies"]["first_layer"][key[len("first_"):]] = value
        elif key.startswith("addr_"):
            data["policies"]["addressing"][key[len("addr_"):]] = value
        else:
            data["policies"][key] = value
    return profile_from_data(data, "hand.yaml")


def tiny_graph(timesteps=2, levels=3):
    """1×4×4 input → conv 2ch (pad 1) → IF(N) → conv 2ch (pad 1) → IF(N) → maxpool 2 → FC 3."""
    r = np.random.default_rng(0)
    spec = NeuronSpec(levels=levels, vth=1.0)
    nodes = [Input("in", shape=(1, 4, 4), scale=1 / 255),
             Conv2d("c1", input="in", weight=(2 * r.random((2, 1, 3, 3))).astype(np.float32),
                    bias=np.full(2, 0.1, np.float32), padding=1),
             Neuron("sn1", input="c1", spec=spec),
             Conv2d("c2", input="sn1", weight=r.normal(0.3, 0.5, (2, 2, 3, 3)).astype(np.float32),
                    bias=np.full(2, 0.1, np.float32), padding=1),
             Neuron("sn2", input="c2", spec=spec),
             MaxPool2d("pool", input="sn2", kernel=2), Flatten("flat", input="pool"),
             Linear("fc", input="flat", weight=r.normal(size=(3, 8)).astype(np.float32),
                    bias=np.full(3, 0.2, np.float32))]
    return Graph(nodes, output="fc", timesteps=timesteps)


@pytest.fixture(scope="module")
def net():
    return compile_graph(tiny_graph())


# --- hand-set counts ------------------------------------------------------------------------------

# Each layer's counts, set by hand (totals over the run; the estimate sums over timesteps).
HAND = {
    "sn1": dict(events_in=16, fifo_reads=16, synapse_visits=100, synapse_visits_analytic=144,
                synapse_level_visits=2000, weight_reads=100, weight_reads_analytic=144,
                potential_reads=164, potential_writes=164, potential_reads_analytic=208,
                potential_writes_analytic=208, bias_reads=64, fifo_writes=6, events_prepool=6,
                acc_ops=70, acc_ops_analytic=70, mac_ops=100, syn_mac_ops=100, update_ops=64,
                reset_ops=6, addr_mac_ops=32, addr_acc_ops=144),
    "sn2": dict(events_in=5, fifo_reads=5, synapse_visits=60, synapse_visits_analytic=90,
                synapse_level_visits=100, weight_reads=60, weight_reads_analytic=90,
                potential_reads=124, potential_writes=124, potential_reads_analytic=154,
                potential_writes_analytic=154, bias_reads=64, fifo_writes=3, events_prepool=4,
                acc_ops=128, acc_ops_analytic=158, syn_acc_ops=60, update_ops=64, reset_ops=4,
                addr_mac_ops=10, addr_acc_ops=45, packet_hops=7, event_hops=11),
    "fc": dict(events_in=3, fifo_reads=3, synapse_visits=9, synapse_visits_analytic=9,
               synapse_level_visits=12, weight_reads=9, weight_reads_analytic=9,
               potential_reads=15, potential_writes=15, potential_reads_analytic=15,
               potential_writes_analytic=15, bias_reads=6, acc_ops=15, acc_ops_analytic=15,
               syn_acc_ops=9, update_ops=6, addr_acc_ops=9),
}


def hand_counts(net, samples=1):
    counts = RunCounts(net, samples=samples, timesteps=2)
    for layer, fields in HAND.items():
        for name, value in fields.items():
            counts.row(layer, 0)[F[name]] = value
    return counts


def rows(report):
    """Per-layer energy (pJ) as {layer: {category: value}}."""
    return report.layers.to_dict(orient="index")


def test_hand_counts_times_hand_energies(net):
    e = rows(estimate(hand_counts(net), net, profile()))
    n = 3  # levels of the events sn2 and fc receive
    # sn1: fed by the analog input (MACs), 16 FIFO reads, 6 writes
    assert e["sn1"]["potentials"] == pytest.approx(E_POT["sn1"] * (164 + 164))
    assert e["sn1"]["weights"] == pytest.approx(E_W["sn1"] * 100)
    assert e["sn1"]["bias"] == pytest.approx(E_B["sn1"] * 64)
    assert e["sn1"]["inout"] == pytest.approx(E_FIFO * (16 + 6))
    assert e["sn1"]["synaptic"] == pytest.approx(100 * MAC + 70 * ACC)
    assert e["sn1"]["addressing"] == pytest.approx(32 * MAC + 144 * ACC)
    # sn2: 60 synapse visits by level-3 events at N ACCs each, 68 per-neuron and reset ACCs
    assert e["sn2"]["potentials"] == pytest.approx(E_POT["sn2"] * 248)
    assert e["sn2"]["weights"] == pytest.approx(E_W["sn2"] * 60)
    assert e["sn2"]["bias"] == pytest.approx(E_B["sn2"] * 64)
    assert e["sn2"]["inout"] == pytest.approx(E_FIFO * (5 + 3))
    assert e["sn2"]["synaptic"] == pytest.approx(60 * n * ACC + 68 * ACC)
    assert e["sn2"]["addressing"] == pytest.approx(10 * MAC + 45 * ACC)
    assert e["sn2"]["routing"] == 0  # the profile prices no hops
    # fc: the readout (no writes), N_out ACCs of addressing per event
    assert e["fc"]["potentials"] == pytest.approx(E_POT["fc"] * 30)
    assert e["fc"]["weights"] == pytest.approx(E_W["fc"] * 9)
    assert e["fc"]["inout"] == pytest.approx(E_FIFO * 3)
    assert e["fc"]["synaptic"] == pytest.approx(9 * n * ACC + 6 * ACC)
    assert e["fc"]["addressing"] == pytest.approx(9 * ACC)


# policy → {layer: {category: expected pJ}} for the rows it changes; every other row must stay
POLICY_CASES = [
    ({"visits": "analytic"}, {
        "sn1": {"potentials": E_POT["sn1"] * 416, "weights": E_W["sn1"] * 144,
                "synaptic": 144 * MAC + 70 * ACC},
        "sn2": {"potentials": E_POT["sn2"] * 308, "weights": E_W["sn2"] * 90,
                "synaptic": 90 * 3 * ACC + 68 * ACC}}),
    ({"synaptic_levels": "z_acc"}, {"sn2": {"synaptic": 100 * ACC + 68 * ACC},
                                    "fc": {"synaptic": 12 * ACC + 6 * ACC}}),
    ({"synaptic_levels": "shift_add"}, {"sn2": {"synaptic": 60 * 2 * ACC + 68 * ACC},
                                        "fc": {"synaptic": 9 * 2 * ACC + 6 * ACC}}),
    ({"synaptic_levels": "mac"}, {"sn2": {"synaptic": 60 * MAC + 68 * ACC},
                                  "fc": {"synaptic": 9 * MAC + 6 * ACC}}),
    ({"addr_conv": "levels"}, {"sn1": {"addressing": 32 * MAC + 144 * ACC},  # input: N of 1
                               "sn2": {"addressing": 10 * MAC + 45 * 3 * ACC}}),
    ({"addr_conv": "none"}, {"sn1": {"addressing": 0}, "sn2": {"addressing": 0}}),
    ({"addr_linear": "none"}, {"fc": {"addressing": 0}}),
    ({"bias_reads": "per_channel"}, {"sn1": {"bias": E_B["sn1"] * 4},
                                     "sn2": {"bias": E_B["sn2"] * 4},
                                     "fc": {"bias": E_B["fc"] * 6}}),
    ({"output_writes": "before_pool"}, {"sn2": {"inout": E_FIFO * (5 + 4)}}),
    ({"first_synaptic": "exclude"}, {"sn1": {"synaptic": 70 * ACC}}),
    ({"first_synaptic": "acc"}, {"sn1": {"synaptic": 100 * ACC + 70 * ACC}}),
    ({"first_input_reads": "exclude"}, {"sn1": {"inout": E_FIFO * 6}}),
    ({"first_addressing": "exclude"}, {"sn1": {"addressing": 0}}),
    ({"first_timesteps": "mean"}, {"sn1": {  # input-driven work once: / T (T = 2)
        "potentials": E_POT["sn1"] * (200 / 2 + 128), "weights": E_W["sn1"] * 50,
        "inout": E_FIFO * (8 + 6), "synaptic": 50 * MAC + 70 * ACC,
        "addressing": 16 * MAC + 72 * ACC}}),
]


@pytest.mark.parametrize("policy,changed", POLICY_CASES, ids=lambda v: str(v)[:40])
def test_each_policy_changes_only_its_rows(net, policy, changed):
    counts = hand_counts(net)
    base = rows(estimate(counts, net, profile()))
    report = estimate(counts, net, profile(**policy))
    new = rows(report)
    for layer in base:
        for category in base[layer]:
            expected = changed.get(layer, {}).get(category, base[layer][category])
            assert new[layer][category] == pytest.approx(expected), (layer, category)
    ann_base = ann_baseline(net, profile())
    ann_diff = (report.ann != ann_base).any()
    assert set(ann_diff[ann_diff].index) <= ({"bias"} if "bias_reads" in policy else set())


def test_lumped_operation_energies(net):
    """A chip publishing per-operation energies (Loihi-style): synapse visits and neuron
    updates carry everything."""
    data = yaml.safe_load(PROFILE)
    data["operations"]["synaptic_acc"] = {"energy": "20 pJ", "source": "test"}
    data["operations"]["neuron_update"] = {"energy": "7 pJ", "source": "test"}
    data["policies"]["synaptic_levels"] = "z_acc"
    data["policies"]["first_layer"]["synaptic"] = "acc"
    e = rows(estimate(hand_counts(net), net, profile_from_data(data, "lumped.yaml")))
    assert e["sn2"]["synaptic"] == pytest.approx(100 * 20 + 68 * ACC + 64 * 7)
    assert e["sn1"]["synaptic"] == pytest.approx(100 * 20 + 70 * ACC + 64 * 7)


def test_routing_and_static(net):
    data = yaml.safe_load(PROFILE)
    data["noc"] = {"energy_per_packet_hop": "3 pJ", "energy_per_event_hop": "0.25 pJ",
                   "source": "test"}
    data["static"] = {"power_per_core": "2 mW", "source": "test"}
    p = profile_from_data(data, "noc.yaml")
    counts = hand_counts(net, samples=2)
    report = estimate(counts, net, p, latency_s=1e-6)
    e = rows(report)
    assert e["sn2"]["routing"] == pytest.approx(7 * 3 + 11 * 0.25)
    assert e["sn1"]["routing"] == 0
    for layer in e:  # one core per layer, 1 µs per inference, 2 inferences
        assert e[layer]["static"] == pytest.approx(2e-3 * 1e-6 * 2 * 1e12)
    table = report.table().set_index("category")
    assert list(table.index) == ["Potentials", "Weights", "Bias", "In/Out", "Memory total",
                                 "Synaptic ops", "Addressing", "Routing", "Static", "Total"]
    assert table.loc["Routing", "SNN"] == pytest.approx((7 * 3 + 11 * 0.25) / 2 / 1e3)
    assert table.loc["Static", "SNN"] == pytest.approx(3 * 2e-3 * 1e-6 * 1e12 / 1e3)
    cols = report.add_columns(counts.table())
    assert {"energy_routing_pj", "energy_static_pj"} <= set(cols.columns)
    no_time = estimate(counts, net, p)  # the reference engine has no latency
    assert no_time.totals_nj()["static"] == 0 and "static energy not counted" in \
        no_time.paper_table_text()


def test_static_energy_counts_every_core_of_a_split_layer():
    net = map_to_cores(compile_graph(tiny_graph()), Profile("split", core=_limits(16)))
    data = yaml.safe_load(PROFILE)
    data["static"] = {"power_per_core": "1 W", "source": "test"}
    report = estimate(hand_counts(net), net, profile_from_data(data, "s.yaml"), latency_s=1e-12)
    e = rows(report)
    assert len(net.cores_of("sn1")) == 2
    assert e["sn1"]["static"] == pytest.approx(2.0) and e["fc"]["static"] == pytest.approx(1.0)


def _limits(max_neurons):
    from neurosim.hardware import CoreLimits
    return CoreLimits(max_neurons=max_neurons)


def test_split_layer_prices_each_core_by_its_share():
    """A layer split over cores reads each core's (smaller) memories."""
    net = map_to_cores(compile_graph(tiny_graph()), Profile("split", core=_limits(16)))
    e = rows(estimate(hand_counts(net), net, profile()))
    per_core = {"w": 0.001 * 9 * 8 + 1, "pot": 0.001 * 16 * 16 + 1}  # 1 channel per core
    assert e["sn1"]["weights"] == pytest.approx(per_core["w"] * 100)
    assert e["sn1"]["potentials"] == pytest.approx(per_core["pot"] * 328)


# --- the ANN baseline by hand ----------------------------------------------------------------------

def test_ann_baseline_by_hand(net):
    ann = ann_baseline(net, profile()).to_dict(orient="index")
    e_act = lambda n: 0.001 * n * 8 + 1  # noqa: E731  activations: 8-bit, sized by the map
    # conv1: 32 outputs × 1·3·3 MACs from the 16-pixel input; addressing 16 + 32 + 2·9 ACCs
    assert ann["sn1"]["weights"] == pytest.approx(288 * E_W["sn1"])
    assert ann["sn1"]["inout"] == pytest.approx(288 * e_act(16) + 32 * e_act(32))
    assert ann["sn1"]["bias"] == pytest.approx(32 * E_B["sn1"])
    assert ann["sn1"]["synaptic"] == pytest.approx(288 * MAC + 32 * ACC)
    assert ann["sn1"]["addressing"] == pytest.approx((16 + 32 + 18) * ACC)
    assert ann["sn1"]["potentials"] == 0
    # conv2: 32 outputs × 2·3·3 MACs from a 32-entry map
    assert ann["sn2"]["weights"] == pytest.approx(576 * E_W["sn2"])
    assert ann["sn2"]["inout"] == pytest.approx(576 * e_act(32) + 32 * e_act(32))
    assert ann["sn2"]["addressing"] == pytest.approx((32 + 32 + 18) * ACC)
    # fc: 8 inputs read once, 24 weights, 3 outputs
    assert ann["fc"]["weights"] == pytest.approx(24 * E_W["fc"])
    assert ann["fc"]["inout"] == pytest.approx(8 * e_act(8) + 3 * e_act(3))
    assert ann["fc"]["synaptic"] == pytest.approx(24 * MAC + 3 * ACC)
    assert ann["fc"]["addressing"] == pytest.approx(24 * ACC)


# --- a real run: layout and consistency --------------------------------------------------------------

@pytest.fixture(scope="module")
def real_run(net):
    x = np.random.default_rng(3).integers(0, 256, (3, 1, 4, 4))
    return run(net, x, np.zeros(3, np.int64))


def test_energy_csv_layout_and_per_inference(net, real_run, tmp_path):
    report = estimate(real_run.counts, net, profile())
    report.write(tmp_path)
    csv = pd.read_csv(tmp_path / "energy.csv")
    assert list(csv.columns) == ["category", "SNN", "ANN"]
    assert list(csv.category) == ["Potentials", "Weights", "Bias", "In/Out", "Memory total",
                                  "Synaptic ops", "Addressing", "Total"]
    t = csv.set_index("category")
    for col in ("SNN", "ANN"):
        assert t.loc["Memory total", col] == pytest.approx(
            t.loc[["Potentials", "Weights", "Bias", "In/Out"], col].sum())
        assert t.loc["Total", col] == pytest.approx(
            t.loc[["Memory total", "Synaptic ops", "Addressing"], col].sum())
    layers = report.add_columns(real_run.counts.table())
    assert layers.energy_total_pj.sum() / 3 / 1e3 == pytest.approx(t.loc["Total", "SNN"])
    assert t.loc["Potentials", "ANN"] == 0
    ref = pd.read_csv(tmp_path / "energy_reference.csv")
    assert set(ref.memory) == {"weights", "potentials", "biases", "fifo"}
    w = ref[(ref.layer == "sn2") & (ref.memory == "weights")].iloc[0]
    assert w.access_pj == pytest.approx(E_W["sn2"]) and str(w.entries_per_core) == "36"
    text = report.paper_table_text()
    assert "hand" in text and "Synaptic ops" in text and "E_SNN / E_ANN" in text
    summary = report.summary()
    assert summary["snn_total"] == pytest.approx(t.loc["Total", "SNN"])
    assert summary["per_access"]["fifo"]["min_pj"] == pytest.approx(E_FIFO)
    assert summary["energy_reference"][0]["source"] == "test numbers"


def test_energy_scales_with_samples(net, real_run):
    """energy.csv is per inference: the same inputs twice give the same table."""
    one = estimate(real_run.counts, net, profile()).table()
    double = copy.deepcopy(real_run.counts)
    double += real_run.counts
    two = estimate(double, net, profile()).table()
    pd.testing.assert_frame_equal(one, two)


def test_estimate_without_energy_model(net, real_run):
    with pytest.raises(ProfileError, match="no energy model"):
        estimate(real_run.counts, net, Profile("timing-only"))


def test_multi_level_costs_more_synaptic_energy_than_binary_only_by_levels(real_run, net):
    """N×ACC: the synaptic row grows with N, the memory rows do not (same counts)."""
    lo = estimate(real_run.counts, net, profile()).totals_nj()
    net5 = compile_graph(tiny_graph(levels=5))
    hi = estimate(_relabel(real_run.counts, net5), net5, profile()).totals_nj()
    for c in ("potentials", "weights", "bias", "inout"):
        assert hi[c] == pytest.approx(lo[c])
    assert hi["synaptic"] > lo["synaptic"]


def _relabel(counts, net):
    out = RunCounts(net, counts.samples, counts.timesteps)
    out.data[:] = counts.data
    return out


# --- every shipped profile through the command line ----------------------------------------------

@pytest.mark.parametrize("path", sorted((REPO / "hw_configs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_simulate_prints_the_energy_table_with_each_profile(path, tmp_path, capsys):
    model = REPO / "models" / "fmnist_small_n4t1"
    out = tmp_path / "run"
    assert main(["simulate", str(model), "--hw", str(path), "--engine", "reference",
                 "--samples", "3", "--no-float", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Energy per inference (nJ), profile" in text and "Total" in text
    table = pd.read_csv(out / "energy.csv").set_index("category")
    assert math.isfinite(table.loc["Total", "SNN"]) and table.loc["Total", "SNN"] > 0
    layers = pd.read_csv(out / "layers.csv")
    assert "energy_total_pj" in layers.columns
