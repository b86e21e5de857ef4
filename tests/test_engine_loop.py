"""The compiled event loop (engine/loop.py, the default) runs the cores' and the port's SimPy
processes step for step: on every timing case, with link contention and with a window smaller
than the inputs, both schedulers give the same simulated times, counts, levels and links."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import REPO
from neurosim import engine
from neurosim.compiler import compile_graph, map_to_cores
from neurosim.errors import EngineError
from neurosim.hardware import load_profile
from neurosim.model.builders import small_convnet, small_resnet
from test_engine_timing import CASES, expected, timing_record

HOST_TIMES = {"wall_s", "simulation_wall_s", "simpy_s", "simpy_share"}


def both(net, x, profile=None, **kw):
    runs = [engine.run(net, x, record=True, profile=profile, scheduler=s, **kw)
            for s in ("compiled", "simpy")]
    a, b = runs
    assert a.counts.differences(b.counts) == []
    assert np.array_equal(a.logits, b.logits)
    for layer in a.levels:
        assert np.array_equal(a.levels[layer], b.levels[layer]), layer
    assert {k: v for k, v in a.timing.items() if k not in HOST_TIMES} == \
        {k: v for k, v in b.timing.items() if k not in HOST_TIMES}
    return runs


@pytest.mark.parametrize("name", sorted(CASES))
def test_simpy_processes_give_the_recorded_times(name):
    """The SimPy statement of the model still gives the recorded times (the compiled loop is
    held to them by test_engine_timing)."""
    graph, add_mode, x, profile = CASES[name]()
    net = compile_graph(graph, profile.widths if profile else None, add_mode=add_mode)
    if profile is not None:
        net = map_to_cores(net, profile)
    compiled, simpy = both(net, x, profile)
    assert timing_record(simpy) == expected()[name]


def _contending(link_bits):
    base = load_profile(REPO / "hw_configs" / "sram_table_45nm.yaml")
    return replace(base, spike_bits=8, fifo_depth=48, packet_events=8,
                   core=replace(base.core, max_neurons=600),
                   noc=replace(base.noc, header_bits=12, mesh_width=3, link_bits=link_bits))


@pytest.mark.parametrize("link_bits", [4, 16])
@pytest.mark.parametrize("arch", ["sew", "sparse"])
def test_link_contention_and_a_small_window(arch, link_bits):
    """Shared links, small FIFOs, split layers, T = 2 and a window of 3 inputs of 7: every
    wait the loop resolves (pieces, lookahead, credits, links, the port's window)."""
    g = small_resnet(arch, levels=4, timesteps=2)
    profile = _contending(link_bits)
    net = map_to_cores(compile_graph(g, profile.widths), profile)
    x = np.random.default_rng(11).integers(0, 256, (7,) + g.input.shape).astype(np.uint8)
    compiled, _ = both(net, x, profile, batch_size=3)
    assert compiled.timing["stall_link_cycles"] > 0 and compiled.timing["stall_cycles"] > 0


def test_a_queue_that_grows_keeps_its_order(monkeypatch):
    """A queue started with room for 8 events grows several times during a run: the same
    times as the SimPy processes; a ring that wraps around is unwound in order."""
    from neurosim.kernels import events

    tables, grow = events.tables, events.grow_queue
    grown = []
    monkeypatch.setattr(events, "tables", lambda nodes, capacity=8: tables(nodes, 8))
    monkeypatch.setattr(events, "grow_queue", lambda *a: grown.append(1) or grow(*a))
    g = small_resnet("sew", levels=4, timesteps=2)
    profile = _contending(4)
    net = map_to_cores(compile_graph(g, profile.widths), profile)
    x = np.random.default_rng(5).integers(0, 256, (5,) + g.input.shape).astype(np.uint8)
    both(net, x, profile, batch_size=2)
    assert len(grown) > 2

    _, hf, he, hk, qk, hs = tables(1, 4)
    qk[:, 1] = [12, 13, 10, 11]  # the ring holds 10, 11, 12, 13 from its head at row 2
    hs[events.Q_HEAD], hs[events.Q_LEN] = 2, 4
    hf, he, hk, qk = grow(hf, he, hk, qk, hs)
    assert len(hf) == len(qk) == 8 and hs[events.Q_HEAD] == 0
    assert list(qk[:4, 1]) == [10, 11, 12, 13]


def test_the_loop_kernels_keep_no_reference_counts():
    """The event loop's kernels are compiled without Numba's reference counting (each helper
    call would add and drop a reference to every array it takes: more time than its work);
    the kernels that allocate keep it."""
    import numba

    from neurosim.kernels import events, noc, synapses

    for module in (events, noc):
        jitted = [f for f in vars(module).values()
                  if isinstance(f, numba.core.registry.CPUDispatcher)]
        assert jitted and all(f.targetoptions.get("_nrt") is False for f in jitted), module
    assert "_nrt" not in synapses._conv_scatter.targetoptions


def test_no_inputs_and_an_unknown_scheduler():
    g = small_convnet(levels=2, timesteps=1, channels=(2, 2), input_shape=(1, 8, 8), hidden=4)
    net = compile_graph(g)
    compiled, _ = both(net, np.zeros((0, 1, 8, 8), np.uint8))
    assert compiled.timing["cycles"] == 0
    with pytest.raises(EngineError, match="scheduler must be"):
        engine.run(net, np.zeros((1, 1, 8, 8), np.uint8), scheduler="threads")


def test_loihi_with_32_bit_links_splits_events_into_messages(tmp_path):
    """Loihi's 32-bit links carry a level in messages (events split): the running message
    counts the loop reads from its buffers are the SimPy processes'."""
    from test_links import LOIHI_32
    from neurosim.model.io import load_model

    (tmp_path / "loihi_32.yaml").write_text(LOIHI_32)
    profile = load_profile(tmp_path / "loihi_32.yaml")
    net = map_to_cores(compile_graph(load_model(REPO / "models" / "fmnist_small_n4t1"),
                                     profile.widths), profile)
    x = np.load(REPO / "models" / "fmnist_small_n4t1" / "samples.npz")
    x = x[[k for k in x.files if k != "labels"][0]][:6]
    compiled, _ = both(net, x, profile)
    assert compiled.timing["stall_link_cycles"] > 0
