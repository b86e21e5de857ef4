"""The dense reference against counts worked out by hand on tiny networks.

Conventions of the hand counts (neurosim/counters.py): an input event reaching r synapses costs
1 FIFO read, r weight reads, r potential reads, r potential writes and r ACCs (MACs from the
analog input); every neuron costs 1 potential read, 1 write and 1 ACC per timestep (+1 bias read
with a bias); every spike 1 reset ACC; every emitted event 1 FIFO write.
"""

import numpy as np
import pytest

from neurosim.compiler import compile_graph
from neurosim.counters import F
from neurosim.errors import InputError
from neurosim.model.graph import (Add, Conv2d, Flatten, Graph, Input, Linear, MaxPool2d, Neuron)
from neurosim.model.neurons import NeuronSpec
from neurosim.reference import conv_reach, run

ONE = np.ones((1, 1, 3, 3), np.float32)


def image(*pixels, value=1, size=4):
    x = np.zeros((1, 1, size, size), np.int64)
    for y, xx in pixels:
        x[0, 0, y, xx] = value
    return x


def conv_net(levels=1, pool=False, readout=True, stride=1):
    """1×4×4 input (scale 1) → 3×3 conv of ones, pad 1 → IF(N, Vth=1) [→ maxpool 2] → FC 3."""
    nodes = [Input("in", shape=(1, 4, 4), scale=1.0),
             Conv2d("conv", input="in", weight=ONE, stride=stride, padding=1),
             Neuron("sn", input="conv", spec=NeuronSpec(levels=levels, vth=1.0))]
    src = "sn"
    if pool:
        nodes.append(MaxPool2d("pool", input="sn", kernel=2))
        src = "pool"
    nodes.append(Flatten("flat", input=src))
    n_in = 4 if pool else (16 if stride == 1 else 4)
    nodes.append(Linear("fc", input="flat", weight=np.full((3, n_in), 0.25, np.float32),
                        bias=np.full(3, 0.5, np.float32)))
    return Graph(nodes, output="fc", timesteps=1)


def totals(result, layer):
    t = result.counts.table().set_index("layer")
    return t.loc[layer]


def test_conv_reach_by_hand():
    # 4 pixels, 3-tap kernel, pad 1: border pixels feed 2 outputs, inner ones 3
    assert conv_reach(4, 3, 1, 1, 4).tolist() == [2, 3, 3, 2]
    # stride 2 (outputs 0, 1 at input 0 and 2, pad 1): pixel 0→o0, 1→o0,o1, 2→o1, 3→o1
    assert conv_reach(4, 3, 2, 1, 2).tolist() == [1, 2, 1, 1]


@pytest.mark.parametrize("integer", [True, False])
def test_one_channel_conv_counts_by_hand(integer):
    """Events at (0,0) and (1,2) of a 4×4 map.

    Exact reach: (0,0) touches 2×2 = 4 outputs, (1,2) touches 3×3 = 9: 13 synapse visits
    (analytic 2·9 = 18). Output spikes: 4 + 9 − 2 overlapping = 11, each level 1 (N = 1).
    """
    r = run(compile_graph(conv_net(), integer=integer), image((0, 0), (1, 2)), record=True)
    c = totals(r, "sn")
    assert (c.events_in, c.fifo_reads) == (2, 2)
    assert (c.synapse_visits, c.synapse_visits_analytic) == (13, 18)
    assert (c.weight_reads, c.weight_reads_analytic) == (13, 18)
    assert (c.potential_reads, c.potential_writes) == (13 + 16, 13 + 16)
    assert (c.potential_reads_analytic, c.potential_writes_analytic) == (18 + 16, 18 + 16)
    assert (c.mac_ops, c.syn_mac_ops, c.syn_acc_ops) == (13, 13, 0)  # analog input: MACs
    assert (c.update_ops, c.reset_ops) == (16, 11)
    assert c.acc_ops == 16 + 11
    assert c.bias_reads == 0  # no bias, no BatchNorm
    assert (c.addr_mac_ops, c.addr_acc_ops, c.addr_ops) == (2 * 2, 2 * 9, 4 + 18)
    assert (c.events_prepool, c.events_out, c.fifo_writes, c.level_sum_out) == (11, 11, 11, 11)
    expected = np.zeros((4, 4), int)
    expected[0:2, 0:2] = 1
    expected[0:3, 1:4] = 1
    assert np.array_equal(r.levels["sn"][0, 0, 0], expected)
    fc = totals(r, "fc")
    # 11 events × 3 outputs; 3 neurons updated with a bias read each
    assert (fc.events_in, fc.synapse_visits, fc.weight_reads) == (11, 33, 33)
    assert (fc.syn_acc_ops, fc.acc_ops, fc.acc_ops_analytic) == (33, 36, 36)
    assert (fc.potential_reads, fc.bias_reads, fc.addr_acc_ops) == (36, 3, 33)
    assert (fc.events_out, fc.fifo_writes, fc.reset_ops) == (0, 0, 0)  # readout: no spikes
    # logits: 0.25 per event + bias 0.5
    assert np.allclose(r.logits, 11 * 0.25 + 0.5, atol=1e-3)


def test_multilevel_and_timesteps_by_hand():
    """N = 2 (θ = 0.5), T = 2. t0: current 1 everywhere reached, 2 at the 2 overlaps → z = 2
    at all 11 (the overlaps keep v = 1). t1: same again → z = 2, overlaps v = 2. Events 11 per
    step (a level-2 spike is one event), level sum 22 per step."""
    g = conv_net(levels=2).with_timesteps(2)
    r = run(compile_graph(g), image((0, 0), (1, 2)), record=True)
    c = totals(r, "sn")
    assert (c.events_in, c.synapse_visits) == (4, 26)  # the image is presented every timestep
    assert (c.events_out, c.level_sum_out) == (22, 44)
    assert (c.update_ops, c.reset_ops) == (32, 22)
    assert r.levels["sn"].max() == 2 and r.levels["sn"].shape == (2, 1, 1, 4, 4)
    assert totals(r, "fc").synapse_level_visits == 44 * 3


def test_pool_counts_by_hand():
    """Max-pool 2×2 of the 11-spike map: all four 2×2 blocks hold a spike → 4 events out."""
    r = run(compile_graph(conv_net(pool=True)), image((0, 0), (1, 2)))
    c = totals(r, "sn")
    assert (c.events_prepool, c.reset_ops, c.events_out, c.fifo_writes) == (11, 11, 4, 4)
    assert totals(r, "fc").events_in == 4


def test_strided_conv_analytic_accs():
    """Stride 2: analytic ACCs per event are ⌈3/2⌉²·Cout = 4, analytic visits 9; exact visits
    for a pixel at (1,1) are reach 2 × 2 = 4 (the paper's formula vs the real synapses)."""
    g = Graph([Input("in", shape=(1, 4, 4), scale=1.0),
               Conv2d("conv", input="in", weight=ONE, stride=2, padding=1),
               Neuron("sn", input="conv", spec=NeuronSpec()),
               Conv2d("conv2", input="sn", weight=ONE, stride=2, padding=1),
               Neuron("sn2", input="conv2", spec=NeuronSpec())], output="sn2")
    r = run(compile_graph(g), image((1, 1)))
    c = totals(r, "sn")
    assert (c.synapse_visits, c.synapse_visits_analytic) == (4, 9)
    c2 = totals(r, "sn2")  # all 4 outputs of sn fired; a 2×2 map, stride 2, pad 1 → 1 output
    assert (c2.events_in, c2.synapse_visits, c2.synapse_visits_analytic) == (4, 4, 36)
    assert (c2.syn_acc_ops, c2.acc_ops_analytic) == (4, 4 * 4 + 1 + 1)


def two_path_net():
    """1×4×4 → (1×1 conv ×1 → IF) twice → Add → 1×1 conv → readout."""
    one = np.ones((1, 1, 1, 1), np.float32)
    return Graph([Input("in", shape=(1, 4, 4), scale=1.0),
                  Conv2d("ca", input="in", weight=one), Neuron("a", input="ca"),
                  Conv2d("cb", input="in", weight=one), Neuron("b", input="cb"),
                  Add("sum", args=("a", "b")),
                  Conv2d("out", input="sum", weight=one)], output="out")


def test_add_forward_mode_by_hand():
    """3 pixels fire both paths: the sum point forwards 3 + 3 = 6 events to its consumer."""
    r = run(compile_graph(two_path_net(), add_mode="forward"), image((0, 0), (2, 3), (3, 3)))
    t = r.counts.table().set_index("layer")
    assert t.loc["sum", "events_out"] == 6 and t.loc["sum", "kind"] == "add"
    assert (t.loc["out", "events_in"], t.loc["out", "synapse_visits"]) == (6, 6)
    assert np.allclose(r.logits.reshape(4, 4)[[0, 2, 3], [0, 3, 3]], 2.0, atol=1e-3)


def test_add_merge_mode_by_hand():
    """The adder reads 6 events (one potential read/write each), reads and clears its 16 sums,
    and emits 3 events of level 2; the consumer then reads 3 events."""
    r = run(compile_graph(two_path_net(), add_mode="merge"), image((0, 0), (2, 3), (3, 3)))
    t = r.counts.table().set_index("layer")
    assert t.loc["sum", "kind"] == "adder"  # a working layer, in every total
    assert (t.loc["sum", "events_in"], t.loc["sum", "synapse_visits"]) == (6, 6)
    assert (t.loc["sum", "weight_reads"], t.loc["sum", "addr_ops"]) == (0, 0)
    assert t.loc["sum", "potential_reads"] == 6 + 16
    assert (t.loc["sum", "events_out"], t.loc["sum", "level_sum_out"]) == (3, 6)
    assert (t.loc["sum", "acc_ops"], t.loc["sum", "bias_reads"]) == (6, 0)
    assert (t.loc["out", "events_in"], t.loc["out", "synapse_level_visits"]) == (3, 6)
    assert np.allclose(r.logits.reshape(4, 4)[[0, 2, 3], [0, 3, 3]], 2.0, atol=1e-3)


def test_counts_per_timestep_and_samples():
    g = conv_net().with_timesteps(3)
    x = np.concatenate([image((0, 0)), image((0, 0), (1, 2))])
    r = run(compile_graph(g), x, batch_size=1)
    assert r.counts.samples == 2
    per_t = r.counts.data[r.counts.index["sn"], :, F["events_in"]]
    assert per_t.tolist() == [3, 3, 3]


def test_event_frames_are_one_per_timestep():
    g = conv_net().with_timesteps(2)
    frames = np.stack([image((0, 0))[0], image((1, 1), (2, 2))[0]])[None]  # (B=1, T=2, 1, 4, 4)
    r = run(compile_graph(g), frames)
    assert r.counts.data[r.counts.index["sn"], :, F["events_in"]].tolist() == [1, 2]


@pytest.mark.parametrize("x,match", [
    (np.zeros((1, 1, 5, 5), np.int64), "expected shape"),
    (np.zeros((1, 1, 4, 4)), "expected integer input values"),
    (-np.ones((1, 1, 4, 4), np.int64), ">= 0"),
    (np.zeros((1, 3, 1, 4, 4), np.int64), "has 3 frames"),
])
def test_bad_inputs(x, match):
    with pytest.raises(InputError, match=match):
        run(compile_graph(conv_net()), x)


def test_dvs_size_vgg16_runs_on_an_event_recording(tmp_path):
    """The Table 4 path: a 128×128×2 VGG16 fed (t, x, y, p) events binned into T frames."""
    from neurosim.data import load_inputs
    from neurosim.model import builders
    rng = np.random.default_rng(5)
    n = 4000
    np.savez(tmp_path / "rec.npz", t=np.sort(rng.integers(0, 10**6, n)), x=rng.integers(0, 128, n),
             y=rng.integers(0, 128, n), p=rng.integers(0, 2, n), height=128, width=128,
             labels=np.array([3]), offsets=np.array([0, n]))
    data = load_inputs(tmp_path / "rec.npz", timesteps=2)
    assert data.inputs.shape == (1, 2, 2, 128, 128) and data.inputs.sum() == n
    g = builders.vgg16(width=0.0625, timesteps=2, input_shape=(2, 128, 128), input_scale=1.0)
    r = run(compile_graph(g), data.inputs, data.labels)
    c = totals(r, "conv1")
    assert c.events_in == np.count_nonzero(data.inputs)  # one event per non-zero pixel and step
    assert c.neurons == 4 * 128 * 128 and r.logits.shape == (1, 10)


def _ordered_conv(x, w, stride, padding, out_hw):
    """A convolution summed tap after tap in (c, kY, kX) order, each step one rounded product
    and one rounded addition per output: the order neurosim.kernels.dense defines."""
    b, c_in, h, wd = x.shape
    ph, pw = padding
    xp = np.zeros((b, c_in, h + 2 * ph + stride[0] * out_hw[0], wd + 2 * pw + stride[1] * out_hw[1]),
                  x.dtype)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    out = np.zeros((b, len(w)) + tuple(out_hw), np.result_type(x, w))
    for c in range(c_in):
        for ky in range(w.shape[2]):
            for kx in range(w.shape[3]):
                tap = xp[:, c, ky:ky + stride[0] * out_hw[0]:stride[0],
                         kx:kx + stride[1] * out_hw[1]:stride[1]]
                out += tap[:, None] * w[None, :, c, ky, kx, None, None]
    return out


@pytest.mark.parametrize("kernel, stride, padding, size", [
    (3, 1, 1, 9), (3, 2, 1, 9), (1, 2, 0, 8), (5, 1, 2, 7), (3, 2, 0, 10), (2, 3, 1, 11)])
def test_dense_conv_is_exact_on_integers_and_ordered_on_floats(kernel, stride, padding, size):
    """The reference's products (neurosim.kernels.dense): integer levels and weights give the
    exact int64 sums, 31-bit weights and negative inputs included; float inputs give, bit for
    bit, the sum formed in (c, kY, kX) order, with the zeros of sparse levels skipped."""
    from neurosim.kernels import dense

    rng = np.random.default_rng(kernel * 100 + stride * 10 + padding)
    out_hw = ((size + 2 * padding - kernel) // stride + 1,) * 2
    lo, hi = -(1 << 30), (1 << 30) - 1
    w = rng.integers(lo, hi + 1, (5, 3, kernel, kernel))
    w[0, 0, 0, 0], w[1, 2, -1, -1] = lo, hi
    x = rng.integers(-4, 5, (4, 3, size, size)) * (rng.random((4, 3, size, size)) < 0.4)
    got = dense.conv(x, w, (stride,) * 2, (padding,) * 2, out_hw)
    assert got.dtype == np.int64 and np.array_equal(got, _ordered_conv(x, w, (stride,) * 2,
                                                                         (padding,) * 2, out_hw))
    wf = rng.standard_normal(w.shape)
    xf = x.astype(np.float64) * 0.37
    got = dense.conv(xf, wf, (stride,) * 2, (padding,) * 2, out_hw)
    assert got.dtype == np.float64
    assert np.array_equal(got, _ordered_conv(xf, wf, (stride,) * 2, (padding,) * 2, out_hw))
    rows, wl = x.reshape(4, -1), rng.integers(lo, hi + 1, (5, x[0].size))
    assert np.array_equal(dense.linear(rows, wl), rows @ wl.T)  # int64 arithmetic: exact here
