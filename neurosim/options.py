"""Argument types and options shared by the commands: bad values are refused by argparse in one
line that names the option (``neurosim simulate: error: argument --seed: expected an integer
>= 0, got '-1'``), before any work starts."""

from __future__ import annotations

import argparse

from . import limits


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
LEVELS = integer(1, 255, "number of levels N")


def size(text: str) -> int:
    """An argparse type: a memory size such as 8GiB or 500MB, in bytes."""
    try:
        return limits.parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(getattr(err, "message", str(err))) from None


def add_max_memory(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-memory", type=size, default=None, metavar="SIZE",
                   help="refuse work estimated to need more memory than this (e.g. 16GiB; "
                        f"default {limits.DEFAULT_FRACTION:.0%} of this machine's memory)")
