"""Training data: CIFAR-10 (JPEG-Q75 copy) and Fashion-MNIST as uint8 arrays, plus augmentation.

The CIFAR-10 training JPEGs are decoded once with Pillow and cached as a uint8 npz outside the
repository (``cache_dir``); the test set comes decoded already. Batches stay uint8 until the
model input x = pixel / 255 is formed, so what the network trains on is exactly what neurosim
feeds it. Augmentation (random crop after zero padding — black — and horizontal flip) runs on
whole batches with a seeded torch generator, so a resumed epoch sees the same batches.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data import Dataset, fashion_mnist, load_npz_images
from ..errors import InputError
from ..outputs import cache_dir

CIFAR10_ENV = "NEUROSIM_CIFAR10_DIR"  # the CIFAR-10 directory when --data-root is not given
DEFAULT_CACHE = cache_dir()
AUGMENT = {"cifar10": {"pad": 4, "flip": True}, "fashion-mnist": {"pad": 2, "flip": True}}


def _cifar10_train(root: Path, cache_dir: Path) -> Dataset:
    cached = cache_dir / "cifar10_train_q75_uint8.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as npz:
            return Dataset(npz["images"], npz["labels"].astype(np.int64), str(cached))
    data = load_npz_images(root / "cifar10_train_jpeg_q75.npz")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, images=data.inputs, labels=data.labels)
    os.replace(tmp, cached)
    return data


def cifar10_dir() -> Path:
    """Where the CIFAR-10 files are (cifar10_train_jpeg_q75.npz, cifar10_test_q75.npz): the
    NEUROSIM_CIFAR10_DIR environment variable; neurosim ships no copy and guesses no path."""
    if not os.environ.get(CIFAR10_ENV):
        raise InputError(f"where is CIFAR-10? pass --data-root DIR (the directory holding "
                         f"cifar10_train_jpeg_q75.npz and cifar10_test_q75.npz) or set "
                         f"{CIFAR10_ENV}", "cifar10")
    return Path(os.environ[CIFAR10_ENV])


def load_split(dataset: str, split: str, root=None, cache_dir=None) -> Dataset:
    """uint8 (N, C, H, W) images and int64 labels of one split ("train" or "test")."""
    if split not in ("train", "test"):
        raise InputError(f"unknown split {split!r}; expected 'train' or 'test'", dataset, "split")
    if dataset == "fashion-mnist":
        return fashion_mnist(split) if root is None else fashion_mnist(split, root)
    if dataset != "cifar10":
        raise InputError(f"unknown dataset {dataset!r}; expected 'cifar10' or 'fashion-mnist'",
                         "train", "dataset")
    root = cifar10_dir() if root is None else Path(root)
    if split == "test":
        return load_npz_images(root / "cifar10_test_q75.npz")
    return _cifar10_train(root, DEFAULT_CACHE if cache_dir is None else Path(cache_dir))


def augment(images: torch.Tensor, pad: int, flip: bool, generator: torch.Generator
            ) -> torch.Tensor:
    """Random crop of the zero-padded (black) image back to its size, then a random h-flip."""
    b, c, h, w = images.shape
    if pad:
        padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        rows = (oy[:, None] + torch.arange(h))[:, None, :, None]  # (B, 1, H, 1)
        cols = (ox[:, None] + torch.arange(w))[:, None, None, :]  # (B, 1, 1, W)
        images = padded[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None],
                        rows, cols]
    if flip:
        mask = torch.rand(b, generator=generator) < 0.5
        images = torch.where(mask[:, None, None, None], images.flip(3), images)
    return images


def batches(data: Dataset, batch_size: int, seed: int, train: bool, dataset: str):
    """Yield (uint8 images, labels) batches; training batches are shuffled and augmented."""
    images = torch.from_numpy(np.ascontiguousarray(data.inputs))
    labels = torch.from_numpy(np.asarray(data.labels, np.int64))
    n = len(labels)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator) if train else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        x = images[idx]
        if train:
            x = augment(x, generator=generator, **AUGMENT[dataset])
        yield x, labels[idx]
