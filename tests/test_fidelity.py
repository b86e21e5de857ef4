"""Fidelity: the integer network the hardware runs against the user's float model.

Agreement grows with the word widths; at 32-bit words (hw_configs/exact_32bit.yaml) the integer
network reproduces the float network's levels and every prediction on each shipped model; the
tallies of parts of the inputs add up to the tally of the whole (what sharded runs rely on).
"""

from pathlib import Path

import numpy as np
import pytest

from neurosim.calibration import calibrate
from neurosim.compiler import Widths, compile_graph
from neurosim.data import load_inputs
from neurosim.fidelity import Fidelity, measure
from neurosim.model.io import load_model

MODELS = Path(__file__).parents[1] / "models"
SHIPPED = sorted(p.name for p in MODELS.iterdir() if (p / "manifest.yaml").is_file())


def _networks(name, bits, samples):
    graph = load_model(MODELS / name)
    data = load_inputs(MODELS / name / "samples.npz", graph.timesteps)
    cal = calibrate(graph, data, samples=32)  # fewer than a run uses: a shorter suite
    widths = Widths(bits, bits, bits)
    net = compile_graph(graph, widths, calibration=cal)
    fnet = compile_graph(graph, widths, integer=False)
    return graph, net, fnet, data.subset(np.arange(samples))


def test_agreement_grows_with_the_widths():
    shares = []
    for bits in (8, 12, 16, 32):
        graph, net, fnet, data = _networks("fmnist_small_n4t1", bits, 48)
        fid, _ = measure(net, fnet, data, graph.timesteps)
        shares.append(int(fid.differing.sum()) / int(fid.positions.sum()))
    assert shares == sorted(shares, reverse=True) and shares[0] > shares[-1]
    assert shares[0] > 0.001


@pytest.mark.parametrize("name", SHIPPED)
def test_32_bits_reproduce_the_float_model(name):
    """≥ 99.9% of the levels of every neuron layer and every prediction (a few samples each,
    to keep the suite short; reports/models.md lists the full runs)."""
    graph, net, fnet, data = _networks(name, 32, 4)
    fid, out = measure(net, fnet, data, graph.timesteps, keep_outputs=True)
    assert fid.positions.min() > 0
    assert np.all(fid.differing <= 0.001 * fid.positions), dict(zip(fid.layers, fid.differing))
    assert fid.agree == fid.samples == 4
    assert np.array_equal(np.argmax(out.logits, 1), np.argmax(out.float_logits, 1))


def test_tallies_of_parts_add_up_to_the_whole():
    graph, net, fnet, data = _networks("fmnist_small_n4t1", 8, 20)
    whole, out = measure(net, fnet, data, graph.timesteps, keep_outputs=True)
    merged = Fidelity.empty(net, graph.timesteps)
    parts = []
    for idx in (np.arange(0, 7), np.arange(7, 20)):
        fid, part = measure(net, fnet, data.subset(idx), graph.timesteps, keep_outputs=True,
                            batch_size=5)
        merged += fid
        parts.append(part)
    assert merged.differing.sum() > 0  # 8-bit words: the comparison is not vacuous
    for field in ("positions", "differing", "max_dz"):
        assert np.array_equal(getattr(merged, field), getattr(whole, field))
    assert np.array_equal(merged.float_counts.data, whole.float_counts.data)
    assert (merged.samples, merged.agree, merged.correct, merged.float_correct) == \
           (whole.samples, whole.agree, whole.correct, whole.float_correct)
    assert np.array_equal(np.concatenate([p.logits for p in parts]), out.logits)
    assert np.array_equal(np.concatenate([p.levels for p in parts]), out.levels)


def test_a_run_writes_its_fidelity_and_no_float_turns_it_off(tmp_path):
    import json

    import pandas as pd

    from neurosim.simulate import simulate

    hw = MODELS.parent / "hw_configs" / "loihi_14nm.yaml"  # 8-bit weights: levels differ
    sim = simulate(MODELS / "fmnist_small_n4t1", hw=hw, samples=24, save_outputs=True,
                   shard_inputs=8)
    sim.write(tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    f = summary["fidelity"]
    table = pd.read_csv(tmp_path / "run" / "fidelity.csv")
    assert table.differing.sum() == f["differing"] > 0 and table.positions.sum() == f["positions"]
    assert f["samples"] == 24 and summary["float_accuracy"] == f["float_accuracy"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Fidelity to the float model" in report and "Fixed point per layer" in report
    with np.load(tmp_path / "run" / "outputs.npz") as out:
        assert out["index"].tolist() == sim.data.index.tolist()
        assert out["levels"].shape[:2] == (24, 1) and out["float_logits"].shape == (24, 10)
        assert np.array_equal(out["logits"], sim.result.logits)
    off = simulate(MODELS / "fmnist_small_n4t1", hw=hw, samples=24, float_reference=False)
    off.write(tmp_path / "off")
    assert "fidelity" not in json.loads((tmp_path / "off" / "summary.json").read_text())
    assert not (tmp_path / "off" / "fidelity.csv").exists()
    assert "No float comparison in this run" in (tmp_path / "off" / "report.md").read_text()


def test_calibration_is_cached_by_content_and_recomputed_when_unusable(tmp_path, monkeypatch):
    """A run reads the calibration of the same network and inputs back from the cache, equal
    to a fresh one; another network (N changed) or other inputs are another entry; a corrupt
    entry is recomputed and a cache that cannot be written is skipped."""
    from neurosim import calibration as C

    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "cache"))
    graph = load_model(MODELS / "fmnist_small_n4t1")
    data = load_inputs(MODELS / "fmnist_small_n4t1" / "samples.npz", graph.timesteps)
    fresh = C.calibrate(graph, data)
    first = C.cached_calibration(graph, data, "forward")
    entries = list((tmp_path / "cache" / "calibration").iterdir())
    assert len(entries) == 1 and vars(first) == vars(fresh)
    calls = []
    monkeypatch.setattr(C, "calibrate", lambda *a, **k: calls.append(1) or fresh)
    again = C.cached_calibration(graph, data, "forward")
    assert not calls and vars(again) == vars(fresh)
    C.cached_calibration(graph.with_levels(2), data, "forward")
    C.cached_calibration(graph, data.subset(np.arange(100)), "forward")
    assert len(calls) == 2 and len(list(entries[0].parent.iterdir())) == 3
    entries[0].write_text('{"peak": [1, 2')  # truncated
    assert vars(C.cached_calibration(graph, data, "forward")) == vars(fresh) and len(calls) == 3
    monkeypatch.setenv("NEUROSIM_CACHE", str(MODELS / "fmnist_small_n4t1" / "samples.npz"))
    assert vars(C.cached_calibration(graph, data, "forward")) == vars(fresh)  # not a directory
