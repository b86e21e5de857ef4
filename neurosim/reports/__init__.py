"""Reports: the paper's energy tables (md/csv/LaTeX/HTML), figures, comparisons and N/T sweeps.

    from neurosim.reports import report
    report("out/run")            # report.md, report.html, tables and figures in out/run

The command line: ``neurosim report DIR``, ``neurosim compare DIR_A DIR_B …``,
``neurosim sweep MODEL -N … -T …``; ``python -m neurosim.reports.regenerate`` rebuilds the
checked-in reports/ from the shipped models.
"""

from __future__ import annotations

from pathlib import Path

from .runs import Run, load_run


def report(run_dir, out=None) -> list[Path]:
    """Build the report of a run directory into ``out`` (default: the run directory itself)."""
    from .commands import build_in_place
    from .run_report import build

    run = load_run(run_dir)
    if out is None:
        return build_in_place(lambda tmp: build(run, tmp), run.path)
    return build(run, Path(out))


__all__ = ["Run", "load_run", "report"]
