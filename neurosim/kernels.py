"""Numba kernels for the event engine's hot paths, behind validating wrappers.

Each kernel works on plain arrays and COUNTS what it does as it does it (synapses visited, levels
carried), so that agreement with the dense reference's analytic counts is an independent check.

Layouts, chosen for speed: a core's potentials and accumulators are (H, W, C) with the output
channels contiguous (a linear layer is (1, 1, N)); conv weights are stored (kH, kW, C_in, C_out)
and linear weights (N_in, N_out), so one event adds a contiguous weight row into a contiguous
potential row. Events are (index, value) pairs: the index is the flat (C, H, W) position in the
*source* stream, the value its level (or pixel value). A batch of events comes with segment
``bounds`` (one segment per packet piece) so that the work of every piece is known for timing.

Integer semantics are the reference's (neurosim/reference.py): accumulate Σ w·z per projection in a
register wide enough for its worst case, add acc / 2^shift rounded to nearest when the potentials
are read to fire, saturate once, fire, reset. The same kernels run float64 arrays for the float
model.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .errors import KernelError
from .model.neurons import DECAY_BITS

# One place for the jit options: no fastmath (integer potentials and counts must be exact), no
# bounds checks in the hot loops (the wrappers validate shapes), compiled code cached on disk.
JIT = dict(nogil=True, cache=True, boundscheck=False, fastmath=False)

MODE_SPIKING, MODE_READOUT, MODE_SUM = 0, 1, 2
MODES = {"spiking": MODE_SPIKING, "readout": MODE_READOUT, "sum": MODE_SUM}
POOL_MAX, POOL_SUM = 0, 1
POOLS = {"max": POOL_MAX, "sum": POOL_SUM}


def _check(cond: bool, what: str, message: str) -> None:
    if not cond:
        raise KernelError(message, "kernels", what)


def _check_events(idx, val, bounds, visits, level_visits):
    _check(idx.ndim == 1 and val.shape == idx.shape, "events",
           f"index and value arrays must be 1-D of one length, got {idx.shape} and {val.shape}")
    _check(bounds.ndim == 1 and len(bounds) >= 1 and bounds[0] >= 0 and bounds[-1] <= len(idx)
           and bool(np.all(np.diff(bounds) >= 0)), "bounds",
           f"segment bounds must rise within [0, {len(idx)}], got {bounds}")
    _check(visits.shape == (len(bounds) - 1,) and level_visits.shape == visits.shape, "visits",
           f"expected per-segment outputs of shape ({len(bounds) - 1},), got {visits.shape}")


# --- scatter-accumulate --------------------------------------------------------------------------

@njit(**JIT)
def _conv_scatter(acc, weight, idx, val, bounds, visits, level_visits, in_h, in_w, sy, sx, py, px):
    out_h, out_w, cout = acc.shape
    kh, kw = weight.shape[0], weight.shape[1]
    plane = in_h * in_w
    for seg in range(bounds.shape[0] - 1):
        seg_visits = 0
        seg_levels = 0
        for e in range(bounds[seg], bounds[seg + 1]):
            n = idx[e]
            z = val[e]
            ci = n // plane
            r = n - ci * plane
            y = r // in_w
            x = r - y * in_w
            taps = 0
            for ky in range(kh):
                ty = y + py - ky  # = oy·sy for the output row this tap reaches
                if ty < 0:
                    continue
                oy = ty // sy
                if oy * sy != ty or oy >= out_h:
                    continue
                for kx in range(kw):
                    tx = x + px - kx
                    if tx < 0:
                        continue
                    ox = tx // sx
                    if ox * sx != tx or ox >= out_w:
                        continue
                    row = acc[oy, ox]
                    wrow = weight[ky, kx, ci]
                    for c in range(cout):
                        row[c] += z * wrow[c]
                    taps += 1
            seg_visits += taps * cout
            seg_levels += taps * cout * z
        visits[seg] += seg_visits
        level_visits[seg] += seg_levels


def conv_scatter(acc, weight, idx, val, bounds, in_hw, stride, padding, visits, level_visits):
    """Accumulate conv events into ``acc`` (H_out, W_out, C_out) from ``weight``
    (kH, kW, C_in, C_out); every event reaches only the outputs its taps really land on (borders
    clipped, strides respected). Adds each segment's synapse visits and Σ z·visits to
    ``visits``/``level_visits`` (P,) int64."""
    _check_events(idx, val, bounds, visits, level_visits)
    _check(acc.ndim == 3 and weight.ndim == 4 and weight.shape[3] == acc.shape[2], "weight",
           f"expected acc (H, W, C) and weight (kH, kW, C_in, C), got {acc.shape}, {weight.shape}")
    _check(acc.flags.c_contiguous and weight.flags.c_contiguous, "layout",
           "acc and weight must be C-contiguous")
    if len(idx):
        top = weight.shape[2] * in_hw[0] * in_hw[1]
        _check(0 <= int(idx.min()) and int(idx.max()) < top, "events",
               f"event index out of range [0, {top})")
    _conv_scatter(acc, weight, idx, val, bounds, visits, level_visits, in_hw[0], in_hw[1],
                  stride[0], stride[1], padding[0], padding[1])


@njit(**JIT)
def _linear_scatter(acc, weight, idx, val, bounds, visits, level_visits):
    nout = acc.shape[0]
    for seg in range(bounds.shape[0] - 1):
        seg_levels = 0
        for e in range(bounds[seg], bounds[seg + 1]):
            z = val[e]
            wrow = weight[idx[e]]
            for c in range(nout):
                acc[c] += z * wrow[c]
            seg_levels += z
        visits[seg] += (bounds[seg + 1] - bounds[seg]) * nout
        level_visits[seg] += seg_levels * nout


def linear_scatter(acc, weight, idx, val, bounds, visits, level_visits):
    """Accumulate events into ``acc`` (N_out,) from ``weight`` (N_in, N_out): one row per event."""
    _check_events(idx, val, bounds, visits, level_visits)
    _check(acc.ndim == 1 and weight.ndim == 2 and weight.shape[1] == acc.shape[0], "weight",
           f"expected acc (N,) and weight (N_in, N), got {acc.shape}, {weight.shape}")
    _check(acc.flags.c_contiguous and weight.flags.c_contiguous, "layout",
           "acc and weight must be C-contiguous")
    if len(idx):
        _check(0 <= int(idx.min()) and int(idx.max()) < weight.shape[0], "events",
               f"event index out of range [0, {weight.shape[0]})")
    _linear_scatter(acc, weight, idx, val, bounds, visits, level_visits)


@njit(**JIT)
def _identity_scatter(acc, factor, idx, val, bounds, visits, level_visits, c0):
    h, w, cs = acc.shape
    plane = h * w
    for seg in range(bounds.shape[0] - 1):
        seg_visits = 0
        seg_levels = 0
        for e in range(bounds[seg], bounds[seg + 1]):
            n = idx[e]
            c = n // plane - c0
            if c < 0 or c >= cs:
                continue
            r = n - (c + c0) * plane
            y = r // w
            x = r - y * w
            acc[y, x, c] += val[e] * factor[c]
            seg_visits += 1
            seg_levels += val[e]
        visits[seg] += seg_visits
        level_visits[seg] += seg_levels


def identity_scatter(acc, factor, idx, val, bounds, c0, visits, level_visits):
    """One synapse per event, to the neuron at the same flat (C, H, W) position, for the channels
    [c0, c0 + C) this core holds; ``factor`` (C,) is the per-channel weight register."""
    _check_events(idx, val, bounds, visits, level_visits)
    _check(acc.ndim == 3 and factor.shape == (acc.shape[2],), "factor",
           f"expected acc (H, W, C) and factor (C,), got {acc.shape}, {factor.shape}")
    _identity_scatter(acc, factor, idx, val, bounds, visits, level_visits, c0)


# --- integrate, fire, reset ----------------------------------------------------------------------

@njit(**JIT)
def _leak_int(v, decay_q):
    flat = v.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = (flat[i] * decay_q) >> DECAY_BITS


@njit(**JIT)
def _leak_float(v, decay):
    flat = v.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = flat[i] * decay


def leak(v, kind: str, decay, stateless: bool, integer: bool) -> None:
    """Decay before integration, in place: nothing (IF), ⌊v·decay_q / 2^16⌋ (integer LIF),
    v·decay (float LIF); a stateless neuron starts every timestep at 0."""
    if stateless:
        v[...] = 0
    elif kind == "lif":
        _leak_int(v, int(decay)) if integer else _leak_float(v, float(decay))


@njit(**JIT)
def _integrate_int(v, acc, shift, half, offset):
    h, w, c = v.shape
    for i in range(h):
        for j in range(w):
            vr = v[i, j]
            ar = acc[i, j]
            for k in range(c):
                vr[k] += (ar[offset + k] + half) >> shift
                ar[offset + k] = 0


@njit(**JIT)
def _integrate_float(v, acc, offset):
    h, w, c = v.shape
    for i in range(h):
        for j in range(w):
            vr = v[i, j]
            ar = acc[i, j]
            for k in range(c):
                vr[k] += ar[offset + k]
                ar[offset + k] = 0


def integrate(v, acc, shift: int, offset: int = 0) -> None:
    """v += ⌊(acc + 2^(shift−1)) / 2^shift⌋ (round to nearest, ties up: an add and an
    arithmetic shift; reference.step_layer is its twin), then clear what was taken.

    ``acc`` (H, W, C_acc) may hold more channels than ``v`` (H, W, C): v takes channels
    [offset, offset + C) (a core's part of an accumulator shared by a split layer)."""
    _check(v.ndim == 3 and acc.ndim == 3 and v.shape[:2] == acc.shape[:2]
           and 0 <= offset and offset + v.shape[2] <= acc.shape[2], "acc",
           f"potentials {v.shape} do not fit accumulator {acc.shape} at channel {offset}")
    if np.issubdtype(v.dtype, np.integer):
        _integrate_int(v, acc, shift, np.int64((1 << shift) >> 1), offset)
    else:
        _check(shift == 0, "shift", "a float accumulator takes no shift")
        _integrate_float(v, acc, offset)


@njit(**JIT)
def _fire(v, bias, has_bias, theta, levels, lo, hi, saturate, mode, reset_zero, z):
    h, w, c = v.shape
    spikes = 0
    saturations = 0
    for i in range(h):
        for j in range(w):
            vr = v[i, j]
            zr = z[i, j]
            for k in range(c):
                x = vr[k]
                if has_bias:
                    x += bias[k]
                if saturate:
                    if x < lo:
                        x = lo
                        saturations += 1
                    elif x > hi:
                        x = hi
                        saturations += 1
                if mode == 0:  # spiking: z = clip(⌊v/θ⌋, 0, N), then reset
                    q = x // theta
                    if q < 0:
                        q = 0
                    elif q > levels:
                        q = levels
                    level = int(q)
                    zr[k] = level
                    if level != 0:
                        spikes += 1
                        if reset_zero:
                            x = 0
                        else:
                            x = x - q * theta
                elif mode == 2:  # merge-mode adder: emit the sum, clear
                    zr[k] = int(x)
                    if x != 0:
                        spikes += 1
                    x = 0
                vr[k] = x
    return spikes, saturations


def fire(v, bias, theta, levels: int, v_range, mode: str, reset: str, z):
    """Add the bias, saturate to ``v_range`` (integer mode), fire and reset, in place: the
    jitted twin of neurosim.model.neurons' saturate, fire and reset (tests hold them equal).

    Writes levels into ``z`` (same shape as v, int32) and returns (neurons that fired,
    saturations). mode "readout" only saturates; "sum" emits v and clears it.
    """
    _check(v.ndim == 3 and z.shape == v.shape, "z", f"levels {z.shape} must match v {v.shape}")
    has_bias = bias is not None
    if has_bias:
        _check(bias.shape == (v.shape[2],), "bias", f"expected ({v.shape[2]},), got {bias.shape}")
    else:
        bias = np.zeros(v.shape[2], v.dtype)
    saturate = v_range is not None
    lo, hi = (v_range if saturate else (0, 0))
    integer = np.issubdtype(v.dtype, np.integer)
    cast = int if integer else float
    return _fire(v, bias, has_bias, cast(theta), int(levels), cast(lo), cast(hi), saturate,
                 MODES[mode], reset == "zero", z)


# --- pooling and event gathering -----------------------------------------------------------------

@njit(**JIT)
def _pool(z, out, kind, kh, kw, sh, sw):
    ho, wo, c = out.shape
    for i in range(ho):
        for j in range(wo):
            orow = out[i, j]
            for k in range(c):
                orow[k] = 0 if kind == 1 else z[i * sh, j * sw, k]
            for a in range(kh):
                for b in range(kw):
                    zrow = z[i * sh + a, j * sw + b]
                    for k in range(c):
                        if kind == 1:
                            orow[k] += zrow[k]
                        elif zrow[k] > orow[k]:
                            orow[k] = zrow[k]


def pool(z, kind: str, kernel, stride, out) -> None:
    """Max or sum pooling of levels over (kH, kW) windows without padding: (H, W, C) → out."""
    _check(z.ndim == 3 and out.ndim == 3 and z.shape[2] == out.shape[2], "pool",
           f"expected (H, W, C) arrays with one C, got {z.shape} → {out.shape}")
    _check((out.shape[0] - 1) * stride[0] + kernel[0] <= z.shape[0]
           and (out.shape[1] - 1) * stride[1] + kernel[1] <= z.shape[1], "pool",
           f"windows of {kernel} stride {stride} for {out.shape[:2]} leave {z.shape[:2]}")
    _pool(z, out, POOLS[kind], kernel[0], kernel[1], stride[0], stride[1])


@njit(**JIT)
def _gather(out, c0, idx, val):
    h, w, c = out.shape
    plane = h * w
    n = 0
    level_sum = 0
    for k in range(c):
        for i in range(h):
            for j in range(w):
                x = out[i, j, k]
                if x != 0:
                    idx[n] = (c0 + k) * plane + i * w + j
                    val[n] = x
                    level_sum += x
                    n += 1
    return n, level_sum


@njit(**JIT)
def _count_nonzero(out):
    flat = out.reshape(-1)
    n = 0
    for i in range(flat.shape[0]):
        if flat[i] != 0:
            n += 1
    return n


def gather(out, c0: int = 0, c_total: int | None = None):
    """The non-zero entries of ``out`` (H, W, C) as events: (flat (C, H, W) index in a stream of
    ``c_total`` channels of which ``out`` holds [c0, c0 + C), value), and the level sum.

    Events come channel by channel: consecutive events of a conv source then reach different
    output rows with one weight slice, which scatters about 1.5× faster than position by
    position (consecutive events adding into the same rows wait on each other's stores)."""
    _check(out.ndim == 3, "out", f"expected (H, W, C), got {out.shape}")
    c_total = out.shape[2] if c_total is None else c_total
    _check(0 <= c0 and c0 + out.shape[2] <= c_total, "c0",
           f"channels [{c0}, {c0 + out.shape[2]}) exceed {c_total}")
    n = _count_nonzero(out) if out.flags.c_contiguous else int(np.count_nonzero(out))
    idx = np.empty(n, np.int32)
    val = np.empty(n, np.int32)
    _, level_sum = _gather(out, c0, idx, val)
    return idx, val, int(level_sum)
