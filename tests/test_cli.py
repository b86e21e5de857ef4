"""The command line as a user runs it: real subprocess calls, clean one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from neurosim.cli import main
from neurosim.model import builders, save_model
from neurosim.simulate import SAMPLES_FILE


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "small"
    g = builders.small_convnet(levels=4, timesteps=1, input_shape=(1, 12, 12))
    save_model(g, path)
    rng = np.random.default_rng(0)
    np.savez(path / SAMPLES_FILE, images=rng.integers(0, 256, (12, 1, 12, 12), dtype=np.uint8),
             labels=np.arange(12) % 10)
    return path


def neurosim(*args):
    return subprocess.run([sys.executable, "-m", "neurosim.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_inspect(model_dir):
    r = neurosim("inspect", model_dir)
    assert r.returncode == 0, r.stderr
    assert "conv1.conv" in r.stdout and "parameters" in r.stdout and "fc2" in r.stdout


def test_simulate_writes_outputs(model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", str(model_dir), "--engine", "reference", "--samples", "6",
                 "--out", str(out), "--quiet"]) == 0
    layers = pd.read_csv(out / "layers.csv")
    for col in ("layer", "kind", "core", "samples", "timesteps", "levels", "neurons", "events_in",
                "events_out", "level_sum_out", "synapse_visits", "synapse_visits_analytic",
                "weight_reads", "potential_reads", "potential_writes", "bias_reads", "fifo_reads",
                "fifo_writes", "acc_ops", "mac_ops", "addr_ops"):
        assert col in layers.columns, col
    assert (layers.samples == 6).all() and list(layers.layer) == ["conv1", "conv2", "fc1", "fc2"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 6 and summary["settings"]["seed"] == 0
    assert summary["versions"]["neurosim"]
    assert (out / "timesteps.csv").exists()


def test_simulate_overrides(model_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["simulate", str(model_dir), "--engine", "reference", "-T", "2", "-N", "2",
                 "--out", str(out), "--quiet", "--no-float"]) == 0
    layers = pd.read_csv(out / "layers.csv")
    assert (layers.timesteps == 2).all() and set(layers[layers.kind == "conv"].levels) == {2}


@pytest.mark.parametrize("args,message", [
    (["simulate", "/nonexistent/model"], "is not a model directory"),
    (["simulate", "{model}", "--input", "/nonexistent.npz"], "no such file"),
    (["simulate", "{model}", "--engine", "reference", "--samples", "0"], "positive number of samples"),
    (["inspect", "{model}/weights.npz"], "is not a model directory"),
])
def test_errors_are_one_line_without_traceback(model_dir, args, message):
    r = neurosim(*[a.format(model=model_dir) for a in args])
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_failed_run_leaves_no_output(model_dir, tmp_path):
    out = tmp_path / "run"
    r = neurosim("simulate", model_dir, "--input", tmp_path / "missing.npz", "--out", out)
    assert r.returncode == 2 and not out.exists()
    assert not list(tmp_path.glob(".run*"))


def test_version_and_help():
    assert neurosim("--version").stdout.startswith("neurosim ")
    r = neurosim()
    assert r.returncode == 1 and "simulate" in r.stdout
