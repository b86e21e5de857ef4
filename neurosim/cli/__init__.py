"""The neurosim command line: simulate multi-level spiking networks on event-driven hardware,
count every memory access and operation, price them with a hardware profile.

An explicit table of commands, one module per group:

    simulate, inspect      neurosim.cli.simulate
    profiles               neurosim.cli.hardware
    report, compare        neurosim.cli.reports
    sweep, explore, paper-tables    neurosim.cli.studies
    import-nir, export-nir neurosim.cli.importers
    train                  neurosim.cli.train

Each command module imports what it needs when its command runs, so an optional extra (torch,
nir) that is not installed breaks only its own command. Errors from neurosim print as one
line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys

from .. import limits
from ..errors import NeurosimError
from . import hardware, importers, reports, simulate, studies, train

COMMANDS = {c.name: c for group in (simulate, hardware, reports, studies, importers, train)
            for c in group.COMMANDS}


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported on one line (not under a usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def plain(doc: str) -> str:
    """A docstring's first paragraph as a terminal shows it: one line, without
    reStructuredText's literal markers."""
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosim", description=plain(__doc__))
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(_main=command.run)
    return parser


def _terminate(signum, frame):
    """SIGTERM ends the command like Ctrl-C does: through its cleanup (no half-written output)."""
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    if argv is None:  # the command line itself (not a call from Python)
        signal.signal(signal.SIGTERM, _terminate)
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
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
        from .. import __version__
        print(f"neurosim {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 1
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
