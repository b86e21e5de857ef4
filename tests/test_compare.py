"""neurosim compare: alignment by layer name, relative differences, missing and extra layers."""

import shutil

import numpy as np
import pandas as pd
import pytest

from neurosim.cli import main
from neurosim.errors import InputError
from neurosim.reports import compare, load_run
from test_reports import build_run


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    return build_run(root / "sew", "sew"), build_run(root / "sparse", "sparse")


def runs_of(*paths):
    runs = [load_run(p) for p in paths]
    compare.unique_labels(runs)
    return runs


def test_sew_and_sparse_align_on_paper_names(pair):
    sew, sparse = runs_of(*pair)
    al = compare.align([sew, sparse])
    for name in ("stem", "block0", "block1", "res1", "sum0", "sum1", "fc"):
        assert name in al.common
    # Sparse's add{i} (before the barrier) has no counterpart in SEW: reported, not compared
    assert al.missing == {sew.label: ["add0", "add1"], sparse.label: []}
    (message,) = al.messages()
    assert sew.label in message and "add0, add1" in message


def test_relative_differences_by_hand(pair):
    sew, sparse = runs_of(*pair)
    table = compare.activity_table([sew, sparse], compare.align([sew, sparse])).frame
    table = table.set_index("layer")
    a = pd.read_csv(pair[0] / "layers.csv").set_index("layer")
    b = pd.read_csv(pair[1] / "layers.csv").set_index("layer")
    for name in ("block1", "sum1"):
        ea, eb = a.loc[name, "events_out"] / 4, b.loc[name, "events_out"] / 4
        assert table.loc[name, f"events: {sew.label}"] == ea
        assert table.loc[name, f"Δ events: {sparse.label}"] == pytest.approx((eb - ea) / ea)
    assert np.isnan(table.loc["add0", f"events: {sew.label}"])
    assert np.isnan(table.loc["add0", f"Δ events: {sparse.label}"])
    assert table.loc["sum0", "kind"] == "add / identity"  # SEW's sum vs Sparse's barrier layer
    transferred = table.loc["total transferred (paper §6.4)", f"events: {sew.label}"]
    sums = a.loc[["sum0", "sum1"], "events_out"].sum()
    assert transferred == (a[a.kind != "add"].events_out.sum() + sums) / 4


def test_missing_and_extra_layers_are_named(pair, tmp_path):
    base = tmp_path / "base"
    other = tmp_path / "other"
    shutil.copytree(pair[0], base)
    shutil.copytree(pair[0], other)
    layers = pd.read_csv(other / "layers.csv")
    layers = layers[layers.layer != "res1"]
    extra = layers.iloc[[0]].assign(layer="extra0", events_out=10)
    pd.concat([layers, extra]).to_csv(other / "layers.csv", index=False)
    a, b = [load_run(base, "A"), load_run(other, "B")]
    al = compare.align([a, b])
    assert al.missing == {"A": ["extra0"], "B": ["res1"]}
    messages = al.messages()
    assert any(m.startswith("A: no layer(s) extra0") for m in messages)
    assert any(m.startswith("B: no layer(s) res1") for m in messages)
    table = compare.activity_table([a, b], al).frame.set_index("layer")
    assert table.loc["block1", "Δ events: B"] == 0.0  # aligned layers still compared
    assert np.isnan(table.loc["res1", "events: B"]) and np.isnan(table.loc["extra0", "events: A"])


def test_nothing_in_common(pair, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(pair[0], other)
    layers = pd.read_csv(other / "layers.csv")
    layers.assign(layer="x" + layers.layer).to_csv(other / "layers.csv", index=False)
    with pytest.raises(InputError, match="compare: no layer name is shared by all runs"):
        compare.align([load_run(pair[0], "A"), load_run(other, "B")])
    with pytest.raises(InputError, match="at least two run directories"):
        compare.align([load_run(pair[0])])


def test_compare_writes_tables_and_figure10(pair, tmp_path):
    sew, sparse = runs_of(*pair)
    out = tmp_path / "cmp"
    compare.build([sew, sparse], out)
    for name in ("comparison.md", "comparison.html", "activity.csv", "activity.tex",
                 "energy_breakdown.md", "energy_by_layer.csv", "figures/figure10.png",
                 "figures/figure10.svg", "figures/events_by_layer.png"):
        assert (out / name).is_file(), name
    svg = (out / "figures" / "figure10.svg").read_text()
    for text in ("spikes per image", "residual block i", sew.label, sparse.label):
        assert text in svg
    md = (out / "comparison.md").read_text()
    assert "no layer(s) add0, add1" in md and "figures/figure10.png" in md
    breakdown = pd.read_csv(out / "energy_breakdown.csv")
    total = breakdown[breakdown.iloc[:, 0] == "Total"].iloc[0]
    e_sew = pd.read_csv(pair[0] / "energy.csv").set_index("category").loc["Total", "SNN"]
    e_sparse = pd.read_csv(pair[1] / "energy.csv").set_index("category").loc["Total", "SNN"]
    assert total[f"Δ: {sparse.label}"] == pytest.approx((e_sparse - e_sew) / e_sew)


def test_compare_cli(pair, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(pair[0]), str(pair[1]), "--labels", "SEW,Sparse",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "SEW: no layer(s) add0, add1" in captured.err
    assert "| sum1 | add / identity |" in captured.out
    assert (out / "figures" / "figure10.png").is_file()
    assert main(["compare", str(pair[0]), str(pair[1]), "--labels", "only-one"]) == 2
    assert "--labels: got 1 label(s) for 2 run(s)" in capsys.readouterr().err


def test_same_network_twice_gets_distinct_labels(pair):
    a, b = runs_of(pair[0], pair[0])
    assert a.label != b.label


def test_runs_inside_the_comparison_are_named_relative_to_it(pair, tmp_path):
    """regenerate builds a comparison in a temporary directory and renames it: the run paths it
    prints must not name that temporary directory."""
    out = tmp_path / ".cmp.tmp"
    for p in pair:
        shutil.copytree(p, out / "runs" / p.name)
    inside = runs_of(*(out / "runs" / p.name for p in pair))
    compare.build(inside, out)
    md = (out / "comparison.md").read_text()
    assert f"**{inside[0].label}**: runs/{pair[0].name};" in md
    assert ".cmp.tmp" not in md
    outside = runs_of(*pair)
    compare.build(outside, tmp_path / "cmp2")
    md = (tmp_path / "cmp2" / "comparison.md").read_text()
    assert f"**{outside[0].label}**: {pair[0]};" in md
