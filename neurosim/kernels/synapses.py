"""Scatter-accumulate: every event adds its weights into the potentials' accumulator of the
outputs it really reaches, counting synapse visits and Σ z·visits as it goes; and the reach of
each event (taps), which the engine's timing sums over a piece of a packet without the weights.

A batch of events comes with segment ``bounds`` (one segment per part of the batch) and the
visits of each segment come back separately.
"""

from __future__ import annotations

import numpy as np

from .jit import _check, kernel


def _check_events(idx, val, bounds, visits, level_visits):
    _check(idx.ndim == 1 and val.shape == idx.shape, "events",
           f"index and value arrays must be 1-D of one length, got {idx.shape} and {val.shape}")
    _check(bounds.ndim == 1 and len(bounds) >= 1 and bounds[0] >= 0 and bounds[-1] <= len(idx)
           and bool(np.all(np.diff(bounds) >= 0)), "bounds",
           f"segment bounds must rise within [0, {len(idx)}], got {bounds}")
    _check(visits.shape == (len(bounds) - 1,) and level_visits.shape == visits.shape, "visits",
           f"expected per-segment outputs of shape ({len(bounds) - 1},), got {visits.shape}")


@kernel
def _conv_scatter(acc, weight, idx, val, bounds, visits, level_visits, plane, start, tap, out):
    c_out = acc.shape[-1]
    acc2 = acc.reshape(-1, c_out)  # (H_out·W_out, C_out)
    weight3 = weight.reshape(-1, weight.shape[2], c_out)  # (kH·kW, C_in, C_out)
    base = -plane  # first index of the current event's input channel (events come by channel)
    ci = -1
    for seg in range(bounds.shape[0] - 1):
        seg_visits = 0
        seg_levels = 0
        for e in range(bounds[seg], bounds[seg + 1]):
            n = idx[e]
            if n < base or n >= base + plane:
                ci = n // plane
                base = ci * plane
            z = val[e]
            first, last = start[n - base], start[n - base + 1]
            for k in range(first, last):
                row = acc2[out[k]]
                wrow = weight3[tap[k], ci]
                for c in range(c_out):
                    row[c] += z * wrow[c]
            seg_visits += (last - first) * c_out
            seg_levels += (last - first) * c_out * z
        visits[seg] += seg_visits
        level_visits[seg] += seg_levels


def conv_reach(in_hw, kernel, stride, padding, out_hw):
    """What an event at each source position (y, x) reaches: its taps (ky, kx) that land on an
    output (borders clipped, strides respected) and that output, as (start (H·W + 1,) int64,
    tap (E,) int32 = ky·kW + kx, out (E,) int32 = oy·W_out + ox); position p's entries are
    [start[p], start[p + 1]), ky-major. Kept per geometry."""
    key = tuple(map(tuple, (in_hw, kernel, stride, padding, out_hw)))
    if key not in _REACH:
        def axis(size, k, s, p, n_out):
            t = np.arange(size)[:, None] + p - np.arange(k)[None, :]  # = o·s for the tap's output
            return (t >= 0) & (t % s == 0) & (t // s < n_out), t // s
        (h, w), (kh, kw) = key[0], key[1]
        vy, oy = axis(h, kh, stride[0], padding[0], out_hw[0])
        vx, ox = axis(w, kw, stride[1], padding[1], out_hw[1])
        valid = vy[:, None, :, None] & vx[None, :, None, :]  # (H, W, kH, kW)
        taps = (np.arange(kh)[:, None] * kw + np.arange(kw)[None, :])[None, None]
        outs = oy[:, None, :, None] * out_hw[1] + ox[None, :, None, :]
        start = np.zeros(h * w + 1, np.int64)
        np.cumsum(valid.reshape(h * w, -1).sum(axis=1), out=start[1:])
        tables = (start, np.broadcast_to(taps, valid.shape)[valid].astype(np.int32),
                  outs[valid].astype(np.int32))
        for t in tables:
            t.setflags(write=False)
        _REACH[key] = tables
    return _REACH[key]


_REACH: dict = {}


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
    out_hw = acc.shape[:2]
    _check(all((n + 2 * p - k) // s + 1 == o for n, k, s, p, o in
               zip(in_hw, weight.shape[:2], stride, padding, out_hw)), "acc",
           f"output {out_hw} is not what a {weight.shape[:2]} kernel, stride {stride}, padding "
           f"{padding} makes of {tuple(in_hw)}")
    start, tap, out = conv_reach(in_hw, weight.shape[:2], stride, padding, out_hw)
    _conv_scatter(acc, weight, idx, val, bounds, visits, level_visits, in_hw[0] * in_hw[1],
                  start, tap, out)


@kernel
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


@kernel
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
    there reaches an output, (H·W,) int64 (conv_reach). An event at (y, x) visits taps · C_out
    synapses — what _conv_scatter counts, without the weights."""
    return np.diff(conv_reach(in_hw, kernel, stride, padding, out_hw)[0])


@kernel
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
