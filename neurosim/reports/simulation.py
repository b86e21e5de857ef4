"""What ``neurosim simulate --out`` adds to a run directory: levels.csv, metrics.json, the report.

    sim = simulate(model, hw=..., inputs=data, record=True)
    attach_run_files(sim, data)    # levels.csv and metrics.json, written by sim.write
    sim.write("out/")              # CSVs, summary.json, then report.md/.html and figures

Recording every layer's output levels costs memory (int32 per neuron, timestep and input), so
``should_record`` declines runs whose recording would exceed RECORD_LIMIT_BYTES; their report says
what is missing and how to get it (fewer --samples).
"""

from __future__ import annotations

from pathlib import Path

from ..outputs import write_json
from . import levels as levels_csv
from . import metrics

RECORD_LIMIT_BYTES = 2 * 1024 ** 3


def record_bytes(graph, samples: int, timesteps: int) -> int:
    """Upper bound of the memory a recorded run holds: int32 per neuron, timestep and input."""
    return 4 * graph.neuron_count() * samples * timesteps


def should_record(graph, samples: int, timesteps: int) -> bool:
    return record_bytes(graph, samples, timesteps) <= RECORD_LIMIT_BYTES


def attach_run_files(sim, data) -> None:
    """Register metrics.json (and levels.csv for a recorded run) with ``sim.write``."""
    values = metrics.compute(sim, data.inputs)
    sim.extra_files["metrics.json"] = lambda path: write_json(path, values)
    if sim.result.levels:
        table = levels_csv.level_counts(sim.net, sim.result.levels)
        sim.extra_files["levels.csv"] = lambda path: table.to_csv(path, index=False)


def write_report(run_dir) -> list[Path]:
    """Build report.md, report.html, the tables and the figures inside ``run_dir``."""
    from .run_report import build
    from .runs import load_run

    run_dir = Path(run_dir)
    return build(load_run(run_dir), run_dir)
