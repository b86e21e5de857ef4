"""The dense reference's products: a batch's whole convolution or linear layer, event by event.

Every non-zero input adds its weights into the outputs it reaches, inputs taken in (channel, y,
x) order, so each output's sum is formed in one defined order, (c, kY, kX) for a convolution and
input order for a linear layer, whatever the machine: a BLAS GEMM's order (and its fused
multiply-adds) depends on the CPU it picked a kernel for. Skipping a zero input changes no sum
(adding x·w = ±0 to a sum that started at +0 leaves it as it was), so the cost follows the
activity, as the engine's does. Integer arrays accumulate in int64, exactly; float arrays round
each product, then each addition, to float64.

These kernels are written apart from the engine's (neurosim/kernels/synapses.py walks a reach
table per event; these compute each tap's output from the geometry), so that the reference
stays an independent check of the engine.
"""

from __future__ import annotations

import numpy as np

from .jit import _check, kernel


@kernel
def taps(size, kernel, stride, padding, out_size):
    """out[i, k]: the output coordinate that input coordinate i reaches through kernel tap k,
    or -1 (one axis of a convolution: borders clipped, strides respected)."""
    out = np.full((size, kernel), -1, np.int64)
    for i in range(size):
        for k in range(kernel):
            t = i + padding - k
            if t >= 0 and t % stride == 0 and t // stride < out_size:
                out[i, k] = t // stride
    return out


@kernel
def _conv(x, w, sh, sw, ph, pw, out):
    b_n, c_n, h, w_n = x.shape
    kh, kw, c_out = w.shape[1], w.shape[2], w.shape[3]
    ys = taps(h, kh, sh, ph, out.shape[1])
    xs = taps(w_n, kw, sw, pw, out.shape[2])
    for b in range(b_n):
        ob = out[b]
        for c in range(c_n):
            wc = w[c]
            for y in range(h):
                for xx in range(w_n):
                    v = x[b, c, y, xx]
                    if v == 0:
                        continue
                    for ky in range(kh):
                        oy = ys[y, ky]
                        if oy < 0:
                            continue
                        orow = ob[oy]
                        for kx in range(kw):
                            ox = xs[xx, kx]
                            if ox < 0:
                                continue
                            acc = orow[ox]
                            wr = wc[ky, kx]
                            for k in range(c_out):
                                acc[k] += v * wr[k]


@kernel
def _linear(x, w, out):
    b_n, n_in = x.shape
    n_out = w.shape[1]
    for b in range(b_n):
        acc = out[b]
        for i in range(n_in):
            v = x[b, i]
            if v == 0:
                continue
            wr = w[i]
            for k in range(n_out):
                acc[k] += v * wr[k]


def _accumulator(x: np.ndarray, w: np.ndarray) -> type:
    integer = np.issubdtype(x.dtype, np.integer) and np.issubdtype(w.dtype, np.integer)
    return np.int64 if integer else np.float64


def conv(x: np.ndarray, weight: np.ndarray, stride, padding, out_hw) -> np.ndarray:
    """Cross-correlation of a batch ``x`` (B, C, H, W) with ``weight`` (C_out, C, kH, kW),
    zero padded: (B, C_out, Ho, Wo), int64 when both are integers, else float64."""
    _check(x.ndim == 4 and weight.ndim == 4 and x.shape[1] == weight.shape[1], "inputs",
           f"expected a (B, C, H, W) batch for weights {weight.shape}, got {x.shape}")
    dtype = _accumulator(x, weight)
    w = np.ascontiguousarray(weight.transpose(1, 2, 3, 0), dtype)  # (C, kH, kW, C_out)
    x = np.ascontiguousarray(x if dtype is np.int64 else x.astype(np.float64, copy=False))
    out = np.zeros((len(x), out_hw[0], out_hw[1], len(weight)), dtype)
    _conv(x, w, stride[0], stride[1], padding[0], padding[1], out)
    return out.transpose(0, 3, 1, 2)


def linear(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x (B, N_in) times ``weight`` (N_out, N_in) transposed: (B, N_out), int64 when both are
    integers, else float64."""
    _check(x.ndim == 2 and weight.ndim == 2 and x.shape[1] == weight.shape[1], "inputs",
           f"expected a (B, {weight.shape[1]}) batch, got {x.shape}")
    dtype = _accumulator(x, weight)
    w = np.ascontiguousarray(weight.T, dtype)
    x = np.ascontiguousarray(x if dtype is np.int64 else x.astype(np.float64, copy=False))
    out = np.zeros((len(x), len(weight)), dtype)
    _linear(x, w, out)
    return out
