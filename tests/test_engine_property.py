"""Property: on random small graphs the event engine equals the dense reference exactly.

Graphs mix conv (random kernel, stride, padding), BatchNorm, multi-level neurons (IF/LIF, soft or
hard reset, stateless), max/average pooling, residual adds of event streams (forward and merge
mode, with or without a barrier neuron) and of currents, flatten, linear and global average
pooling; runs draw N, T, several inputs (static or one frame per timestep) and a hardware profile
(packet size, FIFO depth down to one event per channel, layers split across cores).
"""

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from neurosim import engine, reference
from neurosim.compiler import compile_graph, map_to_cores
from neurosim.hardware import CoreLimits, NoC, Profile
from neurosim.model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                                  MaxPool2d, Neuron)
from neurosim.model.neurons import NeuronSpec


class Builder:
    """Appends nodes with fresh names; tracks the current stream and its shape."""

    def __init__(self, draw, rng, spec, add_mode):
        self.draw, self.rng, self.spec, self.add_mode = draw, rng, spec, add_mode
        self.nodes, self.n = [], 0
        self.pool_ok = False  # the current stream is a neuron layer nobody else reads yet
        self.neuron_stream = False  # the current stream holds events of neuron layers only

    def name(self, kind):
        self.n += 1
        return f"{kind}{self.n}"

    def weights(self, shape, fan_in):
        return self.rng.normal(0, 1.6 / np.sqrt(fan_in), shape).astype(np.float32)

    def conv(self, src, cin, h, w, cout=None, same=False):
        d = self.draw
        if same:
            k, s, p = (3, 3), (1, 1), (1, 1)
        else:
            k = (d(st.integers(1, 3)), d(st.integers(1, 3)))
            s = (d(st.integers(1, 2)), d(st.integers(1, 2)))
            p = tuple(max(d(st.integers(0, kk - 1)), -(-(kk - size) // 2))  # the kernel fits
                      for kk, size in zip(k, (h, w)))
        cout = cout or d(st.integers(1, 4))
        name = self.name("conv")
        bias = self.rng.normal(0, 0.1, cout).astype(np.float32) if d(st.booleans()) else None
        self.nodes.append(Conv2d(name, input=src, weight=self.weights((cout, cin) + k, cin * k[0]
                                                                      * k[1]),
                                 bias=bias, stride=s, padding=p))
        out = ((h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1)
        if d(st.booleans()):
            bn = self.name("bn")
            r = self.rng
            self.nodes.append(BatchNorm(bn, input=name, gamma=r.uniform(0.6, 1.4, cout),
                                        beta=r.uniform(-0.1, 0.4, cout), mean=r.normal(0, .1, cout),
                                        var=r.uniform(0.5, 1.5, cout)))
            name = bn
        return name, cout, out

    def neuron(self, src, spec=None):
        name = self.name("sn")
        self.nodes.append(Neuron(name, input=src, spec=spec or self.spec))
        self.pool_ok = True
        self.neuron_stream = True
        return name


@st.composite
def networks(draw):
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    add_mode = draw(st.sampled_from(["forward", "merge"]))
    kind = draw(st.sampled_from(["if", "if", "lif"]))
    spec = NeuronSpec(kind=kind, levels=draw(st.integers(1, 8)),
                      vth=draw(st.sampled_from([1.0, 0.5, 2.0])),
                      reset=draw(st.sampled_from(["subtract", "subtract", "zero"])),
                      decay=0.8 if kind == "lif" else 1.0,
                      stateless=kind == "if" and draw(st.integers(0, 5)) == 0)
    b = Builder(draw, rng, spec, add_mode)
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(3, 9)), draw(st.integers(3, 9))
    b.nodes.append(Input("in", shape=(c, h, w), scale=1 / 255))
    src = "in"
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["conv", "residual", "residual", "currents"]))
        if op == "residual" and b.neuron_stream:
            cur, _, _ = b.conv(src, c, h, w, cout=c, same=True)
            branch = b.neuron(cur)
            name = b.name("add")
            b.nodes.append(Add(name, args=(src, branch)))
            src = b.neuron(name) if draw(st.booleans()) else name
            b.pool_ok = src != name
        elif op == "currents" and b.neuron_stream:
            cur, _, _ = b.conv(src, c, h, w, cout=c, same=True)
            other = src if draw(st.booleans()) else b.conv(src, c, h, w, cout=c, same=True)[0]
            name = b.name("addi")
            b.nodes.append(Add(name, args=(cur, other)))
            src = b.neuron(name)
        else:
            cur, c, (h, w) = b.conv(src, c, h, w)
            src = b.neuron(cur)
        if b.pool_ok and min(h, w) >= 2 and draw(st.integers(0, 2)) == 0:
            k = draw(st.integers(1, 2))
            stride = draw(st.integers(1, 2))
            avg = add_mode == "forward" and draw(st.booleans())
            name = b.name("pool")
            b.nodes.append((AvgPool2d if avg else MaxPool2d)(name, input=src, kernel=k,
                                                              stride=stride))
            src, h, w = name, (h - k) // stride + 1, (w - k) // stride + 1
            b.pool_ok = False
    if draw(st.booleans()) and b.neuron_stream:
        name = b.name("gap")
        b.nodes.append(AvgPool2d(name, input=src, kernel=None))
        src, h, w = name, 1, 1
    b.nodes.append(Flatten("flat", input=src))
    src, n = "flat", c * h * w
    if draw(st.booleans()):
        hidden = draw(st.integers(1, 6))
        b.nodes.append(Linear("hid", input=src, weight=b.weights((hidden, n), n),
                              bias=rng.normal(0, 0.1, hidden).astype(np.float32)))
        src, n = b.neuron("hid"), hidden
    b.nodes.append(Linear("out", input=src, weight=b.weights((draw(st.integers(1, 4)), n), n)))
    output = "out"
    if draw(st.integers(0, 3)) == 0:
        output = b.neuron("out")
    timesteps = draw(st.integers(1, 3))
    graph = Graph(b.nodes, output=output, timesteps=timesteps)
    return graph, add_mode


@st.composite
def runs(draw):
    graph, add_mode = draw(networks())
    net = compile_graph(graph, add_mode=add_mode)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    n = draw(st.integers(1, 3))
    t = graph.timesteps
    shape = (n, t) + graph.input.shape if draw(st.integers(0, 3)) == 0 else (n,) + graph.input.shape
    x = (rng.integers(0, 256, shape) * (rng.random(shape) < 0.6)).astype(np.uint8)
    per_channel = max(layer.neurons // layer.channels for layer in net.layers)
    limit = per_channel * draw(st.integers(1, 3)) if draw(st.booleans()) else None
    probe = map_to_cores(net, Profile("probe", core=CoreLimits(max_neurons=limit)))
    channels = max(core.fifo_channels for core in probe.cores)
    profile = Profile("random", packet_events=draw(st.integers(1, 70)),
                      fifo_depth=channels * draw(st.sampled_from([1, 2, 5, 40, 1000])),
                      core=CoreLimits(max_neurons=limit),
                      noc=NoC(mesh_width=draw(st.none() | st.integers(1, 4)),
                              hop_cycles=draw(st.integers(0, 3))))
    return net, x, profile


@settings(max_examples=220, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(runs())
def test_engine_equals_reference_on_random_graphs(run):
    net, x, profile = run
    mapped = map_to_cores(net, profile)
    ref = reference.run(mapped, x, record=True)
    ev = engine.run(mapped, x, record=True, profile=profile, batch_size=2)
    assert ref.counts.differences(ev.counts) == []
    assert np.array_equal(ref.logits, ev.logits)
    for name in ref.levels:
        assert np.array_equal(ref.levels[name], ev.levels[name]), name
    assert ev.timing["max_fifo_occupancy"] <= profile.fifo_depth
    # coverage, shown by pytest --hypothesis-show-statistics
    event(f"split layers: {len(mapped.cores) > len(mapped.layers)}")
    event(f"residual adds: {len(mapped.adds)} ({mapped.add_mode})")
    event(f"pooling: {any(layer.pool for layer in mapped.layers)}")
    event(f"stalls: {ev.timing['stall_cycles'] > 0}")
