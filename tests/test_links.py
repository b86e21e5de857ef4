"""NoC link contention in the event engine (noc.link_bits): packets serialised on shared links,
the senders' link stalls, links.csv; against numbers derived by hand, the run without
contention, the NoC traffic of noc.py and the dense reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from neurosim import engine, noc, reference
from neurosim.compiler import compile_graph, map_to_cores
from neurosim.hardware import CoreLimits, NoC, Profile, load_profile
from neurosim.model.builders import small_convnet
from neurosim.model.graph import Graph, Input, Linear, Neuron
from neurosim.model.neurons import NeuronSpec
from neurosim.simulate import simulate

SMALL = REPO / "models" / "fmnist_small_n4t1"
LOIHI = REPO / "hw_configs" / "loihi_14nm.yaml"
HOST_TIMES = {"wall_s", "simulation_wall_s", "simpy_s", "simpy_share"}


def assert_same(ref, ev):
    assert ref.counts.differences(ev.counts) == []
    assert np.array_equal(ref.logits, ev.logits)
    for name in ref.levels:
        assert np.array_equal(ref.levels[name], ev.levels[name]), name


def timing(result) -> dict:
    return {k: v for k, v in result.timing.items() if k not in HOST_TIMES}


def two_into_one(link_bits=None, header_bits=22, **noc_fields):
    """Input (4,) = [1, 0, 2, 3] → linear 4→4 (weights 1) into neurons with N = 4 split over
    two cores (2 neurons each) → linear 4→2 readout on a third core; a crossbar (one hop of 1
    cycle), packets cost 0 cycles, so both cores of the split layer send at the same time."""
    nodes = [Input("in", shape=(4,), scale=1.0),
             Linear("fc1", input="in", weight=np.ones((4, 4), np.float32)),
             Neuron("n1", input="fc1", spec=NeuronSpec(levels=4, vth=0.5)),
             Linear("fc2", input="n1", weight=np.ones((2, 4), np.float32))]
    net = compile_graph(Graph(nodes, output="fc2", timesteps=1))
    profile = Profile("p", core=CoreLimits(max_neurons=2),
                      timing=replace(Profile("q").timing, cycles_per_packet=0),
                      noc=NoC(**{"topology": "crossbar", "hop_cycles": 1,
                                 "header_bits": header_bits, "link_bits": link_bits,
                                 **noc_fields}))
    return map_to_cores(net, profile), profile


X = np.array([[1, 0, 2, 3]], np.uint8)


def test_two_senders_into_one_link_by_hand():
    """Both cores of n1 receive the host's 3 events at 0 and take 3 events + 3·2 synapses +
    2 neurons = 11 cycles; each sends one packet of its 2 events (level 4) to the readout core.
    A packet is 22 header bits + 2 × (2 address + 3 level bits) = 32 bits: ⌈32 / 4⌉ = 8 cycles
    on a 4-bit link. Without contention both arrive at 12 (1 hop): the readout serves 2 events
    + 2·2 synapses = 6 cycles each, 12 → 18 → 24, and fires 2 neurons: 26. With it the second
    packet enters the port at 19 (its sender stalls 8 cycles) and arrives at 20: 12 → 18, wait,
    20 → 26, fire: 28."""
    net, profile = two_into_one()
    free = engine.run(net, X, profile=profile, record=True)
    assert free.timing["cycles"] == 26 and free.timing["latency_cycles"] == 26
    assert "links" not in free.timing and "stall_link_cycles" not in free.timing
    assert [r["stall_link_cycles"] for r in free.timing["cores"]] == [0, 0, 0]
    assert noc.event_bits(net, "n1", profile.noc) == 5
    net, profile = two_into_one(link_bits=4)
    ev = engine.run(net, X, profile=profile, record=True)
    assert_same(free, ev)
    assert_same(reference.run(net, X, record=True), ev)
    t = ev.timing
    assert t["cycles"] == 28 and t["latency_cycles"] == 28 and t["latency_cycles_first"] == 28
    assert t["stall_link_cycles"] == 8 and t["stall_cycles"] == 0
    assert [r["stall_link_cycles"] for r in t["cores"]] == [0, 8, 0]
    assert [r["busy_cycles"] for r in t["cores"]] == [11, 11, 14]  # contention adds no work
    (port,) = t["links"]  # the readout core's crossbar port, from no core in particular
    assert (port["from_x"], port["from_y"]) == (None, None)
    assert (port["to_x"], port["to_y"]) == net.cores[2].position
    assert (port["packets"], port["bits"], port["busy_cycles"], port["wait_cycles"]) == \
        (2, 64, 16.0, 8.0)
    assert port["utilisation"] == pytest.approx(16 / 28)


def test_a_wait_further_on_delays_the_packet_not_the_sender():
    """The same network on a mesh row with hops of 0 cycles: core 1 at (0, 0), core 0 at
    (1, 0), the readout at (2, 0). Core 0 (run first) takes (1,0)→(2,0) at 11 for 8 cycles;
    core 1's packet enters (0,0)→(1,0) at 11, finds (1,0)→(2,0) busy, enters it at 19 and
    arrives at 19: no sender stalls, the readout serves 11 → 17, then 19 → 25, fires: 27
    (25 without contention: 11 → 17 → 23 → 25)."""
    mesh = {"topology": "mesh", "mesh_width": 3, "hop_cycles": 0,
            "placement": ((1, 0), (0, 0), (2, 0))}
    net, profile = two_into_one(**mesh)
    assert engine.run(net, X, profile=profile).timing["cycles"] == 25
    net, profile = two_into_one(link_bits=4, **mesh)
    ev = engine.run(net, X, profile=profile, record=True)
    assert_same(reference.run(net, X, record=True), ev)
    t = ev.timing
    assert t["cycles"] == 27 and t["stall_link_cycles"] == 0
    rows = {((r["from_x"], r["from_y"]), (r["to_x"], r["to_y"])): r for r in t["links"]}
    assert sorted(rows) == [((0, 0), (1, 0)), ((1, 0), (2, 0))]
    a, b = rows[(0, 0), (1, 0)], rows[(1, 0), (2, 0)]
    assert (a["packets"], a["busy_cycles"], a["wait_cycles"]) == (1, 8, 0)
    assert (b["packets"], b["busy_cycles"], b["wait_cycles"], b["bits"]) == (2, 16, 8, 64)


def test_a_very_wide_link_is_no_contention():
    """One cycle per packet on a link, and packets leave a sender at least a cycle apart: the
    same times as without link_bits on a network whose senders share no link."""
    g = small_convnet(levels=4, timesteps=2, channels=(4, 6), input_shape=(1, 10, 10), hidden=8)
    net = compile_graph(g)
    x = np.random.default_rng(3).integers(0, 256, (4, 1, 10, 10)).astype(np.uint8)
    base = Profile("p", noc=NoC(mesh_width=3, header_bits=12))
    wide = replace(base, noc=replace(base.noc, link_bits=1 << 20))
    a = engine.run(map_to_cores(net, base), x, profile=base, record=True)
    b = engine.run(map_to_cores(net, wide), x, profile=wide, record=True)
    assert_same(a, b)
    assert b.timing["stall_link_cycles"] == 0
    assert all(r["wait_cycles"] == 0 for r in b.timing["links"])
    strip = {"links", "stall_link_cycles", "cores"}
    assert {k: v for k, v in timing(a).items() if k not in strip} == \
        {k: v for k, v in timing(b).items() if k not in strip}
    assert a.timing["cores"] == b.timing["cores"]


def _profile(encoding, link_bits=8):
    base = load_profile(REPO / "hw_configs" / "sram_table_45nm.yaml")
    return replace(base, spike_bits=8, core=replace(base.core, max_neurons=200),
                   noc=replace(base.noc, encoding=encoding, header_bits=12, mesh_width=3,
                               link_bits=link_bits))


@pytest.mark.parametrize("encoding", ["address_event", "bitmap", "run_length"])
def test_link_totals_are_the_noc_traffic(encoding):
    """Σ bits over the links = the run's bit hops (every packet's bits × the links it crosses),
    Σ packets = packet hops; counts and levels equal the reference's and the run without
    contention's; what waits on a link is slower, never faster, to finish."""
    g = small_convnet(levels=4, timesteps=2, channels=(4, 6), input_shape=(1, 10, 10), hidden=8)
    x = np.random.default_rng(3).integers(0, 256, (6, 1, 10, 10)).astype(np.uint8)
    from neurosim.data import Dataset
    data = Dataset(x, np.zeros(6, np.int64), "test")
    sim = simulate(g, hw=_profile(encoding), inputs=data, float_reference=False, record=True)
    ref = simulate(g, hw=_profile(encoding), inputs=data, float_reference=False,
                   engine="reference", record=True)
    free = simulate(g, hw=_profile(encoding, None), inputs=data, float_reference=False,
                    record=True)
    assert_same(ref.result, sim.result)
    assert_same(free.result, sim.result)
    links = pd.DataFrame(sim.result.timing["links"])
    totals = sim.traffic.layers.sum()
    assert links.bits.sum() == totals.bit_hops
    assert links.packets.sum() == sim.counts.table().packet_hops.sum()
    assert (links.busy_cycles >= links.packets).all()
    assert sim.result.timing["stall_link_cycles"] > 0
    assert sum(r["stall_link_cycles"] for r in sim.result.timing["cores"]) == \
        sim.result.timing["stall_link_cycles"]
    link = sim.summary()["bottleneck"]["link"]
    assert link["busy_cycles"] == links.busy_cycles.max()


LOIHI_32 = LOIHI.read_text().replace("noc:\n", "noc:\n  link_bits: 32\n", 1)


def test_loihi_with_32_bit_links(tmp_path):
    """The shipped loihi_14nm with 32-bit links: a ready-made variant that contends, with its
    links.csv, cores.csv's link stalls and the busiest link in summary.json."""
    (tmp_path / "loihi_32.yaml").write_text(LOIHI_32)
    profile = load_profile(tmp_path / "loihi_32.yaml")
    assert profile.noc.link_bits == 32
    sim = simulate(str(SMALL), hw=profile, samples=16, float_reference=False)
    plain = simulate(str(SMALL), hw=load_profile(LOIHI), samples=16, float_reference=False)
    assert_same(plain.result, sim.result)
    out = sim.write(tmp_path / "run", report=False)
    links = pd.read_csv(out / "links.csv")
    assert list(links.columns) == list(noc.LINK_COLUMNS)
    assert links.bits.sum() == sim.traffic.layers.bit_hops.sum()
    cores = pd.read_csv(out / "cores.csv")
    assert cores.stall_link_cycles.sum() == sim.result.timing["stall_link_cycles"] > 0
    makespan = sim.result.timing["cycles"]
    assert np.allclose(cores.idle_cycles, makespan - cores.busy_cycles - cores.stall_cycles
                       - cores.stall_link_cycles)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bottleneck"]["link"]["busy_cycles"] == links.busy_cycles.max()
    assert not (tmp_path / "plain").exists()
    assert not (plain.write(tmp_path / "plain", report=False) / "links.csv").exists()


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("NEUROSIM_WORKERS", None)
    done = subprocess.run([sys.executable, "-m", "neurosim.cli", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def test_links_do_not_depend_on_workers_or_shards(tmp_path):
    """150 inputs in blocks of 32 (5 blocks): one process with one shard, and two workers with
    shards of one block, write the same links.csv, cores.csv and timing."""
    (tmp_path / "loihi_32.yaml").write_text(LOIHI_32 + "\nblock_inputs: 32\n")
    run = ["simulate", SMALL, "--hw", tmp_path / "loihi_32.yaml", "--samples", "150", "--quiet",
           "--no-float"]
    _cli(*run, "--out", tmp_path / "one")
    _cli(*run, "--workers", "2", "--shard-size", "32", "--out", tmp_path / "two")
    for name in ("links.csv", "cores.csv", "layers.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    one, two = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two"))
    assert one["timing"]["blocks"] == 5
    for key in ("timing", "bottleneck"):
        a = {k: v for k, v in one[key].items() if k not in HOST_TIMES}
        b = {k: v for k, v in two[key].items() if k not in HOST_TIMES}
        assert a == b, key
