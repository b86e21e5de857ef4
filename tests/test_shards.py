"""The split, the merge and the block rule (neurosim.shards), in one process."""

import json

import numpy as np
import pytest

from conftest import REPO
from neurosim.cluster import InProcess, Work, run_jobs
from neurosim.errors import ProfileError
from neurosim.hardware import load_profile
from neurosim.metrics import level_stats
from neurosim.shards import Job, manifest_sha256, network, plan
from neurosim.simulate import simulate

SMALL = REPO / "models" / "fmnist_small_n4t1"
PAPER = REPO / "hw_configs" / "paper_45nm.yaml"


def test_plan_holds_whole_blocks():
    assert plan(300, 64, 64) == [(0, 64), (64, 128), (128, 192), (192, 256), (256, 300)]
    assert plan(300, 64, 100) == [(0, 128), (128, 256), (256, 300)]  # rounded up to blocks
    assert plan(10, 64) == [(0, 10)]
    shards = plan(10_000, 64, None, workers=2)
    assert all(start % 64 == 0 for start, _ in shards) and shards[-1][1] == 10_000
    assert max(stop - start for start, stop in shards) == 4 * 64  # MAX_SHARD_BLOCKS
    assert len(plan(640, 64, None, workers=2)) == 10  # at least 4 shards per worker
    # 32 blocks on 2 workers: shards of 4, the last 2 × 4 blocks one a shard (a short tail)
    assert [(b - a) // 64 for a, b in plan(2048, 64, None, workers=2)] == [4] * 6 + [1] * 8
    assert [(b - a) // 64 for a, b in plan(2048, 64, None, workers=1)] == [4] * 8


def test_block_inputs_is_a_profile_field(tmp_path):
    profile = load_profile(PAPER)
    assert profile.block_inputs == 64 and profile.simulation()["block_inputs"] == 64
    (tmp_path / "p.yaml").write_text(PAPER.read_text() + "\nblock_inputs: 32\n")
    assert load_profile(tmp_path / "p.yaml").block_inputs == 32
    (tmp_path / "bad.yaml").write_text(PAPER.read_text() + "\nblock_inputs: 0\n")
    with pytest.raises(ProfileError, match=r"bad.yaml: block_inputs: expected an integer"):
        load_profile(tmp_path / "bad.yaml")


@pytest.fixture(scope="module")
def images():
    return np.load(SMALL / "samples.npz")["images"][:200]


def test_results_do_not_depend_on_the_shard_size(images):
    """Shards of 1, 2 and 4 blocks, merged: the same counts, logits, levels, times and levels'
    statistics, and those the statistics of the whole run's levels at once."""
    profile = load_profile(PAPER)
    job = Job(str(SMALL), manifest_sha256(SMALL), profile, None, 1, "forward", True, "event",
              True, statistics=True)
    graph, net = network(job)
    runs = [run_jobs({"int": Work(job, images, None, net)}, InProcess(), shard_inputs=size)
            ["int"] for size in (64, 128, 256)]
    for other in runs[1:]:
        assert np.array_equal(runs[0].counts.data, other.counts.data)
        assert np.array_equal(runs[0].logits, other.logits)
        assert all(np.array_equal(runs[0].levels[k], other.levels[k]) for k in runs[0].levels)
        assert runs[0].extra.keys() == other.extra.keys()
        assert all(np.array_equal(runs[0].extra[k], other.extra[k]) for k in other.extra)
        strip = {"wall_s", "simulation_wall_s", "simpy_s", "simpy_share"}
        assert {k: v for k, v in runs[0].timing.items() if k not in strip} == \
            {k: v for k, v in other.timing.items() if k not in strip}
    whole = level_stats(graph, net, runs[0].levels, images, 1)
    assert whole.keys() == runs[0].extra.keys() and any(k.startswith("synops:") for k in whole)
    assert all(np.array_equal(whole[k], runs[0].extra[k]) for k in whole)


def test_block_timing_is_the_sum_of_its_blocks(images):
    """cycles add up over blocks that each start on an empty chip; per-core busy cycles too."""
    from neurosim.engine import run

    profile = load_profile(PAPER)
    job = Job(str(SMALL), manifest_sha256(SMALL), profile, None, 1, "forward", True, "event",
              False)
    net = network(job)[1]
    merged = run_jobs({"int": Work(job, images[:128], None, net)}, InProcess())["int"].timing
    blocks = [run(net, images[s:s + 64], profile=profile, batch_size=64).timing
              for s in (0, 64)]
    assert merged["blocks"] == 2
    assert merged["cycles"] == blocks[0]["cycles"] + blocks[1]["cycles"]
    assert merged["latency_cycles_first"] == blocks[0]["latency_cycles_first"]
    assert merged["latency_cycles_max"] == max(b["latency_cycles_max"] for b in blocks)
    assert merged["latency_cycles"] == pytest.approx(
        (blocks[0]["latency_cycles"] + blocks[1]["latency_cycles"]) / 2)
    assert merged["stall_cycles"] == sum(b["stall_cycles"] for b in blocks)
    assert merged["max_fifo_occupancy"] == max(b["max_fifo_occupancy"] for b in blocks)
    for i, row in enumerate(merged["cores"]):
        busy = sum(b["cores"][i]["busy_cycles"] for b in blocks)
        assert row["busy_cycles"] == busy
        assert row["utilisation"] == busy / merged["cycles"]
        assert row["events_in"] == sum(b["cores"][i]["events_in"] for b in blocks)


def test_simulated_time_of_a_shipped_run_is_pinned():
    """Regression: the simulated time of the main job's model on 100 inputs (2 blocks) on the
    paper profile. An engine change that moves these numbers changes simulated time (so does a
    change of the integer network: pinned again with the calibrated, rounding quantiser)."""
    sim = simulate(SMALL, hw=PAPER, samples=100, float_reference=False)
    t = sim.summary()["timing"]
    assert (t["blocks"], t["cycles"], t["latency_cycles_first"], t["latency_cycles_max"],
            t["max_fifo_occupancy"]) == (2, 7636121.0, 117938.0, 599791.0, 1000)
    assert t["stall_cycles"] == 10872864
    assert json.loads(json.dumps(sim.summary()["settings"]["simulation"]))["block_inputs"] == 64
