"""neurosim.simulate: the Python API and the command line run one job and write one run
directory; the defaults, the notes of unusual runs, and what is refused before work."""

import json
from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.data import Dataset
from neurosim.errors import InputError
from neurosim.simulate import default_engine, prepare_inputs, simulate

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "fmnist_small_n4t1"
PROFILE = REPO / "hw_configs" / "paper_45nm.yaml"


def files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def test_api_and_cli_write_the_same_run_directory(tmp_path):
    """Same defaults (the event engine, the float accuracy, recorded levels), same files, same
    counts."""
    api = tmp_path / "api"
    simulate(MODEL, hw=PROFILE, samples=12).write(api)
    cli = tmp_path / "cli"
    assert main(["simulate", str(MODEL), "--hw", str(PROFILE), "--samples", "12", "--out",
                 str(cli), "--quiet"]) == 0
    assert files(api) == files(cli)
    for name in ("layers.csv", "cores.csv", "levels.csv", "energy.csv", "timesteps.csv"):
        assert (api / name).read_text() == (cli / name).read_text(), name
    a, c = (json.loads((d / "summary.json").read_text()) for d in (api, cli))
    assert a["engine"] == c["engine"] == "event" == default_engine()
    assert a["float_accuracy"] == c["float_accuracy"] is not None
    assert {"levels.csv", "metrics.json", "cores.csv", "report.md", ".neurosim-run"} <= files(api)


def test_more_samples_than_the_file_holds_run_them_all_with_a_note():
    sim = simulate(MODEL, samples=10 ** 6, engine="reference", float_reference=False,
                   record=False)
    assert sim.counts.samples == 500
    assert any("ran all 500" in note for note in sim.notes)


def test_prepare_inputs_draws_a_stratified_subset():
    data = prepare_inputs(MODEL, None, 20, 1, seed=3)
    assert len(data) == 20 and np.bincount(data.labels).tolist() == [2] * 10
    again = prepare_inputs(MODEL, None, 20, 1, seed=3)
    assert np.array_equal(data.inputs, again.inputs)
    with pytest.raises(InputError, match="seed: expected a non-negative integer"):
        prepare_inputs(MODEL, None, 20, 1, seed=-1)


def test_labels_outside_the_classes_are_refused():
    data = prepare_inputs(MODEL, None, 4, 1, seed=0)
    bad = Dataset(data.inputs, np.array([0, 1, 10, 2]), "mine.npz")
    with pytest.raises(InputError, match=r"mine\.npz: labels: label 10 of sample 2 is not one "
                                         r"of the model's 10 classes"):
        simulate(MODEL, inputs=bad)


def test_overrides_are_checked_before_work():
    with pytest.raises(InputError, match=r"timesteps: expected T in \[1, 1024\]"):
        simulate(MODEL, timesteps=5000)
    with pytest.raises(InputError, match=r"levels: expected N in \[1, 255\]"):
        simulate(MODEL, levels=0)


def test_a_fitted_width_is_said_in_the_notes():
    """paper_45nm prices biases as 8-bit words while the network stores 16-bit biases: a fit
    that every run on that profile states."""
    sim = simulate(MODEL, hw=PROFILE, samples=4, float_reference=False, engine="reference")
    assert any("biases are priced as 8-bit words, the compiled network stores 16-bit"
               in note for note in sim.notes)
    assert sim.summary()["energy"]["width_notes"]
