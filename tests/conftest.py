import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CIFAR_TEST = SHARED / "data" / "cifar10" / "cifar10_test_q75.npz"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cifar_images():
    """A few real CIFAR-10 test images (uint8 NCHW) from ../shared, stratified by class."""
    if not CIFAR_TEST.exists():
        pytest.skip("../shared/data/cifar10 is not beside the repository")
    from neurosim.data import load_npz_images, stratified_indices
    data = load_npz_images(CIFAR_TEST)
    return data.subset(stratified_indices(data.labels, 20, seed=0))


def pytest_report_header(config):
    return f"neurosim tests; CI={os.environ.get('CI', '')}"
