"""neurosim report: the paper's Table 3 layout in every format, per-layer tables, figures, errors.

Helpers here (build_run, add_energy) are shared by test_compare, test_sweep and the browser test.
"""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neurosim.cli import main
from neurosim.data import Dataset
from neurosim.errors import InputError
from neurosim.model import builders, save_model
from neurosim import metrics
from neurosim.metrics import level_counts
from neurosim.reports import load_run, numbers, report
from neurosim.studies import paper
from neurosim.reports.tables import energy_table, layer_table, totals
from neurosim.simulate import SAMPLES_FILE, simulate

# Per-access energies (pJ) for tests: round numbers of the paper's order of magnitude, chosen
# here, not by the energy model, so the tables below can be checked by hand.
E_POT, E_W, E_BIAS, E_FIFO, E_ACC, E_MAC = 20.0, 18.0, 13.0, 13.374, 0.1, 3.2
CATEGORIES = ("Potentials", "Weights", "Bias", "In/Out", "Memory total", "Synaptic ops",
              "Addressing", "Total")


def graph_for(kind: str, levels: int = 4, timesteps: int = 1):
    if kind in ("sew", "sparse"):
        return builders.small_resnet(variant=kind, levels=levels, timesteps=timesteps)
    return builders.small_convnet(levels=levels, timesteps=timesteps, input_shape=(1, 12, 12))


def inputs_for(graph, samples: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (samples,) + tuple(graph.input.shape), dtype=np.uint8)
    return Dataset(x, np.arange(samples) % 10, "random test images")


def build_run(path, kind: str = "sew", levels: int = 4, timesteps: int = 1, samples: int = 4,
              energy: bool = True) -> Path:
    """A run directory as `neurosim simulate --out` writes it (reference engine, recorded)."""
    graph = graph_for(kind, levels, timesteps)
    data = inputs_for(graph, samples)
    sim = simulate(graph, inputs=data, engine="reference", record=True)
    sim.write(path, report=False)
    if energy:
        add_energy(path)
    return Path(path)


def add_energy(path) -> pd.DataFrame:
    """Energy columns in layers.csv and an energy.csv in the agreed layout, from the counts."""
    path = Path(path)
    layers = pd.read_csv(path / "layers.csv")
    layers["energy_potentials_pj"] = E_POT * (layers.potential_reads + layers.potential_writes)
    layers["energy_weights_pj"] = E_W * layers.weight_reads
    layers["energy_bias_pj"] = E_BIAS * layers.bias_reads
    layers["energy_inout_pj"] = E_FIFO * (layers.fifo_reads + layers.fifo_writes)
    layers["energy_synaptic_pj"] = E_ACC * layers.acc_ops + E_MAC * layers.mac_ops
    layers["energy_addressing_pj"] = E_MAC * layers.addr_mac_ops + E_ACC * layers.addr_acc_ops
    cats = [c for c in layers.columns if c.startswith("energy_")]
    layers["energy_total_pj"] = layers[cats].sum(axis=1)
    layers.to_csv(path / "layers.csv", index=False)
    s = int(layers.samples.iloc[0])
    nj = {c: layers[c].sum() / s / 1000 for c in cats + ["energy_total_pj"]}
    snn = [nj["energy_potentials_pj"], nj["energy_weights_pj"], nj["energy_bias_pj"],
           nj["energy_inout_pj"]]
    snn += [sum(snn), nj["energy_synaptic_pj"], nj["energy_addressing_pj"],
            nj["energy_total_pj"]]
    ann = [0.0, 3 * snn[1], snn[2], 40 * snn[3]]
    ann += [sum(ann), 50 * snn[5], snn[6]]
    ann.append(ann[4] + ann[5] + ann[6])
    energy = pd.DataFrame({"category": CATEGORIES, "SNN": snn, "ANN": ann})
    energy.to_csv(path / "energy.csv", index=False)
    return energy


@pytest.fixture(scope="module")
def sew_run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("runs") / "sew", "sew")


@pytest.fixture(scope="module")
def sew_report(sew_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "sew"
    report(sew_run, out)
    return out


# --- numbers in the paper's style ------------------------------------------------------------

def parse(text: str) -> float:
    """'3.10·10⁶' or '690' → float (the inverse of numbers.paper)."""
    mantissa, _, exponent = text.partition("·10")
    exponent = exponent.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-"))
    return float(mantissa) * 10 ** int(exponent or 0)


@pytest.mark.parametrize("printed", sorted({p for row in paper.TABLE3_PRINTED.values()
                                            for p in row if p != "-"}))
def test_paper_numbers_round_trip(printed):
    """Every Table 3 entry printed in our style with the paper's digits reads the same value."""
    value = paper.value(printed)
    digits = len(printed.split("·")[0].replace(".", "").lstrip("0"))
    assert parse(numbers.paper(value, digits=digits)) == pytest.approx(value, rel=1e-9)


def test_number_formats():
    assert numbers.paper(3.1e6, digits=2) == "3.1·10⁶"
    assert numbers.paper(2780) == "2.78·10³"
    assert numbers.paper(690) == "690"
    assert numbers.paper(0.0217) == "0.0217"
    assert numbers.paper(9.996e5) == "1.00·10⁶"  # rounding carries into the exponent
    assert numbers.paper(float("nan")) == "–"
    assert numbers.latex(13.3e3) == "$1.33\\cdot10^{4}$"
    assert numbers.count(1234.0) == "1,234" and numbers.count(0.5) == "0.5"
    assert numbers.percent(-0.281, signed=True) == "-28.1%"


def test_paper_table3_is_consistent():
    """The printed subtotals add up (to the paper's own truncation), so the layout is right."""
    t = paper.table3()
    for cfg in paper.TABLE3_CONFIGS:
        memory = t.loc[["Potentials", "Weights", "Bias", "In/Out"], cfg].fillna(0).sum()
        assert memory == pytest.approx(t.loc["Memory total", cfg], rel=0.02)
        total = t.loc[["Memory total", "Synaptic ops", "Addressing"], cfg].sum()
        assert total == pytest.approx(t.loc["Total", cfg], rel=0.02)


# --- the energy breakdown -------------------------------------------------------------------

def test_energy_table_in_paper_layout(tmp_path):
    """Fed the paper's own Table 3, the report prints the paper's rows, order and ratios."""
    run_dir = build_run(tmp_path / "run", "convnet", energy=False)
    t3 = paper.table3()
    energy = pd.DataFrame({"category": list(t3.index), "SNN": t3["multi-level [T=1, N=4]"],
                           "ANN": t3["ANN"].fillna(0.0)})
    energy.to_csv(run_dir / "energy.csv", index=False)
    table = energy_table(load_run(run_dir))
    labels = list(zip(table.frame[""], table.frame[" "]))
    assert labels == [("Memory", "Potentials"), ("Memory", "Weights"), ("Memory", "Bias"),
                      ("Memory", "In/Out"), ("Memory", "Total"), ("Synaptic operations", ""),
                      ("Addressing", ""), ("Total", ""), ("E_SNN / E_ANN", "")]
    md = table.to_markdown()
    assert "| Memory | Potentials | 3.10·10⁶ | 0 |" in md
    assert "|  | Weights | 1.30·10⁶ | 5.58·10⁶ |" in md  # the group is printed once
    assert "| Synaptic operations |  | 2.79·10⁴ | 1.29·10⁶ |" in md
    ratio = table.frame.iloc[-1]["SNN"]
    assert ratio == pytest.approx(paper.TABLE3_RATIO_TO_ANN["multi-level [T=1, N=4]"], abs=0.01)
    assert "| E_SNN / E_ANN |  | 0.34 | 1.00 |" in md
    tex = table.to_latex()
    assert "\\toprule" in tex and "$3.10\\cdot10^{6}$" in tex and "In/Out" in tex
    assert "E\\_SNN / E\\_ANN" in tex


def test_report_writes_every_format(sew_run, sew_report):
    out = sew_report
    for stem in ("energy_breakdown", "layer_table", "metrics", "synops_by_layer"):
        for ext in ("md", "csv", "tex"):
            assert (out / f"{stem}.{ext}").is_file(), f"{stem}.{ext}"
    csv = pd.read_csv(out / "energy_breakdown.csv")
    energy = pd.read_csv(sew_run / "energy.csv").set_index("category")
    total = csv[csv.iloc[:, 0] == "Total"]
    assert float(total["SNN"].iloc[0]) == pytest.approx(energy.loc["Total", "SNN"])
    tex = (out / "layer_table.tex").read_text()
    assert tex.count("\\begin{tabular}") == 1 and "\\bottomrule" in tex
    assert "block0.sn1" in tex  # names keep their dots; underscores are escaped
    html = (out / "report.html").read_text()
    assert html.count("<table") >= 3 and html.count('src="data:image/png;base64,') >= 3
    assert "src=\"figures/" not in html  # self-contained
    md = (out / "report.md").read_text()
    for png in (out / "figures").glob("*.png"):
        assert f"figures/{png.name}" in md


def test_report_records_provenance(sew_report):
    md = (sew_report / "report.md").read_text()
    for key in ("**model**", "**samples**: 4", "**seed**: 0", "**hardware profile**",
                "**versions**: neurosim", "numpy"):
        assert key in md, key


def test_layer_table_is_per_inference(sew_run):
    run = load_run(sew_run)
    table = layer_table(run)
    layers = pd.read_csv(sew_run / "layers.csv").set_index("layer")
    row = table.frame.set_index("layer").loc["block0"]
    assert row["events out"] == layers.loc["block0", "events_out"] / 4
    assert row["Total (nJ)"] == pytest.approx(layers.loc["block0", "energy_total_pj"] / 4000)
    sums = table.frame[table.frame.kind == "add"]
    assert len(sums) == 2 and sums["Total (nJ)"].isna().all()  # no energy at forward sums
    assert table.frame.share.sum() == pytest.approx(1.0)


def test_totals_leave_out_forward_sums(sew_run):
    run = load_run(sew_run)
    layers = run.layers
    neurons = layers[layers.kind != "add"].events_out.sum()
    sums = layers[layers.layer.isin(["sum0", "sum1"])].events_out.sum()
    t = totals(run)
    assert t["events"] == neurons / 4
    assert t["events_transferred"] == (neurons + sums) / 4


def test_figures_are_labelled_images(sew_report):
    folder = sew_report / "figures"
    expected = {"energy_by_layer": ("energy per inference", "layer", "Potentials"),
                "events_by_layer": ("events (spikes) per inference", "layer"),
                "figure10": ("spikes per image", "residual block i", "sum"),
                "levels": ("share of events (%)", "layer", "z = 1")}
    for stem, texts in expected.items():
        with Image.open(folder / f"{stem}.png") as img:
            assert img.width > 400 and img.height > 250
            assert len(np.unique(np.asarray(img.convert("L")))) > 10  # drawn, not blank
        svg = (folder / f"{stem}.svg").read_text()
        ET.fromstring(svg)
        for text in texts:
            assert text in svg, (stem, text)


def test_figures_are_reproducible(sew_run, tmp_path):
    report(sew_run, tmp_path / "a")
    report(sew_run, tmp_path / "b")
    for name in ("figures/energy_by_layer.svg", "figures/levels.svg", "report.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_report_without_profile(tmp_path):
    run_dir = build_run(tmp_path / "run", "convnet", energy=False)
    out = tmp_path / "report"
    report(run_dir, out)
    md = (out / "report.md").read_text()
    assert "No energy.csv" in md and not (out / "energy_breakdown.csv").exists()
    assert not (out / "figures" / "energy_by_layer.png").exists()
    assert (out / "figures" / "events_by_layer.png").exists()


# --- levels.csv -----------------------------------------------------------------------------

def test_level_counts_cover_every_output(sew_run):
    run = load_run(sew_run)
    levels = run.levels
    layers = run.layers.set_index("layer")
    for name, part in levels[levels.kind == "layer"].groupby("layer"):
        # a neuron's output is 0..N at each timestep of each sample: every one is counted once
        assert part["count"].sum() == layers.loc[name, "neurons"] * 4
        assert part[part.level > 0]["count"].sum() == layers.loc[name, "events_out"]
        assert (part.level * part["count"]).sum() == layers.loc[name, "level_sum_out"]
    sums = levels[levels.kind == "add"]
    assert set(sums.layer) == {"sum0", "sum1"} and sums.level.max() > 4  # SEW values exceed N


def test_level_counts_of_a_sum_by_hand():
    from types import SimpleNamespace

    from neurosim.compiler import AddPoint
    net = SimpleNamespace(layers=[], add_mode="forward", adds=[AddPoint("sum0", ("a", "b"))])
    a = np.array([[[0, 1, 2, 4]]])
    b = np.array([[[0, 0, 2, 4]]])
    table = level_counts(net, {"a": a, "b": b})
    counts = dict(zip(table.level, table["count"]))
    assert counts == {0: 1, 1: 1, 2: 0, 3: 0, 4: 1, 5: 0, 6: 0, 7: 0, 8: 1}


# --- the command line and errors ------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "small"
    graph = builders.small_convnet(levels=4, timesteps=2, input_shape=(1, 12, 12))
    save_model(graph, path)
    data = inputs_for(graph, 10)
    np.savez(path / SAMPLES_FILE, images=data.inputs, labels=data.labels)
    return path


def test_simulate_out_writes_report(model_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["simulate", str(model_dir), "--engine", "reference", "--samples", "5",
                 "--out", str(out), "--quiet"]) == 0
    for name in ("report.md", "report.html", "metrics.json", "levels.csv",
                 "figures/events_by_layer.png", "figures/levels.png", "layer_table.tex"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples"] == 5 and "SynapticOperations" in metrics["neurobench"]
    assert not list(tmp_path.glob(".run.tmp*"))


def test_report_command_rebuilds_in_place(model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", str(model_dir), "--engine", "reference", "--samples", "3",
                 "--out", str(out), "--quiet", "--no-float"]) == 0
    (out / "report.md").unlink()
    add_energy(out)
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| Memory | Potentials |" in printed
    assert (out / "report.md").is_file() and (out / "energy_breakdown.tex").is_file()
    assert not list(out.glob(".report.tmp*"))


def test_failed_report_leaves_previous_files(sew_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    import shutil
    shutil.copytree(sew_run, run_dir)
    report(run_dir)
    before = (run_dir / "report.md").read_bytes()
    from neurosim.reports import figures

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(figures, "level_distribution", broken)
    (run_dir / "layers.csv").write_text((run_dir / "layers.csv").read_text())
    with pytest.raises(RuntimeError, match="disk full"):
        report(run_dir)
    assert (run_dir / "report.md").read_bytes() == before
    assert not list(run_dir.glob(".report.tmp*"))


def test_missing_run_files(tmp_path):
    with pytest.raises(InputError, match="is not a directory"):
        load_run(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"summary\.json: not found"):
        load_run(tmp_path / "empty")


@pytest.mark.parametrize("edit, match", [
    (lambda d: (d / "layers.csv").write_text(
        pd.read_csv(d / "layers.csv").drop(columns="synapse_visits").to_csv(index=False)),
     r"layers\.csv: synapse_visits: missing column"),
    (lambda d: (d / "layers.csv").write_text(
        pd.read_csv(d / "layers.csv").assign(events_out="many").to_csv(index=False)),
     r"layers\.csv: events_out: expected numbers"),
    (lambda d: (d / "energy.csv").write_text(
        pd.read_csv(d / "energy.csv").iloc[:-1].to_csv(index=False)),
     r"energy\.csv: category\.Total: missing row"),
    (lambda d: (d / "energy.csv").write_text(
        pd.read_csv(d / "energy.csv").astype({"SNN": object}).assign(SNN="x").to_csv(
            index=False)), r"energy\.csv: SNN\.Potentials: expected numbers"),
    (lambda d: (d / "summary.json").write_text("{not json"), r"summary\.json: not valid JSON"),
    (lambda d: (d / "summary.json").write_text(json.dumps({"samples": 0})),
     r"summary\.json: samples: expected a positive integer"),
    (lambda d: (d / "levels.csv").write_text("layer,kind,level,count\nx,layer,-1,3\n"),
     r"levels\.csv: level: expected non-negative integers"),
])
def test_bad_run_files_name_file_and_field(sew_run, tmp_path, edit, match):
    import shutil
    run_dir = tmp_path / "run"
    shutil.copytree(sew_run, run_dir)
    edit(run_dir)
    with pytest.raises(InputError, match=match):
        load_run(run_dir)


def test_report_cli_error_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.json: not found" in err


# --- the checked-in reports' regeneration ---------------------------------------------------

def ship(folder, name, graph, samples=8):
    save_model(graph, folder / name)
    data = inputs_for(graph, samples)
    np.savez(folder / name / SAMPLES_FILE, images=data.inputs, labels=data.labels)


def test_table3_next_to_paper(tmp_path):
    from neurosim.studies import regenerate
    runs = {}
    for i, cfg in enumerate(regenerate.PAPER_CONFIGS):
        t, n = paper.TABLE3_SETTINGS[cfg]
        runs[cfg] = load_run(build_run(tmp_path / f"r{i}", "convnet", levels=n, timesteps=t))
    printed, ours, ratio = regenerate.table3_tables(runs)
    assert list(printed.frame.columns) == ["", " "] + list(paper.TABLE3_CONFIGS)
    assert printed.frame.iloc[1]["ANN"] == "5.58·10^6"  # the paper's own text, untouched
    cfg = "multi-level [T=1, N=4]"
    energy = runs[cfg].energy
    weights = ours.frame.iloc[1]
    assert weights[" "] == "Weights" and weights[cfg] == energy.loc["Weights", "SNN"]
    first = runs[regenerate.PAPER_CONFIGS[0]].energy  # the ANN baseline ignores N and T
    assert ours.frame.iloc[1]["ANN"] == first.loc["Weights", "ANN"]
    assert np.isnan(ours.frame.iloc[0]["ANN"])  # no potentials in an ANN
    assert ratio.frame.iloc[1][cfg] == pytest.approx(energy.loc["Weights", "SNN"] / 1.3e6)
    spikes = ours.frame.iloc[-1]
    assert spikes[""] == "spikes per inference"
    assert spikes[cfg] == totals(runs[cfg])["events"]
    md = printed.to_markdown()
    assert "| spikes per inference |  | – | 130,000 | 57,000 | – | – |" in md
    assert "| Memory | Potentials | – | 6.0·10⁶ | 3.1·10⁶ | 10.0·10⁶ | 3.6·10⁶ |" in md
    assert "$27.8\\cdot10^{2}$" in printed.to_latex()
    out = tmp_path / "table3"
    out.mkdir()
    regenerate.table3_report(runs, ["note"] * 4, out)
    for name in ("README.md", "table3.html", "table3_paper.tex", "table3_neurosim.csv",
                 "table3_ratio.md", "figures/breakdown.png"):
        assert (out / name).is_file(), name


def test_regenerate_from_shipped_models(tmp_path, monkeypatch):
    from neurosim.studies import regenerate
    monkeypatch.chdir(tmp_path)  # no hw_configs/ here: activity reports only, no profile
    models = tmp_path / "models"
    ship(models, "sew18", builders.small_resnet("sew", levels=4))
    ship(models, "sparse18", builders.small_resnet("sparse", levels=4))
    ship(models, "sew18_n8", builders.small_resnet("sew", levels=8))
    ship(models, "sparse18_n8", builders.small_resnet("sparse", levels=8))
    ship(models, "fmnist", builders.small_convnet(levels=4, timesteps=1,
                                                  input_shape=(1, 12, 12)))
    out = tmp_path / "reports"
    (out).mkdir()
    (out / "models.md").write_text("the training engineer's")
    status = regenerate.main(["--models", str(models), "--out", str(out), "--samples", "4",
                              "--engine", "reference", "--jobs", "1", "--quiet"])
    assert status == 0
    readme = (out / "README.md").read_text()
    assert "- table3: MISSING: no VGG16 in models/" in readme
    assert "sew_vs_sparse: generated from sew18 vs sparse18 at T=1, N=4" in readme
    assert "sew_vs_sparse_n8: generated from sew18_n8 vs sparse18_n8 at T=1, N=8" in readme
    assert ("figure11: SEW- and Sparse-ResNet18 at T=1, N=1, 2, 4, 8, each N on the model "
            "trained at it except N=1 (-N override of sew18)") in readme
    assert "energy_accuracy: MISSING: no hardware profile" in readme
    assert f"--models {models} --out {out} --samples 4" in readme
    for name in ("sew_vs_sparse/comparison.md", "sew_vs_sparse/figures/figure10.png",
                 "sew_vs_sparse/figure10_paper.csv", "sew_vs_sparse_n8/figure10_paper.md",
                 "figure11/sweep.md", "figure11/figures/spikes.png",
                 "figure11/figure11_paper.md",
                 "fmnist/report.md"):
        assert (out / name).is_file(), name
    assert (out / "models.md").read_text() == "the training engineer's"
    sweep_df = pd.read_csv(out / "figure11" / "sweep.csv")
    assert sorted(sweep_df.levels.unique()) == [1, 2, 4, 8]
    assert set(sweep_df.model) == {"SEW-ResNet18", "Sparse-ResNet18"}
    trained = sweep_df.set_index(["model", "levels"]).trained
    assert trained["SEW-ResNet18", 8] and not trained["SEW-ResNet18", 2]
    assert "The paper's Figure 10 numbers" in (out / "sew_vs_sparse" / "comparison.md").read_text()


def test_large_runs_keep_the_statistics_of_their_levels(model_dir, tmp_path, monkeypatch):
    """Above RECORD_LIMIT_BYTES a run keeps no levels in memory, but its shards still count
    them: levels.csv and metrics.json are those of a run that kept every level."""
    from neurosim import limits
    args = ["simulate", str(model_dir), "--engine", "reference", "--samples", "3", "--quiet",
            "--no-float"]
    assert main(args + ["--out", str(tmp_path / "small")]) == 0
    monkeypatch.setattr(limits, "RECORD_LIMIT_BYTES", 1000)
    assert main(args + ["--out", str(tmp_path / "large")]) == 0
    for name in ("levels.csv", "metrics.json", "layers.csv"):
        assert (tmp_path / "large" / name).read_bytes() == \
            (tmp_path / "small" / name).read_bytes(), name
    assert (tmp_path / "large" / "figures" / "levels.png").exists()
    sim = simulate(str(model_dir), engine="reference", samples=3, float_reference=False)
    assert not sim.result.levels and metrics.has_stats(sim.result.extra)


def test_report_of_a_real_profile_run(model_dir, tmp_path):
    """With the energy model and a shipped profile: the report's Table 3 is energy.csv's, and
    the per-layer energy adds up to its SNN total."""
    from conftest import REPO
    profiles = sorted((REPO / "hw_configs").glob("*.yaml"))
    assert profiles, "no hardware profile in hw_configs/"
    out = tmp_path / "run"
    assert main(["simulate", str(model_dir), "--hw", str(profiles[0]), "--engine", "reference",
                 "--samples", "4", "--out", str(out), "--quiet", "--no-float"]) == 0
    run = load_run(out)
    assert run.energy is not None and "SNN" in run.energy.columns
    layer_total = run.spiking_rows.energy_total_pj.sum() / run.samples / 1000
    assert layer_total == pytest.approx(run.energy.loc["Total", "SNN"], rel=1e-6)
    table = pd.read_csv(out / "energy_breakdown.csv")
    assert table[table.iloc[:, 0] == "Total"]["SNN"].iloc[0] == pytest.approx(
        run.energy.loc["Total", "SNN"])
    assert run.describe()["profile_sha256"]
    assert "sha256" in (out / "report.md").read_text()


def test_regenerate_picks_the_model_nearest_each_configuration():
    """Table 3's configurations run on the model trained there, else on one of the same kind
    (binary for N = 1, single-step multi-level for T = 1) with overrides."""
    from neurosim.studies.regenerate import Shipped, _pick
    binary = Shipped(Path("m/vgg_t4"), "vgg16", 1, 4, {})
    multi = Shipped(Path("m/vgg_n4"), "vgg16", 4, 1, {})
    models = [binary, multi]
    assert _pick(models, 4, 1) is multi and _pick(models, 1, 4) is binary
    assert _pick(models, 8, 1) is multi and _pick(models, 1, 8) is binary
    assert _pick([multi], 1, 8) is multi  # nothing of its kind: the first


def test_regenerate_draws_energy_against_accuracy(tmp_path, monkeypatch):
    """With a profile, every configuration regenerated lands on the energy-accuracy plane;
    points run outside their training point are marked as overrides."""
    from conftest import REPO

    from neurosim.studies import regenerate
    monkeypatch.chdir(tmp_path)
    models = tmp_path / "models"
    ship(models, "sew18", builders.small_resnet("sew", levels=4))
    ship(models, "sparse18", builders.small_resnet("sparse", levels=4))
    out = tmp_path / "reports"
    assert regenerate.main(["--models", str(models), "--out", str(out), "--samples", "4",
                            "--hw", str(REPO / "hw_configs" / "paper_45nm.yaml"),
                            "--engine", "reference", "--workers", "1", "--quiet"]) == 0
    df = pd.read_csv(out / "energy_accuracy" / "energy_accuracy.csv")
    assert len(df) == 8 and (df["energy (nJ)"] > 0).all()
    assert set(df[df.N != 4]["trained at this point"]) == {"no (override)"}
    assert set(df[df.N == 4]["trained at this point"]) == {"yes"}
    for name in ("README.md", "energy_accuracy.html", "figures/energy_accuracy.png"):
        assert (out / "energy_accuracy" / name).is_file(), name
