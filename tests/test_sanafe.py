"""Cross-check against SANA-FE (PyPI ``sanafe``, GPL: an external test dependency, only imported).

A small fully connected binary network (N = 1) runs in neurosim on hw_configs/loihi_sanafe.yaml
and in SANA-FE on its own shipped Loihi architecture; docs/sanafe.md explains every alignment:

- neurosim fires on v ≥ θ, SANA-FE on v > threshold: with integer weights, threshold θ − 0.5
  and a hard reset to 0 give the same spikes.
- SANA-FE delivers a spike one timestep later per layer: its layer k at step t + k is neurosim's
  layer k at timestep t. Inputs stop L + 2 steps before the end, so both runs hold all activity.
- SANA-FE updates every neuron every step (force_update), as neurosim does.
- SANA-FE's input neurons send messages; neurosim's host input is not routed. The inputs sit on
  the tile of the first layer (no hops) and their messages (input spikes × SANA-FE's own
  message energy, from its architecture file) are taken out of SANA-FE's network energy.
"""

from __future__ import annotations

import re
from dataclasses import replace
from importlib.resources import files

import numpy as np
import pytest

from neurosim.data import Dataset
from neurosim.hardware import load_profile
from neurosim.model.graph import Graph, Input, Linear, Neuron
from neurosim.model.neurons import NeuronSpec
from neurosim.simulate import simulate

sanafe = pytest.importorskip("sanafe")

SIZES = (16, 32, 10)
THETA = 4
ACTIVE, FRAMES = 8, 8 + 2 + 2  # input steps, then silence so both runs see all activity
TOLERANCE = 0.05


def _small_arch(tmp_path):
    """SANA-FE's own loihi.yaml with the mesh cut to 4 × 1 tiles (faster to build; the
    per-event energies untouched), and its message energy (J)."""
    text = (files("sanafe.examples") / "loihi.yaml").read_text()
    for old, new in (("width: 8", "width: 4"), ("height: 4", "height: 1"),
                     ("loihi_tile[0..31]", "loihi_tile[0..3]"),
                     ("loihi_inputs[0..1023]", "loihi_inputs[0..63]")):
        assert old in text, f"SANA-FE's loihi.yaml changed: {old!r} not found"
        text = text.replace(old, new)
    message = float(re.search(r"energy_message_out:\s*([0-9.eE+-]+)", text).group(1))
    path = tmp_path / "loihi_small.yaml"
    path.write_text(text)
    return sanafe.load_arch(str(path)), message


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    values = np.array([w for w in range(-4, 5) if w != 0])
    weights = [rng.choice(values, (a, b)) for a, b in zip(SIZES[:-1], SIZES[1:])]  # (src, dst)
    spikes = np.zeros((FRAMES, SIZES[0]), np.int64)
    spikes[:ACTIVE] = rng.random((ACTIVE, SIZES[0])) < 0.5
    return weights, spikes


def _run_sanafe(tmp_path, weights, spikes):
    arch, message_j = _small_arch(tmp_path)
    cores = arch.cores()
    where = [cores[0], cores[1], cores[4]]  # inputs and layer 1 on tile 0, layer 2 on tile 1
    net = sanafe.Network()
    groups = [net.create_neuron_group("L0", SIZES[0], log_spikes=True)]
    for i, n in enumerate(groups[0]):
        n.set_attributes(soma_hw_name=f"loihi_inputs[{i}]",
                         model_attributes={"spikes": [bool(s) for s in spikes[:, i]]})
        n.map_to_core(where[0])
    attrs = {"threshold": THETA - 0.5, "reset": 0.0, "reset_mode": "hard", "leak_decay": 1.0,
             "force_update": True}
    for k in (1, 2):
        g = net.create_neuron_group(f"L{k}", SIZES[k], model_attributes=attrs,
                                    soma_hw_name="loihi_lif",
                                    default_synapse_hw_name="loihi_dense_synapse",
                                    default_dendrite_hw_name="loihi_dendrites", log_spikes=True)
        for n in g:
            n.map_to_core(where[k])
        groups[-1].connect_neurons_dense(g, {"w": [int(w) for w in weights[k - 1].ravel()]})
        groups.append(g)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    res = chip.sim(FRAMES, spike_trace=True, perf_trace=True, processing_threads=1)
    trace = np.zeros((FRAMES, 3), np.int64)  # spikes per SANA-FE step and layer
    for s, step in enumerate(res["spike_trace"]):
        for addr in step:
            trace[s, int(addr.group_name[1:])] += 1
    return res, trace, message_j


def _run_neurosim(weights, spikes):
    w1, w2 = (np.asarray(w, np.float32).T for w in weights)  # (dst, src)
    spec = NeuronSpec(levels=1, vth=float(THETA), reset="zero")
    graph = Graph([Input("in", shape=(SIZES[0],), scale=1.0),
                   Linear("fc1", input="in", weight=w1), Neuron("n1", input="fc1", spec=spec),
                   # an event of n1 is worth θ: its weights undo that, so a spike adds w
                   Linear("fc2", input="n1", weight=w2 / THETA),
                   Neuron("n2", input="fc2", spec=spec)], output="n2", timesteps=FRAMES)
    profile = load_profile("hw_configs/loihi_sanafe.yaml")
    profile = replace(profile, noc=replace(profile.noc, placement=((0, 0), (1, 0))))
    data = Dataset(spikes[None].astype(np.int64), np.array([-1]), "sanafe-crosscheck",
                   frames=True)
    return simulate(graph, hw=profile, inputs=data, float_reference=False, record=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    weights, spikes = _problem()
    res, trace, message_j = _run_sanafe(tmp_path_factory.mktemp("sanafe"), weights, spikes)
    return res, trace, message_j, _run_neurosim(weights, spikes), spikes


def test_same_spikes_per_layer_after_the_delivery_lag(runs):
    _, trace, _, sim, spikes = runs
    assert (trace[:, 0] == spikes.sum(axis=1)).all()  # the inputs, at the step they are sent
    for k, name in ((1, "n1"), (2, "n2")):
        ours = sim.result.levels[name][:, 0].sum(axis=1)  # (T,) spikes per timestep
        theirs = trace[k:, k]  # SANA-FE layer k at step t + k
        assert (theirs == ours[:FRAMES - k]).all(), (name, ours, theirs)
        assert ours[FRAMES - k:].sum() == 0  # nothing left outside SANA-FE's window
        assert sim.result.levels[name].sum() > 0


def test_energy_per_category_within_five_percent(runs):
    res, trace, message_j, sim, _ = runs
    theirs = {c: res["energy"][c] * 1e12 for c in ("synapse", "soma", "network", "dendrite")}
    theirs["network"] -= trace[:, 0].sum() * message_j * 1e12  # input messages: not routed here
    parts = sim.energy.summary()["parts"]
    ours = {"synapse": parts["synaptic"]["synapses"] * 1e3,
            "soma": parts["synaptic"]["neurons"] * 1e3,
            "network": sim.energy.totals_nj()["routing"] * 1e3}
    assert theirs["dendrite"] == 0
    for category, value in ours.items():
        assert value == pytest.approx(theirs[category], rel=TOLERANCE), category
    assert sim.energy.totals_nj()["synaptic"] * 1e3 == pytest.approx(
        ours["synapse"] + ours["soma"], rel=1e-12)  # nothing else is priced on this profile
