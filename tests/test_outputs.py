"""Outputs never lose a user's data (issue 13): neurosim replaces only what it created, --force
writes into a directory without deleting anything, leftovers of killed runs are cleaned, files
get the user's umask, and every JSON file is strict."""

import dataclasses
import json
import os
import shutil
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.errors import OutputError
from neurosim.model.graph import Graph
from neurosim.model.io import load_model, save_model
from neurosim.outputs import (MARKER, atomic_dir, clean_leftovers, read_marker, write_json,
                              write_marker)
from neurosim.simulate import simulate

from conftest import REPO

MODEL = REPO / "models" / "fmnist_small_n4t1"
FAST = ["--samples", "10", "--quiet", "--no-float"]
ROOT = os.geteuid() == 0  # chmod does not stop root from writing


def run_cli(capsys, *args):
    """``neurosim ARGS`` in process: (exit status, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def simulate_cli(capsys, out, *extra):
    return run_cli(capsys, "simulate", MODEL, *FAST, "--out", out, *extra)


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def user_dir(path):
    """A directory of the user's: one file whose bytes must survive."""
    path.mkdir(parents=True)
    (path / "notes.txt").write_bytes(b"keep\x00me\n")
    return path


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if ".tmp." in p.name or ".old." in p.name)


@pytest.fixture(scope="module")
def sim():
    return simulate(MODEL, samples=10, float_reference=False)


@pytest.fixture(scope="module")
def run_dir(sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "run"
    sim.write(path, report=False)
    return path


@pytest.fixture
def restore_umask():
    mask = os.umask(0o022)
    yield
    os.umask(mask)


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# --- directories: refuse, replace, --force -----------------------------------------------------

def test_simulate_refuses_an_existing_user_directory(capsys, tmp_path):
    d = user_dir(tmp_path / "d")
    rc, err = simulate_cli(capsys, d)
    assert rc == 2
    line = one_line(err)
    assert f"{d}: exists and is not a neurosim run directory (no {MARKER} inside)" in line
    assert "choose a new --out, or pass --force" in line
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    assert (d / "notes.txt").read_bytes() == b"keep\x00me\n"
    assert leftovers(tmp_path) == []


def test_simulate_replaces_its_own_run_directory_atomically(capsys, tmp_path):
    out = tmp_path / "run"
    assert simulate_cli(capsys, out)[0] == 0
    assert read_marker(out) == {"format": "neurosim-run", "version": 1, "kind": "run",
                                "command": "neurosim simulate"}
    (out / "stale.csv").write_text("from an older run\n")
    assert simulate_cli(capsys, out)[0] == 0
    assert not (out / "stale.csv").exists() and (out / "summary.json").is_file()
    assert leftovers(tmp_path) == []


def test_force_writes_into_a_user_directory_and_deletes_nothing(capsys, tmp_path):
    d = user_dir(tmp_path / "d")
    (d / "summary.json").write_text("old\n")
    rc, err = simulate_cli(capsys, d, "--force")
    assert rc == 0, err
    assert (d / "notes.txt").read_bytes() == b"keep\x00me\n"
    assert json.loads((d / "summary.json").read_text())["samples"] == 10
    assert (d / "report.md").is_file() and (d / "figures").is_dir()
    assert not (d / MARKER).exists()  # a marker would let the next run replace it whole
    assert leftovers(d) == [] and leftovers(tmp_path) == []


def test_force_refuses_a_file_where_it_writes_a_directory(sim, tmp_path):
    d = user_dir(tmp_path / "d")
    (d / "figures").write_text("mine\n")
    with pytest.raises(OutputError, match="figures: is a file where neurosim writes a directory"):
        sim.write(d, force=True)
    assert sorted(p.name for p in d.iterdir()) == ["figures", "notes.txt"]  # nothing moved


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_an_existing_file_is_never_replaced_by_a_directory(capsys, tmp_path, force):
    f = tmp_path / "results"
    f.write_bytes(b"precious")
    rc, err = simulate_cli(capsys, f, *force)
    assert rc == 2 and "exists and is not a directory" in one_line(err)
    assert f.read_bytes() == b"precious"
    rc, err = run_cli(capsys, "import-nir", tmp_path / "missing.nir", "-o", f, *force)
    assert rc == 2 and "exists and is not a directory" in one_line(err)
    assert f.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["results"]  # not hidden as .results.old


def test_out_dot_is_refused_unless_forced(capsys, tmp_path, monkeypatch):
    here = user_dir(tmp_path / "here")
    monkeypatch.chdir(here)
    rc, err = simulate_cli(capsys, ".")
    assert rc == 2 and "is not a neurosim run directory" in one_line(err)
    assert sorted(p.name for p in here.iterdir()) == ["notes.txt"]
    rc, err = simulate_cli(capsys, ".", "--force")
    assert rc == 0, err
    assert (here / "summary.json").is_file() and (here / "notes.txt").is_file()


def test_a_marked_run_directory_holding_the_working_directory_is_not_replaced(sim, tmp_path,
                                                                              monkeypatch):
    out = sim.write(tmp_path / "run", report=False)
    (out / "sub").mkdir()
    monkeypatch.chdir(out / "sub")
    with pytest.raises(OutputError, match="contains the current directory"):
        sim.write(out, report=False)
    assert (out / "sub").is_dir() and (out / "summary.json").is_file()
    sim.write(out, report=False, force=True)  # --force: written into, nothing deleted
    assert (out / "sub").is_dir()


def test_a_directory_of_another_kind_is_not_replaced(sim, tmp_path):
    model = tmp_path / "model"
    save_model(load_model(MODEL), model)
    with pytest.raises(OutputError, match="is a neurosim model directory, not a run directory"):
        sim.write(model, report=False)
    load_model(model)


def test_unwritable_output_is_one_clear_line(capsys, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file\n")
    rc, err = simulate_cli(capsys, blocker / "run")
    assert rc == 2 and "a file is in the way" in one_line(err) and str(blocker) in err
    if ROOT:
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        rc, err = simulate_cli(capsys, locked / "run")
    finally:
        locked.chmod(0o700)
    assert rc == 2 and "Permission denied" in one_line(err) and str(locked) in err


def test_missing_parents_are_created(sim, tmp_path):
    out = sim.write(tmp_path / "a" / "b" / "run", report=False)
    assert (out / "summary.json").is_file()


@pytest.mark.parametrize("command", ["report", "compare", "sweep", "import-nir"])
def test_every_command_refuses_an_existing_user_directory(capsys, tmp_path, run_dir, command):
    d = user_dir(tmp_path / "d")
    args = {"report": ["report", run_dir, "--quiet", "--out", d],
            "compare": ["compare", run_dir, run_dir, "--labels", "a,b", "--quiet", "--out", d],
            "sweep": ["sweep", MODEL, "--samples", "10", "--no-float", "--quiet", "--out", d],
            "import-nir": ["import-nir", tmp_path / "missing.nir", "-o", d]}[command]
    rc, err = run_cli(capsys, *args)
    assert rc == 2 and "exists and is not a neurosim" in one_line(err)
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]


def test_report_replaces_its_own_output_and_force_keeps_user_files(capsys, tmp_path, run_dir):
    out = tmp_path / "report"
    for _ in range(2):
        rc, err = run_cli(capsys, "report", run_dir, "--quiet", "--out", out)
        assert rc == 0, err
    assert read_marker(out)["kind"] == "report" and (out / "report.md").is_file()
    d = user_dir(tmp_path / "d")
    assert run_cli(capsys, "report", run_dir, "--quiet", "--out", d, "--force")[0] == 0
    assert (d / "notes.txt").is_file() and (d / "report.md").is_file()
    assert not (d / MARKER).exists()


def test_compare_does_not_replace_an_output_that_holds_its_inputs(capsys, tmp_path, sim):
    out = tmp_path / "cmp"
    with atomic_dir(out, "comparison", "test"):
        pass
    a = sim.write(out / "a", report=False)
    rc, err = run_cli(capsys, "compare", a, a, "--labels", "x,y", "--quiet", "--out", out)
    assert rc == 2 and "holds the input" in one_line(err)
    assert (a / "summary.json").is_file()


def test_save_model_replaces_only_model_directories_it_wrote(tmp_path):
    graph = load_model(MODEL)
    d = user_dir(tmp_path / "d")
    with pytest.raises(OutputError, match="not a neurosim model directory"):
        save_model(graph, d)
    save_model(graph, d, force=True)
    assert (d / "notes.txt").is_file() and load_model(d).name == graph.name
    m = save_model(graph, tmp_path / "m")
    save_model(graph, m)  # its own: replaced
    assert read_marker(m)["kind"] == "model"


# --- leftovers of killed runs ------------------------------------------------------------------

def fake_leftover(parent, name, pid, marked=True):
    path = parent / name.format(pid=pid)
    path.mkdir()
    if marked:
        write_marker(path, "run", "test")
    (path / "layers.csv").write_text("half\n")
    return path


def test_leftovers_of_dead_runs_are_removed_and_nothing_else(tmp_path):
    pid = dead_pid()
    stale = [fake_leftover(tmp_path, ".out.tmp.{pid}.abcd1234", pid),
             fake_leftover(tmp_path, ".out.old.{pid}.0123abcd", pid)]
    kept = [fake_leftover(tmp_path, ".out.tmp.{pid}.unmarked", pid, marked=False),
            fake_leftover(tmp_path, ".out.tmp.{pid}.running1", os.getpid()),
            fake_leftover(tmp_path, ".other.tmp.{pid}.abcd1234", pid),
            fake_leftover(tmp_path, "out.partial", pid)]
    assert sorted(clean_leftovers(tmp_path, "out")) == sorted(stale)
    assert all(not p.exists() for p in stale) and all(p.is_dir() for p in kept)


def test_the_next_run_removes_what_a_killed_run_left(capsys, tmp_path):
    """A process killed (SIGKILL) inside atomic_dir leaves its temporary directory; the next
    `neurosim simulate --out` of the same name removes it."""
    out = tmp_path / "run"
    code = ("import os, signal, sys\nfrom neurosim.outputs import atomic_dir\n"
            "with atomic_dir(sys.argv[1], 'run', 'test') as tmp:\n"
            "    (tmp / 'layers.csv').write_text('half')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO)
    assert r.returncode == -signal.SIGKILL
    left = leftovers(tmp_path)
    assert len(left) == 1 and left[0].startswith(".run.tmp.") and not out.exists()
    assert simulate_cli(capsys, out)[0] == 0
    assert leftovers(tmp_path) == [] and (out / "summary.json").is_file()


# --- permissions -------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_outputs_get_the_users_umask(sim, tmp_path, restore_umask, mask):
    os.umask(mask)
    out = sim.write(tmp_path / "run", report=False)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((out / "summary.json").stat().st_mode) == 0o666 & ~mask
    pytest.importorskip("nir")
    from neurosim.importers.nir_export import export_nir
    path, sidecar = export_nir(load_model(MODEL), tmp_path / "net.nir")
    for f in (path, sidecar):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask


# --- single files: export-nir, paper-tables ----------------------------------------------------

@pytest.mark.parametrize("victim", ["net.nir", "net.yaml"])
def test_export_nir_refuses_to_overwrite_a_user_file(capsys, tmp_path, victim):
    pytest.importorskip("nir")
    (tmp_path / victim).write_bytes(b"the user's own\n")
    rc, err = run_cli(capsys, "export-nir", MODEL, "-o", tmp_path / "net.nir")
    assert rc == 2 and "exists and was not written by neurosim" in one_line(err)
    assert victim in err and "--force" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [victim]
    assert (tmp_path / victim).read_bytes() == b"the user's own\n"
    rc, err = run_cli(capsys, "export-nir", MODEL, "-o", tmp_path / "net.nir", "--force")
    assert rc == 0, err
    assert (tmp_path / victim).read_bytes() != b"the user's own\n"


def test_export_nir_replaces_its_own_output(capsys, tmp_path):
    pytest.importorskip("nir")
    for _ in range(2):
        rc, err = run_cli(capsys, "export-nir", MODEL, "-o", tmp_path / "net.nir")
        assert rc == 0, err
    assert "# generator: neurosim export-nir" in (tmp_path / "net.yaml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.nir", "net.yaml"]
    rc, err = run_cli(capsys, "import-nir", tmp_path / "net.nir", "--sidecar",
                      tmp_path / "net.yaml", "-o", tmp_path / "back")
    assert rc == 0, err


def test_paper_report_does_not_overwrite_a_user_file(tmp_path):
    from neurosim.studies.paper_report import TITLE, write_report

    mine = tmp_path / "tables.md"
    mine.write_text("my notes\n")
    with pytest.raises(OutputError, match="was not written by neurosim"):
        write_report(mine, "# Tables\n\nGenerated by `x` (neurosim/paper.py); do not edit by "
                           "hand.\n")
    assert mine.read_text() == "my notes\n"
    theirs = tmp_path / "paper.md"
    text = f"{TITLE}\n\nGenerated by `neurosim paper-tables`; do not edit by hand.\n"
    write_report(theirs, text)
    write_report(theirs, text + "more\n")  # its own: replaced
    assert theirs.read_text().endswith("more\n")


# --- strict JSON -------------------------------------------------------------------------------

def no_constants(name):
    raise ValueError(f"not JSON: {name}")


def test_write_json_is_strict_and_names_what_it_converted(tmp_path):
    data = {"a": float("nan"), "b": {"c": [1.0, np.float32("inf")], "d": -np.inf}, "e": 2,
            "notes": ["first"]}
    converted = write_json(tmp_path / "x.json", data, note_key="notes")
    assert converted == ["a", "b.c.1", "b.d"]
    back = json.loads((tmp_path / "x.json").read_text(), parse_constant=no_constants)
    assert back["a"] is None and back["b"] == {"c": [1.0, None], "d": None} and back["e"] == 2
    assert back["notes"][0] == "first" and "a, b.c.1, b.d" in back["notes"][1]


def test_an_all_zero_output_layer_gives_strict_json(capsys, tmp_path):
    graph = load_model(MODEL)
    zero = [dataclasses.replace(n, weight=np.zeros_like(n.weight),
                                bias=None if n.bias is None else np.zeros_like(n.bias))
            if n.name == graph.output else n for n in graph.nodes]
    model = save_model(Graph(zero, graph.output, graph.name, graph.timesteps, graph.meta),
                       tmp_path / "zero")
    shutil.copy(MODEL / "samples.npz", model / "samples.npz")
    rc, err = run_cli(capsys, "simulate", model, *FAST, "--out", tmp_path / "run")
    assert rc == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(),
                         parse_constant=no_constants)
    assert summary["quantisation"][graph.output]["scale"] == 1.0
