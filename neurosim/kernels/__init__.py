"""Numba kernels for the event engine's hot paths, behind validating wrappers. Numba lives here
and nowhere else.

Each kernel works on plain arrays and COUNTS what it does as it does it (synapses visited, levels
carried), so that agreement with the dense reference's analytic counts is an independent check.

Layouts, chosen for speed: a core's potentials and accumulators are (H, W, C) with the output
channels contiguous (a linear layer is (1, 1, N)); conv weights are stored (kH, kW, C_in, C_out)
and linear weights (N_in, N_out), so one event adds a contiguous weight row into a contiguous
potential row. Events are (index, value) pairs: the index is the flat (C, H, W) position in the
*source* stream, the value its level (or pixel value).

Integer semantics are the reference's (neurosim/reference.py): accumulate Σ w·z per projection in a
register wide enough for its worst case, add ⌊acc / 2^shift⌋ when the potentials are read to fire,
saturate once, fire, reset. The same kernels run float64 arrays for the float model.

    synapses.py  scatter-accumulate (conv, linear, identity) and the reach of events (taps)
    neurons.py   leak, integrate, fire, pool, gather: a core's per-timestep stages
    noc.py       the FIFOs and network interfaces: receiving and sending pieces of packets
    events.py    the chip's event loop: every node's receive and send steps, in SimPy's order
    dense.py     the dense reference's products (written apart from the engine's: an independent
                 check), imported as neurosim.kernels.dense
"""

from . import noc
from .jit import JIT
from .neurons import (MODES, POOLS, _count_nonzero, _fire, _fire_emit, _gather,
                      _integrate_float, _integrate_int, _leak_float, _leak_int, _pool, fire,
                      fire_emit, gather, half_of, integrate, leak, pool, theta_shift)
from .synapses import (_conv_scatter, _identity_scatter, _linear_scatter, _prefix_taps,
                       conv_reach, conv_scatter, conv_taps, identity_scatter, linear_scatter,
                       prefix_taps)

__all__ = ["JIT", "MODES", "POOLS", "_conv_scatter", "_count_nonzero", "_fire", "_fire_emit",
           "_gather", "_identity_scatter", "_integrate_float", "_integrate_int", "_leak_float",
           "_leak_int", "_linear_scatter", "_pool", "_prefix_taps", "conv_reach", "conv_scatter",
           "conv_taps", "fire", "fire_emit", "gather", "half_of", "identity_scatter", "integrate",
           "leak",
           "linear_scatter", "noc", "pool", "prefix_taps", "theta_shift"]
