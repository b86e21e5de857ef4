"""Scatter-accumulate: every event adds its weights into the potentials' accumulator of the
outputs it really reaches, counting synapse visits and Σ z·visits as it goes; and the reach of
each event (taps), which the engine's timing sums over a piece of a packet without the weights.

A batch of events comes with segment ``bounds`` (one segment per part of the batch) and the
visits of each segment come back separately.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .jit import JIT, _check


def _check_events(idx, val, bounds, visits, level_visits):
    _check(idx.ndim == 1 and val.shape == idx.shape, "events",
           f"index and value arrays must be 1-D of one length, got {idx.shape} and {val.shape}")
    _check(bounds.ndim == 1 and len(bounds) >= 1 and bounds[0] >= 0 and bounds[-1] <= len(idx)
           and bool(np.all(np.diff(bounds) >= 0)), "bounds",
           f"segment bounds must rise within [0, {len(idx)}], got {bounds}")
    _check(visits.shape == (len(bounds) - 1,) and level_visits.shape == visits.shape, "visits",
           f"expected per-segment outputs of shape ({len(bounds) - 1},), got {visits.shape}")


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


# --- reach ---------------------------------------------------------------------------------------

def conv_taps(in_hw, kernel, stride, padding, out_hw) -> np.ndarray:
    """Taps of every source position (y, x): the kernel positions (ky, kx) by which an event
    there reaches an output (borders clipped, strides respected), (H·W,) int64. An event at
    (y, x) visits taps · C_out synapses — what _conv_scatter counts, without the weights."""
    def axis(size, k, s, p, out):
        t = np.arange(size)[:, None] + p - np.arange(k)[None, :]  # = o·s for the tap's output
        return ((t >= 0) & (t % s == 0) & (t // s < out)).sum(axis=1)
    ty = axis(in_hw[0], kernel[0], stride[0], padding[0], out_hw[0])
    tx = axis(in_hw[1], kernel[1], stride[1], padding[1], out_hw[1])
    return (ty[:, None] * tx[None, :]).reshape(-1).astype(np.int64)


@njit(**JIT)
def _prefix_taps(idx, taps, plane, cum):
    """cum[g, e] = Σ taps[g, position of event e'] over e' < e, for every tap map g."""
    for g in range(taps.shape[0]):
        total = 0
        cum[g, 0] = 0
        for e in range(idx.shape[0]):
            total += taps[g, idx[e] % plane]
            cum[g, e + 1] = total


def prefix_taps(idx, taps, plane: int) -> np.ndarray:
    """Running sums of taps over events ``idx``: (G, n + 1) int64 for tap maps ``taps`` (G, plane);
    the taps of events [a, b) under map g are cum[g, b] − cum[g, a]."""
    _check(taps.ndim == 2 and taps.shape[1] == plane, "taps",
           f"expected tap maps (G, {plane}), got {taps.shape}")
    cum = np.empty((taps.shape[0], len(idx) + 1), np.int64)
    _prefix_taps(idx, taps, plane, cum)
    return cum
