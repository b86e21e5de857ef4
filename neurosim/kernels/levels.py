"""Statistics of recorded levels (neurosim.metrics: levels.csv, NeuroBench SynapticOperations),
one pass over a block's levels each, without the int64 copies and boolean temporaries numpy's
bincount and products would make. Counts are exact integers, so the results are numpy's.
"""

from __future__ import annotations

import numpy as np

from .jit import _check, kernel


@kernel
def _histogram(flat):
    """(histogram, True), or (…, False) at a negative value: a pass for the range, one to
    count."""
    lo, hi = np.int64(0), np.int64(0)
    for i in range(flat.size):
        lo = min(lo, np.int64(flat[i]))
        hi = max(hi, np.int64(flat[i]))
    if lo < 0:
        return np.zeros(hi + 1, np.int64), False
    # four interleaved histograms: successive equal levels (mostly 0) then update different
    # counters instead of waiting on one another's store
    out = np.zeros((4, hi + 1), np.int64)
    n4 = flat.size // 4 * 4
    for i in range(0, n4, 4):
        out[0, flat[i]] += 1
        out[1, flat[i + 1]] += 1
        out[2, flat[i + 2]] += 1
        out[3, flat[i + 3]] += 1
    for i in range(n4, flat.size):
        out[0, flat[i]] += 1
    return out.sum(axis=0), True


@kernel
def _nonzero_fan(values, fan, ops):
    """ops[t, b] = Σ fan[i] over the non-zero values[t, b, i]."""
    for t in range(values.shape[0]):
        for b in range(values.shape[1]):
            s = 0
            for i in range(values.shape[2]):
                if values[t, b, i] != 0:
                    s += fan[i]
            ops[t, b] = s


@kernel
def _all_in(values, allowed, ok):
    """ok[t, b]: every |values[t, b, i]| is 0 or one of ``allowed``."""
    for t in range(values.shape[0]):
        for b in range(values.shape[1]):
            good = True
            for i in range(values.shape[2]):
                a = abs(values[t, b, i])
                if a != 0:
                    hit = False
                    for k in allowed:
                        if a == k:
                            hit = True
                    if not hit:
                        good = False
                        break
            ok[t, b] = good


def _checked(found) -> np.ndarray:
    out, ok = found
    if not ok:
        raise ValueError("output levels must be >= 0")
    return out


def _integers(values) -> np.ndarray:
    """Contiguous integer levels (a float network's levels are whole numbers in float64)."""
    values = np.ascontiguousarray(values)
    return values if np.issubdtype(values.dtype, np.integer) else values.astype(np.int64)


def histogram(values: np.ndarray) -> np.ndarray:
    """np.bincount of non-negative integer ``values`` (any shape): index z counts the entries
    equal to z; an empty array gives [0]."""
    return _checked(_histogram(_integers(values).reshape(-1)))


def sum_histogram(arrays: list[np.ndarray]) -> np.ndarray:
    """``histogram`` of the element-wise sum of equally shaped non-negative integer arrays."""
    total = np.zeros(arrays[0].size, np.int64)
    for a in arrays:
        total += _integers(a).reshape(-1)
    return _checked(_histogram(total))


def nonzero_fan(values: np.ndarray, fan: np.ndarray) -> np.ndarray:
    """(T, B) int64: Σ ``fan`` over the non-zero entries of each call's ``values`` (T, B, n)."""
    _check(values.ndim == 3 and fan.shape == (values.shape[2],), "nonzero_fan",
           "needs values (T, B, n) and fan (n,)")
    ops = np.zeros(values.shape[:2], np.int64)
    _nonzero_fan(values, np.ascontiguousarray(fan, np.int64), ops)
    return ops


def all_in(values: np.ndarray, allowed) -> np.ndarray:
    """(T, B) bool: every |value| of the call (T, B, n) is 0 or in ``allowed``."""
    ok = np.zeros(values.shape[:2], np.bool_)
    _all_in(values, np.asarray(list(allowed), np.int64), ok)
    return ok
