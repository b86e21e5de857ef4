"""Whole-engine benchmark: simulate a network on real CIFAR-10 images and compare with a dense
float32 forward pass of the same network, in the same process.

    python benchmarks/bench_engine.py                      # VGG16, N=4, T=1, 32 images
    python benchmarks/bench_engine.py --arch sew --samples 16 --timesteps 4
    python benchmarks/bench_engine.py --model models/vgg16_cifar10_n4t1_w025   # trained weights
    python benchmarks/bench_engine.py --arch sew --samples 256 --workers 2  # + 2 workers' run
    python benchmarks/bench_engine.py --samples 2048 --workers 2 --input CIFAR-10_TEST.npz

Reports per image: engine wall time, dense numpy/BLAS and torch forward times and the ratios,
synapse visits per second of the engine (all of it) and of its scatter kernels alone, the share
of wall time spent in SimPy and in the kernels, and the machine load (background jobs share the
2 cores: compare ratios, not absolute times). With --out DIR the numbers are also written as JSON.

--workers K (K > 1) also runs the same images through ``neurosim.simulate.simulate(...,
workers=K)`` — the network saved to a temporary model directory, as the CLI reads it — and
reports its time per image against torch's (which uses every core too): the sharded run, from
the first shard sent to the last one merged (each worker's model load and first kernel calls
included, the cluster's start not), and the whole call. Shards hold whole blocks of 64 images,
so K workers need K × 64 images or more to all work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dense import DenseForward, dense_macs  # noqa: E402

from neurosim import engine, reference  # noqa: E402
from neurosim.compiler import compile_graph, map_to_cores  # noqa: E402
from neurosim.data import load_npz_images, stratified_indices  # noqa: E402
from neurosim.engine import core  # noqa: E402
from neurosim.model.builders import resnet18, vgg16  # noqa: E402
from neurosim.model.io import load_model  # noqa: E402

CIFAR = HERE.parent / "models" / "vgg16_cifar10_n4t1_w025" / "samples.npz"  # 500 test images


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class KernelClock:
    """Time spent inside the scatter kernels during an engine run."""

    def __init__(self):
        self.seconds = 0.0
        self.original = core.Synapses.scatter

    def __enter__(self):
        clock, original, me = time.perf_counter, self.original, self

        def timed(syn, *args):
            start = clock()
            counts = original(syn, *args)
            me.seconds += clock() - start
            return counts
        core.Synapses.scatter = timed
        return self

    def __exit__(self, *exc):
        core.Synapses.scatter = self.original


def workers_run(graph, args, data, result) -> dict:
    """The same images through ``simulate(..., workers=args.workers)`` on the network saved as
    a model directory (calibration off, as the in-process run above)."""
    import tempfile

    from neurosim.model.io import save_model
    from neurosim.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        model = save_model(graph, Path(tmp) / "model")
        start = time.perf_counter()
        sim = simulate(model, hw=args.hw, inputs=data, float_reference=False, record=False,
                       calibration=False, workers=args.workers)
        call_s = time.perf_counter() - start
    return {"sharded_s": sim.result.timing["wall_s"], "call_s": call_s,
            "identical": sim.result.counts.differences(result.counts) == []}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="vgg16", choices=["vgg16", "sew", "sparse", "spiking"])
    p.add_argument("--levels", type=int, default=4)
    p.add_argument("--timesteps", type=int, default=1)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--model", help="a model directory (trained weights) instead of --arch's "
                                   "random He-normal ones; its own N and T")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--input", default=str(CIFAR),
                   help="an npz of images (default: the 500 test images of the shipped VGG16; "
                        "e.g. the 10,000 of cifar10_test_q75.npz for --workers)")
    p.add_argument("--repeat", type=int, default=3, help="dense runs: best of this many")
    p.add_argument("--hw", help="hardware profile YAML (core limits split layers; default: one "
                                "core per layer, default timing)")
    p.add_argument("--check", action="store_true", help="also run the reference and compare")
    p.add_argument("--out", help="write the results as JSON into this directory")
    p.add_argument("--workers", type=int, default=1,
                   help="also time a sharded run on this many worker processes (above 1)")
    args = p.parse_args(argv)

    load_before = os.getloadavg()
    data = load_npz_images(args.input)
    data = data.subset(stratified_indices(data.labels, args.samples, seed=0))
    if args.model:
        graph = load_model(args.model)
        args.levels = max(nrn.spec.levels for nrn in graph.neurons() if not nrn.spec.barrier)
        args.timesteps, args.width = graph.timesteps, None
    else:
        build = vgg16 if args.arch == "vgg16" else (lambda **kw: resnet18(args.arch, **kw))
        graph = build(levels=args.levels, timesteps=args.timesteps, width=args.width)
    profile = None
    if args.hw:
        from neurosim.hardware import load_profile
        profile = load_profile(args.hw)
    net = compile_graph(graph, profile.widths if profile else None)
    if profile is not None:
        net = map_to_cores(net, profile)
    fnet = compile_graph(graph, integer=False)
    x = data.inputs
    n = len(x)

    engine.run(net, x[:2], profile=profile)  # compile the kernels, lay out the weights
    with KernelClock() as kernels:
        start = time.perf_counter()
        result = engine.run(net, x, labels=data.labels, profile=profile)
        engine_s = time.perf_counter() - start
    visits = result.counts.total("synapse_visits")
    dense = {}
    for backend in ("numpy", "torch"):
        fwd = DenseForward(fnet, backend)
        fwd.forward(x[:2])
        dense[backend] = best_of(lambda: fwd.forward(x), args.repeat)
    check = None
    if args.check:
        start = time.perf_counter()
        ref = reference.run(net, x)
        check = {"reference_s_per_image": (time.perf_counter() - start) / n,
                 "identical_counts": ref.counts.differences(result.counts) == [],
                 "identical_logits": bool(np.array_equal(ref.logits, result.logits))}
    sharded = workers_run(graph, args, data, result) if args.workers > 1 else None
    load_after = os.getloadavg()
    timing = result.timing
    report = {
        "network": net.name, "profile": profile.name if profile else "default",
        "cores": len(getattr(net, "cores", net.layers)), "samples": n, "levels": args.levels, "timesteps": args.timesteps,
        "width": args.width, "inputs": f"{Path(args.input).name}, stratified",
        "weights": args.model or "random He-normal", "accuracy": result.accuracy,
        "synapse_visits_per_image": visits / n,
        "events_per_image": result.counts.total("events_out") / n,
        "dense_macs_per_image": dense_macs(fnet),
        "engine_s_per_image": engine_s / n,
        "dense_numpy_s_per_image": dense["numpy"] / n,
        "dense_torch_s_per_image": dense["torch"] / n,
        "ratio_engine_to_dense_numpy": engine_s / dense["numpy"],
        "ratio_engine_to_dense_torch": engine_s / dense["torch"],
        "engine_visits_per_s": visits / engine_s,
        "kernel_visits_per_s": visits / kernels.seconds,
        "kernel_share": kernels.seconds / engine_s,
        "simpy_share": timing["simpy_share"],
        "simulated_latency_s": timing["latency_s"],
        "simulated_throughput_per_s": timing["throughput_per_s"],
        "load_average_before": load_before, "load_average_after": load_after,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "check": check,
    }
    if sharded is not None:
        report.update({
            "workers": args.workers,
            "workers_s_per_image": sharded["sharded_s"] / n,
            "workers_call_s_per_image": sharded["call_s"] / n,
            "ratio_workers_to_dense_torch": sharded["sharded_s"] / dense["torch"],
            "workers_speedup": engine_s / sharded["sharded_s"],
            "workers_identical_counts": sharded["identical"]})
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        name = f"engine_{Path(args.model).name if args.model else net.name}_{args.samples}img.json"
        (out / name).write_text(json.dumps(report, indent=2) + "\n")
    for key, value in report.items():
        print(f"{key:32s} {value:.4g}" if isinstance(value, float) else f"{key:32s} {value}")
    return report


if __name__ == "__main__":
    main()
