"""Export a trained network to the native model format, and check it in neurosim.

The weights are rounded to float16 (the shipped storage) first, so every number reported is the
shipped model's:

* float accuracy: the torch network in eval mode on the whole test set;
* agreement: neurosim's float reference (compile_graph(integer=False) + reference.run) predicts
  the same class as torch on a stratified subset of test images;
* quantised accuracy: the compiler's fixed-point network (default widths) on the test set.

``samples.npz`` beside the manifest holds a few hundred stratified uint8 test images and their
labels: what ``neurosim simulate MODEL`` reads by default.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..compiler import compile_graph
from ..data import Dataset, stratified_indices
from ..importers.torch_state import graph_from_state_dict
from ..model.io import save_model
from .loop import TrainState, predict

DATASET_NAMES = {"cifar10": "CIFAR-10 (JPEG-Q75 copy)", "fashion-mnist": "Fashion-MNIST"}


def rounded_state(net) -> dict[str, torch.Tensor]:
    """The state_dict rounded through float16, as the model file stores it."""
    return {k: (v.half().float() if v.is_floating_point() else v)
            for k, v in net.state_dict().items()}


def neurosim_run(graph, data: Dataset, integer: bool):
    from .. import reference

    net = compile_graph(graph, integer=integer)
    return reference.run(net, data.inputs, data.labels)


def check(graph, state: TrainState, test: Dataset, agreement_samples: int = 500,
          quantised_samples: int | None = None, log=print) -> dict:
    """Float accuracy (torch), agreement with neurosim's float reference, quantised accuracy."""
    preds = predict(state.net, test)
    result = {"float": float(np.mean(preds == test.labels)), "float_samples": len(test)}
    subset = stratified_indices(test.labels, agreement_samples, seed=1)
    ref = neurosim_run(graph, test.subset(subset), integer=False)
    result["float_reference_agreement"] = float(np.mean(ref.predictions == preds[subset]))
    result["agreement_samples"] = len(subset)
    log(f"float accuracy {result['float']:.4f}; neurosim float reference agrees with torch on "
        f"{result['float_reference_agreement']:.4f} of {len(subset)} images")
    qdata = test if quantised_samples is None or quantised_samples >= len(test) else \
        test.subset(stratified_indices(test.labels, quantised_samples, seed=2))
    start = time.perf_counter()
    q = neurosim_run(graph, qdata, integer=True)
    result["quantised"] = q.accuracy
    result["quantised_samples"] = len(qdata)
    log(f"quantised accuracy {q.accuracy:.4f} on {len(qdata)} images "
        f"({time.perf_counter() - start:.0f} s)")
    return result


def _parent(init) -> dict | None:
    """What a fine-tuned model started from: the parent's name, N, T, epochs and training time."""
    if not init:
        return None
    from ..model.io import load_model

    meta = load_model(init).meta or {}
    return {"model": Path(init).name, "levels": meta.get("levels"),
            "timesteps": meta.get("timesteps"), "epochs": meta.get("epochs"),
            "training_time_s": meta.get("training_time_s"),
            "accuracy": (meta.get("accuracy") or {}).get("float")}


def export(state: TrainState, out, test: Dataset, samples: int = 500,
           agreement_samples: int = 500, quantised_samples: int | None = None,
           hardware: str = "CPU, 2 cores", reduced_width: bool | None = None,
           batchnorm: dict | None = None, force: bool = False, log=print) -> Path:
    """Write MODEL/manifest.yaml + weights.npz (float16) + samples.npz in one atomic step;
    returns the path. An existing ``out`` is replaced only if neurosim created it; ``force``
    writes these three files into any existing directory (see neurosim.outputs)."""
    cfg, out = state.config, Path(out)
    state.net.load_state_dict(rounded_state(state.net))
    graph = graph_from_state_dict(cfg.graph(name=out.name), state.net.state_dict(), str(out))
    accuracy = check(graph, state, test, agreement_samples, quantised_samples, log)
    last = state.history[-1] if state.history else {}
    meta = dict(graph.meta)
    meta.update({
        "dataset": DATASET_NAMES[cfg.dataset],
        "accuracy": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in accuracy.items()},
        "levels": cfg.levels,
        "timesteps": cfg.timesteps,
        "width": cfg.width,
        "reduced_width": "yes" if (cfg.width < 1 if reduced_width is None else reduced_width)
        else "no",
        "neuron": cfg.neuron,
        "epochs": state.epoch,
        "seed": cfg.seed,
        "training": {"optimizer": cfg.optimizer, "lr": cfg.lr,
                     "momentum": cfg.momentum if cfg.optimizer == "sgd" else None,
                     "weight_decay": cfg.weight_decay, "schedule": "cosine, per step",
                     "batch_size": cfg.batch_size, "surrogate_alpha": cfg.alpha,
                     "grad_clip": cfg.grad_clip,
                     "loss": "cross-entropy on logits averaged over T",
                     "augmentation": "random crop (zero padding) + horizontal flip",
                     "train_limit": cfg.train_limit,
                     "final_train_accuracy": round(float(last.get("train_accuracy", 0.0)), 6)},
        "fine_tuned_from": _parent(cfg.init),
        "batchnorm_statistics": batchnorm or {"kept": "running", "recomputed_images": 0},
        "training_time_s": round(state.train_seconds, 1),
        "hardware": hardware,
        "trained_with": f"neurosim train (torch {torch.__version__}, python "
                        f"{platform.python_version()})",
        "exported": time.strftime("%Y-%m-%d"),
    })
    graph.meta = meta
    idx = stratified_indices(test.labels, samples, seed=0)

    def write_samples(path):
        with open(path, "wb") as fh:
            np.savez_compressed(fh, images=test.inputs[idx],
                                labels=test.labels[idx].astype(np.uint8))

    save_model(graph, out, dtype="float16", force=force, command="neurosim train",
               extra_files={"samples.npz": write_samples})
    log(f"wrote {out} ({graph.parameter_count()} parameters) and {len(idx)} sample images")
    return out
