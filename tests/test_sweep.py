"""neurosim sweep: the N × T grid, parallel runs, sweep.csv against its runs, Table 3, figures."""

import json

import numpy as np
import pandas as pd
import pytest

from neurosim.cli import main
from neurosim.errors import InputError
from neurosim.model import builders, save_model
from neurosim.reports import sweep as sweep_report
from neurosim.studies import paper, sweep
from neurosim.simulate import SAMPLES_FILE
from test_reports import inputs_for


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    graph = builders.small_convnet(levels=2, timesteps=1, channels=(4, 8),
                                   input_shape=(1, 8, 8), hidden=16)
    save_model(graph, path)
    data = inputs_for(graph, 12)
    np.savez(path / SAMPLES_FILE, images=data.inputs, labels=data.labels)
    return path


def test_parse_values():
    assert sweep.parse_values("1,2,4,8", "-N") == [1, 2, 4, 8]
    assert sweep.parse_values("1-3,8,2", "-T") == [1, 2, 3, 8]
    for bad in ("", "0", "a", "4-2", "1,,2"):
        with pytest.raises(InputError, match="-N: expected"):
            sweep.parse_values(bad, "-N")


def test_grid_product_and_axes():
    points = sweep.grid(["m"], [1, 2, 4], [1, 4])
    assert [(p.levels, p.timesteps) for p in points] == [(1, 1), (2, 1), (4, 1), (1, 4), (2, 4),
                                                        (4, 4)]
    axes = sweep.grid(["m"], [1, 4, 8], [1, 4, 8], axes=True)
    assert [(p.levels, p.timesteps) for p in axes] == [(1, 1), (4, 1), (8, 1), (1, 4), (1, 8)]
    assert axes[1].label == "m_N4_T1" and axes[1].config == "T=1, N=4"


def test_parallel_sweep_matches_its_runs(model_dir, tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep", str(model_dir), "-N", "1,2", "-T", "1,2", "--engine", "reference",
                 "--samples", "6", "--jobs", "2", "--out", str(out), "--quiet"]) == 0
    df = pd.read_csv(out / "sweep.csv")
    assert sorted(zip(df.levels, df.timesteps)) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for _, row in df.iterrows():
        summary = json.loads((out / row.run / "summary.json").read_text())
        layers = pd.read_csv(out / row.run / "layers.csv")
        assert summary["timesteps"] == row.timesteps and summary["levels"] == [row.levels]
        assert summary["samples"] == 6 and summary["settings"]["seed"] == 0
        assert row.events == layers[layers.kind != "add"].events_out.sum() / 6
        assert row.accuracy == summary["accuracy"]
    for name in ("sweep.md", "sweep.html", "sweep_table.tex", "figures/spikes.png",
                 "figures/accuracy.svg"):
        assert (out / name).is_file(), name
    assert not list(tmp_path.glob(".sweep.tmp*"))
    # the same grid in one process gives the same numbers (runs are deterministic)
    serial = tmp_path / "serial"
    assert main(["sweep", str(model_dir), "-N", "1,2", "-T", "1,2", "--engine", "reference",
                 "--samples", "6", "--jobs", "1", "--out", str(serial), "--quiet"]) == 0
    pd.testing.assert_frame_equal(df, pd.read_csv(serial / "sweep.csv"))


def synthetic_sweep() -> pd.DataFrame:
    """sweep.csv rows carrying the paper's Table 3 SNN columns (nJ) as if simulated."""
    t3 = paper.table3()
    rows = []
    for config, (t, n) in paper.TABLE3_SETTINGS.items():
        row = {"model": "vgg16", "levels": n, "timesteps": t, "config": f"T={t}, N={n}",
               "accuracy": 0.9, "float_accuracy": 0.91, "events": 1e5,
               "events_transferred": 1e5, "synapse_visits": 1e8, "run": "runs/x",
               "ann_total_nj": t3.loc["Total", "ANN"]}
        row.update({f"energy_{cat}_nj": t3.loc[cat, config] for cat in t3.index})
        rows.append(row)
    return pd.DataFrame(rows)


def test_breakdown_table_has_table3_layout():
    table = sweep_report.breakdown_table(synthetic_sweep())
    frame = table.frame
    assert list(frame.columns[:3]) == ["", " ", "ANN"]
    assert list(frame.columns[3:]) == ["T=4, N=1", "T=1, N=4", "T=8, N=1", "T=1, N=8"]
    totals = frame[frame[""] == "Total"].iloc[0]
    assert totals["T=1, N=4"] == pytest.approx(4.41e6) and totals["ANN"] == pytest.approx(12.9e6)
    md = table.to_markdown()
    assert "| Memory | Potentials | – | 6.00·10⁶ | 3.10·10⁶ | 1.00·10⁷ | 3.60·10⁶ |" in md


def test_sweep_figures_with_energy(tmp_path):
    df = synthetic_sweep()
    figs = sweep_report.sweep_figures(df, tmp_path)
    captions = [c for c, _ in figs]
    assert any("Figure 7B" in c for c in captions) and any("Figure 11A" in c for c in captions)
    svg = (tmp_path / "energy.svg").read_text()
    assert "ANN (same profile)" in svg and "energy per inference (mJ)" in svg
    bars = (tmp_path / "breakdown.svg").read_text()
    for category in ("Potentials", "Weights", "Synaptic ops", "configuration"):
        assert category in bars


def test_sweep_cli_errors(model_dir, tmp_path, capsys):
    assert main(["sweep", str(model_dir), "-N", "0", "--out", str(tmp_path / "x")]) == 2
    assert "-N: expected positive integers" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_figure7_axes_give_two_series(tmp_path):
    from neurosim.reports import figures
    df = synthetic_sweep()  # (T, N): (4, 1), (1, 4), (8, 1), (1, 8) — the paper's two lines
    xlabel, series = figures.sweep_series(df)
    assert xlabel == "N (multi-level, T=1) or T (binary, N=1)"
    (_, ml_label, ml), (_, bin_label, binary) = series
    assert "multi-level (T=1)" in ml_label and list(ml.sort_values("x").x) == [4, 8]
    assert "binary (N=1)" in bin_label and list(binary.sort_values("x").x) == [4, 8]
    grid = pd.concat([df.assign(levels=2, timesteps=2), df.assign(levels=4, timesteps=2)])
    xlabel, series = figures.sweep_series(grid)
    assert xlabel == "levels per spike N" and [s[1] for s in series] == ["vgg16, T=2"]
