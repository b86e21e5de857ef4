"""The ``neurosim`` command line.

Each subcommand lives in the module that does the work and exposes ``add_arguments(parser)``
and ``main(args)``; this file only routes. Modules are imported when their command runs, so an
optional extra (torch, nir) that is not installed breaks only its own command. Errors from
neurosim print as one line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from . import limits
from .errors import NeurosimError

COMMANDS = {
    "simulate": ("neurosim.commands", "simulate", "simulate a model and write counts and energy"),
    "inspect": ("neurosim.commands", "inspect", "show a model's graph, shapes and core map"),
    "profiles": ("neurosim.hardware.commands", "profiles", "list and validate hardware profiles"),
    "paper-tables": ("neurosim.hardware.commands", "paper_tables", "reproduce Tables 3/4"),
    "report": ("neurosim.reports.commands", "report", "energy breakdown report from a run"),
    "compare": ("neurosim.reports.commands", "compare", "compare runs layer by layer"),
    "sweep": ("neurosim.reports.commands", "sweep", "run an N × T grid and report it"),
    "import-nir": ("neurosim.importers.commands", "import_nir", "import a NIR graph"),
    "export-nir": ("neurosim.importers.commands", "export_nir", "export a model to NIR"),
    "train": ("neurosim.train.commands", "train", "train a model (extra: train)"),
}


def _load(name: str):
    module, prefix, _ = COMMANDS[name]
    try:
        mod = importlib.import_module(module)
        return getattr(mod, f"{prefix}_arguments"), getattr(mod, f"{prefix}_main")
    except (ImportError, AttributeError) as err:
        return None, err


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported on one line (not under a usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            add_arguments, main = _load(name)
            if add_arguments is not None:
                add_arguments(p)
                p.set_defaults(_main=main)
            else:
                p.set_defaults(_unavailable=main)
    return parser


def _terminate(signum, frame):
    """SIGTERM ends the command like Ctrl-C does: through its cleanup (no half-written output)."""
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    if argv is None:  # the command line itself (not a call from Python)
        signal.signal(signal.SIGTERM, _terminate)
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exit_:  # a bad argument (printed on one line) or --help
        return int(exit_.code or 0)
    if extra:
        prog = f"neurosim {args.command}" if args.command else "neurosim"
        print(f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see {prog} --help)",
              file=sys.stderr)
        return 2
    if args.version:
        from . import __version__
        print(f"neurosim {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 1
    if hasattr(args, "_unavailable"):
        print(f"neurosim {args.command}: not available: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        with limits.max_memory(getattr(args, "max_memory", None)):
            return int(args._main(args) or 0)
    except NeurosimError as err:
        print(f"neurosim {args.command}: error: {err}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"neurosim {args.command}: error: out of memory (the estimate before the run was "
              "too low: lower --max-memory, use fewer --samples, or report this)", file=sys.stderr)
        return 2
    except OSError as err:  # a disk that fills up, a file that vanishes mid-run
        where = f"{err.filename}: " if err.filename else ""
        print(f"neurosim {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
