"""The event-driven engine: cores exchange packets of valued spike events in a discrete-event
simulation (SimPy processes, run by default in a compiled event loop that keeps SimPy's order).

    result = neurosim.engine.run(net, inputs, labels, profile=profile)

Same inputs, outputs and counts as neurosim.reference.run (which it must equal exactly), plus the
simulated time of the hardware in ``result.timing`` and a per-core breakdown of the counts.
"""

from .runner import run

__all__ = ["run"]
