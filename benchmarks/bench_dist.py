"""Speed-up of sharded runs: 1 and 2 workers (local processes, local Dask) against one process.

    python benchmarks/bench_dist.py [--model models/sew_resnet18_cifar10_n4t1_w025]
        [--input FILE] [--samples 1000] [--workers 1,2] [--shard-model models/NAME]
        [--shard-samples 500] [--shard-sizes 64,128,256,512] [--tasks 200] [--out DIR]

Three measurements, each the whole ``neurosim simulate … --no-float --quiet`` process as a user
runs it (start-up, compile, workers, merge, writing the run directory):

1. speed-up: one process (``--workers 1``) against ``--workers K`` on local processes and on a
   local Dask cluster; time per image.
2. scheduler overhead per shard: a local Dask cluster of 2 processes running ``--tasks`` empty
   tasks, and the same through concurrent.futures (round trip per task, ms).
3. shard size: ``--workers 2`` (Dask) with each ``--shard-size`` on ``--shard-model`` (default
   the shipped VGG16 and its samples): small shards cost more round trips, large ones leave a
   worker idle at the end.

Writes bench_dist.csv and bench_dist.json into ``--out`` (default benchmarks/results) and prints
the tables. Wall-clock figures on a shared machine are noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli_time(args: list[str]) -> float:
    """Wall time of one ``neurosim simulate`` process."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("NEUROSIM_WORKERS", None)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "neurosim.cli", "simulate", *args], cwd=REPO,
                          env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return time.perf_counter() - start


def _nothing(x):
    return x


def task_overhead(tasks: int) -> dict:
    """Round trip per empty task (ms): Dask LocalCluster and concurrent.futures, 2 processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    out = {}
    try:
        import logging

        from distributed import Client, LocalCluster, wait
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            wait([client.submit(_nothing, i, pure=False) for i in range(10)])
            start = time.perf_counter()
            wait([client.submit(_nothing, i, pure=False) for i in range(tasks)])
            out["dask_ms_per_task"] = 1e3 * (time.perf_counter() - start) / tasks
    except ImportError:
        out["dask_ms_per_task"] = None
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_nothing, range(10)))
        start = time.perf_counter()
        list(pool.map(_nothing, range(tasks)))
        out["processes_ms_per_task"] = 1e3 * (time.perf_counter() - start) / tasks
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="models/sew_resnet18_cifar10_n4t1_w025")
    p.add_argument("--input", default=None, help="inputs (default: the model's samples.npz)")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--hw", default="hw_configs/paper_45nm.yaml")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--shard-model", default="models/vgg16_cifar10_n4t1_w025")
    p.add_argument("--shard-samples", type=int, default=500)
    p.add_argument("--shard-sizes", default="64,128,256,512")
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args(argv)
    base = [args.model, "--samples", str(args.samples), "--hw", args.hw, "--no-float",
            "--quiet"] + (["--input", args.input] if args.input else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one = cli_time(base + ["--workers", "1", "--out", f"{tmp}/one"])
        print(f"one process: {one:.1f} s", flush=True)
        rows.append({"measure": "speed-up", "backend": "one process", "workers": 1,
                     "shard_size": "", "wall_s": one, "ms_per_image": 1e3 * one / args.samples,
                     "speed_up": 1.0})
        for k in (int(w) for w in args.workers.split(",")):
            for backend in ("processes", "dask"):
                t = cli_time(base + ["--workers", str(k), "--backend", backend,
                                     "--out", f"{tmp}/{backend}{k}"])
                rows.append({"measure": "speed-up", "backend": backend, "workers": k,
                             "shard_size": "", "wall_s": t,
                             "ms_per_image": 1e3 * t / args.samples, "speed_up": one / t})
                print(f"{backend} x{k}: {t:.1f} s ({one / t:.2f}x)", flush=True)
        small = [args.shard_model, "--samples", str(args.shard_samples), "--hw", args.hw,
                 "--no-float", "--quiet"]
        alone = cli_time(small + ["--workers", "1", "--out", f"{tmp}/small"])
        for size in (int(s) for s in args.shard_sizes.split(",")):
            t = cli_time(small + ["--workers", "2", "--backend", "dask", "--shard-size",
                                  str(size), "--out", f"{tmp}/shard{size}"])
            rows.append({"measure": f"shard size ({Path(args.shard_model).name})",
                         "backend": "dask", "workers": 2, "shard_size": size, "wall_s": t,
                         "ms_per_image": 1e3 * t / args.shard_samples, "speed_up": alone / t})
    overhead = task_overhead(args.tasks)
    import pandas as pd

    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "bench_dist.csv", index=False)
    (out / "bench_dist.json").write_text(json.dumps(
        {"command": " ".join(["neurosim simulate", *base]), "cpus": os.cpu_count(),
         "load_average": os.getloadavg(), "rows": rows, "overhead": overhead}, indent=2) + "\n")
    with pd.option_context("display.width", 160, "display.float_format", "{:.3g}".format):
        print(table.to_string(index=False))
    dask = overhead["dask_ms_per_task"]
    print(f"scheduler overhead per task: Dask {'n/a' if dask is None else f'{dask:.3g}'} ms, "
          f"concurrent.futures {overhead['processes_ms_per_task']:.3g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
