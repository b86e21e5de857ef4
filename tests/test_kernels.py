"""Every Numba kernel against a small pure-numpy twin, on edge cases: borders, strides, paddings,
empty inputs, several segments, saturation, both reset modes.

The conv twin works from the *outputs* (which inputs does each output's window read?), the
kernel from the *events* (which outputs does each event reach?), so their agreement on values
and on synapse visits is a real check of the border and stride arithmetic.
"""

import numpy as np
import pytest

from neurosim import kernels
from neurosim.errors import KernelError
from neurosim.model import neurons


# --- numpy twins ---------------------------------------------------------------------------------

def twin_conv(image, weight, stride, padding, out_hw):
    """Dense cross-correlation (C, H, W) ⊛ (kH, kW, C_in, C_out) → (H_out, W_out, C_out), and
    synapse visits Σ over outputs, taps and non-zero inputs of C_out, and Σ z·C_out."""
    cin, h, w = image.shape
    kh, kw, _, cout = weight.shape
    out = np.zeros(out_hw + (cout,), np.int64)
    visits = levels = 0
    for oy in range(out_hw[0]):
        for ox in range(out_hw[1]):
            for ky in range(kh):
                for kx in range(kw):
                    iy, ix = oy * stride[0] - padding[0] + ky, ox * stride[1] - padding[1] + kx
                    if 0 <= iy < h and 0 <= ix < w:
                        z = image[:, iy, ix]
                        out[oy, ox] += z @ weight[ky, kx].astype(np.int64)
                        visits += int(np.count_nonzero(z)) * cout
                        levels += int(z.sum()) * cout
    return out, visits, levels


def events_of(image):
    """Non-zero entries of a (C, H, W) array as (flat index, value) events, shuffled."""
    flat = image.reshape(-1)
    idx = np.flatnonzero(flat).astype(np.int32)
    np.random.default_rng(0).shuffle(idx)
    return idx, flat[idx].astype(np.int32)


def twin_fire(v, bias, theta, levels, v_range, mode, reset):
    """The kernel's fire stage by the one neuron rule (neurosim.model.neurons)."""
    v = v + (0 if bias is None else bias)
    sat = 0
    if v_range is not None:
        v, sat = neurons.saturate(v, *v_range)
    if mode == "readout":
        return v, np.zeros(v.shape, np.int32), 0, sat
    if mode == "sum":
        return np.zeros_like(v), v.astype(np.int32), int(np.count_nonzero(v)), sat
    z = neurons.fire(v, theta, levels)
    v = neurons.reset(v, z, theta, reset)
    return v, z.astype(np.int32), int(np.count_nonzero(z)), sat


def twin_pool(z, kind, kernel, stride, out_hw):
    out = np.zeros(out_hw + (z.shape[2],), z.dtype)
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            y, x = i * stride[0], j * stride[1]
            win = z[y:y + kernel[0], x:x + kernel[1]]
            out[i, j] = win.max(axis=(0, 1)) if kind == "max" else win.sum(axis=(0, 1))
    return out


def segments(n, parts):
    return np.linspace(0, n, parts + 1).round().astype(np.int64)


# --- scatter-accumulate ------------------------------------------------------------------------

CONV_CASES = [  # (C_in, H, W), (kH, kW), stride, padding, C_out
    ((1, 4, 4), (3, 3), (1, 1), (1, 1), 1),
    ((2, 5, 7), (3, 3), (2, 2), (1, 1), 3),
    ((3, 6, 6), (1, 1), (2, 2), (0, 0), 4),
    ((2, 7, 5), (5, 3), (1, 2), (2, 0), 5),
    ((1, 9, 9), (3, 3), (3, 3), (0, 0), 2),
    ((2, 4, 4), (3, 3), (1, 1), (2, 2), 3),  # padding wider than the kernel's reach
    ((1, 3, 3), (3, 3), (1, 1), (0, 0), 2),  # a single output
    ((4, 8, 8), (2, 2), (2, 2), (0, 0), 8),
]


def conv_out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("acc_dtype,w_dtype", [(np.int32, np.int16), (np.int64, np.int64),
                                               (np.int64, np.int32)])
def test_conv_scatter_equals_dense_twin(case, acc_dtype, w_dtype, rng):
    (cin, h, w), (kh, kw), stride, padding, cout = case
    image = rng.integers(0, 4, (cin, h, w)) * (rng.random((cin, h, w)) < 0.5)
    weight = rng.integers(-300, 300, (kh, kw, cin, cout)).astype(w_dtype)
    out_hw = (conv_out(h, kh, stride[0], padding[0]), conv_out(w, kw, stride[1], padding[1]))
    idx, val = events_of(image)
    acc = np.zeros(out_hw + (cout,), acc_dtype)
    bounds = segments(len(idx), 3)
    visits, levels = np.zeros(3, np.int64), np.zeros(3, np.int64)
    kernels.conv_scatter(acc, weight, idx, val, bounds, (h, w), stride, padding, visits, levels)
    want, want_visits, want_levels = twin_conv(image, weight, stride, padding, out_hw)
    assert np.array_equal(acc, want)
    assert (visits.sum(), levels.sum()) == (want_visits, want_levels)


def test_conv_scatter_segments_count_their_own_events(rng):
    """Visits are reported per segment: each segment's equals the twin on its events alone."""
    image = rng.integers(1, 3, (2, 5, 5))
    weight = rng.integers(-9, 9, (3, 3, 2, 4)).astype(np.int16)
    idx, val = events_of(image)
    bounds = np.array([0, 7, 7, 30, len(idx)], np.int64)  # one empty segment
    visits, levels = np.zeros(4, np.int64), np.zeros(4, np.int64)
    acc = np.zeros((5, 5, 4), np.int32)
    kernels.conv_scatter(acc, weight, idx, val, bounds, (5, 5), (1, 1), (1, 1), visits, levels)
    for s in range(4):
        part = np.zeros(image.reshape(-1).shape, np.int64)
        sel = idx[bounds[s]:bounds[s + 1]]
        part[sel] = val[bounds[s]:bounds[s + 1]]
        _, v, lv = twin_conv(part.reshape(image.shape), weight, (1, 1), (1, 1), (5, 5))
        assert (visits[s], levels[s]) == (v, lv)


def test_conv_scatter_corner_event_by_hand():
    """One event of level 3 at the top-left corner, 3×3 kernel, pad 1: it reaches the 2×2
    outputs (0..1, 0..1) through taps (1..2, 1..2): 4 taps × 2 channels = 8 visits."""
    weight = np.arange(18, dtype=np.int16).reshape(3, 3, 1, 2)
    acc = np.zeros((4, 4, 2), np.int32)
    visits, levels = np.zeros(1, np.int64), np.zeros(1, np.int64)
    kernels.conv_scatter(acc, weight, np.array([0], np.int32), np.array([3], np.int32),
                         np.array([0, 1]), (4, 4), (1, 1), (1, 1), visits, levels)
    assert (visits[0], levels[0]) == (8, 24)
    assert acc[0, 0].tolist() == (3 * weight[1, 1, 0]).tolist()
    assert acc[1, 1].tolist() == (3 * weight[0, 0, 0]).tolist()
    assert acc[0, 1].tolist() == (3 * weight[1, 0, 0]).tolist()
    assert np.count_nonzero(acc[2:]) == 0 and np.count_nonzero(acc[:, 2:]) == 0


def test_conv_scatter_float(rng):
    image = rng.integers(0, 3, (2, 5, 5))
    weight = rng.normal(size=(3, 3, 2, 3))
    idx, val = events_of(image)
    acc = np.zeros((3, 3, 3))
    one = np.zeros(1, np.int64)
    kernels.conv_scatter(acc, weight, idx, val, np.array([0, len(idx)]), (5, 5), (2, 2), (1, 1),
                         one, one.copy())
    want = np.zeros((3, 3, 3))
    for oy in range(3):
        for ox in range(3):
            for ky in range(3):
                for kx in range(3):
                    iy, ix = 2 * oy - 1 + ky, 2 * ox - 1 + kx
                    if 0 <= iy < 5 and 0 <= ix < 5:
                        want[oy, ox] += image[:, iy, ix] @ weight[ky, kx]
    assert np.allclose(acc, want)


def test_conv_scatter_no_events():
    acc = np.zeros((2, 2, 1), np.int32)
    visits, levels = np.zeros(1, np.int64), np.zeros(1, np.int64)
    kernels.conv_scatter(acc, np.ones((1, 1, 1, 1), np.int16), np.zeros(0, np.int32),
                         np.zeros(0, np.int32), np.array([0, 0]), (2, 2), (1, 1), (0, 0),
                         visits, levels)
    assert not acc.any() and visits[0] == levels[0] == 0


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_linear_scatter_equals_matvec(dtype, rng):
    x = rng.integers(0, 5, 40) * (rng.random(40) < 0.4)
    weight = rng.integers(-99, 99, (40, 7)).astype(dtype)
    idx, val = events_of(x.reshape(-1, 1, 1))
    acc = np.zeros(7, dtype)
    visits, levels = np.zeros(2, np.int64), np.zeros(2, np.int64)
    kernels.linear_scatter(acc, weight, idx, val, segments(len(idx), 2), visits, levels)
    assert np.array_equal(acc, x @ weight)
    assert (visits.sum(), levels.sum()) == (np.count_nonzero(x) * 7, x.sum() * 7)


@pytest.mark.parametrize("c0,cs", [(0, 4), (1, 2), (3, 1)])
def test_identity_scatter_keeps_its_channels(c0, cs, rng):
    """A core holding channels [c0, c0+cs) takes only the events of those channels."""
    image = rng.integers(0, 4, (4, 3, 2))
    factor = rng.integers(-9, 9, cs).astype(np.int64)
    idx, val = events_of(image)
    acc = np.zeros((3, 2, cs), np.int64)
    visits, levels = np.zeros(1, np.int64), np.zeros(1, np.int64)
    kernels.identity_scatter(acc, factor, idx, val, np.array([0, len(idx)]), c0, visits, levels)
    part = image[c0:c0 + cs]
    assert np.array_equal(acc, (part * factor[:, None, None]).transpose(1, 2, 0))
    assert (visits[0], levels[0]) == (np.count_nonzero(part), part.sum())


# --- integrate, fire, reset --------------------------------------------------------------------

@pytest.mark.parametrize("shift", [0, 1, 5, 16])
def test_integrate_rounds_to_nearest_ties_up(shift, rng):
    """v += round(acc / 2^shift), halves rounded up (towards +∞), negative accumulators too."""
    v = rng.integers(-1000, 1000, (2, 3, 4))
    acc = rng.integers(-10 ** 6, 10 ** 6, (2, 3, 4)).astype(np.int32)
    if shift:
        acc[0, 0, :2] = [3 * 2 ** (shift - 1), -3 * 2 ** (shift - 1)]  # ±1.5 units: ties
    want = v + np.floor(acc / 2 ** shift + 0.5).astype(np.int64)
    kernels.integrate(v, acc, shift)
    assert np.array_equal(v, want) and not acc.any()


def test_integrate_int32_accumulator_near_its_limit_does_not_wrap():
    v = np.zeros((1, 1, 2), np.int64)
    acc = np.array([[[2 ** 31 - 1, -2 ** 31]]], np.int32)
    kernels.integrate(v, acc, 4)
    assert v.tolist() == [[[2 ** 27, -2 ** 27]]]


def test_integrate_takes_a_channel_slice(rng):
    """A core holding channels [2, 5) of a shared accumulator takes only those and clears them."""
    acc = rng.integers(-99, 99, (2, 2, 7)).astype(np.int32)
    rest = acc.copy()
    v = np.zeros((2, 2, 3), np.int64)
    kernels.integrate(v, acc, 1, offset=2)
    assert np.array_equal(v, (rest[:, :, 2:5].astype(np.int64) + 1) >> 1)
    assert not acc[:, :, 2:5].any()
    assert np.array_equal(acc[:, :, :2], rest[:, :, :2]) and np.array_equal(acc[:, :, 5:],
                                                                            rest[:, :, 5:])
    with pytest.raises(KernelError, match="do not fit accumulator"):
        kernels.integrate(v, acc, 0, offset=5)


def test_integrate_float_rejects_shift():
    with pytest.raises(KernelError, match="float accumulator takes no shift"):
        kernels.integrate(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), 3)


def test_leak_integer_and_stateless():
    v = np.array([[[100, -100, 7, -7]]], np.int64)
    want = neurons.leak(v, neurons.lif(0.75), 49152)
    kernels.leak(v, "lif", 49152, False, True)  # decay 0.75: ⌊v·49152 / 2^16⌋
    assert v.tolist() == [[[75, -75, 5, -6]]] == want.tolist()
    kernels.leak(v, "if", 65536, True, True)
    assert not v.any()


@pytest.mark.parametrize("mode", ["spiking", "readout", "sum"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("v_range", [None, (-50, 49)])
def test_fire_equals_twin(mode, reset, v_range, rng):
    v = rng.integers(-80, 80, (3, 2, 4))
    bias = rng.integers(-5, 5, 4)
    want_v, want_z, want_spikes, want_sat = twin_fire(v, bias, 7, 4, v_range, mode, reset)
    z = np.zeros(v.shape, np.int32)
    spikes, sat = kernels.fire(v, bias, 7, 4, v_range, mode, reset, z)
    assert (spikes, sat) == (want_spikes, want_sat)
    assert np.array_equal(v, want_v)
    if mode != "readout":
        assert np.array_equal(z, want_z)


def test_fire_on_equality_and_clip_at_n():
    """θ = 4, N = 2: v = 3 stays silent, 4 fires level 1, 11 fires 2 (clipped) and keeps 3."""
    v = np.array([[[3, 4, 11, -5]]], np.int64)
    z = np.zeros(v.shape, np.int32)
    spikes, sat = kernels.fire(v, None, 4, 2, None, "spiking", "subtract", z)
    assert z.tolist() == [[[0, 1, 2, 0]]] and spikes == 2 and sat == 0
    assert v.tolist() == [[[3, 0, 3, -5]]]


def test_fire_float_matches_twin(rng):
    v = rng.normal(0, 2, (2, 2, 3))
    want_v, want_z, _, _ = twin_fire(v, None, 0.25, 4, None, "spiking", "subtract")
    z = np.zeros(v.shape, np.int32)
    kernels.fire(v, None, 0.25, 4, None, "spiking", "subtract", z)
    assert np.array_equal(z, want_z) and np.allclose(v, want_v)


@pytest.mark.parametrize("theta", [5458, 0.1, 3.7])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fire_at_the_edges_of_a_threshold_that_is_not_a_power_of_two(theta, reset):
    """Below θ the kernel skips the division: ⌊x/θ⌋ ≤ 0 there, for integers and for Python's
    (and numpy's) float floor division alike; at, just above and past N·θ it divides."""
    n = 4
    if isinstance(theta, int):
        points = [theta - 1, theta, theta + 1, 0, -1, -theta, n * theta - 1, n * theta,
                  n * theta + 1, 10 * theta]
        v = np.array(points, np.int64)
    else:
        edges = [theta, n * theta, 2 * theta, 0.0, -theta]
        points = [x for e in edges for x in (np.nextafter(e, -np.inf), e, np.nextafter(e, np.inf))]
        v = np.array(points, np.float64)
    v = v.reshape(1, 1, -1)
    want_v, want_z, want_spikes, _ = twin_fire(v, None, theta, n, None, "spiking", reset)
    z = np.zeros(v.shape, np.int32)
    spikes, _ = kernels.fire(v, None, theta, n, None, "spiking", reset, z)
    assert np.array_equal(z, want_z) and spikes == want_spikes
    assert np.array_equal(v, want_v)


def test_fire_rejects_mismatched_levels_array():
    with pytest.raises(KernelError, match="levels"):
        kernels.fire(np.zeros((1, 2, 3), np.int64), None, 1, 1, None, "spiking", "subtract",
                     np.zeros((1, 2, 2), np.int32))


# --- pooling and gathering ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["max", "sum"])
@pytest.mark.parametrize("shape,kernel,stride", [((4, 4, 2), (2, 2), (2, 2)),
                                                 ((5, 5, 3), (2, 2), (2, 2)),
                                                 ((5, 6, 1), (3, 2), (1, 2))])
def test_pool_equals_twin(kind, shape, kernel, stride, rng):
    z = rng.integers(0, 5, shape).astype(np.int32)
    out_hw = ((shape[0] - kernel[0]) // stride[0] + 1, (shape[1] - kernel[1]) // stride[1] + 1)
    out = np.zeros(out_hw + (shape[2],), np.int32)
    kernels.pool(z, kind, kernel, stride, out)
    assert np.array_equal(out, twin_pool(z, kind, kernel, stride, out_hw))


def test_pool_rejects_windows_outside_the_map():
    with pytest.raises(KernelError, match="windows"):
        kernels.pool(np.zeros((3, 3, 1), np.int32), "max", (2, 2), (2, 2),
                     np.zeros((2, 2, 1), np.int32))


@pytest.mark.parametrize("c0,c_total", [(0, 3), (2, 5)])
def test_gather_indexes_the_whole_stream(c0, c_total, rng):
    """Events of a core holding channels [c0, c0+3) carry flat (C, H, W) indices of the whole
    c_total-channel stream."""
    out = (rng.integers(-1, 3, (2, 4, 3)) * (rng.random((2, 4, 3)) < 0.5)).astype(np.int32)
    idx, val, level_sum = kernels.gather(out, c0, c_total)
    full = np.zeros((c_total, 2, 4), np.int32)
    full[c0:c0 + 3] = out.transpose(2, 0, 1)
    want = np.flatnonzero(full.reshape(-1))
    assert sorted(idx.tolist()) == want.tolist()
    assert np.array_equal(full.reshape(-1)[idx], val) and level_sum == full.sum()


def test_gather_empty_and_out_of_range():
    idx, val, level_sum = kernels.gather(np.zeros((2, 2, 2), np.int32))
    assert len(idx) == len(val) == level_sum == 0
    with pytest.raises(KernelError, match="exceed"):
        kernels.gather(np.zeros((1, 1, 3), np.int32), 2, 4)


# --- validation ----------------------------------------------------------------------------------

def test_scatter_rejects_bad_bounds_and_indices():
    acc = np.zeros((2, 2, 1), np.int32)
    w = np.ones((1, 1, 1, 1), np.int16)
    one = np.zeros(1, np.int64)
    idx, val = np.array([0, 1], np.int32), np.array([1, 1], np.int32)
    with pytest.raises(KernelError, match="bounds"):
        kernels.conv_scatter(acc, w, idx, val, np.array([0, 3]), (2, 2), (1, 1), (0, 0), one,
                             one.copy())
    with pytest.raises(KernelError, match="out of range"):
        kernels.conv_scatter(acc, w, np.array([0, 9], np.int32), val, np.array([0, 2]), (2, 2),
                             (1, 1), (0, 0), one, one.copy())
    with pytest.raises(KernelError, match="per-segment"):
        kernels.conv_scatter(acc, w, idx, val, np.array([0, 1, 2]), (2, 2), (1, 1), (0, 0), one,
                             one.copy())
    with pytest.raises(KernelError, match="weight"):
        kernels.linear_scatter(np.zeros(3, np.int32), np.ones((2, 2), np.int32), idx, val,
                               np.array([0, 2]), one, one.copy())
    with pytest.raises(KernelError, match="contiguous"):
        kernels.conv_scatter(np.zeros((2, 2, 2), np.int32)[:, :, :1], w, idx, val,
                             np.array([0, 2]), (2, 2), (1, 1), (0, 0), one, one.copy())
    with pytest.raises(KernelError, match="factor"):
        kernels.identity_scatter(acc, np.ones(3, np.int32), idx, val, np.array([0, 2]), 0, one,
                                 one.copy())


# --- reach: taps per source position -------------------------------------------------------------

@pytest.mark.parametrize("kernel,stride,padding,hw", [((3, 3), (1, 1), (1, 1), (5, 6)),
                                                      ((3, 3), (2, 2), (1, 1), (7, 6)),
                                                      ((1, 1), (2, 2), (0, 0), (6, 5)),
                                                      ((2, 3), (2, 1), (0, 2), (5, 5)),
                                                      ((3, 1), (1, 2), (2, 0), (4, 7))])
def test_conv_taps_are_the_visits_the_scatter_kernel_counts(kernel, stride, padding, hw):
    """One event at every position, each its own segment: the kernel's visits are taps × C_out."""
    cin, cout = 2, 3
    out_hw = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(hw, kernel, stride, padding))
    weight = np.ones(kernel + (cin, cout), np.int16)
    idx = np.arange(cin * hw[0] * hw[1], dtype=np.int32)
    val = np.ones_like(idx)
    bounds = np.arange(len(idx) + 1, dtype=np.int64)
    visits, levels = np.zeros(len(idx), np.int64), np.zeros(len(idx), np.int64)
    acc = np.zeros(out_hw + (cout,), np.int64)
    kernels.conv_scatter(acc, weight, idx, val, bounds, hw, stride, padding, visits, levels)
    taps = kernels.conv_taps(hw, kernel, stride, padding, out_hw)
    assert np.array_equal(visits, np.tile(taps, cin) * cout)


def test_prefix_taps_are_running_sums():
    rng = np.random.default_rng(0)
    taps = rng.integers(0, 10, (3, 12)).astype(np.int64)
    idx = np.sort(rng.choice(5 * 12, 20, replace=False)).astype(np.int32)
    cum = kernels.prefix_taps(idx, taps, 12)
    assert cum.shape == (3, 21)
    assert np.array_equal(cum[:, 1:], np.cumsum(taps[:, idx % 12], axis=1))
    assert not cum[:, 0].any()
    assert kernels.prefix_taps(idx[:0], taps, 12).tolist() == [[0], [0], [0]]
    with pytest.raises(KernelError, match="tap maps"):
        kernels.prefix_taps(idx, taps, 11)


@pytest.mark.parametrize("theta", [7, 8, 1024])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fire_with_power_of_two_thresholds_shifts_exactly(theta, reset):
    """θ = 2^k fires by an arithmetic shift: the same levels and residuals as the neuron rule,
    negative potentials included."""
    rng = np.random.default_rng(4)
    v = rng.integers(-6 * theta, 9 * theta, (3, 4, 5)).astype(np.int64)
    bias = rng.integers(-theta, theta, 5).astype(np.int64)
    z = np.zeros(v.shape, np.int32)
    want_v, want_z, want_spikes, _ = twin_fire(v, bias, theta, 4, None, "spiking", reset)
    spikes, _ = kernels.fire(v, bias, theta, 4, None, "spiking", reset, z)
    assert spikes == want_spikes
    assert np.array_equal(v, want_v) and np.array_equal(z, want_z)


@pytest.mark.parametrize("pool", [None, ("max", (2, 2), (2, 2)), ("sum", (2, 2), (2, 2))])
@pytest.mark.parametrize("mode", ["spiking", "readout", "sum"])
def test_fire_emit_is_fire_pool_and_gather(pool, mode):
    rng = np.random.default_rng(5)
    v = rng.integers(-3000, 6000, (4, 6, 3)).astype(np.int64)
    bias = rng.integers(-500, 500, 3).astype(np.int64)
    v2, z, z2 = v.copy(), np.zeros(v.shape, np.int32), np.zeros(v.shape, np.int32)
    out = z if pool is None else np.zeros((2, 3, 3), np.int32)
    out2 = z2 if pool is None else np.zeros((2, 3, 3), np.int32)
    got = kernels.fire_emit(v, bias, 1024, 4, (-4096, 4095), mode, "subtract", z, pool, out, 2)
    spikes, sats = kernels.fire(v2, bias, 1024, 4, (-4096, 4095), mode, "subtract", z2)
    assert got[:2] == (spikes, sats) and np.array_equal(v, v2)
    if mode == "readout":
        assert len(got[2]) == 0 and got[4] == 0
        return
    if pool is not None:
        kernels.pool(z2, pool[0], pool[1], pool[2], out2)
    idx, val, level_sum = kernels.gather(out2, 2, 7)
    assert np.array_equal(got[2] % (out2.shape[0] * out2.shape[1]),
                          idx % (out2.shape[0] * out2.shape[1]))
    assert np.array_equal(got[3], val) and got[4] == level_sum


def test_compiled_code_is_kept_per_version_of_every_source(tmp_path):
    """Numba keys a cached kernel by its own file, but events.advance compiles noc.py's steps
    into itself and the neuron kernels freeze model/neurons.py's DECAY_BITS: the kernels' code
    folder is named by a hash of all of them, so editing any one compiles everything again."""
    from numba.core.registry import CPUDispatcher

    from neurosim.kernels import dense, events, jit, noc, synapses
    from neurosim.kernels import neurons as kernel_neurons

    names = {p.name for p in jit.SOURCES}
    assert {"noc.py", "events.py", "neurons.py", "synapses.py", "dense.py", "jit.py"} <= names
    assert any(p.parent.name == "model" and p.name == "neurons.py" for p in jit.SOURCES)
    files = [tmp_path / "noc.py", tmp_path / "events.py"]
    for f in files:
        f.write_text("x = 1\n")
    before = jit.fingerprint(files)
    files[0].write_text("x = 2\n")  # the callee alone changes: a new folder
    assert jit.fingerprint(files) != before
    folder = str(jit.code_folder())
    dispatchers = [f for m in (dense, events, kernel_neurons, noc, synapses)
                   for f in vars(m).values() if isinstance(f, CPUDispatcher)]
    assert len(dispatchers) >= 30
    for f in dispatchers:
        assert f.stats.cache_path.startswith(folder), f.py_func.__name__


def test_level_statistics_kernels_are_numpy():
    """The histogram, sum-histogram, fan and AC-test kernels of neurosim.metrics against numpy
    on random levels of every dtype a run records."""
    from neurosim.kernels import levels as K
    rng = np.random.default_rng(3)
    for dtype in (np.int32, np.uint8, np.int64, np.float64):
        a = (rng.integers(0, 6, (2, 5, 3, 7)) * (rng.random((2, 5, 3, 7)) < 0.3)).astype(dtype)
        b = rng.integers(0, 3, a.shape).astype(dtype)
        assert np.array_equal(K.histogram(a), np.bincount(a.astype(np.int64).ravel()))
        assert np.array_equal(K.sum_histogram([a, b, a]),
                              np.bincount((a + b + a).astype(np.int64).ravel()))
        calls = a.reshape(2, 5, -1)
        fan = rng.integers(0, 9, calls.shape[2])
        assert np.array_equal(K.nonzero_fan(calls, fan), (calls != 0).astype(np.int64) @ fan)
        if dtype is not np.float64:
            assert np.array_equal(K.all_in(calls, [2, 3]),
                                  np.isin(np.abs(calls), [0, 2, 3]).all(axis=2))
    assert np.array_equal(K.histogram(np.zeros((0, 3), np.int32)), [0])
    assert np.array_equal(K.histogram(np.zeros(5, np.int32)), [5])
    with pytest.raises(ValueError, match=">= 0"):
        K.histogram(np.array([1, -1, 0], np.int32))
