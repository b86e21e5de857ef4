"""The event engine against the dense reference (exact: levels, logits, every count) and against
numbers derived by hand (routing, timing); backpressure and rejoining paths."""

from pathlib import Path

import numpy as np
import pytest

from neurosim import engine, reference
from neurosim.compiler import compile_graph, map_to_cores
from neurosim.counters import COUNT_FIELDS, F
from neurosim.errors import EngineError, InputError, ProfileError
from neurosim.hardware import CoreLimits, NoC, Profile, Timing
from neurosim.model.builders import resnet18, small_convnet, small_resnet, vgg16
from neurosim.model.graph import (Add, AvgPool2d, Conv2d, Flatten, Graph, Input, Linear,
                                  MaxPool2d, Neuron)
from neurosim.model.io import load_model
from neurosim.model.neurons import NeuronSpec, lif

MODELS = Path(__file__).resolve().parents[1] / "models"
TRAINED = sorted(p.parent.name for p in MODELS.glob("*/manifest.yaml"))


def assert_same(ref, ev):
    """Identical counts of every kind at every layer and timestep, logits and output levels."""
    assert ref.counts.differences(ev.counts) == []
    assert ref.counts.samples == ev.counts.samples
    assert np.array_equal(ref.logits, ev.logits)
    assert sorted(ref.levels) == sorted(ev.levels)
    for name in ref.levels:
        assert np.array_equal(ref.levels[name], ev.levels[name]), name


def both(net, x, profile=None, **kw):
    mapped = map_to_cores(net, profile) if profile is not None else net
    ref = reference.run(mapped, x, record=True, **kw)
    ev = engine.run(mapped, x, record=True, profile=profile, **kw)
    assert_same(ref, ev)
    return ref, ev


def images(rng, shape, n=3):
    return rng.integers(0, 256, (n,) + tuple(shape)).astype(np.uint8)


# --- exact agreement on the paper's networks (reduced widths) and trained models -----------------

NETWORKS = {
    "vgg16": lambda n, t: vgg16(levels=n, timesteps=t, width=0.125),
    "sew": lambda n, t: resnet18("sew", levels=n, timesteps=t, width=0.125),
    "sparse": lambda n, t: resnet18("sparse", levels=n, timesteps=t, width=0.125),
    "spiking": lambda n, t: resnet18("spiking", levels=n, timesteps=t, width=0.125),
}


@pytest.mark.parametrize("timesteps", [1, 4])
@pytest.mark.parametrize("levels", [1, 4, 8])
@pytest.mark.parametrize("arch", sorted(NETWORKS))
def test_reduced_networks_on_cifar_equal_reference(arch, levels, timesteps, cifar_images):
    net = compile_graph(NETWORKS[arch](levels, timesteps))
    ref, ev = both(net, cifar_images.inputs[:2])
    assert ref.counts.total("events_out") > 0 and ref.counts.total("synapse_visits") > 0


@pytest.mark.parametrize("setting", [None, (1, 1), (8, 1), (1, 4), (4, 4)],
                         ids=["trained", "N1T1", "N8T1", "N1T4", "N4T4"])
@pytest.mark.parametrize("model", TRAINED)
def test_shipped_trained_models_equal_reference(model, setting):
    """Every shipped model at its training point, and with N and T overridden."""
    graph = load_model(MODELS / model)
    if setting is not None:
        graph = graph.with_levels(setting[0]).with_timesteps(setting[1])
    samples = np.load(MODELS / model / "samples.npz")
    x = samples[[k for k in samples.files if k != "labels"][0]][:8 if setting is None else 3]
    ref, ev = both(compile_graph(graph), x)
    assert ref.counts.total("events_out") > 0
    assert ev.accuracy is None or 0 <= ev.accuracy <= 1


@pytest.mark.slow
@pytest.mark.parametrize("timesteps", [1, 4])
@pytest.mark.parametrize("levels", [1, 4, 8])
@pytest.mark.parametrize("arch", ["vgg16", "sew", "sparse", "spiking"])
def test_full_size_networks_on_cifar_equal_reference(arch, levels, timesteps, cifar_images):
    graph = vgg16(levels=levels, timesteps=timesteps) if arch == "vgg16" else \
        resnet18(arch, levels=levels, timesteps=timesteps)
    both(compile_graph(graph), cifar_images.inputs[:1])


# --- other neurons, layers and modes -------------------------------------------------------------

def test_merge_mode_and_float_mode(rng):
    g = small_resnet("sew", levels=4, timesteps=2)
    x = images(rng, g.input.shape)
    both(compile_graph(g, add_mode="merge"), x)
    fnet = compile_graph(g, integer=False)
    ref = reference.run(fnet, x, record=True)
    ev = engine.run(fnet, x, record=True)
    assert np.allclose(ref.logits, ev.logits)
    assert ref.counts.total("events_out") == ev.counts.total("events_out")


def neuron_zoo(spec, pool):
    """3×6×6 input → conv 3×3 s1 p1 → spec → pool → conv 3×3 s2 p0 (bias) → spec → FC readout."""
    r = np.random.default_rng(3)
    nodes = [Input("in", shape=(3, 6, 6), scale=1 / 255),
             Conv2d("c1", input="in", weight=r.normal(0, 0.5, (4, 3, 3, 3)), padding=1),
             Neuron("n1", input="c1", spec=spec)]
    src = "n1"
    if pool:
        nodes.append(pool("p1", input="n1", kernel=2))
        src = "p1"
    nodes += [Conv2d("c2", input=src, weight=r.normal(0, 0.7, (5, 4, 3, 3)), stride=2,
                     bias=r.normal(0, 0.2, 5)),
              Neuron("n2", input="c2", spec=spec), Flatten("f", input="n2"),
              Linear("fc", input="f", weight=r.normal(0, 0.5, (3, 5 * (1 if pool else 4)))),
              ]
    return Graph(nodes, output="fc", timesteps=3)


@pytest.mark.parametrize("spec", [lif(0.75, levels=3), NeuronSpec(levels=2, reset="zero"),
                                  NeuronSpec(levels=1, stateless=True),
                                  NeuronSpec(levels=5, vth=0.6)],
                         ids=["lif", "hard", "s3nn", "vth"])
@pytest.mark.parametrize("pool", [None, MaxPool2d, AvgPool2d], ids=["nopool", "max", "avg"])
def test_neuron_kinds_and_pools_equal_reference(spec, pool, rng):
    g = neuron_zoo(spec, pool)
    ref, _ = both(compile_graph(g), images(rng, g.input.shape, 4))
    if spec.kind == "lif":
        assert ref.counts.total("leak_ops") > 0


def test_per_timestep_input_frames(rng):
    g = small_convnet(levels=2, timesteps=3, channels=(4, 4), input_shape=(2, 8, 8), hidden=8)
    frames = rng.integers(0, 3, (2, 3, 2, 8, 8)) * (rng.random((2, 3, 2, 8, 8)) < 0.3)
    both(compile_graph(g), frames)


def test_spiking_output_layer_logits_are_level_sums(rng):
    """A network whose output is a neuron layer: logits are its levels summed over T."""
    nodes = [Input("in", shape=(6,), scale=1 / 255),
             Linear("fc", input="in", weight=rng.normal(0, 1, (4, 6))),
             Neuron("out", input="fc", spec=NeuronSpec(levels=3))]
    ref, ev = both(compile_graph(Graph(nodes, "out", timesteps=4)), images(rng, (6,), 5))
    assert np.array_equal(ev.logits, ev.levels["out"].sum(axis=0))


# --- split layers, per-core counts, routing ------------------------------------------------------

def test_split_layers_equal_reference_and_cores_add_up(rng):
    g = small_resnet("sparse", levels=4, timesteps=2)
    profile = Profile("split", core=CoreLimits(max_neurons=600, max_weights=2000),
                      noc=NoC(mesh_width=4))
    x = images(rng, g.input.shape)
    _, ev = both(compile_graph(g), x, profile)
    cores = ev.timing["cores"]
    layers = ev.counts.table().set_index("layer")
    split = [name for name in layers.index if sum(c["layer"] == name for c in cores) > 1]
    assert split, "the profile should split some layers"
    for name in split:
        mine = [c for c in cores if c["layer"] == name]
        k = len(mine)
        # per-synapse and per-neuron work is partitioned between the cores ...
        fields = ["synapse_visits", "weight_reads", "potential_reads", "bias_reads",
                  "update_ops", "events_out", "fifo_writes", "level_sum_out", "packets"]
        if all(p.kind != "identity" for p in ev.net.layer(name).projections):
            fields.append("synapse_visits_analytic")  # Cout·kH·kW per event: Cout is the core's
        for field in fields:
            assert sum(c[field] for c in mine) == layers.loc[name, field], (name, field)
        # ... while every core reads every incoming event from its own FIFO
        assert all(c["events_in"] == layers.loc[name, "events_in"] for c in mine)
        assert sum(c["fifo_reads"] for c in mine) == k * layers.loc[name, "fifo_reads"]


def test_routing_counts_by_hand():
    """One image with 3 lit pixels (1.0) through a 1×1 conv (4 channels, weights 1) into
    neurons with N = 4, θ = 0.125, then a linear readout, on a 2-wide mesh: core 0 at (0, 0),
    core 1 at (1, 0), 1 hop apart.

    Each timestep every lit pixel fires every channel at level 4 (current 8θ, clipped; the
    potential left over stays below the saturation bound): 12 events. Packets of 5 events:
    ⌈12/5⌉ = 3 packets, 3 packet hops, 12 event hops per timestep; T = 2 doubles them."""
    nodes = [Input("in", shape=(1, 2, 2), scale=1 / 255),
             Conv2d("c", input="in", weight=np.ones((4, 1, 1, 1), np.float32)),
             Neuron("n", input="c", spec=NeuronSpec(levels=4, vth=0.5)), Flatten("f", input="n"),
             Linear("fc", input="f", weight=np.ones((2, 16), np.float32))]
    net = compile_graph(Graph(nodes, output="fc", timesteps=2))
    x = np.array([[[[255, 255], [0, 255]]]], np.uint8)
    profile = Profile("p", packet_events=5, noc=NoC(mesh_width=2))
    ref, ev = both(net, x, profile)
    row = ev.counts.table().set_index("layer").loc["n"]
    assert (row.events_out, row.level_sum_out) == (24, 96)
    assert (row.packets, row.packet_hops, row.event_hops) == (6, 6, 24)
    empty = np.zeros((1, 1, 2, 2), np.uint8)  # no events: one end-of-timestep packet per step
    ev = engine.run(map_to_cores(net, profile), empty, profile=profile)
    row = ev.counts.table().set_index("layer").loc["n"]
    assert (row.events_out, row.packets, row.packet_hops, row.event_hops) == (0, 2, 2, 0)


# --- simulated time ------------------------------------------------------------------------------

def test_latency_by_hand():
    """Input (4,) with 3 non-zero values → linear 4→2 readout, one core, one timestep.

    The host port sends one packet (2 cycles); the core reads 3 events (1 cycle each) and visits
    3·2 synapses (1 cycle each): 9 cycles; the fire stage updates 2 neurons (1 cycle each).
    Latency 2 + 9 + 2 = 13 cycles = 65 ns at 200 MHz."""
    nodes = [Input("in", shape=(4,), scale=1.0),
             Linear("fc", input="in", weight=np.ones((2, 4), np.float32))]
    net = compile_graph(Graph(nodes, output="fc", timesteps=1))
    ev = engine.run(net, np.array([[1, 0, 2, 3]], np.uint8))
    t = ev.timing
    assert t["latency_cycles"] == 13 and t["cycles"] == 13
    assert t["latency_s"] == pytest.approx(13 / 200e6)
    assert t["throughput_per_s"] == pytest.approx(200e6 / 13)
    assert t["seconds_per_inference"] == pytest.approx(13 / 200e6)
    assert t["utilisation"]["fc"] == pytest.approx(11 / 13)
    assert ev.timing["cores"][0]["busy_cycles"] == 11


def test_timing_follows_the_profile(rng):
    """Doubling every cycle cost doubles the latency of a network that never stalls."""
    g = small_convnet(levels=2, timesteps=1, channels=(2, 2), input_shape=(1, 8, 8), hidden=4)
    net = compile_graph(g)
    x = images(rng, g.input.shape, 1)
    base = Timing(cycles_per_event=1, cycles_per_synapse=1, cycles_per_neuron=1,
                  cycles_per_packet=2)
    double = Timing(cycles_per_event=2, cycles_per_synapse=2, cycles_per_neuron=2,
                    cycles_per_packet=4)
    big = 10 ** 6
    a = engine.run(net, x, profile=Profile("a", fifo_depth=big, timing=base, noc=NoC(hop_cycles=0)))
    b = engine.run(net, x, profile=Profile("b", fifo_depth=big, timing=double,
                                           noc=NoC(hop_cycles=0)))
    assert a.timing["stall_cycles"] == 0
    assert b.timing["latency_cycles"] == 2 * a.timing["latency_cycles"]
    hops = engine.run(net, x, profile=Profile("c", fifo_depth=big, timing=base,
                                              noc=NoC(hop_cycles=5)))
    assert hops.timing["latency_cycles"] > a.timing["latency_cycles"]


def test_pipelining_across_inputs(rng):
    """With inputs in flight together, the run takes less than their latencies added up; with
    one in flight at a time it takes exactly that."""
    g = small_convnet(levels=4, timesteps=1, channels=(4, 8), input_shape=(1, 12, 12), hidden=8)
    net = compile_graph(g)
    x = images(rng, g.input.shape, 6)
    together = engine.run(net, x)
    alone = engine.run(net, x, batch_size=1)
    assert_same(together, alone)
    latencies = alone.timing["latency_cycles"] * 6
    assert alone.timing["cycles"] == pytest.approx(latencies)
    assert together.timing["cycles"] < 0.9 * alone.timing["cycles"]


# --- backpressure and rejoining paths ------------------------------------------------------------

def test_tiny_fifo_loses_nothing_and_slows_down(rng):
    g = small_resnet("sew", levels=4, timesteps=2)
    net = compile_graph(g)
    x = images(rng, g.input.shape)
    roomy = engine.run(net, x, record=True, profile=Profile("roomy", fifo_depth=100_000))
    tiny_profile = Profile("tiny", fifo_depth=6)
    tiny = engine.run(net, x, record=True, profile=tiny_profile)
    assert_same(roomy, tiny)  # nothing lost or reordered in value
    assert roomy.counts.total("packets") == tiny.counts.total("packets")
    assert tiny.timing["latency_cycles"] > 1.2 * roomy.timing["latency_cycles"]
    assert tiny.timing["stall_cycles"] > roomy.timing["stall_cycles"]
    assert 0 < tiny.timing["max_fifo_occupancy"] <= 6
    assert all(c["max_fifo_occupancy"] <= 6 for c in tiny.timing["cores"])


def rejoin_net(long_path: int):
    """A direct stream and a stream through ``long_path`` extra layers meet at a forward-mode
    add feeding one consumer: the direct stream runs ahead by many timesteps."""
    r = np.random.default_rng(5)
    spec = NeuronSpec(levels=3)
    nodes = [Input("in", shape=(2, 6, 6), scale=1 / 255),
             Conv2d("c0", input="in", weight=r.normal(0, 1, (4, 2, 3, 3)), padding=1),
             Neuron("a", input="c0", spec=spec)]
    src = "a"
    for i in range(long_path):
        nodes += [Conv2d(f"c{i + 1}", input=src, weight=r.normal(0, 0.4, (4, 4, 3, 3)),
                         padding=1), Neuron(f"b{i}", input=f"c{i + 1}", spec=spec)]
        src = f"b{i}"
    nodes += [Add("sum", args=("a", src)), Flatten("f", input="sum"),
              Linear("fc", input="f", weight=r.normal(0, 0.2, (3, 144)))]
    return Graph(nodes, output="fc", timesteps=5)


@pytest.mark.parametrize("depth,packet", [(1, 1), (3, 2), (8, 64)])
@pytest.mark.parametrize("mode", ["forward", "merge"])
def test_rejoining_paths_do_not_deadlock(depth, packet, mode, rng):
    net = compile_graph(rejoin_net(3), add_mode=mode)
    x = images(rng, (2, 6, 6), 4)
    profile = Profile("tight", fifo_depth=depth * 4, packet_events=packet,
                      core=CoreLimits(max_neurons=72))  # split layers: more channels rejoin
    _, ev = both(net, x, profile)
    assert ev.timing["stall_cycles"] > 0


# --- interfaces ----------------------------------------------------------------------------------

def test_progress_and_result_fields(rng):
    g = small_convnet(levels=2, timesteps=1, channels=(2, 2), input_shape=(1, 8, 8), hidden=4)
    seen = []
    x = images(rng, g.input.shape, 5)
    ev = engine.run(compile_graph(g), x, labels=np.arange(5), progress=seen.append)
    assert sum(seen) == 5
    assert ev.labels.tolist() == [0, 1, 2, 3, 4] and ev.logits.shape == (5, 10)
    assert not ev.levels  # not recorded
    t = ev.timing
    for key in ("latency_cycles", "latency_s", "throughput_per_s", "utilisation",
                "max_fifo_occupancy", "stall_cycles", "simpy_share", "cores"):
        assert key in t
    assert 0 <= t["simpy_share"] < 1
    assert set(COUNT_FIELDS) <= set(t["cores"][0])


def test_no_inputs(rng):
    nodes = [Input("in", shape=(6,)), Linear("fc", input="in", weight=np.ones((4, 6))),
             Neuron("out", input="fc", spec=NeuronSpec())]
    ev = engine.run(compile_graph(Graph(nodes, "out")), np.zeros((0, 6), np.uint8))
    assert ev.logits.shape == (0, 4) and ev.counts.samples == 0
    assert ev.counts.data.sum() == 0 and ev.timing["cycles"] == 0


def test_bad_inputs_raise_clear_errors():
    net = compile_graph(small_convnet(input_shape=(1, 8, 8)))
    with pytest.raises(InputError, match="inputs: shape: expected shape"):
        engine.run(net, np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(InputError, match="inputs: dtype: expected integer"):
        engine.run(net, np.zeros((2, 1, 8, 8), np.float32))


@pytest.mark.parametrize("scheduler", ["compiled", "simpy"])
def test_a_stuck_simulation_is_an_error_not_a_hang(monkeypatch, rng, scheduler):
    """If packets never arrive (here: cores that send nothing), the event loop runs out of
    events; the engine reports which cores are stuck at which frame instead of returning
    partial counts."""
    from neurosim.engine import fifo
    from neurosim.kernels import noc

    build = fifo.Chip.build

    def mute(chip, packet_events):  # every core loses its output channels; the port keeps its
        build(chip, packet_events)
        chip.ni[:-1, noc.OUT_HI] = chip.ni[:-1, noc.OUT_LO]

    monkeypatch.setattr(fifo.Chip, "build", mute)
    g = small_convnet(levels=2, timesteps=1, channels=(2, 2), input_shape=(1, 8, 8), hidden=4)
    with pytest.raises(EngineError, match=r"engine: the simulation stopped before every "
                                                 r"input finished: core 1 \(conv2\) at frame 0"):
        engine.run(compile_graph(g), images(rng, g.input.shape, 2), scheduler=scheduler)


def test_simulate_writes_cores_csv(tmp_path, rng):
    import pandas as pd

    from neurosim.data import Dataset
    from neurosim.simulate import simulate

    g = small_convnet(levels=2, timesteps=1, channels=(2, 2), input_shape=(1, 8, 8), hidden=4)
    data = Dataset(images(rng, g.input.shape, 2), np.array([0, 1]), source="test")
    sim = simulate(g, inputs=data, engine="event", float_reference=False)
    sim.write(tmp_path / "run", report=False)
    cores = pd.read_csv(tmp_path / "run" / "cores.csv")
    assert cores.layer.tolist() == [layer.name for layer in sim.net.layers]
    assert cores.synapse_visits.sum() == sim.counts.total("synapse_visits")
    assert sim.result.timing["engine"] == "event"
    assert F["packets"] < len(COUNT_FIELDS)


def test_cycle_costs_must_be_whole_cycles(rng):
    g = small_convnet(levels=2, timesteps=1, channels=(2, 2), input_shape=(1, 8, 8), hidden=4)
    net = compile_graph(g)
    x = images(rng, g.input.shape, 1)
    with pytest.raises(ProfileError, match=r"profile: timing.cycles_per_synapse: expected a "
                                           r"whole number of cycles >= 0, got 1.5"):
        engine.run(net, x, profile=Profile("p", timing=Timing(cycles_per_synapse=1.5)))
    with pytest.raises(ProfileError, match="noc.hop_cycles"):
        engine.run(net, x, profile=Profile("p", noc=NoC(hop_cycles=-1)))
