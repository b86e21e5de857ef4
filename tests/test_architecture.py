"""NoC payloads (noc.py), area and leakage (area.py), per-core bottlenecks (bottlenecks.py),
core placement, and ``neurosim explore`` (studies/explore.py)."""

from __future__ import annotations

import json
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest

from neurosim import area, limits, noc
from neurosim.cli import main
from neurosim.compiler import compile_graph, map_to_cores
from neurosim.data import Dataset
from neurosim.errors import CompileError, InputError, ProfileError
from neurosim.hardware import Area, load_profile, profile_from_data
from neurosim.hardware.loader import read_yaml
from neurosim.model.builders import small_convnet
from neurosim.simulate import simulate
from neurosim.studies import explore

ENCODINGS = ("address_event", "bitmap", "run_length")


def _profile(encoding="address_event", spikes=8, **noc_fields):
    base = load_profile("hw_configs/sram_table_45nm.yaml")
    fields = {"encoding": encoding, "header_bits": 12, "link_bits": 16, "mesh_width": 3,
              "energy_per_bit_hop_pj": 0.1, "energy_per_router_pj": 0.5,
              "energy_per_message_pj": 2.0, "energy_per_event_hop_pj": 1.0, "source": "test"}
    fields.update(noc_fields)
    return replace(base, spike_bits=spikes, noc=replace(base.noc, **fields),
                   core=replace(base.core, max_neurons=200), static_power_w_per_core=1e-3,
                   leakage_w_per_bit=1e-9, static_source="test",
                   area=Area(1e-7, 0.01, "test"))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (6, 1, 10, 10), dtype=np.uint8)
    return Dataset(images, np.zeros(6, np.int64), "test")


@pytest.fixture(scope="module")
def graph():
    return small_convnet(levels=4, timesteps=2, channels=(4, 6), input_shape=(1, 10, 10),
                         hidden=8)


@pytest.mark.parametrize("encoding,spikes", [(e, 8) for e in ENCODINGS] +
                         [("address_event", 1), ("address_event", 2)])
def test_traffic_is_the_same_in_the_engine_and_the_reference(graph, data, encoding, spikes):
    profile = _profile(encoding, spikes)
    event = simulate(graph, hw=profile, inputs=data, float_reference=False, record=False)
    ref = simulate(graph, hw=profile, inputs=data, float_reference=False, engine="reference")
    assert event.traffic.layers.equals(ref.traffic.layers)
    assert np.allclose(event.energy.layers.routing, ref.energy.layers.routing)
    cores = event.traffic.cores
    by_layer = cores.groupby([r["layer"] for r in event.result.timing["cores"]]).sum()
    assert (by_layer.reindex(event.traffic.layers.index).fillna(0) == event.traffic.layers
            ).all().all()
    assert event.traffic.layers.payload_bits.sum() > 0


def test_address_event_payload_by_hand(graph, data):
    profile = _profile()
    sim = simulate(graph, hw=profile, inputs=data, float_reference=False)
    table = sim.layers_table().set_index("layer")
    net = sim.net
    for layer in net.layers:
        row = table.loc[layer.name]
        dests = len(net.destinations(layer.name))
        if not dests:
            assert row.payload_bits == 0
            continue
        size = int(np.prod(layer.out_shape))  # address, then the level z ∈ {0..N}
        bits = (size - 1).bit_length() + max(1, int(noc.event_max_level(net, layer.name))
                                             .bit_length())
        assert row.payload_bits == 12 * row.packets + bits * row.events_out * dests
        assert row.bit_hops == 12 * row.packet_hops + bits * row.event_hops
        assert row.router_traversals == row.packets + row.packet_hops
        assert row.messages == row.events_out * dests
        n = profile.noc
        expect = (row.event_hops * n.energy_per_event_hop_pj + row.bit_hops * 0.1
                  + row.router_traversals * 0.5 + row.messages * 2.0)
        assert row.energy_routing_pj == pytest.approx(expect)


@pytest.mark.parametrize("encoding,spikes", [("run_length", 8), ("address_event", 1)])
def test_traffic_from_levels_is_tallied_in_the_shards(graph, data, encoding, spikes,
                                                      monkeypatch):
    """Run-length words and split messages are counted block by block in the shards: their sum
    is the whole run's, and a run too large to keep its levels still has its traffic."""
    profile = _profile(encoding, spikes)
    kept = simulate(graph, hw=profile, inputs=data, float_reference=False, record=True)
    whole = noc.level_tallies(kept.net, profile.noc, profile.spike_bits, kept.result.levels)
    assert whole and all(np.array_equal(v, kept.result.extra[k]) for k, v in whole.items())
    monkeypatch.setattr(limits, "RECORD_LIMIT_BYTES", 1)
    large = simulate(graph, hw=profile, inputs=data, float_reference=False)
    assert not large.result.levels
    assert large.traffic.layers.equals(kept.traffic.layers)
    assert large.traffic.cores.equals(kept.traffic.cores)


def test_level_split_into_binary_messages(graph, data):
    """With a 1-bit value field a level-z event is z messages: messages = Σ z × destinations."""
    sim = simulate(graph, hw=_profile(spikes=1), inputs=data, float_reference=False)
    table = sim.layers_table().set_index("layer")
    for layer in sim.net.layers:
        dests = len(sim.net.destinations(layer.name))
        assert table.loc[layer.name].messages == table.loc[layer.name].level_sum_out * dests


def test_run_length_words():
    levels = np.zeros((1, 1, 2, 1, 20), np.int32)
    levels[0, 0, 0, 0, [0, 3, 19]] = [1, 2, 1]  # gaps 0, 2, 15 → 1 + 0 + 0 + 15 // 7 = 2 extra
    assert noc.run_length_words(levels, 0, 1, 3) == 3 + 2
    assert noc.run_length_words(levels, 1, 2, 3) == 0
    assert noc.split_messages(levels, 0, 1, 1) == 4


def test_bottleneck_split_adds_up_and_area(graph, data):
    profile = _profile()
    sim = simulate(graph, hw=profile, inputs=data, float_reference=False)
    rows = sim.result.timing["cores"]
    makespan = sim.result.timing["cycles"]
    for r in rows:
        assert r["busy_cycles"] == r["synaptic_cycles"] + r["neuron_cycles"] + \
            r["packet_cycles"]
        assert r["idle_cycles"] == pytest.approx(makespan - r["busy_cycles"] - r["stall_cycles"]
                                                 - r["stall_link_cycles"])
        assert r["stall_fifo_cycles"] == r["stall_cycles"]
        assert r["noc_cycles"] == r["payload_bits"] / 16  # link_bits 16: links contend
        assert r["area_mm2"] == pytest.approx(r["sram_bits"] * 1e-7 + 0.01)
    s = sim.summary()
    assert s["bottleneck"]["core"] == max(rows, key=lambda r: r["busy_cycles"] +
                                          r["stall_cycles"] + r["stall_link_cycles"])["core"]
    assert s["bottleneck"]["link"]["busy_cycles"] == max(
        r["busy_cycles"] for r in sim.result.timing["links"])
    a = s["area"]
    assert a["total_mm2"] == pytest.approx(sum(r["area_mm2"] for r in rows))
    assert a["cores"] == len(rows) > len(sim.net.layers)  # the split layer
    static_w = sum(1e-3 + r["sram_bits"] * 1e-9 for r in rows)
    expect = static_w * sim.result.timing["seconds_per_inference"] * len(data) * 1e12
    assert sim.energy.layers.static.sum() == pytest.approx(expect)
    parts = sim.energy.summary()["parts"]
    assert sum(parts["routing"].values()) == pytest.approx(sim.energy.totals_nj()["routing"])


def test_area_unpriced_is_reported_as_missing(graph):
    profile = load_profile("hw_configs/paper_45nm.yaml")
    net = map_to_cores(compile_graph(graph, profile.widths), profile)
    s = area.summary(net, profile)
    assert s["total_mm2"] is None and s["not_priced"] == ["area.sram_per_bit",
                                                          "area.logic_per_core"]


def test_placement_from_the_profile(graph):
    profile = _profile(mesh_width=None)
    net = map_to_cores(compile_graph(graph, profile.widths), profile)
    n = len(net.cores)
    placed = replace(profile, noc=replace(profile.noc, placement=tuple((0, i) for i in range(n))))
    net2 = map_to_cores(compile_graph(graph, profile.widths), placed)
    assert [c.position for c in net2.cores] == [(0, i) for i in range(n)]
    assert net2.mesh == (1, n)
    short = replace(profile, noc=replace(profile.noc, placement=((0, 0),)))
    with pytest.raises(CompileError, match=r"noc.placement gives 1 core positions but the "
                                           rf"network needs {n} cores"):
        map_to_cores(compile_graph(graph, profile.widths), short)


def test_profile_fields_load_and_fail_clearly():
    data = read_yaml(Path("hw_configs/loihi_14nm.yaml"))
    p = profile_from_data(data, "x.yaml")
    assert p.noc.energy_per_message_pj == 111 and p.area.sram_mm2_per_bit == pytest.approx(
        5.88e-8) and p.has_routing_energy
    data["noc"]["placement"] = [[0, 0], [0, 0]]
    with pytest.raises(ProfileError, match=r"noc.placement.1: core 1 is placed at \[0, 0\]"):
        profile_from_data(data, "x.yaml")
    data["noc"]["placement"] = None
    data["noc"]["encoding"] = "morse"
    with pytest.raises(ProfileError, match=r"noc.encoding: expected one of address_event"):
        profile_from_data(data, "x.yaml")
    data["noc"]["encoding"] = "bitmap"
    data["area"]["sram_per_bit"] = "3 pJ"
    with pytest.raises(ProfileError, match=r"area.sram_per_bit: expected an area"):
        profile_from_data(data, "x.yaml")


def test_routing_energy_per_event_grows_with_levels_on_loihi():
    out = {}
    for n in (1, 4):
        sim = simulate("models/fmnist_small_n4t1", hw="hw_configs/loihi_14nm.yaml", levels=n,
                       samples=10, float_reference=False)
        out[n] = sim.summary()["noc"]
    assert out[4]["payload_bits_per_event"] > out[1]["payload_bits_per_event"]
    assert out[4]["routing_pj_per_event"] > out[1]["routing_pj_per_event"]


def test_explore_fields_and_errors():
    assert "core.max_neurons" in explore.fields() and "noc.encoding" in explore.fields()
    assert not any(f.endswith(".source") for f in explore.fields())
    assert explore.parse_vary(["fifo_depth=64,128", "noc.link_bits=null,32"]) == {
        "fifo_depth": [64, 128], "noc.link_bits": [None, 32]}
    with pytest.raises(InputError, match=r"unknown profile field 'core.neurons'; valid fields: "
                                         r".*core.max_neurons"):
        explore.parse_vary(["core.neurons=1"])
    with pytest.raises(InputError, match="expected FIELD=V1,V2"):
        explore.parse_vary(["fifo_depth"])


def test_explore_writes_table_and_pareto(tmp_path, capsys):
    out = tmp_path / "ex"
    rc = main(["explore", "models/fmnist_small_n4t1", "--hw", "hw_configs/loihi_14nm.yaml",
               "--vary", "core.max_neurons=1024,2048,4096", "--out", str(out), "--samples", "6",
               "--no-float", "--jobs", "1", "--quiet"])
    assert rc == 0
    import pandas as pd
    df = pd.read_csv(out / "explore.csv")
    assert list(df["core.max_neurons"]) == [1024, 2048, 4096]
    for column in ("energy_Total_nj", "energy_Routing_nj", "latency_s", "throughput_per_s",
                   "area_mm2", "pareto"):
        assert df[column].notna().all(), column
    assert (out / "figures" / "pareto.png").is_file() and (out / "explore.md").is_file()
    marker = json.loads((out / ".neurosim-run").read_text())
    assert marker["kind"] == "exploration"
    assert main(["explore", "models/fmnist_small_n4t1", "--hw", "hw_configs/loihi_14nm.yaml",
                 "--vary", "core.neurons=1", "--out", str(tmp_path / "bad")]) == 2
    assert "valid fields" in capsys.readouterr().err
