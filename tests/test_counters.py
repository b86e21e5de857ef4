"""The counting rules (neurosim.counters), charged by hand on tiny layers, and the count record."""

import numpy as np
import pytest

from neurosim.compiler import compile_graph
from neurosim.counters import (COUNT_FIELDS, F, RunCounts, RunResult,
                               analytic_accs_per_event, analytic_visits_per_event,
                               charge_projection, charge_routing, charge_timestep)
from neurosim.model.graph import Conv2d, Flatten, Graph, Input, Linear, Neuron
from neurosim.model.neurons import NeuronSpec


def tiny_net():
    """1×4×4 → conv 3×3 (2 channels, stride 2, pad 1) → IF(N=4) → flatten → linear 3."""
    rng = np.random.default_rng(0)
    return compile_graph(Graph([
        Input("in", shape=(1, 4, 4), scale=1.0),
        Conv2d("conv", input="in", weight=rng.normal(size=(2, 1, 3, 3)).astype(np.float32),
               stride=(2, 2), padding=(1, 1)),
        Neuron("sn", input="conv", spec=NeuronSpec(levels=4)),
        Flatten("flat", input="sn"),
        Linear("fc", input="flat", weight=rng.normal(size=(3, 8)).astype(np.float32))],
        output="fc"))


def test_analytic_formulas_of_the_paper():
    net = tiny_net()
    conv = net.layer("sn").projections[0]
    fc = net.layer("fc").projections[0]
    assert analytic_visits_per_event(conv) == 2 * 3 * 3  # Cout·kH·kW whatever the borders
    assert analytic_accs_per_event(conv) == 2 * 2 * 2  # ⌈3/2⌉·⌈3/2⌉·Cout
    assert analytic_visits_per_event(fc) == analytic_accs_per_event(fc) == 3


def test_a_conv_event_by_hand():
    """Two events reaching 4 and 2 synapses: one FIFO read each, a weight read, potential read,
    potential write and ACC per synapse, 2 MAC + kH·kW ACC of addressing per event."""
    net = tiny_net()
    layer = net.layer("sn")
    row = np.zeros(len(COUNT_FIELDS), np.int64)
    charge_projection(row, layer.projections[0], layer, events=2, visits=6, level_visits=9)
    assert row[F["events_in"]] == row[F["fifo_reads"]] == 2
    assert row[F["synapse_visits"]] == row[F["weight_reads"]] == 6
    assert row[F["potential_reads"]] == row[F["potential_writes"]] == 6
    assert row[F["synapse_visits_analytic"]] == 2 * 18 and row[F["synapse_level_visits"]] == 9
    # the input stream is analog: its synapses are MACs, not ACCs
    assert row[F["mac_ops"]] == row[F["syn_mac_ops"]] == 6 and row[F["acc_ops"]] == 0
    assert (row[F["addr_mac_ops"]], row[F["addr_acc_ops"]]) == (2 * 2, 9 * 2)


def test_a_timestep_by_hand():
    """Per neuron: a potential read and write, an update ACC (and a bias read when the layer
    has a bias); per spike a reset ACC; per event after pooling an output-FIFO write."""
    net = tiny_net()
    layer = net.layer("sn")
    row = np.zeros(len(COUNT_FIELDS), np.int64)
    charge_timestep(row, layer, spikes=3, events_out=3, level_sum=7, saturations=1, samples=2)
    n = layer.neurons * 2
    assert row[F["update_ops"]] == row[F["potential_reads"]] == row[F["potential_writes"]] == n
    assert row[F["acc_ops"]] == n + 3 and row[F["reset_ops"]] == 3
    assert row[F["bias_reads"]] == 0  # the conv has no bias
    assert row[F["events_out"]] == row[F["fifo_writes"]] == 3 and row[F["level_sum_out"]] == 7
    assert row[F["saturations"]] == 1


def test_routing_sends_at_least_the_end_of_timestep_packet():
    row = np.zeros(len(COUNT_FIELDS), np.int64)
    charge_routing(row, np.array([0, 65, 128]), packet_events=64, hops=(1, 3))
    packets = 1 + 2 + 2  # max(1, ⌈events / 64⌉) per sample
    assert row[F["packets"]] == packets * 2
    assert row[F["packet_hops"]] == packets * 4
    assert row[F["event_hops"]] == 193 * 4
    charge_routing(row, np.array([5]), 64, hops=())  # no destination: nothing is sent
    assert row[F["packets"]] == packets * 2


def test_run_counts_add_and_tell_differences():
    net = tiny_net()
    a, b = RunCounts(net, samples=1), RunCounts(net, samples=2)
    a.row("sn", 0)[F["events_out"]] = 5
    b.row("sn", 0)[F["events_out"]] = 7
    assert a.differences(b) == ["sn t=0 events_out: 5 != 7"]
    a += b
    assert a.samples == 3 and a.total("events_out") == 12
    table = a.table().set_index("layer")
    assert table.loc["sn", "events_out"] == 12 and table.loc["sn", "samples"] == 3
    assert list(a.per_timestep().columns[:2]) == ["layer", "timestep"]
    with pytest.raises(ValueError, match="different networks"):
        a += RunCounts(net, samples=1, timesteps=2)


def test_run_result_accuracy():
    net = tiny_net()
    logits = np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    r = RunResult(net, RunCounts(net), logits, labels=np.array([1, 2]))
    assert r.predictions.tolist() == [1, 0] and r.accuracy == 0.5
    assert RunResult(net, RunCounts(net), logits).accuracy is None
