"""``neurosim simulate`` and ``neurosim inspect``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..options import (LEVELS, SAMPLES, SEED, TIMESTEPS, Command, add_cluster, add_max_memory,
                       path)

SIM_COLUMNS = ["layer", "kind", "neurons", "events_in", "events_out", "synapse_visits",
               "potential_reads", "weight_reads", "acc_ops", "mac_ops"]


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None, lambda: None
    from tqdm.auto import tqdm
    bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False)
    return bar.update, bar.close


def simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory (manifest.yaml + weights.npz)")
    p.add_argument("--hw", help="hardware profile YAML (adds energy columns and energy.csv)")
    p.add_argument("--input", help="inputs: npz (images or events), CIFAR-10 .bin, idx file; "
                                   "default: the model's samples.npz")
    p.add_argument("--samples", type=SAMPLES, help="simulate a stratified subset of this many "
                                                  "inputs")
    p.add_argument("-T", "--timesteps", type=TIMESTEPS, help="override the model's timesteps")
    p.add_argument("-N", "--levels", type=LEVELS, help="override every neuron's number of levels")
    p.add_argument("--engine", choices=("event", "reference"), default=None,
                   help="event-driven engine (default when available) or dense reference")
    p.add_argument("--add-mode", choices=("forward", "merge"),
                   help="how residual adds move events (default: the profile's, else forward)")
    p.add_argument("--seed", type=SEED, default=0, help="seed for sampling inputs")
    p.add_argument("--out", type=path, help="output directory for layers.csv, summary.json, energy.csv")
    p.add_argument("--force", action="store_true",
                   help="write into an existing --out that neurosim did not create, replacing "
                        "only the files neurosim writes (nothing else is touched)")
    p.add_argument("--no-float", action="store_true", help="skip the float-model accuracy run")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    add_cluster(p)
    add_max_memory(p)


def simulate_main(args) -> int:
    from .. import partial
    from ..cluster import default_workers
    from ..errors import OutputError
    from ..model.io import load_model
    from ..outputs import check_output
    from ..simulate import default_engine, prepare_inputs, simulate

    engine = args.engine or default_engine()
    keep = None
    if args.out:
        check_output(args.out, "run", args.force)  # before the run, not after it
        keep = partial.partial_path(args.out)
        partial.check(keep, args.resume)
    graph = load_model(args.model)
    data = prepare_inputs(Path(args.model), args.input, args.samples,
                          args.timesteps or graph.timesteps, args.seed)
    hw = None
    if args.hw:  # validated before the progress bar starts: a bad profile fails at once
        from ..hardware import load_profile
        hw = load_profile(args.hw)
    workers = args.workers or default_workers(len(data))
    jobs = 1 if args.no_float or not (data.labels >= 0).any() else 2
    update, close = _progress(jobs * len(data), f"simulate ({engine})", not args.quiet)
    try:  # without --out nothing needs the recorded levels
        sim = simulate(args.model, hw=hw, inputs=data, timesteps=args.timesteps,
                       levels=args.levels, engine=engine, add_mode=args.add_mode, seed=args.seed,
                       float_reference=not args.no_float, record=None if args.out else False,
                       progress=update, workers=workers, scheduler=args.scheduler,
                       backend=args.backend, shard_inputs=args.shard_size, keep=keep,
                       resume=args.resume)
    finally:
        close()
    if args.out:
        try:
            sim.write(args.out, force=args.force)
        except OutputError:  # the user's --out is in the way: leave nothing of this run behind
            if not args.resume:
                partial.discard(keep)
            raise
        partial.discard(keep)
    if not args.quiet:
        for note in sim.notes:
            print(f"note: {note}", file=sys.stderr)
        print_simulation(sim)
        if args.out:
            print(f"\nwrote {args.out}/ (layers.csv, timesteps.csv, summary.json"
                  f"{', energy.csv' if sim.energy is not None else ''}"
                  f", metrics.json{', levels.csv' if sim.result.levels else ''}, report.md, "
                  f"report.html, figures/)")
    return 0


def print_simulation(sim) -> None:
    import pandas as pd

    s = sim.summary()
    acc = "n/a" if s["accuracy"] is None else f"{100 * s['accuracy']:.2f}%"
    facc = "" if s["float_accuracy"] is None else f" (float model {100 * s['float_accuracy']:.2f}%)"
    print(f"{s['network']}: {s['samples']} samples, T={s['timesteps']}, N={s['levels']}, "
          f"engine={s['engine']}, add mode={s['add_mode']}")
    print(f"accuracy {acc}{facc}; {s['events_per_sample']:.0f} events and "
          f"{s['synapse_visits_per_sample']:.3g} synapse visits per sample")
    if sim.energy is not None:
        print()
        print(sim.energy.paper_table_text())
        return
    table = sim.counts.table()
    per = table[SIM_COLUMNS].copy()
    for col in SIM_COLUMNS[3:]:
        per[col] = per[col] / max(s["samples"], 1)
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.4g}".format):
        print("\nper sample:")
        print(per.to_string(index=False))


def inspect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory")
    p.add_argument("--hw", help="hardware profile: show the core map and SRAM sizes")


def inspect_main(args) -> int:
    import pandas as pd

    from ..compiler import Widths, compile_graph, core_table, map_to_cores
    from ..hardware import load_profile
    from ..model.io import load_model

    graph = load_model(args.model)
    rows = pd.DataFrame(graph.summary())
    print(f"{graph.name}: {len(graph)} nodes, {graph.parameter_count():,} parameters, "
          f"{graph.neuron_count():,} neurons, T={graph.timesteps}")
    for key, value in (graph.meta or {}).items():
        if not isinstance(value, (dict, list)):
            print(f"  {key}: {value}")
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(rows.to_string(index=False))
    if args.hw:
        profile = load_profile(args.hw)
        net = map_to_cores(compile_graph(graph, profile.widths, add_mode=profile.add_mode),
                           profile)
        print(f"\ncore map on {profile.name}:")
        with pd.option_context("display.width", 160, "display.max_rows", 500):
            print(core_table(net, profile).to_string(index=False))
    else:
        net = compile_graph(graph, Widths())
        print("\nlayers as compiled (16-bit default widths):")
        for layer in net.layers:
            srcs = ", ".join(f"{p.kind}<-{p.source}" for p in layer.projections)
            pool = f" pool={layer.pool.kind}{layer.pool.kernel[0]}" if layer.pool else ""
            print(f"  {layer.name:12s} {layer.mode:8s} {'x'.join(map(str, layer.shape)):>12s}"
                  f"  θ={layer.threshold}{pool}  [{srcs}]")
    return 0


COMMANDS = (Command("simulate", "simulate a model and write counts and energy",
                    simulate_arguments, simulate_main),
            Command("inspect", "show a model's graph, shapes and core map", inspect_arguments,
                    inspect_main))
