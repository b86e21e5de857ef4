"""What the commands share: the Command record, argument types and options. Bad values are
refused by argparse in one line that names the option (``neurosim simulate: error: argument
--seed: expected a non-negative integer seed, got '-1'``), before any work starts."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Callable

from . import limits
from .model.neurons import MAX_LEVELS


@dataclass(frozen=True)
class Command:
    """One ``neurosim`` subcommand: its name, one line of help, and its two functions.
    ``run`` imports what the command needs when it runs, so a missing optional extra (torch,
    nir) breaks only its own command and ``neurosim --help`` stays fast."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


FORCE_HELP = ("write into an existing --out that neurosim did not create, replacing only the "
              "files neurosim writes (nothing else is touched)")


def integer(lo: int, hi: int | None = None, what: str = "integer"):
    """An argparse type: an integer in [lo, hi] (hi None: no upper bound)."""
    if hi is not None:
        expected = f"a {what} in [{lo}, {hi}]"
    else:
        expected = {0: f"a non-negative {what}", 1: f"a positive {what}"}.get(lo, f"a {what} >= {lo}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


SEED = integer(0, None, "integer seed")
SAMPLES = integer(1, None, "number of samples")
TIMESTEPS = integer(1, limits.MAX_TIMESTEPS, "number of timesteps T")
LEVELS = integer(1, MAX_LEVELS, "number of levels N")


def positive_number(what: str = "number", zero: bool = False):
    """An argparse type: a finite float > 0 (>= 0 with ``zero``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            sign = "non-negative" if zero else "positive"
            raise argparse.ArgumentTypeError(f"expected a finite {sign} {what}, got {text!r}")
        return value

    return parse


def size(text: str) -> int:
    """An argparse type: a memory size such as 8GiB or 500MB, in bytes."""
    try:
        return limits.parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(getattr(err, "message", str(err))) from None


def add_max_memory(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-memory", type=size, default=None, metavar="SIZE",
                   help="refuse work estimated to need more memory than this (e.g. 16GiB; "
                        f"default {100 * limits.DEFAULT_FRACTION:.0f}%% of this machine's memory)")


def path(text: str) -> str:
    """An argparse type: a non-empty path (``--out ""`` would silently write nothing)."""
    if not text or not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return text


def scheduler_address(text: str) -> str:
    """An argparse type: a Dask scheduler address, tcp://HOST:PORT (or tls://, ucx://)."""
    scheme, _, rest = text.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls", "ucx", "inproc") or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected tcp://HOST:PORT, got {text!r}")
    return text


def add_cluster(p: argparse.ArgumentParser, aliases: tuple = ()) -> None:
    """Where the shards of a run go (neurosim.cluster); results do not depend on any of it."""
    p.add_argument("--workers", *aliases, type=integer(1, None, "number of workers"),
                   help="worker processes (a local Dask cluster when the `dist` extra is "
                        "installed, else local processes); default: the machine's cores for "
                        "64 inputs or more, else 1 ($NEUROSIM_WORKERS overrides)")
    p.add_argument("--scheduler", type=scheduler_address, metavar="tcp://HOST:PORT",
                   help="run the shards on an existing Dask cluster (extra `dist`)")
    p.add_argument("--backend", choices=("auto", "processes", "dask"), default="auto",
                   help="for --workers above 1: Dask when installed (auto), or one of the two")
    p.add_argument("--shard-size", type=integer(1, None, "number of inputs"), metavar="INPUTS",
                   help="inputs per shard, rounded up to whole blocks (the profile's "
                        "block_inputs); default: up to 4 blocks, at least 4 shards per worker")
    p.add_argument("--resume", action="store_true",
                   help="finish the interrupted run whose shards are kept in OUT.partial/")
