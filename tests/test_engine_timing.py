"""Timing regression: the event engine's simulated times, recorded before its speed-ups, must not
move. Counts and levels are held equal to the dense reference here too.

tests/fixtures/engine_timing.json holds, for each case below, the makespan, latencies, stalls,
FIFO occupancy and every core's busy and stall cycles, FIFO occupancy and utilisation, plus a
hash of the per-core counts (cores.csv). Runs hold at most 64 inputs: one window of inputs in
flight, the regime a change of how inputs are cut into blocks leaves alone.

A deliberate change of the timing model regenerates the fixture, with the reason in the commit:

    python tests/test_engine_timing.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neurosim import engine, reference
from neurosim.compiler import compile_graph, map_to_cores
from neurosim.counters import COUNT_FIELDS
from neurosim.hardware import CoreLimits, NoC, Profile, Timing, load_profile
from neurosim.model.builders import resnet18, small_convnet, small_resnet, vgg16
from neurosim.model.graph import Add, Conv2d, Flatten, Graph, Input, Linear, Neuron
from neurosim.model.io import load_model
from neurosim.model.neurons import NeuronSpec, lif

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "engine_timing.json"
CIFAR = MODELS / "vgg16_cifar10_n4t1_w025" / "samples.npz"
SCALARS = ("cycles", "latency_cycles", "latency_cycles_first", "latency_cycles_max",
           "stall_cycles", "max_fifo_occupancy")


def samples(model: str, n: int) -> np.ndarray:
    data = np.load(MODELS / model / "samples.npz")
    return data[[k for k in data.files if k != "labels"][0]][:n]


def cifar(n: int) -> np.ndarray:
    return samples("vgg16_cifar10_n4t1_w025", n)


def images(seed: int, shape, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n,) + tuple(shape)).astype(np.uint8)


def rejoin_net(long_path: int) -> Graph:
    """A direct stream and one through ``long_path`` more layers meet at an add (test_engine)."""
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


def lif_convnet() -> Graph:
    g = small_convnet(levels=3, timesteps=3, channels=(4, 8), input_shape=(2, 12, 12), hidden=8)
    return Graph([replace(n, spec=lif(0.75, levels=3)) if isinstance(n, Neuron) else n
                  for n in g.nodes], g.output, "lif_convnet", 3)


def profile_file(name: str):
    return load_profile(REPO / "hw_configs" / f"{name}.yaml")


SPLIT = Profile("split", core=CoreLimits(max_neurons=600, max_weights=2000), noc=NoC(mesh_width=4))
SPLIT_WIDE = Profile("split-wide", core=CoreLimits(max_neurons=2048), noc=NoC(mesh_width=5))
SLOW = Profile("slow", fifo_depth=40, packet_events=8,
               timing=Timing(cycles_per_event=2, cycles_per_synapse=3, cycles_per_neuron=1,
                             cycles_per_packet=5), noc=NoC(hop_cycles=4, mesh_width=3))
CROSSBAR = Profile("crossbar", packet_events=16, core=CoreLimits(max_neurons=300),
                   noc=NoC(topology="crossbar", hop_cycles=3))


def tight(depth, packet):
    return Profile("tight", fifo_depth=depth * 4, packet_events=packet,
                   core=CoreLimits(max_neurons=72))


# name → () → (graph, add mode, inputs, profile or None)
CASES = {
    **{f"{m}/default": (lambda m=m, n=n: (load_model(MODELS / m), "forward", samples(m, n), None))
       for m, n in [("fmnist_small_n4t1", 8), ("vgg16_cifar10_n4t1_w025", 6),
                    ("vgg16_cifar10_n8t1_w025", 4), ("vgg16_cifar10_n1t4_w025", 3),
                    ("sew_resnet18_cifar10_n4t1_w025", 4),
                    ("sparse_resnet18_cifar10_n4t1_w025", 4)]},
    "fmnist_small_n4t1/paper_45nm": lambda: (load_model(MODELS / "fmnist_small_n4t1"), "forward",
                                             samples("fmnist_small_n4t1", 8),
                                             profile_file("paper_45nm")),
    "fmnist_small_n4t1/loihi_14nm": lambda: (load_model(MODELS / "fmnist_small_n4t1"), "forward",
                                             samples("fmnist_small_n4t1", 8),
                                             profile_file("loihi_14nm")),
    "vgg16_cifar10_n4t1_w025/loihi_14nm": lambda: (load_model(MODELS / "vgg16_cifar10_n4t1_w025"),
                                                   "forward", cifar(3), profile_file("loihi_14nm")),
    "sew_resnet18_cifar10_n4t1_w025/loihi_14nm": lambda: (
        load_model(MODELS / "sew_resnet18_cifar10_n4t1_w025"), "forward", cifar(2),
        profile_file("loihi_14nm")),
    "sew_resnet18_cifar10_n4t1_w025/merge": lambda: (
        load_model(MODELS / "sew_resnet18_cifar10_n4t1_w025"), "merge", cifar(3), None),
    "sparse_resnet18_cifar10_n4t1_w025/N2T3": lambda: (
        load_model(MODELS / "sparse_resnet18_cifar10_n4t1_w025").with_levels(2)
        .with_timesteps(3), "forward", cifar(2), None),
    "vgg16_w0125_n4t4": lambda: (vgg16(levels=4, timesteps=4, width=0.125), "forward", cifar(2),
                                 None),
    "sew_w0125_n1t4_merge": lambda: (resnet18("sew", levels=1, timesteps=4, width=0.125), "merge",
                                     cifar(2), None),
    "spiking_w0125_n4t2_split": lambda: (resnet18("spiking", levels=4, timesteps=2, width=0.125),
                                         "forward", cifar(2), SPLIT_WIDE),
    "small_sew_n4t2": lambda: (small_resnet("sew", levels=4, timesteps=2), "forward",
                               images(1, (3, 16, 16), 5), None),
    "small_sew_n4t2_merge": lambda: (small_resnet("sew", levels=4, timesteps=2), "merge",
                                     images(1, (3, 16, 16), 5), None),
    "small_sew_n4t2_tiny_fifo": lambda: (small_resnet("sew", levels=4, timesteps=2), "forward",
                                         images(2, (3, 16, 16), 4), Profile("tiny", fifo_depth=6)),
    "small_sparse_n4t2_split": lambda: (small_resnet("sparse", levels=4, timesteps=2), "forward",
                                        images(3, (3, 16, 16), 4), SPLIT),
    "small_sparse_n2t3_slow": lambda: (small_resnet("sparse", levels=2, timesteps=3), "merge",
                                       images(4, (3, 16, 16), 3), SLOW),
    "small_spiking_n4t2_crossbar": lambda: (small_resnet("spiking", levels=4, timesteps=2),
                                            "forward", images(5, (3, 16, 16), 3), CROSSBAR),
    "lif_convnet_t3_slow": lambda: (lif_convnet(), "forward", images(6, (2, 12, 12), 5), SLOW),
    **{f"rejoin_{mode}_d{d}_p{p}": (lambda mode=mode, d=d, p=p: (
        rejoin_net(3), mode, images(7, (2, 6, 6), 4), tight(d, p)))
       for mode in ("forward", "merge") for d, p in [(1, 1), (3, 2), (8, 64)]},
    "frames_convnet_t3": lambda: (
        small_convnet(levels=2, timesteps=3, channels=(4, 4), input_shape=(2, 8, 8), hidden=8),
        "forward", (np.random.default_rng(8).integers(0, 3, (4, 3, 2, 8, 8))
                    * (np.random.default_rng(9).random((4, 3, 2, 8, 8)) < 0.3)), None),
}


def simulate(name: str):
    graph, add_mode, x, profile = CASES[name]()
    net = compile_graph(graph, profile.widths if profile else None, add_mode=add_mode)
    if profile is not None:
        net = map_to_cores(net, profile)
    return net, x, engine.run(net, x, record=True, profile=profile)


def timing_record(result) -> dict:
    """What the fixture keeps of one run: the simulated times and a hash of per-core counts."""
    t = result.timing
    cores = t["cores"]
    counts = np.array([[c[f] for f in COUNT_FIELDS] for c in cores], np.int64)
    return {**{k: t[k] for k in SCALARS},
            "busy_cycles": [c["busy_cycles"] for c in cores],
            "core_stall_cycles": [c["stall_cycles"] for c in cores],
            "core_max_fifo_occupancy": [c["max_fifo_occupancy"] for c in cores],
            "utilisation": [c["utilisation"] for c in cores],
            "core_counts_sha256": hashlib.sha256(counts.tobytes()).hexdigest()[:16]}


def expected() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_simulated_times_are_as_recorded(name):
    net, x, ev = simulate(name)
    ref = reference.run(net, x, record=True)
    assert ref.counts.differences(ev.counts) == []
    assert np.array_equal(ref.logits, ev.logits)
    for layer in ref.levels:
        assert np.array_equal(ref.levels[layer], ev.levels[layer]), layer
    assert timing_record(ev) == expected()[name]


def test_fixture_covers_every_case():
    assert sorted(expected()) == sorted(CASES)


def write() -> None:
    records = {name: timing_record(simulate(name)[2]) for name in sorted(CASES)}
    FIXTURE.write_text(json.dumps(records, indent=None, separators=(",", ":")).replace(
        '},"', '},\n"') + "\n")
    print(f"wrote {len(records)} cases to {FIXTURE}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_engine_timing.py --write")
    write()


@pytest.mark.parametrize("name", ["small_sew_n4t2_tiny_fifo", "rejoin_merge_d1_p1",
                                  "frames_convnet_t3", "fmnist_small_n4t1/loihi_14nm"])
def test_growing_piece_rings_change_nothing(name, monkeypatch):
    """Channels whose piece rings start too small grow them (fifo.Chip.grow) mid-run; the run
    is the same."""
    from neurosim.engine import fifo
    grown = []
    grow = fifo.Chip.grow
    monkeypatch.setattr(fifo, "RING_SLACK", -10 ** 6)  # rings of one row
    monkeypatch.setattr(fifo.Chip, "grow", lambda chip, c: grown.append(c) or grow(chip, c))
    assert timing_record(simulate(name)[2]) == expected()[name]
    assert grown
