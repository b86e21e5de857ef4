"""Hardware profiles: every shipped profile loads, every kind of mistake is named with its file
and field, units convert, and the SRAM models give the published numbers."""

import textwrap

import pytest
import yaml

from conftest import REPO
from neurosim.cli import main
from neurosim.errors import ProfileError
from neurosim.hardware import EnergyModel, Memory, Profile, load_profile
from neurosim.errors import UnitError
from neurosim.units import parse

SHIPPED = sorted((REPO / "hw_configs").glob("*.yaml"))

GOOD = """
name: tiny
widths: {weights: 8, biases: 8, potentials: 16, spikes: 4}
fifo_depth: 100
timing: {clock: 100 MHz}
energy_models:
  lin: {model: linear, per_bit: 0.001 pJ, offset: 1 pJ, source: test numbers}
memories:
  weights: {bits: 8, size: layer_weights, energy: lin}
  biases: {bits: 8, size: layer_channels, energy: lin}
  potentials: {bits: 16, size: layer_neurons, energy: lin}
  fifo: {bits: 10, size: fifo_depth, energy: lin}
  activations: {bits: 8, size: feature_map, energy: lin}
operations:
  operand_bits: 16
  add: {energy: {16: 0.5 pJ}, source: test}
  multiply: {energy: {16: 2 pJ}, source: test}
"""


def write(tmp_path, data, name="hw.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def good():
    return yaml.safe_load(GOOD)


# --- shipped profiles ---------------------------------------------------------------------------

def test_profiles_are_shipped():
    names = {p.name for p in SHIPPED}
    assert {"paper_45nm.yaml", "leat_code_45nm.yaml", "sram_table_45nm.yaml",
            "loihi_14nm.yaml"} <= names
    assert len([p for p in SHIPPED if "paper" in p.name]) == 1  # reports find it by name


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_profile_validates_with_sources(path):
    profile = load_profile(path)
    assert profile.name and profile.sha256 and profile.path == str(path)
    for row in profile.energy_reference():
        assert row["source"].strip(), f"{path.name}: {row['component']} has no source"
    assert profile.describe()["sha256"] == profile.sha256


def test_paper_profile_constants():
    """The paper's group's numbers: E(1000 × 16 bit) = 13.374 pJ FIFO, ACC 0.1, MAC 3.2 pJ."""
    p = load_profile(REPO / "hw_configs" / "paper_45nm.yaml")
    assert p.memory("fifo").access_pj(p.fifo_depth) == pytest.approx(1.09e-5 * 1000 * 16 + 13.2)
    assert p.memory("fifo").access_pj(p.fifo_depth) == pytest.approx(13.3744)
    assert p.operations.acc_pj == 0.1 and p.operations.mac_pj == pytest.approx(3.2)
    assert (p.widths.weights, p.widths.potentials, p.fifo_depth) == (16, 16, 1000)
    # the banked weight memory: E(32768 words × 16 bit) whatever the layer size above it
    assert p.memory("weights").access_pj(2_359_296) == pytest.approx(1.09e-5 * 32768 * 16 + 13.2)
    assert p.memory("weights").access_pj(1728) == pytest.approx(1.09e-5 * 1728 * 16 + 13.2)


def test_profiles_command_lists_and_validates(tmp_path, capsys):
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    for path in SHIPPED:
        assert load_profile(path).name in out
    assert f"{len(SHIPPED)} valid, 0 invalid" in out
    bad = write(tmp_path, GOOD.replace("fifo_depth: 100", "fifo_depth: -3"), "bad.yaml")
    assert main(["profiles", str(REPO / "hw_configs" / "paper_45nm.yaml"), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "1 valid, 1 invalid" in captured.out
    assert "bad.yaml: fifo_depth: expected an integer in [1, 16777216], got -3" in captured.err
    assert main(["profiles", "--ert", str(REPO / "hw_configs" / "loihi_14nm.yaml")]) == 0
    assert "Davies et al." in capsys.readouterr().out
    assert main(["profiles", "--schema"]) == 0
    assert '"memories"' in capsys.readouterr().out
    assert main(["profiles", str(tmp_path / "nope")]) == 2


# --- loading what the engine uses ---------------------------------------------------------------

def test_loaded_fields_the_engine_and_compiler_use(tmp_path):
    data = good()
    data["core"] = {"max_neurons": 40, "max_weights": None, "max_cores": 8}
    data["noc"] = {"topology": "crossbar", "hop_cycles": 3, "energy_per_packet_hop": "2 pJ",
                   "energy_per_event_hop": 0.5, "source": "test"}
    data["static"] = {"power_per_core": "2 mW", "source": "test"}
    data["add_mode"] = "merge"
    p = load_profile(write(tmp_path, data))
    assert p.timing.clock_hz == 100e6 and p.timing.cycles_per_event == 1
    assert (p.widths.weights, p.widths.biases, p.widths.potentials) == (8, 8, 16)
    assert p.spike_bits == 4 and p.fifo_depth == 100 and p.add_mode == "merge"
    assert (p.core.max_neurons, p.core.max_weights, p.core.max_cores) == (40, None, 8)
    assert p.noc.topology == "crossbar" and p.noc.hop_cycles == 3
    assert p.noc.energy_per_packet_hop_pj == 2.0 and p.noc.energy_per_event_hop_pj == 0.5
    assert p.static_power_w_per_core == pytest.approx(2e-3)
    assert p.has_routing_energy and p.has_static_power


def test_profile_without_energy_model_is_refused():
    with pytest.raises(ProfileError, match="no energy model"):
        Profile("timing-only").require_energy()


# --- every kind of mistake, named with file and field -------------------------------------------

def _set(data, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        data = data[k]
    if value is DELETE:
        del data[keys[-1]]
    else:
        data[keys[-1]] = value


DELETE = object()

ERRORS = [
    # (field path, value, message regex after "hw.yaml: ")
    ("colour", "blue", r"colour: unknown key 'colour'; expected one of: .*memories"),
    ("memories.weights.colour", 1, r"memories\.weights\.colour: unknown key 'colour'"),
    ("fifo_depth", "big", r"fifo_depth: expected an integer in \[1, 16777216\], got 'big'"),
    ("widths.weights", 40, r"widths\.weights: expected an integer in \[2, 32\], got 40"),
    ("memories.weights.bits", 80, r"memories\.weights\.bits: expected an integer in \[1, 64\], "
                                  r"got 80"),
    ("memories.biases", DELETE, r"memories\.biases: missing \(required\); a profile describes "
                                r"every memory"),
    ("operations", DELETE, r"operations: missing \(required\)"),
    ("energy_models.lin.offset", "-1 pJ", r"energy_models\.lin\.offset: expected a "
                                          r"non-negative energy, got '-1 pJ'"),
    ("energy_models.lin.offset", "13.2 pW", r"energy_models\.lin\.offset: expected an energy "
                                            r".*'13\.2 pW' \('pW' is a unit of power\)"),
    ("energy_models.lin.offset", "13.2 pj", r"energy_models\.lin\.offset: .* \(units are "
                                            r"case-sensitive: did you mean 'pJ'\?\)"),
    ("energy_models.lin.offset", "thirteen", r"energy_models\.lin\.offset: expected an energy"),
    ("timing.clock", "200 MJ", r"timing\.clock: expected a frequency \(a number in Hz, or a "
                               r"string with a unit: Hz, kHz, MHz, GHz\), got '200 MJ'$"),
    ("timing.clock", "200 nJ", r"timing\.clock: .*\('nJ' is a unit of energy\)"),
    ("timing.clock", 0, r"timing\.clock: expected a positive frequency"),
    ("static", {"power_per_core": "1 pJ", "source": "x"},
     r"static\.power_per_core: expected a power .*\('pJ' is a unit of energy\)"),
    ("policies", {"synaptic_levels": "maybe"},
     r"policies\.synaptic_levels: expected one of n_acc, z_acc, shift_add, mac, got 'maybe'"),
    ("energy_models.lin.source", DELETE, r"energy_models\.lin\.source: missing \(required\)"),
    ("energy_models.lin.source", " ", r"energy_models\.lin\.source: expected where the numbers "
                                      r"come from"),
    ("energy_models.lin.points", [[1, 1]], r"energy_models\.lin\.points: not a setting of a "
                                           r"linear model"),
    ("energy_models.lin.per_bit", DELETE, r"energy_models\.lin\.per_bit: missing \(required by "
                                          r"a linear model\)"),
    ("energy_models.lin.model", "cubic", r"energy_models\.lin\.model: expected one of linear, "
                                         r"table, constant, got 'cubic'"),
    ("memories.weights.energy", "nope", r"memories\.weights\.energy: no energy model named "
                                        r"'nope' in energy_models \(known: lin\)"),
    ("memories.weights.energy", {"model": "constant", "source": "x"},
     r"memories\.weights\.energy\.per_access: missing \(required by a constant model\)"),
    ("memories.weights.energy", {"model": "constant", "per_access": -2, "source": "x"},
     r"memories\.weights\.energy\.per_access: expected a non-negative energy"),
    ("memories.weights.size", "layer_neurons", r"memories\.weights\.size: expected one of "
                                               r"layer_weights, fixed"),
    ("memories.fifo.size", "fixed", r"memories\.fifo\.entries: missing \(required when size is "
                                    r"fixed\)"),
    ("operations.operand_bits", 32, r"operations\.add\.energy: no entry for 32-bit operands; "
                                    r"give one or set operations\.operand_bits to one of 16"),
    ("operations.add.source", DELETE, r"operations\.add\.source: missing \(required\)"),
    ("operations.add.energy", {16: "0.5 W"}, r"operations\.add\.energy\.16: expected an energy"),
    ("noc", {"energy_per_packet_hop": "1 pJ"}, r"noc\.source: missing: say where the NoC "
                                               r"energies come from"),
    ("static", {"power_per_core": "1 mW"}, r"static\.source: missing"),
    ("core", {"max_neurons": 0}, r"core\.max_neurons: expected an integer in \[1, 16777216\] \(or null\), got 0"),
]


@pytest.mark.parametrize("field,value,message", ERRORS, ids=[f"{e[0]}={e[1]!r}"[:40]
                                                              for e in ERRORS])
def test_profile_errors_name_file_and_field(tmp_path, field, value, message):
    data = good()
    _set(data, field, value)
    with pytest.raises(ProfileError, match=r"^hw\.yaml: " + message):
        load_profile(write(tmp_path, data))


def test_table_model_errors(tmp_path):
    data = good()
    data["energy_models"]["tab"] = {"model": "table", "points": [["32 KiB", 20], ["8 KiB", 10]],
                                    "source": "x"}
    with pytest.raises(ProfileError, match=r"hw\.yaml: energy_models\.tab\.points: expected "
                                           r"capacities in increasing order"):
        load_profile(write(tmp_path, data))
    data["energy_models"]["tab"]["points"] = [["8 KiB", "10 pJ", 3]]
    with pytest.raises(ProfileError, match=r"hw\.yaml: energy_models\.tab\.points\.0: expected "
                                           r"\[capacity, energy\]"):
        load_profile(write(tmp_path, data))
    data["energy_models"]["tab"]["points"] = [["8 KiB", "10 pJ"], ["1 parsec", "1 pJ"]]
    with pytest.raises(ProfileError, match=r"hw\.yaml: energy_models\.tab\.points\.1\.0: "
                                           r"expected a size"):
        load_profile(write(tmp_path, data))


def test_file_level_errors(tmp_path):
    with pytest.raises(ProfileError, match=r"nope\.yaml: no such profile file"):
        load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match=r"^hw\.yaml: not valid YAML"):
        load_profile(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ProfileError, match=r"^hw\.yaml: expected a mapping of profile settings, "
                                           r"got list"):
        load_profile(write(tmp_path, "- a\n- b\n"))
    twice = GOOD.replace("fifo_depth: 100", "fifo_depth: 100\nfifo_depth: 200")
    with pytest.raises(ProfileError, match=r"^hw\.yaml: fifo_depth: key given twice \(line \d+\)"):
        load_profile(write(tmp_path, twice))
    with pytest.raises(ProfileError, match=r"^hw\.yaml: name: missing \(required\)"):
        load_profile(write(tmp_path, textwrap.dedent(GOOD).replace("name: tiny\n", "")))


def test_several_problems_are_counted(tmp_path):
    data = good()
    data["fifo_depth"] = 0
    data["packet_events"] = 0
    with pytest.raises(ProfileError, match=r"fifo_depth: .* \(and 1 more problem\(s\)\)"):
        load_profile(write(tmp_path, data))


# --- units and SRAM models ----------------------------------------------------------------------

@pytest.mark.parametrize("value,kind,expected", [
    (0.1, "energy", 0.1), ("100 fJ", "energy", 0.1), ("3.2e-3 nJ", "energy", 3.2),
    ("1.09e-5 pJ", "energy", 1.09e-5), ("1e-5", "energy", 1e-5), ("2 uJ", "energy", 2e6),
    ("25 mW", "power", 0.025), (1.5, "power", 1.5), ("200 MHz", "frequency", 2e8),
    ("1 GHz", "frequency", 1e9), ("8 KiB", "size", 8192), ("32 KB", "size", 32768),
    ("1 MiB", "size", 2 ** 20), (64, "size", 64)])
def test_units(value, kind, expected):
    assert parse(value, kind) == pytest.approx(expected)


@pytest.mark.parametrize("value,kind", [("1 MJ", "energy"), (True, "energy"), ("pJ", "energy"),
                                        ("nan", "energy"), ([1], "power"), ("5 kHz", "size")])
def test_bad_units(value, kind):
    with pytest.raises(UnitError, match=f"expected a.? {kind}"):
        parse(value, kind)


def test_linear_sram_model_is_the_papers_fit():
    m = EnergyModel("linear", per_bit_pj=1.09e-5, offset_pj=13.2)
    # the three Horowitz points it was fitted to, per 64-bit access: 8 KB ≈ 10, 32 KB ≈ 20,
    # 1 MB ≈ 100 pJ (a fit: within 35% at 8 KB, where the offset dominates)
    assert m.access_pj(8 * 1024 * 8 / 64, 64) == pytest.approx(13.91, abs=0.01)
    assert m.access_pj(1024 * 1024 * 8 / 64, 64) == pytest.approx(104.6, abs=0.1)
    assert m.access_pj(65536, 16) == pytest.approx(24.63, abs=0.01)  # E(n_out) of VGG16 conv1


def test_table_sram_model_gives_the_published_points():
    m = EnergyModel("table", points=((8192, 10.0), (32768, 20.0), (2 ** 20, 100.0)),
                    access_bits=64)
    words = lambda size_bytes, bits: size_bytes * 8 / bits  # noqa: E731
    assert m.access_pj(words(8192, 64), 64) == pytest.approx(10.0)
    assert m.access_pj(words(32768, 64), 64) == pytest.approx(20.0)
    assert m.access_pj(words(2 ** 20, 64), 64) == pytest.approx(100.0)
    assert m.access_pj(words(32768, 16), 16) == pytest.approx(5.0)  # a 16-bit datum: 1/4
    assert m.access_pj(words(20480, 64), 64) == pytest.approx(15.0)  # halfway 8 KB–32 KB
    assert m.access_pj(words(1024, 64), 64) == pytest.approx(10.0)  # clamped below 8 KB
    slope = 80.0 / (2 ** 20 - 32768)
    assert m.access_pj(words(2 ** 21, 64), 64) == pytest.approx(100.0 + slope * 2 ** 20)


def test_memory_sizing_banks_and_fixed():
    lin = EnergyModel("linear", per_bit_pj=0.001, offset_pj=1.0)
    assert Memory("weights", 8, lin, "layer_weights").access_pj(1000) == pytest.approx(9.0)
    banked = Memory("weights", 8, lin, "layer_weights", bank_entries=100)
    assert banked.access_pj(1000) == pytest.approx(1.8)
    assert banked.access_pj(50) == pytest.approx(1.4)
    assert Memory("fifo", 8, lin, "fixed", entries=10).access_pj(10 ** 6) == pytest.approx(1.08)
    assert Memory("fifo", 8, EnergyModel("constant", per_access_pj=3.0),
                  "fifo_depth").access_pj(10 ** 6) == 3.0
