"""``neurosim train``: train a network with torch, checkpoint every epoch, export it.

    neurosim train --arch small --dataset fashion-mnist --levels 4 --timesteps 1 --epochs 15 \\
        --out models/fmnist_small_n4t1 --checkpoint ckpt/fmnist_small_n4t1.pt

A killed run resumes with the same command plus ``--resume CHECKPOINT``. torch is imported only
when the command runs, so ``neurosim`` without the ``train`` extra still works.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..model.builders import ARCHS, DATASETS, NEURONS
from ..options import (LEVELS, SAMPLES, SEED, TIMESTEPS, Command, integer, path,
                       positive_number)


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, choices=ARCHS)
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--levels", "-N", type=LEVELS, default=4, help="levels N per timestep")
    p.add_argument("--timesteps", "-T", type=TIMESTEPS, default=1, help="timesteps T")
    p.add_argument("--width", type=positive_number("width"), default=1.0,
                   help="channel width multiplier")
    p.add_argument("--neuron", choices=NEURONS, default="if",
                   help="if: the paper's (multi-level) IF; s3nn: single-step binary (N=1, T=1)")
    p.add_argument("--epochs", type=integer(1, None, "number of epochs"), default=10)
    p.add_argument("--batch-size", type=integer(1, None, "batch size"), default=128)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--lr", type=positive_number("learning rate"), default=None,
                   help="peak learning rate (default 0.1 for SGD, 1e-3 for AdamW)")
    p.add_argument("--weight-decay", type=positive_number("weight decay", zero=True),
                   default=None, help="default 5e-4 for SGD, 0.05 for AdamW")
    p.add_argument("--alpha", type=positive_number("surrogate sharpness"), default=5.0,
                   help="sigmoid surrogate sharpness α")
    p.add_argument("--clip-grad", type=positive_number("norm", zero=True), default=5.0,
                   metavar="NORM",
                   help="clip the gradient norm (0: off). At initialisation VGG16's gradient "
                        "norm is about 50: unclipped, the first SGD steps can silence every "
                        "neuron for good (N=8 does not recover); later norms stay near 1")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="fine-tune: start from this model directory's weights (same "
                        "architecture, width and dataset; N and T may differ)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", type=path, required=True, help="model directory to export to")
    p.add_argument("--force", action="store_true",
                   help="write manifest.yaml, weights.npz and samples.npz into an existing "
                        "directory neurosim did not create (nothing else in it is touched)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file written after every epoch (default: "
                        "$NEUROSIM_CACHE/ckpt/<model name>.pt, outside the repository)")
    p.add_argument("--resume", default=None, help="resume from this checkpoint")
    p.add_argument("--stop-after", type=integer(1, None, "epoch"), default=None, metavar="EPOCH",
                   help="stop after this epoch of the schedule and export nothing (runs with a "
                        "time limit: resume later with --resume)")
    p.add_argument("--data-root", default=None,
                   help="dataset directory (default: $NEUROSIM_CIFAR10_DIR for CIFAR-10, "
                        "Debian's dataset-fashion-mnist for Fashion-MNIST)")
    p.add_argument("--cache", default=None, help="where decoded training images are cached")
    p.add_argument("--threads", type=integer(1, 1024, "number of threads"), default=None, help="torch CPU threads")
    p.add_argument("--train-limit", type=SAMPLES, default=None,
                   help="train on this many training images only (quick tests)")
    p.add_argument("--test-limit", type=SAMPLES, default=None,
                   help="evaluate on this many stratified test images only (quick tests)")
    p.add_argument("--samples", type=SAMPLES, default=500,
                   help="test images shipped in MODEL/samples.npz")
    p.add_argument("--agreement-samples", type=SAMPLES, default=500,
                   help="test images on which neurosim's float reference is compared with torch")
    p.add_argument("--quantised-samples", type=SAMPLES, default=None,
                   help="test images for the quantised accuracy (default: the whole test set)")
    p.add_argument("--bn-recalibrate", type=integer(0, None, "number of images"), default=10000, metavar="IMAGES",
                   help="before export, recompute BatchNorm statistics over this many "
                        "unaugmented training images; kept if they classify 5000 other "
                        "training images better than the running averages (0: keep those)")
    p.add_argument("--hardware", default=None,
                   help='what it trained on, for the manifest (default: "CPU, <n> cores")')
    p.add_argument("--compile", action="store_true",
                   help="fuse the surrogate gradient with torch.compile (faster; needs a C++ "
                        "compiler on CPU)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config(args):
    from ..train.loop import TrainConfig

    sgd = args.optimizer == "sgd"
    return TrainConfig(arch=args.arch, dataset=args.dataset, levels=args.levels,
                       timesteps=args.timesteps, width=args.width, neuron=args.neuron,
                       epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                       lr=args.lr if args.lr is not None else (0.1 if sgd else 1e-3),
                       weight_decay=args.weight_decay if args.weight_decay is not None
                       else (5e-4 if sgd else 0.05),
                       alpha=args.alpha, seed=args.seed, train_limit=args.train_limit,
                       grad_clip=args.clip_grad or None, init=args.init)


def train_main(args) -> int:
    try:
        import torch
    except ImportError as err:
        raise InputError(f"training needs the 'train' extra (pip install neurosim[train]): {err}",
                         "train") from None
    import os

    from ..data import stratified_indices
    from ..outputs import check_output
    from ..train.data import DEFAULT_CACHE, load_split
    from ..train.export import export
    from ..train.loop import choose_bn_statistics, load_checkpoint, make_state, train_epochs

    def log(msg):
        print(msg, flush=True)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.compile:
        from ..train.neurons import compile_surrogate
        compile_surrogate()
    out = Path(args.out)
    check_output(out, "model", args.force)  # before hours of training, not after
    cache = Path(args.cache) if args.cache else DEFAULT_CACHE
    checkpoint = Path(args.checkpoint) if args.checkpoint else cache / "ckpt" / f"{out.name}.pt"
    config = _config(args)
    state = load_checkpoint(args.resume, config) if args.resume else make_state(config)
    if args.resume:
        log(f"resumed {args.resume} after epoch {state.epoch}")
    train = load_split(args.dataset, "train", args.data_root, cache)
    test = load_split(args.dataset, "test", args.data_root, cache)
    if args.test_limit:
        test = test.subset(stratified_indices(test.labels, args.test_limit, seed=0))
    log(f"{out.name}: {args.arch} on {args.dataset}, N={config.levels} T={config.timesteps} "
        f"width={config.width:g}, {config.train_limit or len(train)} training images, "
        f"{torch.get_num_threads()} threads; checkpoint {checkpoint}")
    state = train_epochs(state, train, test, checkpoint, progress=not args.no_progress, log=log,
                         until=args.stop_after)
    if state.epoch < config.epochs:
        log(f"stopped after epoch {state.epoch} of {config.epochs}; resume with --resume "
            f"{checkpoint}")
        return 0
    hardware = args.hardware or f"CPU, {os.cpu_count()} cores"
    bn = choose_bn_statistics(state.net, train, args.bn_recalibrate, seed=config.seed, log=log)
    export(state, out, test, samples=args.samples, agreement_samples=args.agreement_samples,
           force=args.force,
           quantised_samples=args.quantised_samples, hardware=hardware, batchnorm=bn, log=log)
    return 0


COMMANDS = (Command("train", "train a model (extra: train)", train_arguments, train_main),)
