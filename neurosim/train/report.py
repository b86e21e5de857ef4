"""reports/models.md: every shipped model, its training, and its accuracy measured here.

    python -m neurosim.train.report --inputs CIFAR10_TEST_NPZ [--samples 2000]
                                    [--models models] [--out reports/models.md]
                                    [--workers 2] [--fidelity-samples 200]

Training facts come from the manifests (what ``neurosim train`` measured at export: the torch
model's float accuracy on the 10,000 test images). The fixed-point accuracy is measured again
here, with the compiler of this checkout (its quantiser may have changed since export), by
neurosim's event engine on the CIFAR-10 test images (all of them, or a stratified
``--samples``; other datasets on the model's samples.npz).
The fidelity table gives, per model on paper_45nm and loihi_14nm, how far the integer network
departs from the float one (a run's ``fidelity`` section, on the model's samples.npz). Activity comparisons (SEW vs Sparse) live
in reports/sew_vs_sparse*/ and reports/figure11/, written by ``neurosim.studies.regenerate``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..model.io import read_manifest
from ..options import SAMPLES
from ..outputs import atomic_file, check_file, head_of


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def _markdown_table(rows: list[dict]) -> list[str]:
    head = list(rows[0])
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join("–" if r[k] is None else str(r[k]) for k in head) + " |" for r in rows]


def model_rows(models_dir: Path) -> list[dict]:
    """One row per model: what it is and how it was trained (its manifest)."""
    rows = []
    for manifest_path in sorted(Path(models_dir).glob("*/manifest.yaml")):
        manifest = read_manifest(manifest_path.parent)
        meta = manifest.get("provenance") or {}
        acc = meta.get("accuracy") or {}
        parent = meta.get("fine_tuned_from") or {}
        rows.append({
            "model": manifest_path.parent.name,
            "architecture": meta.get("architecture", "?"),
            "dataset": meta.get("dataset", "?"),
            "N": meta.get("levels"), "T": manifest["timesteps"],
            "width": meta.get("width"),
            "parameters": manifest["summary"]["parameters"],
            "float acc. (torch, export)": f"{_pct(acc.get('float'))} "
                                          f"({acc.get('float_samples', '?')})",
            "epochs": meta.get("epochs"),
            "fine-tuned from": parent.get("model", "–") if isinstance(parent, dict) else parent,
            "training time": f"{meta.get('training_time_s', 0) / 3600:.2f} h",
            "hardware": meta.get("hardware", "?"),
            "optimizer": (meta.get("training") or {}).get("optimizer", "?"),
        })
    return rows


def measure(model: Path, inputs: Path | None, samples: int | None, workers: int = 1) -> dict:
    """Fixed-point accuracy of ``model`` here: the event engine (equal to the reference in
    every count and level) at the default widths, without the float comparison, so that the
    whole test set is affordable; the float side is the torch model's own accuracy."""
    from ..simulate import simulate

    start = time.perf_counter()
    sim = simulate(model, inputs=None if inputs is None else str(inputs), samples=samples,
                   engine="event", float_reference=False, workers=workers)
    return {"accuracy": sim.result.accuracy, "samples": sim.counts.samples,
            "seconds": time.perf_counter() - start}


def _is_cifar(model: Path, meta: dict) -> bool:
    return "cifar" in str(meta.get("dataset", model.name)).lower()


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


def _points(x, baseline) -> str:
    return "–" if x is None or baseline is None else f"{100 * (x - baseline):+.2f}"


def _signed(x) -> str:
    return "–" if x is None else f"{100 * x:+.3f}%"


GENERATED = "Generated by `python -m neurosim.train.report`"


def write(models_dir: Path, out: Path, inputs: Path | None, samples: int | None,
          force: bool = False, workers: int = 1, hw_dir: Path | None = None,
          fidelity_samples: int = FIDELITY_SAMPLES) -> Path:
    """Write models.md (refusing to replace a file this command did not write, unless
    ``force``; checked before the simulations start)."""
    check_file(out, lambda p: GENERATED in head_of(p), force, "models report")
    rows = model_rows(models_dir)
    for row in rows:
        model = Path(models_dir) / row["model"]
        meta = read_manifest(model).get("provenance") or {}
        cifar = inputs is not None and _is_cifar(model, meta)
        m = measure(model, inputs if cifar else None, samples, workers)
        row["fixed-point acc. (here)"] = f"{_pct(m['accuracy'])} ({m['samples']})"
        float_acc = meta.get("accuracy") or {}
        same = cifar and float_acc.get("float_samples") == m["samples"]
        row["fixed − float"] = _points(m["accuracy"], float_acc.get("float")) if same else "–"
        row["inputs"] = "test set" if cifar else "samples.npz"
    lines = ["# Shipped models", "",
             f"{GENERATED} (see its docstring). Float acc. (torch, export): the torch model in "
             "eval mode on the float16 weights that ship, measured by `neurosim train` on the "
             "10,000 CIFAR-10 test images (JPEG-Q75 copy). Fixed-point acc. (here): the "
             "integer network this checkout's compiler makes at the default widths (16-bit), "
             "run by neurosim's event engine on the same images (the CIFAR-10 models) or on "
             "the model's samples.npz; fixed − float in points where both saw the same "
             "images. Sample counts in parentheses; the float model against the integer one "
             "level by level: the fidelity table below. No GPU was available: every model was "
             "trained on a "
             "2-core CPU, the CIFAR-10 ones at reduced width (channels × width), for tens of "
             "epochs (the per-N and binary ones fine-tuned for 1–6 epochs from the N=4 models, "
             "see 'fine-tuned from') instead of the paper's 1500, so accuracies are far below "
             "the paper's Table 1 (VGG16 T=1 94.34%, SEW-ResNet18 95.94%, Sparse-ResNet18 "
             "95.69%). The training code path is the same at full width: rerun "
             "`neurosim train` with `--width 1` on a GPU.", ""]
    if rows:
        lines += _markdown_table(rows) + [""]
        lines += fidelity_section(models_dir, hw_dir, fidelity_samples)
    lines += ["SEW- against Sparse-ResNet18 activity, per layer and per N: "
              "[sew_vs_sparse/](sew_vs_sparse/comparison.md), "
              "[sew_vs_sparse_n8/](sew_vs_sparse_n8/comparison.md) and "
              "[figure11/](figure11/sweep.md); energy against accuracy: "
              "[energy_accuracy/](energy_accuracy/README.md).", ""]
    with atomic_file(out) as tmp:
        tmp.write_text("\n".join(lines))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="models")
    p.add_argument("--out", default="reports/models.md")
    p.add_argument("--inputs", help="the CIFAR-10 test images (cifar10_test_q75.npz) for the "
                                    "CIFAR-10 models (default: their samples.npz)")
    p.add_argument("--samples", type=SAMPLES, default=None, help="test images (default: all)")
    p.add_argument("--fidelity-samples", type=SAMPLES, default=FIDELITY_SAMPLES)
    p.add_argument("--workers", type=SAMPLES, default=1, help="worker processes per run")
    p.add_argument("--force", action="store_true", help="replace --out even if this command "
                                                        "did not write it")
    args = p.parse_args(argv)
    print(write(Path(args.models), Path(args.out), None if args.inputs is None else
                Path(args.inputs), args.samples, args.force, args.workers,
                fidelity_samples=args.fidelity_samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
