"""Sharded runs (neurosim.shards, neurosim.cluster, neurosim.partial) give the bytes of one process.

Every run here is a real ``neurosim`` process on 320 of the shipped CIFAR-10 images through the
trained VGG16 (5 blocks of 64, shards of one block), compared file by file with one process:
local Dask and local processes, a real ``dask scheduler`` with ``dask worker`` processes on
127.0.0.1 (one of them killed mid-run), a run killed with SIGKILL and resumed, and ``reprice``
against a fresh run on another shipped profile. The tests start and stop their cluster.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

distributed = pytest.importorskip("distributed", reason="needs the dist extra")

MODEL = REPO / "models" / "vgg16_cifar10_n4t1_w025"
SMALL = REPO / "models" / "fmnist_small_n4t1"
PAPER = REPO / "hw_configs" / "paper_45nm.yaml"
RUN = ["--samples", "320", "--hw", PAPER, "--shard-size", "64", "--quiet", "--save-outputs"]
COMPARED = ("layers.csv", "energy.csv", "timesteps.csv", "cores.csv", "levels.csv",
            "energy_reference.csv", "metrics.json", "summary.json")
OPTIONAL = ("fidelity.csv", "fidelity_timesteps.csv")  # with the float comparison
HOST_TIMES = {"wall_s", "simulation_wall_s", "simpy_s", "simpy_share"}
TIMEOUT = 900  # generous: a loaded 2-core machine


def env():
    out = dict(os.environ, PYTHONPATH=str(REPO))
    out.pop("NEUROSIM_WORKERS", None)
    return out


def neurosim(*args, timeout=TIMEOUT):
    done = subprocess.run([sys.executable, "-m", "neurosim.cli", *map(str, args)], cwd=REPO,
                          env=env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "neurosim.cli", *map(str, args)], cwd=REPO,
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def without_host_times(value):
    if isinstance(value, dict):
        return {k: without_host_times(v) for k, v in value.items() if k not in HOST_TIMES}
    if isinstance(value, list):
        return [without_host_times(v) for v in value]
    return value


def assert_same_run(a: Path, b: Path):
    for name in COMPARED:
        assert (a / name).is_file(), name
        if name == "summary.json":
            left, right = (without_host_times(json.loads((d / name).read_text()))
                           for d in (a, b))
            assert left == right
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in OPTIONAL:
        assert (a / name).is_file() == (b / name).is_file(), name
        if (a / name).is_file():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "outputs.npz").is_file() == (b / "outputs.npz").is_file()
    if (a / "outputs.npz").is_file():  # a zip's bytes hold its time: compare the arrays
        with np.load(a / "outputs.npz") as left, np.load(b / "outputs.npz") as right:
            assert left.files == right.files
            assert all(np.array_equal(left[k], right[k]) for k in left.files)


def wait_for(predicate, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """One process, no shards in flight: the bytes every other run must give."""
    out = tmp_path_factory.mktemp("one") / "run"
    neurosim("simulate", MODEL, *RUN, "--workers", "1", "--out", out)
    assert not Path(f"{out}.partial").exists()  # removed once the run directory is written
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["block_inputs"] == 64 and summary["timing"]["blocks"] == 5
    return out


def dask_command(what: str) -> list[str]:
    """``dask scheduler`` / ``dask worker`` of this Python (the module where no script is)."""
    script = Path(sys.executable).parent / "dask"
    return [str(script), what] if script.is_file() else \
        [sys.executable, "-m", f"distributed.cli.dask_{what}"]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A real Dask cluster on 127.0.0.1: ``dask scheduler`` and two ``dask worker``s."""
    where = tmp_path_factory.mktemp("dask")
    file = where / "scheduler.json"
    procs = [subprocess.Popen(dask_command("scheduler") + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(file)], cwd=where, env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]

    def worker():
        proc = subprocess.Popen(dask_command("worker") + [
                                 "--scheduler-file", str(file), "--nthreads", "1",
                                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                                cwd=where, env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(proc)
        return proc

    try:
        wait_for(file.exists, "the scheduler file", 120)
        address = json.loads(file.read_text())["address"]
        client = distributed.Client(address, timeout="60s")
        for _ in range(2):
            worker()
        client.wait_for_workers(2, timeout=300)
        yield address, client, worker
        client.close()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=60)


def test_local_dask_and_processes_give_the_bytes_of_one_process(baseline, tmp_path):
    for backend in ("dask", "processes"):
        out = tmp_path / backend
        neurosim("simulate", MODEL, *RUN, "--workers", "2", "--backend", backend, "--out", out)
        assert_same_run(baseline, out)


def test_an_existing_dask_cluster_gives_the_bytes_of_one_process(baseline, scheduler, tmp_path):
    address, _, _ = scheduler
    neurosim("simulate", MODEL, *RUN, "--scheduler", address, "--out", tmp_path / "run")
    assert_same_run(baseline, tmp_path / "run")


def test_a_worker_killed_mid_run_loses_nothing(baseline, scheduler, tmp_path):
    address, client, worker = scheduler
    extra = worker()
    client.wait_for_workers(3, timeout=300)
    out = tmp_path / "run"
    run = start("simulate", MODEL, *RUN, "--scheduler", address, "--out", out)
    wait_for(lambda: any(Path(f"{out}.partial").glob("int-*.json")) or run.poll() is not None,
             "a first finished shard")
    extra.kill()
    assert run.wait(timeout=TIMEOUT) == 0, run.stderr.read()[-3000:]
    assert_same_run(baseline, out)


def test_a_killed_run_resumes_to_the_same_bytes(baseline, tmp_path):
    out = tmp_path / "run"
    keep = Path(f"{out}.partial")
    run = start("simulate", MODEL, *RUN, "--workers", "1", "--out", out)
    wait_for(lambda: (keep / "int-00001.json").exists() or run.poll() is not None,
             "two finished shards")
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    assert keep.is_dir() and not out.exists()
    finished = sorted(p.name for p in keep.glob("*.json") if p.name != "plan.json")
    assert finished and all(p.endswith(".json") for p in finished)
    again = subprocess.run([sys.executable, "-m", "neurosim.cli", "simulate", MODEL, *map(
        str, RUN), "--workers", "1", "--out", str(out)], cwd=REPO, env=env(),
        capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 2
    assert "pass --resume to finish it, or remove it" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    neurosim("simulate", MODEL, *RUN, "--workers", "2", "--resume", "--out", out)
    assert_same_run(baseline, out)
    assert not keep.exists()


def test_resume_refuses_shards_of_another_run(tmp_path):
    out = tmp_path / "run"
    keep = Path(f"{out}.partial")
    from neurosim.cluster import Work, plans
    from neurosim.partial import PartialStore
    from neurosim.shards import Job
    job = Job(str(SMALL), None, None, 2, 1, "forward", True, "event", True)
    PartialStore.open(keep, plans({"int": Work(job, np.zeros((80, 1, 28, 28), np.uint8), None,
                                               None)}, 1, None), False, "test")
    done = subprocess.run([sys.executable, "-m", "neurosim.cli", "simulate", str(SMALL),
                           "--samples", "80", "--quiet", "--no-float", "--resume",
                           "--out", str(out)], cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 2
    assert "was left by another run" in done.stderr


def test_reprice_equals_a_fresh_run_on_another_profile(tmp_path):
    args = ["--samples", "100", "--quiet", "--workers", "1"]
    neurosim("simulate", SMALL, *args, "--hw", PAPER, "--out", tmp_path / "paper")
    leat = REPO / "hw_configs" / "leat_code_45nm.yaml"
    neurosim("simulate", SMALL, *args, "--hw", leat, "--out", tmp_path / "leat")
    neurosim("reprice", tmp_path / "paper", "--hw", leat, "--out", tmp_path / "repriced")
    assert_same_run(tmp_path / "leat", tmp_path / "repriced")
    for name in ("report.md", "energy_breakdown.csv", "layer_table.csv"):
        assert (tmp_path / "leat" / name).read_bytes() == \
            (tmp_path / "repriced" / name).read_bytes()
    done = subprocess.run([sys.executable, "-m", "neurosim.cli", "reprice",
                           str(tmp_path / "paper"), "--hw",
                           str(REPO / "hw_configs" / "sram_table_45nm.yaml"), "--out",
                           str(tmp_path / "refused")], cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2 and not (tmp_path / "refused").exists()
    assert "widths.weights is 8" in done.stderr and "needs a new simulation" in done.stderr


def test_reprice_reprices_routing_and_area(tmp_path):
    """On a priced NoC with an area model: routing energy, per-core area and static power
    follow the new profile, the traffic and cycles stay the run's."""
    loihi = REPO / "hw_configs" / "loihi_14nm.yaml"
    other = tmp_path / "loihi_other.yaml"
    other.write_text(loihi.read_text().replace("energy_per_event_hop: 3.0 pJ",
                                               "energy_per_event_hop: 5.0 pJ").replace(
        "sram_per_bit: 0.0588 um2", "sram_per_bit: 0.1 um2"))
    args = ["--samples", "70", "--quiet", "--workers", "1", "--no-float"]
    neurosim("simulate", SMALL, *args, "--hw", loihi, "--out", tmp_path / "loihi")
    neurosim("simulate", SMALL, *args, "--hw", other, "--out", tmp_path / "other")
    neurosim("reprice", tmp_path / "loihi", "--hw", other, "--out", tmp_path / "repriced")
    assert_same_run(tmp_path / "other", tmp_path / "repriced")
    first = json.loads((tmp_path / "loihi" / "summary.json").read_text())
    again = json.loads((tmp_path / "repriced" / "summary.json").read_text())
    assert again["area"] != first["area"] and again["noc"] != first["noc"]


def test_a_bad_shard_names_its_inputs(scheduler):
    from neurosim.cluster import Dask, InProcess, Processes, Work, run_jobs
    from neurosim.errors import ShardError
    from neurosim.shards import Job, manifest_sha256, network

    job = Job(str(SMALL), manifest_sha256(SMALL), None, None, 1, "forward", True, "event", False)
    inputs = np.zeros((160, 1, 28, 28), np.int16)
    inputs[70, 0, 3, 3] = -1  # the second block
    work = {"int": Work(job, inputs, None, network(job)[1])}
    address, _, _ = scheduler
    for cluster in (InProcess(), Processes(2), Dask(scheduler=address)):
        with pytest.raises(ShardError, match=r"inputs 64–127 \(shard 1 of int\).*values"):
            run_jobs(work, cluster, shard_inputs=64)
        if isinstance(cluster, Dask):
            cluster.close()


def test_sweep_points_are_the_runs_they_would_be_alone(tmp_path):
    args = ["--samples", "80", "--hw", PAPER, "--no-float", "--quiet"]
    neurosim("sweep", SMALL, "-N", "2,4", *args, "--shard-size", "64", "--workers", "2",
             "--out", tmp_path / "sweep")
    for n in (2, 4):
        alone = tmp_path / f"alone{n}"
        neurosim("simulate", SMALL, "-N", n, *args, "--workers", "1", "--out", alone)
        assert_same_run(alone, tmp_path / "sweep" / "runs" / f"{SMALL.name}_N{n}_T1")


def test_jobs_that_share_a_network_and_inputs_simulate_once():
    from neurosim.cluster import InProcess, Work, run_jobs
    from neurosim.shards import Job, manifest_sha256, network

    class Counting(InProcess):
        tasks = 0

        def run(self, tasks, progress=None):
            Counting.tasks += len(tasks)
            yield from super().run(tasks, progress)

    job = Job(str(SMALL), manifest_sha256(SMALL), None, None, 1, "forward", True, "event", False)
    net = network(job)[1]
    inputs = np.load(SMALL / "samples.npz")["images"][:70]
    works = {"a": Work(job, inputs, None, net), "b": Work(job, inputs.copy(), None, net)}
    results = run_jobs(works, Counting(), shard_inputs=64)
    assert Counting.tasks == 2  # two shards, once: "b" is "a"
    assert np.array_equal(results["a"].counts.data, results["b"].counts.data)
    assert results["a"].timing["blocks"] == 2
