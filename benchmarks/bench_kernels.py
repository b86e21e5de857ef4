"""Kernel benchmark: synapse visits per second of the scatter-accumulate kernels, one thread,
on the layer shapes of VGG16 for CIFAR-10, next to a dense float32 im2col + BLAS product for the
same layer (a batch of 32 inputs, BLAS threads as configured) in the same process.

    python benchmarks/bench_kernels.py [--density 0.2] [--levels 4]

Events are drawn at random positions at the given density (fraction of input neurons that
fire) with levels 1..N; weights are 16-bit integers; accumulators int32 (the engine's choice
when the worst case fits, as it does for 16-bit weights) and int64 (its fallback).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from neurosim import kernels

HERE = Path(__file__).resolve().parent

# (C_in, H, W, C_out) of VGG16's 3×3 pad-1 convolutions after the first, and its first FC
VGG16_CONVS = [(64, 32, 32, 64), (64, 16, 16, 128), (128, 16, 16, 128), (128, 8, 8, 256),
               (256, 8, 8, 256), (256, 4, 4, 512), (512, 4, 4, 512), (512, 2, 2, 512)]


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def conv_case(shape, density, levels, acc_dtype, rng):
    cin, h, w, cout = shape
    n = cin * h * w
    idx = rng.choice(n, int(density * n), replace=False).astype(np.int32)
    val = rng.integers(1, levels + 1, len(idx)).astype(np.int32)
    weight = rng.integers(-2 ** 12, 2 ** 12, (3, 3, cin, cout)).astype(np.int16)
    acc = np.zeros((h, w, cout), acc_dtype)
    bounds = np.array([0, len(idx)], np.int64)
    visits, lv = np.zeros(1, np.int64), np.zeros(1, np.int64)

    def run():
        visits[0] = 0
        kernels._conv_scatter(acc, weight, idx, val, bounds, visits, lv, h * w,
                              *kernels.conv_reach((h, w), (3, 3), (1, 1), (1, 1), (h, w)))
    run()
    seconds = timed(run)
    batch = 32
    x = rng.random((batch, cin, h, w), dtype=np.float32)
    wf = rng.random((cout, cin * 9), dtype=np.float32)
    cols = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))),
                                                    (3, 3), axis=(2, 3))

    def dense():
        c = cols.transpose(0, 2, 3, 1, 4, 5).reshape(batch * h * w, cin * 9)
        return c @ wf.T
    dense_s = timed(dense)
    return int(visits[0]), seconds, batch * h * w * cin * 9 * cout, dense_s


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--density", type=float, default=0.2)
    p.add_argument("--levels", type=int, default=4)
    p.add_argument("--out", help="write the results as JSON into this directory")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()
    rows = []
    for dtype in (np.int32, np.int64):
        for shape in VGG16_CONVS:
            visits, seconds, macs, dense_s = conv_case(shape, args.density, args.levels, dtype, rng)
            rows.append({"kernel": "conv3x3", "acc": np.dtype(dtype).name,
                         "shape": "x".join(map(str, shape)), "visits": visits,
                         "visits_per_s": visits / seconds, "dense_macs_per_s": macs / dense_s})
    nin, nout = 2048, 512
    idx = rng.choice(nin, int(args.density * nin), replace=False).astype(np.int32)
    val = rng.integers(1, args.levels + 1, len(idx)).astype(np.int32)
    weight = rng.integers(-2 ** 12, 2 ** 12, (nin, nout)).astype(np.int16)
    acc = np.zeros(nout, np.int32)
    bounds, visits, lv = np.array([0, len(idx)]), np.zeros(1, np.int64), np.zeros(1, np.int64)
    kernels._linear_scatter(acc, weight, idx, val, bounds, visits, lv)
    seconds = timed(lambda: kernels._linear_scatter(acc, weight, idx, val, bounds, visits, lv))
    rows.append({"kernel": "linear", "acc": "int32", "shape": f"{nin}x{nout}",
                 "visits": len(idx) * nout, "visits_per_s": len(idx) * nout / seconds,
                 "dense_macs_per_s": float("nan")})
    main_rows = [r for r in rows if r["kernel"] == "conv3x3" and r["acc"] == "int32"]
    total_visits = sum(r["visits"] for r in main_rows)
    total_s = sum(r["visits"] / r["visits_per_s"] for r in main_rows)
    report = {"density": args.density, "levels": args.levels, "threads": 1,
              "rows": rows, "conv_int32_overall_visits_per_s": total_visits / total_s,
              "load_average_before": load_before, "load_average_after": os.getloadavg()}
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "kernels.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'kernel':8s} {'acc':6s} {'shape':>16s} {'visits/s':>10s} {'dense MAC/s':>12s}")
    for r in rows:
        print(f"{r['kernel']:8s} {r['acc']:6s} {r['shape']:>16s} {r['visits_per_s']:10.3g} "
              f"{r['dense_macs_per_s']:12.3g}")
    print(f"conv int32, all layers: {report['conv_int32_overall_visits_per_s']:.3g} visits/s; "
          f"load {report['load_average_before']} -> {report['load_average_after']}")
    return report


if __name__ == "__main__":
    main()
