"""The hardware profile as the rest of neurosim sees it: frozen records, loaded from YAML.

This module is the contract between the profile loader (neurosim/hardware), the compiler (core
mapping, fixed-point widths), the event engine (FIFOs, packets, timing, NoC) and the energy model.
Fields may be added; the ones below keep their names and meaning.

Energies are in pJ, power in W, frequencies in Hz. Every energy carries the source it came from
(a paper, a datasheet, a fit), and ``energy_reference()`` lists them the way Accelergy's energy
reference table (ERT) does, so reports can show where each number came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import CompileError, ProfileError

# Simulated time runs per block of this many inputs, each block on an empty chip (docs/design.md
# §4): a run's times then do not depend on how its inputs are split over workers.
BLOCK_INPUTS = 64


@dataclass(frozen=True)
class Widths:
    """Fixed-point word widths in bits (the paper's group uses 16 everywhere)."""

    weights: int = 16
    biases: int = 16
    potentials: int = 16
    headroom: int = 4  # potentials hold ±headroom·N·θ: the threshold is 2^⌊log2(vmax/(headroom·N))⌋

    def __post_init__(self):
        for name in ("weights", "biases", "potentials"):
            bits = getattr(self, name)
            if not isinstance(bits, int) or not 2 <= bits <= 32:
                raise CompileError(f"expected an integer in [2, 32], got {bits!r}", "widths", name)
        if not isinstance(self.headroom, int) or self.headroom < 1:
            raise CompileError(f"expected an integer >= 1, got {self.headroom!r}", "widths",
                               "headroom")


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
    source: str = ""


ENCODINGS = ("address_event", "bitmap", "run_length")


@dataclass(frozen=True)
class NoC:
    """The network on chip that carries spike packets between cores.

    A packet is ``header_bits`` plus its events, coded as ``encoding`` says (neurosim/noc.py):
    address_event  each event: its source address and its level (address + ⌈log2(N+1)⌉ bits)
    bitmap         one bit per output position of the sending core per timestep, and a level
                   of ⌈log2 N⌉ bits per event (none for binary spikes)
    run_length     each event: the run of silent positions before it (``run_bits``; a longer
                   run costs one more word per 2^run_bits − 1 positions) and its level
    ``link_bits``: bits a link moves per cycle (the flit width, one flit per cycle).
    ``placement``: (x, y) of every core in core order; None: row by row on the mesh.
    """

    topology: str = "mesh"  # "mesh" (XY routing) or "crossbar" (one hop)
    mesh_width: int | None = None  # cores per row; None: the smallest square that fits
    hop_cycles: int = 1
    energy_per_packet_hop_pj: float = 0.0
    energy_per_event_hop_pj: float = 0.0
    source: str = ""
    encoding: str = "address_event"
    header_bits: int = 0
    run_bits: int = 4
    link_bits: int | None = None
    energy_per_bit_hop_pj: float = 0.0  # per payload bit per link crossed
    energy_per_router_pj: float = 0.0  # per packet per router it passes (hops + 1 on a mesh)
    energy_per_message_pj: float = 0.0  # per event per destination core (network interface)
    placement: tuple[tuple[int, int], ...] | None = None

    @property
    def priced(self) -> bool:
        return any(e > 0 for e in (self.energy_per_packet_hop_pj, self.energy_per_event_hop_pj,
                                   self.energy_per_bit_hop_pj, self.energy_per_router_pj,
                                   self.energy_per_message_pj))


@dataclass(frozen=True)
class Area:
    """Silicon area: SRAM bits × area per bit plus a fixed logic area per core. None: no
    published figure (the profile says so in ``source``); area is then not reported."""

    sram_mm2_per_bit: float | None = None
    logic_mm2_per_core: float | None = None
    source: str = ""

    @property
    def priced(self) -> bool:
        return self.sram_mm2_per_bit is not None or self.logic_mm2_per_core is not None


# --- energy models ----------------------------------------------------------------------------

ENERGY_MODELS = ("linear", "table", "constant")


@dataclass(frozen=True)
class EnergyModel:
    """Energy of one access to one datum of an SRAM, as a function of its size.

    linear    E(M, b) = per_bit · M · b + offset  (M entries of b bits; the paper's group's fit
              of Horowitz's 45 nm SRAM energies: 1.09e-5 pJ per bit + 13.2 pJ)
    table     published (capacity, energy per access of ``access_bits``) points, interpolated
              linearly in capacity (clamped below the smallest, extrapolated from the last two
              above the largest); a b-bit datum costs E · b / access_bits
    constant  per_access, whatever the size
    """

    kind: str
    per_bit_pj: float = 0.0
    offset_pj: float = 0.0
    per_access_pj: float = 0.0
    points: tuple[tuple[float, float], ...] = ()  # (capacity in bytes, pJ per access), ascending
    access_bits: int = 64
    name: str = ""
    source: str = ""

    def access_pj(self, entries: float, bits: int) -> float:
        if self.kind == "constant":
            return self.per_access_pj
        if self.kind == "linear":
            return self.per_bit_pj * entries * bits + self.offset_pj
        capacity = entries * bits / 8.0
        sizes = np.array([p[0] for p in self.points], float)
        energies = np.array([p[1] for p in self.points], float)
        if capacity <= sizes[0] or len(sizes) == 1:
            e = energies[0] if capacity <= sizes[0] else energies[-1]
        elif capacity >= sizes[-1]:
            slope = (energies[-1] - energies[-2]) / (sizes[-1] - sizes[-2])
            e = energies[-1] + slope * (capacity - sizes[-1])
        else:
            e = float(np.interp(capacity, sizes, energies))
        return float(e) * bits / self.access_bits

    def formula(self) -> str:
        """The model as one line, for reports."""
        if self.kind == "constant":
            return f"{self.per_access_pj:g} pJ per access"
        if self.kind == "linear":
            return f"{self.per_bit_pj:g} pJ × entries × bits + {self.offset_pj:g} pJ"
        pts = ", ".join(f"{_bytes_text(s)}: {e:g} pJ" for s, e in self.points)
        return f"table per {self.access_bits}-bit access ({pts}) × bits/{self.access_bits}"


def _bytes_text(n: float) -> str:
    for unit, scale in (("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n / scale:g} {unit}"
    return f"{n:g} B"


MEMORIES = ("weights", "biases", "potentials", "fifo", "activations")
# What may set a memory's number of entries (the first is the default).
MEMORY_SIZES = {
    "weights": ("layer_weights", "fixed"),
    "biases": ("layer_channels", "layer_weights", "fixed"),
    "potentials": ("layer_neurons", "fixed"),
    "fifo": ("fifo_depth", "fixed"),
    "activations": ("feature_map", "fixed"),
}


@dataclass(frozen=True)
class Memory:
    """One kind of local SRAM and the model that prices an access to it.

    ``size`` says what sets its entries: the layer's weight words (per distinct weight group; a
    split layer's share on each core), its neurons, its channels, the FIFO depth, the feature map
    (the ANN baseline's activations), or ``fixed`` entries. ``bank_entries``: a large memory
    built from banks of this many entries; an access activates one bank, so costs E(bank).
    """

    name: str
    bits: int
    energy: EnergyModel
    size: str
    entries: int | None = None  # size "fixed"
    bank_entries: int | None = None
    source: str = ""  # where the sizing (bits, size, banks) comes from, when not the model's

    def access_pj(self, entries: float) -> float:
        if self.size == "fixed":
            entries = self.entries
        if self.bank_entries is not None:
            entries = min(entries, self.bank_entries)
        return self.energy.access_pj(max(entries, 1), self.bits)

    def describe(self) -> str:
        sizing = f"{self.entries} entries" if self.size == "fixed" else f"sized by {self.size}"
        banks = f", banks of {self.bank_entries} entries" if self.bank_entries else ""
        return f"{self.bits}-bit words, {sizing}{banks}; {self.energy.formula()}"


@dataclass(frozen=True)
class Operations:
    """Operation energies: add (ACC) and multiply per operand width; a MAC is one of each.

    ``operand_bits`` picks the row of the add/multiply tables that prices the datapath (the
    paper's group uses the 32-bit values for its 16-bit memories). ``synaptic_acc_pj``: a chip
    that publishes one lumped energy per synaptic operation (memory accesses included) prices a
    synapse visit with it instead of an add. ``neuron_update_pj``: energy per neuron per timestep
    on top of the counted accesses and ops. ``spike_out_pj``: energy per neuron that fires
    (SANA-FE's soma "spike out"), priced with the neuron updates.
    """

    operand_bits: int
    add_pj: dict  # {bits: pJ}
    multiply_pj: dict  # {bits: pJ}
    synaptic_acc_pj: float | None = None
    neuron_update_pj: float = 0.0
    sources: dict = field(default_factory=dict)  # add, multiply, synaptic_acc, neuron_update,
    # spike_out
    add_bits: int | None = None  # overrides operand_bits for adds
    multiply_bits: int | None = None  # overrides operand_bits for multiplies
    spike_out_pj: float = 0.0  # per neuron that fires (its output event), on top of the update

    @property
    def acc_pj(self) -> float:
        return self.add_pj[self.add_bits or self.operand_bits]

    @property
    def multiply_only_pj(self) -> float:
        return self.multiply_pj[self.multiply_bits or self.operand_bits]

    @property
    def mac_pj(self) -> float:
        return self.acc_pj + self.multiply_only_pj

    @property
    def syn_acc_pj(self) -> float:
        return self.acc_pj if self.synaptic_acc_pj is None else self.synaptic_acc_pj


# --- counting policies ------------------------------------------------------------------------

POLICY_CHOICES = {
    "visits": ("exact", "analytic"),
    "synaptic_levels": ("n_acc", "z_acc", "shift_add", "mac"),
    "addressing_conv": ("code", "levels", "none"),
    "addressing_linear": ("per_output", "none"),
    "first_layer_synaptic": ("mac", "acc", "exclude"),
    "first_layer_input_reads": ("charge", "exclude"),
    "first_layer_addressing": ("charge", "exclude"),
    "first_layer_timesteps": ("all", "mean"),
    "bias_reads": ("per_neuron", "per_channel"),
    "output_writes": ("after_pool", "before_pool"),
}


@dataclass(frozen=True)
class Policies:
    """The counting rules the paper leaves to the hardware (docs/design.md, "Pricing").

    visits              exact: the synapses an event really reaches; analytic: the paper's
                        Cout·kH·kW per conv event, borders ignored
    synaptic_levels     cost of a level-z event at each synapse: n_acc (N ACCs, the paper's worst
                        case), z_acc (z ACCs), shift_add (one add per bit of the level,
                        ⌈log2(N+1)⌉, worst case), mac (a MAC for multi-level events, an ACC
                        for binary ones: the LEAT code's "hybrid" path)
    addressing_conv     per conv event: code (2 MAC + kH·kW ACC, the LEAT code), levels
                        (2 MAC + kH·kW·N ACC, the fit to the paper's tables), none
    addressing_linear   per linear event: per_output (N_out ACC), none
    first_layer_*       the layer fed by the (analog) input: its synaptic ops as MAC, ACC or
                        excluded (the paper's tables); its input reads and address generation
                        charged or excluded (pixels are not events); its input-driven work
                        charged at every timestep (all) or once per inference (mean over T,
                        the LEAT code's "hybrid" layer)
    bias_reads          per_neuron (every neuron, every timestep) or per_channel (once per
                        output channel and timestep)
    output_writes       output-FIFO writes after max-pooling (one per event sent) or before it
                        (one per spike, as the LEAT code counts an IF layer's output)
    """

    visits: str = "exact"
    synaptic_levels: str = "n_acc"
    addressing_conv: str = "code"
    addressing_linear: str = "per_output"
    first_layer_synaptic: str = "mac"
    first_layer_input_reads: str = "charge"
    first_layer_addressing: str = "charge"
    first_layer_timesteps: str = "all"
    bias_reads: str = "per_neuron"
    output_writes: str = "after_pool"

    def __post_init__(self):
        for name, choices in POLICY_CHOICES.items():
            if getattr(self, name) not in choices:
                raise ProfileError(f"expected one of {', '.join(choices)}, got "
                                   f"{getattr(self, name)!r}", "policies", name)


@dataclass(frozen=True)
class Profile:
    name: str
    widths: Widths = field(default_factory=Widths)
    add_mode: str = "forward"  # how residual adds move events: "forward" or "merge"
    fifo_depth: int = 1000  # entries of each core's input FIFO (the paper's group: 1000)
    packet_events: int = 64  # events per spike packet (the engine's chunk size)
    block_inputs: int = BLOCK_INPUTS  # inputs per block of simulated time (each on an empty chip)
    core: CoreLimits = field(default_factory=CoreLimits)
    timing: Timing = field(default_factory=Timing)
    noc: NoC = field(default_factory=NoC)
    static_power_w_per_core: float = 0.0
    leakage_w_per_bit: float = 0.0  # SRAM leakage, per bit a core stores
    area: Area = field(default_factory=Area)
    path: str | None = None
    sha256: str | None = None
    description: str = ""
    spike_bits: int = 8  # width of an event's value field
    memories: dict | None = None  # name → Memory; None: no energy model (timing-only profile)
    operations: Operations | None = None
    policies: Policies = field(default_factory=Policies)
    static_source: str = ""
    notes: tuple[str, ...] = ()

    def simulation(self) -> dict:
        """Every setting the simulation reads (dotted name → value), in a fixed order: two
        profiles that agree on all of them give the same counts, levels and times, so a run's
        counts can be priced under either (``neurosim reprice``)."""
        w, c, t, n = self.widths, self.core, self.timing, self.noc
        return {"widths.weights": w.weights, "widths.biases": w.biases,
                "widths.potentials": w.potentials, "widths.headroom": w.headroom,
                "add_mode": self.add_mode, "fifo_depth": self.fifo_depth,
                "packet_events": self.packet_events, "block_inputs": self.block_inputs,
                "core.max_neurons": c.max_neurons, "core.max_weights": c.max_weights,
                "core.max_cores": c.max_cores, "timing.clock": t.clock_hz,
                "timing.cycles_per_event": t.cycles_per_event,
                "timing.cycles_per_synapse": t.cycles_per_synapse,
                "timing.cycles_per_neuron": t.cycles_per_neuron,
                "timing.cycles_per_packet": t.cycles_per_packet, "noc.topology": n.topology,
                "noc.mesh_width": n.mesh_width, "noc.hop_cycles": n.hop_cycles,
                # what a packet carries (payload bits, messages): the traffic follows from them
                "widths.spikes": self.spike_bits, "noc.encoding": n.encoding,
                "noc.header_bits": n.header_bits, "noc.run_bits": n.run_bits,
                "noc.link_bits": n.link_bits,
                "noc.placement": None if n.placement is None else [list(p) for p in n.placement]}

    def describe(self) -> dict:
        """What reports record about the profile: name, file and content hash."""
        return {"name": self.name, "path": self.path, "sha256": self.sha256,
                "description": self.description}

    @property
    def has_energy(self) -> bool:
        return self.memories is not None and self.operations is not None

    def require_energy(self) -> None:
        if not self.has_energy:
            raise ProfileError("the profile has no energy model (memories and operations); "
                               "load one from hw_configs/ with neurosim.hardware.load_profile",
                               self.path or self.name)

    def memory(self, name: str) -> Memory:
        self.require_energy()
        return self.memories[name]

    @property
    def has_routing_energy(self) -> bool:
        return self.noc.priced

    @property
    def has_static_power(self) -> bool:
        return self.static_power_w_per_core > 0 or self.leakage_w_per_bit > 0

    def energy_reference(self) -> list[dict]:
        """The energy reference table: every priced action, its energy or model, its source."""
        self.require_energy()
        ops = self.operations
        add_bits = ops.add_bits or ops.operand_bits
        mul_bits = ops.multiply_bits or ops.operand_bits
        rows = []
        for name in MEMORIES:
            m = self.memories[name]
            rows.append({"component": f"{name} memory", "action": "read/write",
                         "energy": m.describe(), "source": _join(m.energy.source, m.source)})
        rows.append({"component": "datapath", "action": f"add / ACC ({add_bits}-bit)",
                     "energy": f"{ops.acc_pj:g} pJ", "source": ops.sources.get("add", "")})
        rows.append({"component": "datapath",
                     "action": f"MAC ({mul_bits}-bit multiply + {add_bits}-bit add)",
                     "energy": f"{ops.mac_pj:g} pJ", "source": _join(
                         ops.sources.get("multiply", ""), ops.sources.get("add", ""))})
        if ops.synaptic_acc_pj is not None:
            rows.append({"component": "datapath", "action": "synaptic operation (lumped)",
                         "energy": f"{ops.synaptic_acc_pj:g} pJ",
                         "source": ops.sources.get("synaptic_acc", "")})
        if ops.neuron_update_pj:
            rows.append({"component": "datapath", "action": "neuron update",
                         "energy": f"{ops.neuron_update_pj:g} pJ",
                         "source": ops.sources.get("neuron_update", "")})
        if ops.spike_out_pj:
            rows.append({"component": "datapath", "action": "spike out (neuron that fired)",
                         "energy": f"{ops.spike_out_pj:g} pJ",
                         "source": ops.sources.get("spike_out", "")})
        noc = self.noc
        for action, pj in (("packet hop", noc.energy_per_packet_hop_pj),
                           ("event hop", noc.energy_per_event_hop_pj),
                           ("bit hop", noc.energy_per_bit_hop_pj),
                           ("router traversal (per packet)", noc.energy_per_router_pj),
                           ("message (event to one destination core)",
                            noc.energy_per_message_pj)):
            if pj:
                rows.append({"component": "NoC", "action": action, "energy": f"{pj:g} pJ",
                             "source": noc.source})
        if self.static_power_w_per_core:
            rows.append({"component": "core", "action": "static power",
                         "energy": f"{self.static_power_w_per_core:g} W per core",
                         "source": self.static_source})
        if self.leakage_w_per_bit:
            rows.append({"component": "SRAM", "action": "leakage",
                         "energy": f"{self.leakage_w_per_bit:g} W per bit",
                         "source": self.static_source})
        return rows


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def levels_bits(levels: int) -> int:
    """Bits of a level value z ∈ {0..N}: the adds of a shift-add synaptic operation."""
    return max(1, math.ceil(math.log2(levels + 1)))
