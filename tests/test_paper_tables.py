"""Tables 3 and 4 of the paper reproduced from the totals they imply (neurosim/studies/paper.py).

The paper's numbers are the test's reference; the rows that match by construction (In/Out,
Synaptic ops) are checked too, but the independent checks are: the spike counts the paper quotes
in its text (§6.1, §6.3) against the events the In/Out rows imply, the bias row from geometry,
the multi-level columns predicted from parameters fitted on the binary ones, and VGG16's size.
"""

import numpy as np
import pytest

from conftest import REPO
from neurosim.studies import paper, paper_report
from neurosim.cli import main
from neurosim.errors import ProfileError
from neurosim.hardware import load_profile
from neurosim.model.builders import vgg16
from neurosim.model.io import save_model

PAPER = REPO / "hw_configs" / "paper_45nm.yaml"
# The one row the paper's counting cannot reach within 3% (reports/paper_tables.md says why).
KNOWN_MISS = {("DVS T=1 N=10", "Addressing")}


@pytest.fixture(scope="module")
def profile():
    return load_profile(PAPER)


@pytest.fixture(scope="module")
def rep(profile):
    return paper.reproduce(profile)


def test_printed_tables():
    t3, t4 = paper.printed("Table 3"), paper.printed("Table 4")
    assert t3.loc["Bias", "binary [T=4, N=1]"] == "27.8·10^2"
    assert t4.loc["Potentials", "binary [T=10, N=1]"] == "233.3·10^6"
    assert paper.paper_value("multi-level [T=1, N=10]", "Table 4", "Total") == pytest.approx(
        104.1e6)


def test_vgg16_geometry():
    """n_out of the paper's VGG16 (FC 512-512-10) at both input sizes, readout included."""
    for ds, neurons in (("CIFAR-10", 277_514), ("CIFAR10-DVS", 4_424_714)):
        for head in paper.HEADS:
            net = paper.compiled_vgg16(ds, head)
            assert sum(layer.neurons for layer in net.layers) == neurons
    # MACs of one dense pass, by hand: Σ H·W·Cout·Cin·9 over the 13 convs + the FC layers
    convs = [(32, 3, 64), (32, 64, 64), (16, 64, 128), (16, 128, 128), (8, 128, 256),
             (8, 256, 256), (8, 256, 256), (4, 256, 512), (4, 512, 512), (4, 512, 512),
             (2, 512, 512), (2, 512, 512), (2, 512, 512)]
    macs = sum(h * h * cout * cin * 9 for h, cin, cout in convs) + 512 * 512 * 2 + 512 * 10
    assert paper.mac_count("CIFAR-10") == macs


def test_events_implied_by_in_out_are_the_spikes_the_paper_quotes(profile):
    """In/Out = 2 × events × E(1000 entries, 16 bit): the events match the spike counts printed
    in the paper's text (130e3 and 57e3 for Table 3, 1.5e6 and 591e3 for Table 4)."""
    quoted = {"C10 T=4 N=1": 130e3, "C10 T=1 N=4": 57e3, "DVS T=10 N=1": 1.5e6,
              "DVS T=1 N=10": 591e3}
    for config in paper.CONFIGS:
        if config.short in quoted:
            events = paper.invert(config, profile).events
            assert events == pytest.approx(quoted[config.short], rel=0.015), config.short


def test_bias_row_from_geometry(profile):
    """Per-channel bias from an 8-bit memory of each layer's weights: 708 nJ per timestep."""
    for config in paper.CONFIGS:
        t = paper.invert(config, profile)
        assert t.bias_nj / config.timesteps == pytest.approx(707.76, abs=0.05)
    flat = paper.invert(paper.CONFIGS[-1], profile, head="flatten")
    assert flat.bias_nj == pytest.approx(883.3, abs=0.1)  # fc1 with 8192 inputs


def test_snn_columns_within_3_percent(rep):
    failures = {(c, r) for c, r, _ in rep.failures(0.03)}
    assert failures == KNOWN_MISS
    checked = rep.rows[rep.rows.row.isin(paper.CHECKED_ROWS)]
    assert len(checked) == 6 * len(paper.CHECKED_ROWS)
    for r in checked.itertuples():
        if (r.config, r.row) not in KNOWN_MISS:
            assert abs(r.error) <= 0.03, (r.config, r.row, r.error)
    miss = checked[(checked.config == "DVS T=1 N=10") & (checked.row == "Addressing")]
    assert miss.error.iloc[0] == pytest.approx(0.113, abs=0.005)


def test_multi_level_columns_are_predictions(rep):
    """Nothing is fitted on the multi-level columns: their weights, potentials and addressing
    follow from the binary fit, within 3% (the DVS N=10 addressing aside)."""
    ml = rep.rows[rep.rows.label.str.startswith("multi-level")]
    assert set(ml[ml.row.isin(["Weights", "Potentials", "Addressing"])].status) == {"predicted"}
    fit = rep.fit
    assert fit.weight_pj["CIFAR-10"] == pytest.approx(18.36, abs=0.01)
    assert fit.potential_pj["CIFAR10-DVS"] == pytest.approx(68.36, abs=0.01)
    assert fit.addressed_share == pytest.approx(0.942, abs=0.001)
    for r in ml[ml.row.isin(["Weights", "Potentials"])].itertuples():
        assert abs(r.error) <= 0.03


def test_determined_rows(rep):
    construction = rep.rows[rep.rows.status == "construction"]
    assert set(construction.row) == {"In/Out", "Synaptic ops"}
    assert np.allclose(construction.error, 0, atol=1e-9)
    assert set(rep.rows[rep.rows.status == "geometry"].row) == {"Bias"}


def test_inversion_needs_the_papers_counting(profile, tmp_path):
    code = load_profile(REPO / "hw_configs" / "leat_code_45nm.yaml")
    with pytest.raises(ProfileError, match="policies: the tables' inversion assumes"):
        paper.reproduce(code)


def test_ann_column_is_computed_not_tuned(profile):
    rows = paper.ann_rows("CIFAR-10", profile)
    assert rows["Potentials"] == 0
    assert rows["Total"] == pytest.approx(rows["Memory total"] + rows["Synaptic ops"]
                                          + rows["Addressing"])
    # 313.7 M MACs × 3.2 pJ + 0.1 pJ per output: the synaptic row, by hand
    assert rows["Synaptic ops"] == pytest.approx((313_725_952 * 3.2 + 277_514 * 0.1) / 1e3)


def test_report_and_command(tmp_path, capsys):
    out = tmp_path / "paper_tables.md"
    empty = tmp_path / "models"
    empty.mkdir()
    assert main(["paper-tables", "--out", str(out), "--models", str(empty)]) == 0
    printed = capsys.readouterr().out
    assert "rows outside 3%: DVS T=1 N=10 Addressing" in printed
    text = out.read_text()
    for needle in ("### Table 3", "### Table 4", "(construction)", "(predicted)", "Ē_w CIFAR-10",
                   "## The ANN column", "No trained VGG16", "leat-code-45nm"):
        assert needle in text, needle
    assert not list(tmp_path.glob(".paper_tables.md.*"))  # written atomically


def test_trained_model_section(tmp_path, profile):
    """A (tiny, untrained) VGG16 in models/ is simulated and set beside the paper's column."""
    models = tmp_path / "models"
    graph = vgg16(levels=4, timesteps=1, width=1 / 16, name="vgg16_tiny")
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    save_model(graph, models / "vgg16_tiny")
    np.savez(models / "vgg16_tiny" / "samples.npz", images=x, labels=np.arange(4))
    fitted = paper.reproduce(profile).fit
    lines = paper_report.trained_section(models, profile.path, samples=2, engine="reference",
                                  fitted=fitted)
    text = "\n".join(lines)
    assert "`vgg16_tiny` (T=1, N=4; 2 test images" in text
    assert "paper multi-level [T=1, N=4]" in text
    assert "Effective per-access energies of this run" in text and "Ē_w = 18.36" in text
