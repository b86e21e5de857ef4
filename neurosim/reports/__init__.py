"""Reports: the paper's energy tables (md/csv/LaTeX/HTML), figures, comparisons and N/T sweeps.

    from neurosim.reports import report
    report("out/run")            # report.md, report.html, tables and figures in out/run

The command line: ``neurosim report DIR``, ``neurosim compare DIR_A DIR_B …``,
``neurosim sweep MODEL -N … -T …``. Everything here reads run directories; what runs the
simulations is neurosim.simulate and neurosim.studies.
"""

from __future__ import annotations

from pathlib import Path

from .runs import Run, load_run


def report(run_dir, out=None, force: bool = False) -> list[Path]:
    """Build the report of a run directory into ``out`` (default: the run directory itself),
    under the rules of neurosim.outputs (a directory neurosim did not write is refused unless
    ``force``)."""
    from ..outputs import atomic_dir, build_in_place
    from .run_report import build

    run = load_run(run_dir)
    if out is None:
        return build_in_place(lambda tmp: build(run, tmp), run.path)
    with atomic_dir(out, "report", "neurosim.reports.report", force=force) as tmp:
        build(run, tmp)
    return sorted(p for p in Path(out).rglob("*") if p.is_file())


__all__ = ["Run", "load_run", "report"]
