"""The hardware profile as the rest of neurosim sees it: frozen records, loaded from YAML.

This module is the contract between the profile loader (neurosim/hardware), the compiler (core
mapping, fixed-point widths), the event engine (FIFOs, packets, timing, NoC) and the energy model.
Fields may be added; the ones below keep their names and meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..compiler import Widths


@dataclass(frozen=True)
class CoreLimits:
    """What one core can hold; a layer larger than this is split across cores (by channels)."""

    max_neurons: int | None = None  # potentials per core
    max_weights: int | None = None  # weight words per core
    max_cores: int | None = None  # cores on the chip


@dataclass(frozen=True)
class Timing:
    """Cycle costs used by the event engine to advance simulated time."""

    clock_hz: float = 200e6
    cycles_per_event: int = 1  # input-FIFO read + address generation, per incoming event
    cycles_per_synapse: int = 1  # weight read + potential read/ACC/write, pipelined
    cycles_per_neuron: int = 1  # per-neuron update per timestep (bias, threshold, reset)
    cycles_per_packet: int = 2  # packet handling at a core's network interface


@dataclass(frozen=True)
class NoC:
    """The network on chip that carries spike packets between cores."""

    topology: str = "mesh"  # "mesh" (XY routing) or "crossbar" (one hop)
    mesh_width: int | None = None  # cores per row; None: the smallest square that fits
    hop_cycles: int = 1
    energy_per_packet_hop_pj: float = 0.0
    energy_per_event_hop_pj: float = 0.0


@dataclass(frozen=True)
class Profile:
    name: str
    widths: Widths = field(default_factory=Widths)
    add_mode: str = "forward"  # how residual adds move events: "forward" or "merge"
    fifo_depth: int = 1000  # entries of each core's input FIFO (the paper's group: 1000)
    packet_events: int = 64  # events per spike packet (the engine's chunk size)
    core: CoreLimits = field(default_factory=CoreLimits)
    timing: Timing = field(default_factory=Timing)
    noc: NoC = field(default_factory=NoC)
    static_power_w_per_core: float = 0.0
    path: str | None = None
    sha256: str | None = None

    def describe(self) -> dict:
        """What reports record about the profile: name, file and content hash."""
        return {"name": self.name, "path": self.path, "sha256": self.sha256}
