"""Argument types and options shared by the commands: bad values are refused by argparse in one
line that names the option (``neurosim simulate: error: argument --seed: expected an integer
>= 0, got '-1'``), before any work starts."""

from __future__ import annotations

import argparse
import math

from . import limits
from .model.neurons import MAX_LEVELS


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
                        f"default {limits.DEFAULT_FRACTION:.0%} of this machine's memory)")


def path(text: str) -> str:
    """An argparse type: a non-empty path (``--out ""`` would silently write nothing)."""
    if not text or not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return text
