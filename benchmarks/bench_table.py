"""The engine's speed in one table, and how it scales: what benchmarks/README.md reports.

    python benchmarks/bench_table.py --out DIR              # the short default: a few minutes
    python benchmarks/bench_table.py --full --out DIR       # every row, more images, + reference

Rows: VGG16, SEW-ResNet18 and Sparse-ResNet18, each with the shipped trained weights (width 1/4,
models/*_n4t1_w025) and with random He-normal weights at full width; at N=4 T=1 and binary (N=1)
T=4; on the one-core-per-layer map and on hw_configs/loihi_14nm.yaml (1024 neurons per core).
Columns, per image, all measured in this one process on the same stratified CIFAR-10 test images:
engine wall time, dense float32 forward with numpy/BLAS and with torch (benchmarks/dense.py),
engine ÷ torch, kernel share (wall time inside the scatter kernels ÷ engine wall time, as
bench_engine.py measures it), SimPy share, synapse visits per second, the dense reference
(neurosim.reference.run, exact counts) and engine ÷ reference, and the speed-up of
``neurosim simulate --workers 2`` over ``--workers 1`` on --workers-images images (whole blocks of
64: a shard holds whole blocks, so fewer images than two blocks cannot use two workers; n/a where
the option does not exist or with --workers-images 0).
The default leaves out the slowest rows (full-width residual networks on loihi_14nm) and runs the
reference on the trained models only; --full runs everything.

Scaling plots (PNG, and scaling.csv): engine time per image against activity (events, by the
neurons' threshold), N, T, image size (32×32 to 128×128) and number of cores (core.max_neurons).

DIR gets table.csv, table.md, scaling.csv, scaling_*.png and meta.json (machine, load average
before and after: background jobs share the cores, so compare ratios taken in one run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_engine import CIFAR, KernelClock, best_of  # noqa: E402
from dense import DenseForward  # noqa: E402

from neurosim import engine, reference  # noqa: E402
from neurosim.compiler import compile_graph, map_to_cores  # noqa: E402
from neurosim.data import load_npz_images, stratified_indices  # noqa: E402
from neurosim.hardware import CoreLimits, Profile, load_profile  # noqa: E402
from neurosim.model.builders import resnet18, vgg16  # noqa: E402
from neurosim.model.io import load_model  # noqa: E402

TRAINED = {"vgg16": "vgg16_cifar10_n4t1_w025", "sew": "sew_resnet18_cifar10_n4t1_w025",
           "sparse": "sparse_resnet18_cifar10_n4t1_w025"}
NAMES = {"vgg16": "VGG16", "sew": "SEW-ResNet18", "sparse": "Sparse-ResNet18"}
SETTINGS = {"N4T1": (4, 1), "N1T4": (1, 4)}
LOIHI = REPO / "hw_configs" / "loihi_14nm.yaml"
COLUMNS = ["network", "weights", "setting", "map", "cores", "images", "events_per_image",
           "visits_per_image", "engine_ms", "dense_numpy_ms", "dense_torch_ms",
           "engine_over_torch", "kernel_share", "simpy_share", "visits_per_s", "reference_ms",
           "engine_over_reference", "workers2_speedup"]
SCALING_COLUMNS = ["axis", "value", "cores", "images", "events_per_image", "visits_per_image",
                   "engine_ms", "kernel_share", "simpy_share", "visits_per_s"]


def graph_of(arch: str, weights: str, setting: str, **kw):
    levels, timesteps = SETTINGS[setting]
    if weights == "trained":
        return load_model(REPO / "models" / TRAINED[arch]).with_levels(levels) \
            .with_timesteps(timesteps)
    build = vgg16 if arch == "vgg16" else (lambda **a: resnet18(arch, **a))
    return build(levels=levels, timesteps=timesteps, **kw)


def network(graph, profile):
    net = compile_graph(graph, profile.widths if profile else None)
    return (map_to_cores(net, profile) if profile is not None else net), \
        compile_graph(graph, integer=False)


def engine_time(net, x, profile) -> dict:
    """One timed engine run after a warm-up on one input (kernels compiled, weights laid out)."""
    engine.run(net, x[:1], profile=profile)
    with KernelClock() as kernels:
        start = time.perf_counter()
        result = engine.run(net, x, profile=profile)
        wall = time.perf_counter() - start
    n = len(x)
    visits = result.counts.total("synapse_visits")
    return {"cores": len(getattr(net, "cores", ())) or len(net.layers), "images": n,
            "events_per_image": result.counts.total("events_out") / n,
            "visits_per_image": visits / n, "engine_ms": 1e3 * wall / n,
            "kernel_share": kernels.seconds / wall, "simpy_share": result.timing["simpy_share"],
            "visits_per_s": visits / wall}


def dense_times(fnet, x, repeat: int) -> dict:
    out = {}
    for backend in ("numpy", "torch"):
        fwd = DenseForward(fnet, backend)
        fwd.forward(x[:2])
        out[f"dense_{backend}_ms"] = 1e3 * best_of(lambda f=fwd: f.forward(x), repeat) / len(x)
    return out


def reference_time(net, x) -> float:
    reference.run(net, x[:1])
    start = time.perf_counter()
    reference.run(net, x)
    return 1e3 * (time.perf_counter() - start) / len(x)


def has_workers_option() -> bool:
    from neurosim.cli import build_parser
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices
               and "simulate" in a.choices)
    return any("--workers" in a.option_strings for a in sub.choices["simulate"]._actions)


def workers_speedup(arch: str, setting: str, profile_path, samples: int) -> float:
    """Whole CLI time of ``neurosim simulate`` with 1 worker ÷ with 2 (shipped model)."""
    levels, timesteps = SETTINGS[setting]
    base = [sys.executable, "-m", "neurosim.cli", "simulate", str(REPO / "models" / TRAINED[arch]),
            "--samples", str(samples), "--no-float", "--quiet", "-N", str(levels), "-T",
            str(timesteps)] + (["--hw", str(profile_path)] if profile_path else [])
    seconds = []
    for workers in (1, 2):
        start = time.perf_counter()
        subprocess.run(base + ["--workers", str(workers)], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
    return seconds[0] / seconds[1]


def table_rows(args, x_trained, x_random, workers: bool) -> list[dict]:
    rows = []
    loihi = load_profile(LOIHI)
    for arch in ("vgg16", "sew", "sparse"):
        for weights in ("trained", "random"):
            for setting in SETTINGS:
                for map_name, profile in (("one core per layer", None), ("loihi_14nm", loihi)):
                    slow = weights == "random" and arch != "vgg16" and profile is not None
                    if slow and not args.full:
                        continue
                    x = x_trained if weights == "trained" else x_random
                    if profile is not None and not args.full:
                        x = x[:max(1, len(x) // 4)]
                    net, fnet = network(graph_of(arch, weights, setting), profile)
                    row = {"network": NAMES[arch], "weights": weights, "setting": setting,
                           "map": map_name, **engine_time(net, x, profile),
                           **dense_times(fnet, x, args.repeat)}
                    row["engine_over_torch"] = row["engine_ms"] / row["dense_torch_ms"]
                    if weights == "trained" or args.full:
                        row["reference_ms"] = reference_time(net, x)
                        row["engine_over_reference"] = row["engine_ms"] / row["reference_ms"]
                    row["workers2_speedup"] = workers_speedup(
                        arch, setting, LOIHI if profile else None, args.workers_images) \
                        if workers and args.workers_images and weights == "trained" else "n/a"
                    rows.append(row)
                    print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    def f(key, spec):
        value = row.get(key)
        return "—" if value is None else value if isinstance(value, str) else format(value, spec)
    return (f"{row['network']:16s} {row['weights']:7s} {row['setting']} {row['map']:18s} "
            f"cores {row['cores']:4d}  engine {f('engine_ms', '8.2f')} ms  numpy "
            f"{f('dense_numpy_ms', '7.2f')}  torch {f('dense_torch_ms', '7.2f')}  "
            f"÷torch {f('engine_over_torch', '6.1f')}  kernels {f('kernel_share', '5.1%')}  "
            f"SimPy {f('simpy_share', '5.1%')}  visits/s {f('visits_per_s', '8.3g')}  "
            f"reference {f('reference_ms', '8.2f')} ms  ÷ref {f('engine_over_reference', '5.2f')}"
            f"  2 workers {f('workers2_speedup', '.2f')}")


# --- scaling -------------------------------------------------------------------------------------

def upsample(x: np.ndarray, size: int) -> np.ndarray:
    """CIFAR images (B, 3, 32, 32) to size × size by nearest-neighbour repetition."""
    idx = np.arange(size) * 32 // size
    return x[:, :, idx][:, :, :, idx]


def scaling(args, x: np.ndarray) -> list[dict]:
    """Engine time per image against activity, N, T, image size and cores (VGG16 width 1/4)."""
    points = []
    n = len(x)
    trained = load_model(REPO / "models" / TRAINED["vgg16"])

    def point(axis, value, graph, inputs, profile=None):
        net, _ = network(graph, profile)
        m = engine_time(net, inputs, profile)
        points.append({"axis": axis, "value": value, **m})
        print(f"scaling {axis:10s} {value!s:>8s}: engine {m['engine_ms']:8.2f} ms/image, "
              f"{m['events_per_image']:9.0f} events, kernels {m['kernel_share']:5.1%}",
              flush=True)

    for vth in args.vth:
        point("activity", vth, vgg16(width=0.25, vth=vth), x)
    for levels in args.levels:
        point("levels", levels, trained.with_levels(levels), x)
    for timesteps in args.timesteps:
        point("timesteps", timesteps, trained.with_timesteps(timesteps), x)
    for size in args.sizes:
        point("image_size", size, vgg16(width=0.25, input_shape=(3, size, size)),
              upsample(x[:max(1, n // (size // 32) ** 2)], size))
    for neurons in args.core_neurons:
        profile = Profile("cores", core=CoreLimits(max_neurons=neurons)) if neurons else None
        point("cores", neurons or "layer", trained, x, profile)
    return points


def plot(points: list[dict], out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    labels = {"activity": ("events per image (neuron threshold varied)", "events_per_image"),
              "levels": ("N (levels)", "value"), "timesteps": ("T (timesteps)", "value"),
              "image_size": ("image size (pixels per side)", "value"),
              "cores": ("cores (core.max_neurons varied)", "cores")}
    for axis, (xlabel, key) in labels.items():
        mine = [p for p in points if p["axis"] == axis]
        if not mine:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.4))
        xs = [p[key] for p in mine]
        ax.plot(xs, [p["engine_ms"] for p in mine], "o-", label="engine")
        ax.plot(xs, [p["engine_ms"] * p["kernel_share"] for p in mine], "s--",
                label="inside the scatter kernels")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ms per image")
        ax.set_title(f"VGG16 width 1/4: time against {axis.replace('_', ' ')}", fontsize=9)
        if axis in ("activity", "cores"):
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"scaling_{axis}.png"
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        written.append(name)
    return written


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in columns})


def write_markdown(path: Path, rows: list[dict]) -> None:
    def cell(row, key, spec):
        v = row.get(key)
        return "—" if v is None else v if isinstance(v, str) else format(v, spec)
    lines = ["| network | weights | N, T | map | cores | engine ms/img | numpy ms | torch ms | "
             "engine ÷ torch | kernel share | SimPy share | visits/s | reference ms | "
             "engine ÷ reference | 2 workers |", "|" + "---|" * 15]
    for r in rows:
        lines.append("| " + " | ".join([
            r["network"], r["weights"], r["setting"], r["map"], str(r["cores"]),
            cell(r, "engine_ms", ".2f"), cell(r, "dense_numpy_ms", ".2f"),
            cell(r, "dense_torch_ms", ".2f"), cell(r, "engine_over_torch", ".1f") + "×",
            cell(r, "kernel_share", ".0%"), cell(r, "simpy_share", ".1%"),
            cell(r, "visits_per_s", ".2g"), cell(r, "reference_ms", ".2f"),
            cell(r, "engine_over_reference", ".2f"), cell(r, "workers2_speedup", ".2f")]) + " |")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", help="directory for table.csv, table.md, scaling.csv, the plots and "
                                 "meta.json (created; existing files there are refused "
                                 "unless --force)")
    p.add_argument("--force", action="store_true", help="replace the files of an earlier run")
    p.add_argument("--full", action="store_true",
                   help="every row (full-width residual networks on loihi_14nm too), all the "
                        "images on loihi_14nm, the reference on random weights, larger grids")
    p.add_argument("--trained-images", type=int, help="images per trained row (16; full: 64)")
    p.add_argument("--random-images", type=int, help="images per full-width row (4; full: 16)")
    p.add_argument("--workers-images", type=int,
                   help="images per 2-worker CLI run (256, whole 64-input blocks; full: 1024; "
                        "0: leave the column out)")
    p.add_argument("--repeat", type=int, default=3, help="dense forwards: best of this many")
    p.add_argument("--no-table", action="store_true", help="only the scaling plots")
    p.add_argument("--no-plots", action="store_true", help="only the table")
    args = p.parse_args(argv)
    args.trained_images = args.trained_images or (64 if args.full else 16)
    args.random_images = args.random_images or (16 if args.full else 4)
    if args.workers_images is None:
        args.workers_images = 1024 if args.full else 256
    args.vth = [0.25, 0.5, 1.0, 2.0, 4.0] if args.full else [0.5, 1.0, 2.0]
    args.levels = [1, 2, 4, 8]
    args.timesteps = [1, 2, 4, 8] if args.full else [1, 2, 4]
    args.sizes = [32, 64, 96, 128] if args.full else [32, 64, 128]
    args.core_neurons = [0, 16384, 4096, 1024, 256] if args.full else [0, 4096, 1024]
    out = Path(args.out) if args.out else None
    names = ["table.csv", "table.md", "scaling.csv", "meta.json"]
    if out is not None and not args.force and any((out / n).exists() for n in names):
        sys.exit(f"bench_table.py: error: {out}: holds the files of an earlier run; choose a new "
                 "--out, or --force to replace them")
    load_before = os.getloadavg()
    started = time.perf_counter()
    data = load_npz_images(CIFAR)
    data = data.subset(stratified_indices(data.labels, max(args.trained_images,
                                                             args.random_images), seed=0))
    x = data.inputs
    workers = has_workers_option()
    rows = [] if args.no_table else table_rows(args, x[:args.trained_images],
                                               x[:args.random_images], workers)
    points = [] if args.no_plots else scaling(args, x[:args.trained_images])
    meta = {"load_average_before": load_before, "load_average_after": os.getloadavg(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "machine": platform.machine(), "seconds": time.perf_counter() - started,
            "full": args.full, "workers_option": workers,
            "inputs": "CIFAR-10 test (JPEG-Q75 copy), stratified, models/*/samples.npz"}
    print(f"load average {load_before} -> {meta['load_average_after']}, "
          f"{meta['seconds']:.0f} s")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if rows:
            write_csv(out / "table.csv", rows, COLUMNS)
            write_markdown(out / "table.md", rows)
        if points:
            write_csv(out / "scaling.csv", points, SCALING_COLUMNS)
            meta["plots"] = plot(points, out)
        (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return rows, points, meta


if __name__ == "__main__":
    main()
