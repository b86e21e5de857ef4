import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
# Real CIFAR-10 test images shipped with the repository (500, stratified by class), so that a
# user's clone tests what CI tests.
CIFAR_TEST = REPO / "models" / "vgg16_cifar10_n4t1_w025" / "samples.npz"
# The CLI's default is one worker per core for 64 inputs or more; tests run in one process unless
# they ask for workers (tests/test_dist.py), so that the suite's time stays the suite's.
os.environ.setdefault("NEUROSIM_WORKERS", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cifar_images():
    """A few real CIFAR-10 test images (uint8 NCHW) shipped in models/, stratified by class."""
    from neurosim.data import load_npz_images, stratified_indices
    data = load_npz_images(CIFAR_TEST)
    return data.subset(stratified_indices(data.labels, 20, seed=0))


def pytest_report_header(config):
    return f"neurosim tests; CI={os.environ.get('CI', '')}"
