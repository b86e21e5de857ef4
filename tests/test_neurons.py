import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import ModelError
from neurosim.model import neurons as nm


def run_constant(spec, x, timesteps):
    v = np.zeros(np.shape(x))
    zs = []
    for _ in range(timesteps):
        v, z = nm.step(v, x, spec)
        zs.append(z)
    return np.array(zs)


@pytest.mark.parametrize("levels,timesteps", [(1, 4), (4, 1), (4, 2), (2, 3), (8, 1), (3, 5)])
def test_multilevel_if_realises_NT_plus_1_levels(levels, timesteps):
    """The paper's §4.2: a constant input over T steps yields exactly N·T + 1 output levels."""
    spec = nm.multilevel_if(levels, vth=1.0)
    x = np.linspace(0.0, 1.0, 4001)
    decoded = nm.decode(run_constant(spec, x, timesteps), spec)
    assert len(np.unique(decoded)) == levels * timesteps + 1
    # saturation at Vth: anything above decodes to Vth
    assert nm.decode(run_constant(spec, np.array([1.0, 1.5, 7.0]), timesteps), spec).tolist() == \
        [1.0, 1.0, 1.0]


@settings(max_examples=300, deadline=None)
@given(levels=st.integers(1, 10), timesteps=st.integers(1, 8),
       vth=st.floats(0.25, 4.0), frac=st.floats(0.0, 1.0))
def test_decoding_error_bounded_by_vth_over_NT(levels, timesteps, vth, frac):
    spec = nm.multilevel_if(levels, vth=vth)
    x = frac * vth
    decoded = nm.decode(run_constant(spec, np.array([x]), timesteps), spec)[0]
    assert abs(decoded - x) <= vth / (levels * timesteps) + 1e-12
    assert decoded <= x + 1e-12  # floor quantiser: never above the input


def micro_steps(v, current, vth, levels):
    """The paper's §4.1 two-phase neuron: charged N times with the same current, then N
    binary soft-reset discharges."""
    v = v + levels * current
    z = 0
    for _ in range(levels):
        if v >= vth:
            v -= vth
            z += 1
    return v, z


@settings(max_examples=300, deadline=None)
@given(levels=st.integers(1, 8), start=st.floats(0.0, 0.999), current=st.floats(-2.0, 3.0))
def test_closed_form_equals_micro_steps(levels, start, current):
    """With v at the start of the timestep in [0, Vth), the closed form z = clip(floor(v/θ), 0, N)
    on the 1/N-scaled potential equals N micro-steps of a binary IF (methods.md §1.3)."""
    vth = 1.0
    spec = nm.multilevel_if(levels, vth)
    v_closed, z_closed = nm.step(np.array(start / levels), np.array(current), spec)
    v_micro, z_micro = micro_steps(start, current, vth, levels)
    assert int(z_closed) == z_micro
    assert np.isclose(float(v_closed) * levels, v_micro, atol=1e-9)


def test_binary_if_soft_reset_sequence():
    spec = nm.binary_if(vth=1.0)
    zs = run_constant(spec, np.array([0.4]), 5)[:, 0]
    assert zs.tolist() == [0, 0, 1, 0, 1]  # v: .4, .8, 1.2→.2, .6, 1.0→0 (fires on equality)


def test_hard_reset_and_lif_and_stateless():
    hard = nm.NeuronSpec(levels=1, vth=1.0, reset="zero")
    assert run_constant(hard, np.array([0.6]), 4)[:, 0].tolist() == [0, 1, 0, 1]
    leaky = nm.lif(decay=0.5, vth=1.0)
    # v: .6, .9, 1.05→.05 fire, .625, .9125
    assert run_constant(leaky, np.array([0.6]), 5)[:, 0].tolist() == [0, 0, 1, 0, 0]
    single = nm.s3nn(vth=1.0)
    assert run_constant(single, np.array([0.6]), 3)[:, 0].tolist() == [0, 0, 0]


def test_integer_rule_is_the_same_function():
    spec = nm.multilevel_if(4, vth=1.0)
    v, z = nm.step(np.array([0, 5, 4096, -3], dtype=np.int64), np.array([1023, 1023, 0, 0]), spec,
                   theta=1024)
    assert z.tolist() == [0, 1, 4, 0]
    assert v.tolist() == [1023, 4, 0, -3]


@pytest.mark.parametrize("kwargs,match", [
    ({"kind": "izhikevich"}, "unknown neuron kind"),
    ({"levels": 0}, "levels"),
    ({"levels": 2.5}, "levels"),
    ({"vth": float("nan")}, "vth"),
    ({"vth": -1.0}, "vth"),
    ({"reset": "halfway"}, "unknown reset"),
    ({"kind": "lif", "decay": 1.5}, "decay"),
    ({"kind": "if", "decay": 0.5}, "no leak"),
])
def test_bad_neuron_parameters(kwargs, match):
    with pytest.raises(ModelError, match=match):
        nm.NeuronSpec(**kwargs)
