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
    p.add_argument("--no-float", action="store_true",
                   help="skip the float model (the fidelity section: its accuracy, the levels, "
                        "predictions, events and energy fixed point changes)")
    p.add_argument("--calibration", metavar="FILE",
                   help="inputs that size the quantiser's potential ranges (default: the "
                        "model's samples.npz; never the run's --input)")
    p.add_argument("--save-outputs", action="store_true",
                   help="write outputs.npz into --out: each sample's output levels and logits "
                        "(and the float model's), to compare with your framework")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    add_cluster(p)
    add_max_memory(p)


def simulate_main(args) -> int:
    from .. import partial
    from ..cluster import default_workers
    from ..data import load_inputs
    from ..errors import InputError, OutputError
    from ..metrics import has_stats
    from ..model.io import load_model
    from ..outputs import check_output
    from ..simulate import default_engine, prepare_inputs, simulate

    engine = args.engine or default_engine()
    if args.save_outputs and not args.out:
        raise InputError("--save-outputs writes outputs.npz into the run directory: add --out DIR",
                         "--save-outputs")
    keep = None
    if args.out:
        check_output(args.out, "run", args.force)  # before the run, not after it
        keep = partial.partial_path(args.out)
        partial.check(keep, args.resume)
    graph = load_model(args.model)
    timesteps = args.timesteps or graph.timesteps
    data = prepare_inputs(Path(args.model), args.input, args.samples, timesteps, args.seed,
                          graph.with_timesteps(timesteps))
    calibration = load_inputs(args.calibration, timesteps) if args.calibration else None
    hw = None
    if args.hw:  # validated before the progress bar starts: a bad profile fails at once
        from ..hardware import load_profile
        hw = load_profile(args.hw)
    workers = args.workers or default_workers(len(data))
    passes = 1 if args.no_float and not args.save_outputs else 2  # + the lockstep comparison
    update, close = _progress(passes * len(data), f"simulate ({engine})", not args.quiet)
    try:  # the levels' statistics stay in the shards; without --out nothing needs them
        sim = simulate(args.model, hw=hw, inputs=data, timesteps=args.timesteps,
                       levels=args.levels, engine=engine, add_mode=args.add_mode, seed=args.seed,
                       float_reference=not args.no_float, record=False,
                       statistics=bool(args.out), progress=update, calibration=calibration,
                       save_outputs=args.save_outputs, workers=workers,
                       scheduler=args.scheduler, backend=args.backend,
                       shard_inputs=args.shard_size, keep=keep, resume=args.resume)
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
                  f"{', fidelity.csv, fidelity_timesteps.csv' if sim.fidelity else ''}"
                  f"{', outputs.npz' if sim.outputs is not None else ''}"
                  f", metrics.json{', levels.csv' if has_stats(sim.result.extra) else ''}"
                  ", report.md, "
                  f"report.html, figures/)")
    return 0


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def print_simulation(sim) -> None:
    import pandas as pd

    s = sim.summary()
    facc = "" if sim.fidelity is None else f" (float model {_pct(s['float_accuracy'])})"
    print(f"{s['network']}: {s['samples']} samples, T={s['timesteps']}, N={s['levels']}, "
          f"engine={s['engine']}, add mode={s['add_mode']}")
    print(f"accuracy {_pct(s['accuracy'])}{facc}; per sample: "
          f"{s['events_transferred_per_sample']:,.0f} events transferred (the paper's measure, "
          f"§6.4), {s['events_per_sample']:,.0f} emitted by neuron layers, "
          f"{s['synapse_visits_per_sample']:.3g} synapse visits")
    if "fidelity" in s:
        print(fidelity_line(s["fidelity"]))
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


def fidelity_line(f: dict) -> str:
    """One line: how far the integer network strays from the float model on these inputs."""
    worst = max(f["layers"].items(), key=lambda kv: kv[1]["share_differing"], default=None)
    where = "" if worst is None or not f["differing"] else (
        f", at most {100 * worst[1]['share_differing']:.2f}% in {worst[0]}")
    change = f["events_per_sample"]["change"]
    events = "" if change is None else f"; events {100 * change:+.2f}%"
    energy = f.get("energy_nj", {}).get("change")
    energy = "" if energy is None else f", energy {100 * energy:+.2f}%"
    levels = (f"{100 * (f['share_differing'] or 0):.3f}% of levels differ{where} (largest "
              f"|Δz| {f['max_abs_dz']})" if f["differing"] else
              f"every level agrees ({f['positions']:,} compared)")
    return (f"fidelity (integer vs float model): {levels}; predictions agree on "
            f"{f['predictions_agree']}/{f['samples']}{events}{energy}")


def inspect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory")
    p.add_argument("--hw", help="hardware profile: show the core map and SRAM sizes, and the "
                                "fixed point at its widths")
    p.add_argument("--calibration", metavar="FILE",
                   help="inputs that size the quantiser's ranges (default: the model's "
                        "samples.npz)")


def quantisation_table(net):
    """Per layer: the fixed point the quantiser chose (docs/design.md §3.5)."""
    import pandas as pd

    rows = []
    for layer in net.layers:
        q = net.quantisation.get(layer.name, {})
        rows.append({"layer": layer.name, "mode": layer.mode,
                     "threshold θ_q": layer.threshold if layer.mode == "spiking" else "",
                     "unit (float)": f"{q.get('unit', layer.scale):.3g}",
                     "shifts": ",".join(map(str, q.get("shifts", []))),
                     "weight fill": f"{q['weight_fill']:.3f}" if "weight_fill" in q else "",
                     "range": f"{q['range']:.3g}" if "range" in q else "",
                     "range from": q.get("range_from", ""),
                     "scale limited by": q.get("limited_by", "")})
    return pd.DataFrame(rows)


def inspect_main(args) -> int:
    import pandas as pd

    from ..compiler import Widths, compile_graph, core_table, map_to_cores
    from ..hardware import load_profile
    from ..calibration import run_calibration
    from ..model.io import load_model
    from ..simulate import SAMPLES_FILE

    graph = load_model(args.model)
    rows = pd.DataFrame(graph.summary())
    print(f"{graph.name}: {len(graph)} nodes, {graph.parameter_count():,} parameters, "
          f"{graph.neuron_count():,} neurons, T={graph.timesteps}")
    for key, value in (graph.meta or {}).items():
        if not isinstance(value, (dict, list)):
            print(f"  {key}: {value}")
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(rows.to_string(index=False))
    profile = load_profile(args.hw) if args.hw else None
    add_mode = profile.add_mode if profile else "forward"
    cal, notes = run_calibration(graph, add_mode, Path(args.model) / SAMPLES_FILE,
                                 args.calibration)
    widths = profile.widths if profile else Widths()
    net = compile_graph(graph, widths, add_mode=add_mode, calibration=cal)
    if profile is not None:
        net = map_to_cores(net, profile)
        print(f"\ncore map on {profile.name}:")
        with pd.option_context("display.width", 160, "display.max_rows", 500):
            print(core_table(net, profile).to_string(index=False))
    else:
        print("\nlayers as compiled (16-bit default widths):")
        for layer in net.layers:
            srcs = ", ".join(f"{p.kind}<-{p.source}" for p in layer.projections)
            pool = f" pool={layer.pool.kind}{layer.pool.kernel[0]}" if layer.pool else ""
            print(f"  {layer.name:12s} {layer.mode:8s} {'x'.join(map(str, layer.shape)):>12s}"
                  f"  θ={layer.threshold}{pool}  [{srcs}]")
    print(f"\nfixed point at weights {widths.weights}, biases {widths.biases}, potentials "
          f"{widths.potentials} bits (θ_q: the level step in potential units; unit: the float "
          "value of one potential unit; range: what the potential word must hold, in θ, a "
          "readout's in float units):")
    if cal is not None:
        print(f"  calibrated on {cal.samples} inputs of {cal.source}")
    for note in notes:
        print(f"  note: {note}")
    with pd.option_context("display.width", 200, "display.max_rows", 500,
                           "display.max_colwidth", 40):
        print(quantisation_table(net).to_string(index=False))
    return 0


COMMANDS = (Command("simulate", "simulate a model and write counts and energy",
                    simulate_arguments, simulate_main),
            Command("inspect", "show a model's graph, shapes and core map", inspect_arguments,
                    inspect_main))
