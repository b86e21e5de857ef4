"""reports/models.md: every shipped model, its fidelity, and SEW vs Sparse-ResNet18 activity.

    python -m neurosim.train.report [--models models] [--out reports/models.md]
                                    [--inputs CIFAR10_TEST_NPZ] [--samples 10000]

The model table is read from the manifests (what ``neurosim train`` measured at export). The
residual-sum comparison (the paper's Figure 10) simulates both ResNets with neurosim's reference
engine, forward add mode, on the CIFAR-10 test images and reads layers.csv's rows: for SEW the
events at sum{i} are those of the direct path plus the shortcut (both streams go on as events),
for Sparse-ResNet they are the barrier neuron's output events.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..model.io import read_manifest
from ..options import SAMPLES
from ..outputs import atomic_file, check_file, head_of

PAPER_FIG10 = {"sum0": (45_665, 37_150), "sum1": (67_848, 35_819)}  # SEW, Sparse (§6.4)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def _markdown_table(rows: list[dict]) -> list[str]:
    head = list(rows[0])
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join("–" if r[k] is None else str(r[k]) for k in head) + " |" for r in rows]


def model_rows(models_dir: Path) -> list[dict]:
    rows = []
    for manifest_path in sorted(Path(models_dir).glob("*/manifest.yaml")):
        manifest = read_manifest(manifest_path.parent)
        meta = manifest.get("provenance") or {}
        acc = meta.get("accuracy") or {}
        rows.append({
            "model": manifest_path.parent.name,
            "architecture": meta.get("architecture", "?"),
            "dataset": meta.get("dataset", "?"),
            "N": meta.get("levels"), "T": manifest["timesteps"],
            "width": meta.get("width"), "reduced width": meta.get("reduced_width", "?"),
            "parameters": manifest["summary"]["parameters"],
            "float acc.": f"{_pct(acc.get('float'))} ({acc.get('float_samples', '?')})",
            "quantised acc.": f"{_pct(acc.get('quantised'))} ({acc.get('quantised_samples', '?')})",
            "agreement": f"{_pct(acc.get('float_reference_agreement'))} "
                         f"({acc.get('agreement_samples', '?')})",
            "epochs": meta.get("epochs"),
            "training time": f"{meta.get('training_time_s', 0) / 3600:.2f} h",
            "hardware": meta.get("hardware", "?"),
            "optimizer": (meta.get("training") or {}).get("optimizer", "?"),
        })
    return rows


def _resnet_pairs(models_dir: Path) -> list[tuple[Path, Path]]:
    found = {}
    for manifest_path in sorted(Path(models_dir).glob("*/manifest.yaml")):
        meta = read_manifest(manifest_path.parent).get("provenance") or {}
        key = (meta.get("levels"), read_manifest(manifest_path.parent)["timesteps"],
               meta.get("width"), meta.get("epochs"), meta.get("seed"))
        found.setdefault(key, {})[meta.get("architecture")] = manifest_path.parent
    return [(v["sew-resnet18"], v["sparse-resnet18"]) for v in found.values()
            if "sew-resnet18" in v and "sparse-resnet18" in v]


def measure(model: Path, inputs: Path, samples: int | None):
    from ..simulate import simulate

    start = time.perf_counter()
    sim = simulate(model, inputs=str(inputs), samples=samples, engine="reference",
                   add_mode="forward")
    table = sim.counts.table().set_index("layer")
    per = table.events_out / sim.counts.samples
    neurons = table.kind != "add"
    return {"per_layer": per, "kinds": table.kind, "accuracy": sim.result.accuracy,
            "float_accuracy": sim.float_accuracy, "samples": sim.counts.samples,
            "neuron_events": float(per[neurons].sum()),
            "seconds": time.perf_counter() - start}


FIDELITY_PROFILES = ("paper_45nm", "loihi_14nm")
FIDELITY_SAMPLES = 200
FIDELITY_HEAD = "## Fidelity: the integer network against the float model"


def fidelity_section(models_dir: Path, hw_dir: Path | None = None,
                     samples: int = FIDELITY_SAMPLES) -> list[str]:
    """Per shipped model (with a samples.npz) and profile, the run's fidelity section on the
    model's own samples (neurosim simulate MODEL --hw PROFILE --samples 200; docs/outputs.md
    §16). ``hw_dir``: the profiles (default: the repository's hw_configs/)."""
    from ..simulate import SAMPLES_FILE, simulate

    hw_dir = Path(hw_dir) if hw_dir is not None else Path(__file__).parents[2] / "hw_configs"
    manifests = [m for m in sorted(Path(models_dir).glob("*/manifest.yaml"))
                 if (m.parent / SAMPLES_FILE).is_file()]
    if not manifests or not all((hw_dir / f"{n}.yaml").is_file() for n in FIDELITY_PROFILES):
        return []

    lines = [FIDELITY_HEAD, "",
             f"`neurosim simulate MODEL --hw PROFILE --samples {samples}` (the model's "
             "samples.npz, stratified; reference engine): share of neuron levels (before "
             "pooling, over samples × timesteps) that differ between the integer network and "
             "the float model, overall and the least and most of any layer; predictions that "
             "agree; the change in events (and in energy, where the profile's NoC traffic does "
             "not need recorded levels) that quantisation causes.", "",
             "| model | profile | widths w/b/v | levels differ | per layer | max \\|Δz\\| | "
             "predictions agree | accuracy fixed / float | Δ events | Δ energy |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for manifest in manifests:
        for name in FIDELITY_PROFILES:
            sim = simulate(manifest.parent, hw=hw_dir / f"{name}.yaml", samples=samples,
                           engine="reference")
            f, table = sim.summary()["fidelity"], sim.fidelity_table()
            w = sim.net.widths
            energy = (f.get("energy_nj") or {}).get("change")
            lines.append(
                f"| {manifest.parent.name} | {name} | {w.weights}/{w.biases}/{w.potentials} | "
                f"{_pct(f['share_differing'])} | {_pct(table.share_differing.min())}–"
                f"{_pct(table.share_differing.max())} | {f['max_abs_dz']} | "
                f"{f['predictions_agree']}/{f['samples']} | {_pct(f['accuracy'])} / "
                f"{_pct(f['float_accuracy'])} | {_signed(f['events_per_sample']['change'])} | "
                f"{_signed(energy)} |")
    return lines + [""]


def _signed(x) -> str:
    return "–" if x is None else f"{100 * x:+.3f}%"


def fig10_section(sew: Path, sparse: Path, inputs: Path, samples: int | None) -> list[str]:
    a, b = measure(sew, inputs, samples), measure(sparse, inputs, samples)
    lines = [f"### {sew.name} vs {sparse.name}", "",
             f"neurosim reference engine, forward add mode, {a['samples']} CIFAR-10 (JPEG-Q75) "
             f"test images; events per image (non-zero multi-level outputs, summed over T). "
             f"Accuracy in this run: SEW {_pct(a['accuracy'])} quantised / "
             f"{_pct(a['float_accuracy'])} float, Sparse {_pct(b['accuracy'])} quantised / "
             f"{_pct(b['float_accuracy'])} float.", "",
             "| point | SEW events | Sparse events | change | paper SEW | paper Sparse | paper change |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    sums = [f"sum{i}" for i in range(8) if f"sum{i}" in a["per_layer"]]
    for name in sums:
        x, y = a["per_layer"][name], b["per_layer"][name]
        paper = PAPER_FIG10.get(name)
        paper_cells = (f"{paper[0]:,} | {paper[1]:,} | {100 * (paper[1] / paper[0] - 1):+.0f}%"
                       if paper else "– | – | –")
        lines.append(f"| {name} | {x:,.0f} | {y:,.0f} | {100 * (y / x - 1):+.1f}% | "
                     f"{paper_cells} |")
    sew_sums = float(sum(a["per_layer"][n] for n in sums))
    total_a, total_b = a["neuron_events"], b["neuron_events"]
    lines += [
        f"| all sum points | {sew_sums:,.0f} | "
        f"{float(sum(b['per_layer'][n] for n in sums)):,.0f} | "
        f"{100 * (sum(b['per_layer'][n] for n in sums) / sew_sums - 1):+.1f}% | | | |",
        "",
        "Whole network (events per image):", "",
        f"- output events of every neuron layer (Sparse includes its 8 barrier neurons): SEW "
        f"{total_a:,.0f}, Sparse {total_b:,.0f} ({100 * (total_b / total_a - 1):+.1f}%);",
        f"- counting SEW's summation points as layers too (their events go on to the next "
        f"block): SEW {total_a + sew_sums:,.0f}, Sparse {total_b:,.0f} "
        f"({100 * (total_b / (total_a + sew_sums) - 1):+.1f}%). The paper reports about −25% "
        f"at N = 4 (Figure 11).", "",
        "Per layer (events per image):", "",
        "| layer | SEW | Sparse |", "|---|---:|---:|"]
    order = [n for n in b["per_layer"].index if not n.startswith("add")]
    for name in order:
        if name == "fc":
            continue
        x = a["per_layer"].get(name)
        lines.append(f"| {name} | {'–' if x is None else f'{x:,.0f}'} | "
                     f"{b['per_layer'][name]:,.0f} |")
    lines += ["", f"(simulation time: {a['seconds']:.0f} s and {b['seconds']:.0f} s)", ""]
    return lines


GENERATED = "Generated by `python -m neurosim.train.report`"


def write(models_dir: Path, out: Path, inputs: Path, samples: int | None,
          force: bool = False) -> Path:
    """Write models.md (refusing to replace a file this command did not write, unless
    ``force``), before the long simulations of the Figure 10 section start."""
    check_file(out, lambda p: GENERATED in head_of(p), force, "models report")
    rows = model_rows(models_dir)
    lines = ["# Shipped models", "",
             f"{GENERATED} from {models_dir}/*/manifest.yaml "
             "(accuracies measured by `neurosim train` at export, on the float16 weights that "
             "ship). Float: the torch model in eval mode; quantised: the compiler's default "
             "fixed point (16-bit) run by neurosim's reference engine; agreement: fraction of "
             "test images on which neurosim's float reference predicts the same class as torch. "
             "Sample counts in parentheses. No GPU was available: every model was trained on a "
             "2-core CPU, the CIFAR-10 ones at reduced width (channels × width), for tens of "
             "epochs instead of the paper's 1500, so accuracies are far below the paper's "
             "Table 1 (VGG16 T=1 94.34%, SEW-ResNet18 95.94%, Sparse-ResNet18 95.69%). "
             "The training code path is the same at full width: rerun `neurosim train` with "
             "`--width 1` on a GPU.", ""]
    if rows:
        lines += _markdown_table(rows) + [""]
        lines += fidelity_section(models_dir)
    pairs = _resnet_pairs(models_dir)
    lines += ["## SEW-ResNet18 vs Sparse-ResNet18: events at the residual sums (Figure 10)", ""]
    if not pairs:
        lines += ["No SEW/Sparse pair trained with the same N, T, width, epochs and seed is "
                  "shipped yet.", ""]
    for sew, sparse in pairs:
        lines += fig10_section(sew, sparse, inputs, samples)
    with atomic_file(out) as tmp:
        tmp.write_text("\n".join(lines))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="models")
    p.add_argument("--out", default="reports/models.md")
    p.add_argument("--inputs", required=True,
                   help="the CIFAR-10 test images (cifar10_test_q75.npz) for the Figure 10 "
                        "section")
    p.add_argument("--samples", type=SAMPLES, default=None, help="test images (default: all)")
    p.add_argument("--force", action="store_true", help="replace --out even if this command "
                                                        "did not write it")
    args = p.parse_args(argv)
    print(write(Path(args.models), Path(args.out), Path(args.inputs), args.samples, args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
