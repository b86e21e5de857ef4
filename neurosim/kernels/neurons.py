"""A core's per-timestep stages on (H, W, C) arrays: leak, integrate the accumulators, fire
(bias, saturate, levels, reset), pool, and gather the non-zero levels as events."""

from __future__ import annotations

import numpy as np

from ..model.neurons import DECAY_BITS
from .jit import _check, kernel

MODE_SPIKING, MODE_READOUT, MODE_SUM = 0, 1, 2
MODES = {"spiking": MODE_SPIKING, "readout": MODE_READOUT, "sum": MODE_SUM}
POOL_MAX, POOL_SUM = 0, 1
POOLS = {"max": POOL_MAX, "sum": POOL_SUM}


@kernel
def _leak_int(v, decay_q):
    flat = v.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = (flat[i] * decay_q) >> DECAY_BITS


@kernel
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


@kernel
def _integrate_int(v, acc, shift, half, offset):
    h, w, c = v.shape
    for i in range(h):
        for j in range(w):
            vr = v[i, j]
            ar = acc[i, j]
            for k in range(c):
                vr[k] += (ar[offset + k] + half) >> shift
                ar[offset + k] = 0


@kernel
def _integrate_float(v, acc, offset):
    h, w, c = v.shape
    for i in range(h):
        for j in range(w):
            vr = v[i, j]
            ar = acc[i, j]
            for k in range(c):
                vr[k] += ar[offset + k]
                ar[offset + k] = 0


def half_of(shift: int) -> np.int64:
    """What rounding to nearest adds before a right shift by ``shift``: 2^(shift−1), 0 for 0."""
    return np.int64((1 << int(shift)) >> 1)


def integrate(v, acc, shift: int, offset: int = 0) -> None:
    """v += ⌊(acc + 2^(shift−1)) / 2^shift⌋ (round to nearest, ties up: an add and an
    arithmetic shift; reference.step_layer is its twin), then clear what was taken.

    ``acc`` (H, W, C_acc) may hold more channels than ``v`` (H, W, C): v takes channels
    [offset, offset + C) (a core's part of an accumulator shared by a split layer)."""
    _check(v.ndim == 3 and acc.ndim == 3 and v.shape[:2] == acc.shape[:2]
           and 0 <= offset and offset + v.shape[2] <= acc.shape[2], "acc",
           f"potentials {v.shape} do not fit accumulator {acc.shape} at channel {offset}")
    if np.issubdtype(v.dtype, np.integer):
        _integrate_int(v, acc, shift, half_of(shift), offset)
    else:
        _check(shift == 0, "shift", "a float accumulator takes no shift")
        _integrate_float(v, acc, offset)


@kernel
def _fire(v, bias, has_bias, theta, shift, levels, lo, hi, saturate, mode, reset_zero, z):
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
                if saturate:  # without branches: which neurons saturate is data
                    saturations += (x < lo) | (x > hi)
                    x = min(max(x, lo), hi)
                if mode == 0:  # spiking: z = clip(⌊v/θ⌋, 0, N), then reset
                    if x < theta:  # ⌊x/θ⌋ ≤ 0 (exactly, for integers and floats alike):
                        zr[k] = 0  # most neurons: level 0, nothing to reset, no division
                        vr[k] = x
                        continue
                    if shift >= 0:  # θ = 2^shift: the floor division is an arithmetic shift
                        q = int(x) >> shift
                    else:
                        q = x // theta
                    q = min(max(q, 0), levels)
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


def theta_shift(theta, integer: bool) -> int:
    """k where an integer threshold θ = 2^k (the compiler's choice, docs/design.md §3.5): the
    fire stage then shifts instead of dividing; -1 otherwise."""
    if integer and theta == int(theta) and int(theta) > 0 and int(theta) & (int(theta) - 1) == 0:
        return int(theta).bit_length() - 1
    return -1


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
    return _fire(v, bias, has_bias, cast(theta), theta_shift(theta, integer), int(levels),
                 cast(lo), cast(hi), saturate,
                 MODES[mode], reset == "zero", z)


# --- pooling and event gathering -----------------------------------------------------------------

@kernel
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


@kernel
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


@kernel
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


# --- the fire and emit stages in one call --------------------------------------------------------

@kernel
def _fire_emit(v, bias, has_bias, theta, shift, levels, lo, hi, saturate, mode, reset_zero, z,
               pool_kind, kh, kw, sh, sw, out, c0, idx, val):
    spikes, saturations = _fire(v, bias, has_bias, theta, shift, levels, lo, hi, saturate, mode,
                                reset_zero, z)
    if mode == MODE_READOUT:
        return spikes, saturations, 0, 0
    if pool_kind >= 0:
        _pool(z, out, pool_kind, kh, kw, sh, sw)
    n, level_sum = _gather(out, c0, idx, val)
    return spikes, saturations, n, level_sum


def fire_emit(v, bias, theta, levels: int, v_range, mode: str, reset: str, z, pool, out,
              c0: int = 0):
    """fire, then pool (``pool``: None or (kind, kernel, stride); ``out`` is z without one)
    and gather, in one call: (neurons that fired, saturations, events index, events value,
    level sum). The same results as fire, pool and gather one after the other."""
    _check(v.ndim == 3 and z.shape == v.shape and out.ndim == 3, "z",
           f"levels {z.shape} and output {out.shape} must fit v {v.shape}")
    integer = np.issubdtype(v.dtype, np.integer)
    cast = int if integer else float
    has_bias = bias is not None
    bias = bias if has_bias else np.zeros(v.shape[2], v.dtype)
    lo, hi = v_range if v_range is not None else (0, 0)
    kind, (kh, kw), (sh, sw) = (-1, (1, 1), (1, 1)) if pool is None else \
        (POOLS[pool[0]], pool[1], pool[2])
    idx = np.empty(out.size, np.int32)
    val = np.empty(out.size, np.int32)
    spikes, sats, n, level_sum = _fire_emit(v, bias, has_bias, cast(theta),
                                            theta_shift(theta, integer), int(levels), cast(lo),
                                            cast(hi), v_range is not None, MODES[mode],
                                            reset == "zero", z, kind, kh, kw, sh, sw, out, c0,
                                            idx, val)
    return spikes, sats, idx[:n].copy(), val[:n].copy(), int(level_sum)
