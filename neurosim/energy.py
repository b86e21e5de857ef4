"""Counts × hardware profile → energy by category, per layer, and the ANN baseline.

    report = estimate(sim.counts, sim.net, load_profile("hw_configs/paper_45nm.yaml"))
    report.write("out/")            # energy.csv (+ energy_reference.csv)
    print(report.paper_table_text())

Every count in neurosim.counters is priced with the profile's per-access and per-op energies,
under the profile's counting policies (neurosim.hardware.profile.Policies). Categories are the
rows of the paper's Tables 3/4: memory (potentials, weights, bias, in/out), synaptic operations,
addressing, plus routing (NoC packets and hops) and static (leakage × latency) when the profile
prices them.

Per layer (run totals, pJ), with E_x the per-access energy of memory x at the layer's size:
    potentials  E_pot × (potential reads + writes)  [visit-driven part × first-layer factor]
    weights     E_w × weight reads                            [× first-layer factor]
    bias        E_b × bias reads (per neuron, or per channel: reads × channels / neurons)
    in/out      E_fifo × (input-FIFO reads + output-FIFO writes)
    synaptic    synaptic ACCs × level cost × E_syn + input-layer MACs (policy) + per-neuron and
                reset ACCs × E_ACC + leak MACs × E_MAC + neuron updates × E_update
    addressing  conv: 2 MAC + kH·kW ACC per event (× N for the "levels" policy); linear: N_out ACC
    routing     packet hops × E_packet_hop + message hops × E_event_hop + bit hops × E_bit_hop
                + router traversals × E_router + messages × E_message  (neurosim/noc.py)
    static      Σ over the layer's cores of (P_core + SRAM bits × P_bit) × chip time per
                inference × inferences  (neurosim/area.py)
The level cost of one synapse visit by a level-z event from a source with N levels is N (n_acc),
z (z_acc, from the counted Σ z·reach), ⌈log2(N+1)⌉ (shift_add), or a MAC when N > 1 (mac).

energy.csv (written by ``EnergyReport.write``), the layout of the paper's tables; the reports
module reads it, so the layout is fixed:
    category,SNN,ANN
    Potentials,<nJ>,<nJ>
    Weights,...
    Bias,...
    In/Out,...
    Memory total,...          (Potentials + Weights + Bias + In/Out)
    Synaptic ops,...
    Addressing,...
    Routing,...               (only when the profile prices NoC hops)
    Static,...                (only when the profile has static power)
    Total,...
Values are nJ per inference (run totals divided by the number of inputs). "SNN" is the simulated
network; "ANN" the same network run once as a dense ANN on the same profile (docs/design.md
§6.3: every MAC reads its input and its weight; no potentials; the first layer is charged in
full; no routing or static cost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import area, noc
from .compiler import CompiledNetwork, Layer, core_words, event_max_level
from .counters import COUNT_FIELDS, F, RunCounts
from .hardware.profile import Profile, levels_bits
from .units import energy_text

CATEGORIES = ("potentials", "weights", "bias", "inout", "synaptic", "addressing", "routing",
              "static")
ROW_NAMES = {"potentials": "Potentials", "weights": "Weights", "bias": "Bias", "inout": "In/Out",
             "synaptic": "Synaptic ops", "addressing": "Addressing", "routing": "Routing",
             "static": "Static"}
MEMORY_CATEGORIES = ("potentials", "weights", "bias", "inout")
# The parts of three categories that other tools price separately (SANA-FE's synapse, soma and
# network): summary.json's energy.parts, nJ per inference.
PARTS = {"synaptic": ("synapses", "neurons", "other"), "routing": ("links", "routers", "messages"),
         "static": ("static",)}


# --- per-layer prices -------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerPrices:
    """The per-access energies (pJ) that apply to one layer, with the sizes that set them."""

    layer: str
    weights_pj: float
    potentials_pj: float
    bias_pj: float
    fifo_pj: float
    levels: int  # N of the events the layer receives (the largest over its spike sources)
    sizes: dict = field(default_factory=dict)  # memory → entries per core


def _cores(net: CompiledNetwork, layer: Layer) -> list[tuple[float, int]]:
    """(share of the layer's channels, channels) for each core holding the layer."""
    cores = net.cores_of(layer.name) if hasattr(net, "cores_of") else []
    if not cores:
        return [(1.0, layer.channels)]
    return [(c.width / layer.channels, c.width) for c in cores]


def layer_levels(net: CompiledNetwork, layer: Layer) -> int:
    """N of the events the layer receives: the largest event value over its spike sources (the
    analog input stream is priced as MACs, not by level)."""
    levels = [event_max_level(net, p.source) for p in layer.projections if not p.analog]
    return max(levels, default=1)


def layer_prices(net: CompiledNetwork, layer: Layer, profile: Profile) -> LayerPrices:
    """Per-access energies of the layer's memories, averaged over its cores by channel share
    (every event reaches each core's channels in proportion)."""
    sizing = {"layer_weights": lambda ch: core_words(layer, ch).weights,
              "layer_neurons": lambda ch: core_words(layer, ch).potentials,
              "layer_channels": lambda ch: ch,
              "fifo_depth": lambda ch: profile.fifo_depth,
              "feature_map": lambda ch: core_words(layer, ch).potentials, "fixed": lambda ch: 0}
    cores = _cores(net, layer)
    prices, sizes = {}, {}
    for name in ("weights", "potentials", "biases", "fifo"):
        memory = profile.memory(name)
        entries = [sizing[memory.size](ch) for _, ch in cores]
        sizes[name] = [memory.entries] * len(cores) if memory.size == "fixed" else entries
        prices[name] = sum(share * memory.access_pj(n) for (share, _), n in zip(cores, entries))
    return LayerPrices(layer.name, prices["weights"], prices["potentials"], prices["biases"],
                       prices["fifo"], layer_levels(net, layer), sizes)


# --- SNN energy per layer ---------------------------------------------------------------------

def _addressable_kind(layer: Layer) -> str | None:
    kinds = [p.kind for p in layer.projections if p.kind != "identity"]
    return kinds[0] if kinds else None


def layer_energy(c: dict, layer: Layer, prices: LayerPrices, profile: Profile,
                 timesteps: int, static_w: float = 0.0, latency_s: float | None = None,
                 samples: int = 1, traffic: dict | None = None) -> dict:
    """Energy (pJ, run totals) of one layer by category, from its counts ``c`` (field → total),
    the static power of its cores and its NoC traffic (noc.COLUMNS); keys "<category>.<part>"
    split Synaptic ops, Routing and Static into PARTS."""
    pol, ops = profile.policies, profile.operations
    analog = any(p.analog for p in layer.projections)
    once = 1.0 / timesteps if analog and pol.first_layer_timesteps == "mean" else 1.0
    analytic = pol.visits == "analytic"
    if analytic:
        visits = c["synapse_visits_analytic"]
        weight_reads = c["weight_reads_analytic"]
        potential_rw = c["potential_reads_analytic"] + c["potential_writes_analytic"]
    else:
        visits = c["synapse_visits"]
        weight_reads = c["weight_reads"]
        potential_rw = c["potential_reads"] + c["potential_writes"]
    dense_rw = 2 * c["update_ops"]  # every neuron's potential read and written once per timestep
    other_acc = c["acc_ops"] - c["syn_acc_ops"]  # per-neuron (bias/threshold) and reset ACCs
    syn_acc = c["acc_ops_analytic"] - other_acc if analytic else c["syn_acc_ops"]
    exact_ratio = visits / c["synapse_visits"] if c["synapse_visits"] else 1.0
    syn_mac = c["syn_mac_ops"] * (exact_ratio if analytic else 1.0)
    level_visits = c["synapse_level_visits"] * (syn_acc / c["syn_acc_ops"]
                                                if c["syn_acc_ops"] else 0.0)
    n = prices.levels
    e = dict.fromkeys(CATEGORIES, 0.0)
    e["potentials"] = prices.potentials_pj * ((potential_rw - dense_rw) * once + dense_rw)
    e["weights"] = prices.weights_pj * weight_reads * once
    bias_reads = c["bias_reads"]
    if pol.bias_reads == "per_channel" and bias_reads:
        bias_reads = bias_reads * layer.channels / layer.neurons
    e["bias"] = prices.bias_pj * bias_reads
    reads = c["fifo_reads"] * once
    if analog and pol.first_layer_input_reads == "exclude":
        reads = 0.0
    writes = c["events_prepool"] if pol.output_writes == "before_pool" else c["fifo_writes"]
    e["inout"] = prices.fifo_pj * (reads + writes)
    level_cost = {"n_acc": syn_acc * n * ops.syn_acc_pj,
                  "z_acc": (level_visits if not analog else syn_acc) * ops.syn_acc_pj,
                  "shift_add": syn_acc * levels_bits(n) * ops.syn_acc_pj,
                  "mac": syn_acc * (ops.mac_pj if n > 1 else ops.syn_acc_pj)}
    first = {"mac": ops.mac_pj, "acc": ops.syn_acc_pj, "exclude": 0.0}[pol.first_layer_synaptic]
    e["synaptic.synapses"] = level_cost[pol.synaptic_levels] + syn_mac * once * first
    e["synaptic.neurons"] = c["update_ops"] * ops.neuron_update_pj + c["reset_ops"] * \
        ops.spike_out_pj
    e["synaptic.other"] = other_acc * ops.acc_pj + c["leak_ops"] * ops.mac_pj
    e["synaptic"] = e["synaptic.synapses"] + e["synaptic.neurons"] + e["synaptic.other"]
    if not (analog and pol.first_layer_addressing == "exclude"):
        kind = _addressable_kind(layer)
        mac, acc = c["addr_mac_ops"] * once, c["addr_acc_ops"] * once
        if kind == "conv" and pol.addressing_conv != "none":
            factor = n if pol.addressing_conv == "levels" else 1
            e["addressing"] = mac * ops.mac_pj + acc * factor * ops.acc_pj
        elif kind == "linear" and pol.addressing_linear == "per_output":
            e["addressing"] = acc * ops.acc_pj
    traffic = traffic or dict.fromkeys(noc.COLUMNS, 0)
    parts = noc.routing_pj(traffic, profile.noc, c["packet_hops"])
    for part, pj in parts.items():
        e[f"routing.{part}"] = pj
    e["routing"] = sum(parts.values())
    if latency_s:
        e["static"] = static_w * latency_s * samples * 1e12
    e["static.static"] = e["static"]
    return e


# --- the ANN baseline -------------------------------------------------------------------------

def ann_layer_energy(net: CompiledNetwork, layer: Layer, prices: LayerPrices,
                     profile: Profile) -> dict:
    """One dense pass of ``layer`` as an ANN (pJ per inference), docs/design.md §6.3.

    conv: every MAC reads its input (memory of the input feature map) and its weight;
    addressing n_in + n_out + Cout·kH·kW ACCs. linear: Nin input reads, Nin·Nout weight reads
    and addressing ACCs. Each output is written once (memory of the output map), each output
    gets a bias read (per the profile's bias policy) and one ACC. A projection group fed by
    several streams (a residual sum in forward mode) first adds them elementwise.
    """
    ops, pol = profile.operations, profile.policies
    act = profile.memory("activations")
    n_out = layer.neurons
    e = dict.fromkeys(CATEGORIES, 0.0)
    macs = accs = addr_acc = 0
    groups: dict[str, list] = {}
    for p in layer.projections:
        groups.setdefault(p.weight_group if p.kind != "identity" else f"id:{p.source}",
                          []).append(p)
    for members in groups.values():
        p = members[0]
        n_in = int(np.prod(p.in_shape))
        e_in = act.access_pj(n_in)
        extra = (len(members) - 1) * n_in  # elementwise sum of the member streams
        e["inout"] += e_in * 2 * extra
        accs += extra
        if p.kind == "conv":
            cout, cin, kh, kw = p.weight.shape
            m = n_out * cin * kh * kw
            e["inout"] += e_in * m
            e["weights"] += prices.weights_pj * m
            macs += m
            addr_acc += n_in + n_out + cout * kh * kw
        elif p.kind == "linear":
            nout, nin = p.weight.shape
            e["inout"] += e_in * nin
            e["weights"] += prices.weights_pj * nin * nout
            macs += nin * nout
            addr_acc += nin * nout
        else:  # identity: an elementwise add
            e["inout"] += e_in * n_out
            accs += n_out
    if layer.bias is not None:
        e["bias"] = prices.bias_pj * (layer.channels if pol.bias_reads == "per_channel"
                                      else n_out)
    e["inout"] += act.access_pj(n_out) * n_out
    # A chip that publishes lumped per-operation energies runs each connection as one synaptic
    # operation and each output as one neuron update.
    per_mac = ops.mac_pj if ops.synaptic_acc_pj is None else ops.synaptic_acc_pj
    e["synaptic"] = (macs * per_mac + (accs + n_out) * ops.acc_pj
                     + n_out * ops.neuron_update_pj)
    e["addressing"] = addr_acc * ops.acc_pj
    return e


def ann_baseline(net: CompiledNetwork, profile: Profile) -> pd.DataFrame:
    """Per layer and category, pJ per inference, of the network run once as a dense ANN."""
    profile.require_energy()
    rows = {layer.name: ann_layer_energy(net, layer, layer_prices(net, layer, profile), profile)
            for layer in net.layers}
    return pd.DataFrame.from_dict(rows, orient="index")[list(CATEGORIES)]


# --- the report -------------------------------------------------------------------------------

class EnergyReport:
    """Energy of one run by layer and category, with the ANN baseline and the prices used."""

    def __init__(self, profile: Profile, net: CompiledNetwork, counts: RunCounts,
                 layers: pd.DataFrame, ann: pd.DataFrame, prices: list[LayerPrices],
                 latency_s: float | None):
        self.profile = profile
        self.net = net
        self.counts = counts
        self.layers = layers  # index layer, columns CATEGORIES, pJ run totals
        self.ann = ann  # index layer, columns CATEGORIES, pJ per inference
        self.prices = prices
        self.latency_s = latency_s
        self.parts = None  # index layer, columns "<category>.<part>" (PARTS), pJ run totals

    @property
    def samples(self) -> int:
        return max(self.counts.samples, 1)

    @property
    def categories(self) -> list[str]:
        """The categories this profile prices (routing and static only when it has them)."""
        cats = [c for c in CATEGORIES if c not in ("routing", "static")]
        if self.profile.has_routing_energy:
            cats.append("routing")
        if self.profile.has_static_power:
            cats.append("static")
        return cats

    def totals_nj(self) -> dict[str, float]:
        """SNN energy per inference by category (nJ)."""
        return {c: float(self.layers[c].sum()) / self.samples / 1e3 for c in self.categories}

    def ann_totals_nj(self) -> dict[str, float]:
        return {c: float(self.ann[c].sum()) / 1e3 for c in self.categories}

    def table(self) -> pd.DataFrame:
        """energy.csv: the paper's rows, columns SNN and ANN, nJ per inference."""
        cols = {}
        for name, totals in (("SNN", self.totals_nj()), ("ANN", self.ann_totals_nj())):
            values = [totals[c] for c in MEMORY_CATEGORIES]
            values.append(sum(values))
            values += [totals[c] for c in self.categories if c not in MEMORY_CATEGORIES]
            values.append(sum(totals.values()))
            cols[name] = values
        rows = [ROW_NAMES[c] for c in MEMORY_CATEGORIES] + ["Memory total"]
        rows += [ROW_NAMES[c] for c in self.categories if c not in MEMORY_CATEGORIES] + ["Total"]
        return pd.DataFrame({"category": rows, **cols})

    def add_columns(self, layers_table: pd.DataFrame) -> pd.DataFrame:
        """layers.csv with energy_<category>_pj columns (run totals) and energy_total_pj;
        forward-mode sum rows (kind "add") repeat their members' events and carry no energy."""
        table = layers_table.copy()
        names = [f"energy_{c}_pj" for c in self.categories]
        values = self.layers.reindex(table.layer)[self.categories].to_numpy(float)
        values = np.nan_to_num(values)
        for i, name in enumerate(names):
            table[name] = values[:, i]
        table["energy_total_pj"] = values.sum(axis=1)
        return table

    def reference(self) -> pd.DataFrame:
        """Per layer, the per-access energies and memory sizes used, and where they come from
        (the run's energy reference table)."""
        mem = self.profile.memories
        rows = []
        for p in self.prices:
            for name, pj in (("weights", p.weights_pj), ("potentials", p.potentials_pj),
                             ("biases", p.bias_pj), ("fifo", p.fifo_pj)):
                m = mem[name]
                rows.append({"layer": p.layer, "memory": name, "entries_per_core":
                             "+".join(str(int(v)) for v in p.sizes[name]),
                             "bits": m.bits, "bank_entries": m.bank_entries or "",
                             "access_pj": pj, "model": m.energy.formula(),
                             "source": "; ".join(s for s in (m.energy.source, m.source) if s)})
        return pd.DataFrame(rows)

    def width_notes(self) -> list[str]:
        """Where the profile prices a memory at another word width than the compiled network
        stores (paper_45nm's 8-bit bias memory against 16-bit biases is such a fit): said in
        every run, so a deliberate fit is never silent."""
        compiled = {"weights": self.net.widths.weights, "biases": self.net.widths.biases,
                    "potentials": self.net.widths.potentials}
        notes = []
        for name, bits in compiled.items():
            priced = self.profile.memories[name].bits
            if priced != bits:
                notes.append(f"profile {self.profile.name}: {name} are priced as {priced}-bit "
                             f"words, the compiled network stores {bits}-bit {name} "
                             f"(memories.{name}.bits vs widths.{name}: "
                             f"{self.profile.memories[name].source or 'see the profile'})")
        return notes

    def parts_nj(self) -> dict:
        """Synaptic ops, Routing and Static split into PARTS, nJ per inference."""
        if self.parts is None:
            return {}
        return {c: {p: float(self.parts[f"{c}.{p}"].sum()) / self.samples / 1e3 for p in names}
                for c, names in PARTS.items() if c in self.categories}

    def summary(self) -> dict:
        ops, pol = self.profile.operations, self.profile.policies
        snn, ann = self.totals_nj(), self.ann_totals_nj()
        snn_total, ann_total = sum(snn.values()), sum(ann.values())
        access = {}
        for name, attr in (("weights", "weights_pj"), ("potentials", "potentials_pj"),
                           ("biases", "bias_pj"), ("fifo", "fifo_pj")):
            values = [getattr(p, attr) for p in self.prices]
            m = self.profile.memories[name]
            access[name] = {"min_pj": min(values), "max_pj": max(values), "model":
                            m.describe(), "source": "; ".join(s for s in (m.energy.source,
                                                                          m.source) if s)}
        return {
            "unit": "nJ per inference",
            "profile": self.profile.describe(),
            "snn": snn, "snn_total": snn_total,
            "ann": ann, "ann_total": ann_total,
            "snn_over_ann": snn_total / ann_total if ann_total else None,
            "latency_s": self.latency_s,
            "static_note": None if self.latency_s or not self.profile.has_static_power else
            "no latency from this engine (reference): static energy not counted",
            "per_access": access,
            "operations": {"acc_pj": ops.acc_pj, "mac_pj": ops.mac_pj,
                           "synaptic_acc_pj": ops.syn_acc_pj,
                           "neuron_update_pj": ops.neuron_update_pj,
                           "spike_out_pj": ops.spike_out_pj, "sources": ops.sources},
            "parts": self.parts_nj(),
            "policies": vars(pol),
            "width_notes": self.width_notes(),
            "energy_reference": self.profile.energy_reference(),
        }

    def write(self, out_dir) -> None:
        """energy.csv (the layout in this module's docstring) and energy_reference.csv."""
        out_dir = Path(out_dir)
        self.table().to_csv(out_dir / "energy.csv", index=False)
        self.reference().to_csv(out_dir / "energy_reference.csv", index=False)

    def paper_table_text(self) -> str:
        """The energy table as ``neurosim simulate --hw`` prints it."""
        table = self.table()
        groups = {"Potentials": "Memory", "Weights": "", "Bias": "", "In/Out": "",
                  "Memory total": ""}
        lines = [f"Energy per inference (nJ), profile {self.profile.name}"
                 + (f" ({self.profile.path}, sha256 {self.profile.sha256[:12]})"
                    if self.profile.path and self.profile.sha256 else "") + ":",
                 f"{'':8s}{'':14s}{'SNN':>12s}{'ANN':>12s}"]
        for _, row in table.iterrows():
            if row.category in groups:
                label = "Total" if row.category == "Memory total" else row.category
                head = f"{groups[row.category]:8s}{label:14s}"
            else:
                head = f"{row.category:22s}"
            lines.append(f"{head}{_nj(row.SNN):>12s}{_nj(row.ANN):>12s}")
        total = table.set_index("category").loc["Total"]
        if total.ANN:
            lines.append(f"{'E_SNN / E_ANN':22s}{total.SNN / total.ANN:>12.3f}")
        s = self.summary()
        acc = s["per_access"]
        ops = s["operations"]
        lumped = "".join(f", {label} {energy_text(ops[key])}" for key, label in (
            ("synaptic_acc_pj", "synaptic op"), ("neuron_update_pj", "neuron update"))
            if ops.get(key))  # a profile priced per operation (loihi_14nm)
        lines.append("per access: " + ", ".join(
            f"{name} {_range(acc[name])}" for name in ("weights", "potentials", "biases", "fifo"))
            + f"; ACC {energy_text(ops['acc_pj'])}, MAC {energy_text(ops['mac_pj'])}{lumped}")
        pol = self.profile.policies
        lines.append(f"policies: visits={pol.visits}, levels={pol.synaptic_levels}, "
                     f"addressing conv={pol.addressing_conv}/linear={pol.addressing_linear}, "
                     f"first layer synaptic={pol.first_layer_synaptic}, bias={pol.bias_reads}")
        if s["static_note"]:
            lines.append(s["static_note"])
        return "\n".join(lines)


def _nj(value: float) -> str:
    if value == 0:
        return "-"
    exponent = int(math.floor(math.log10(abs(value))))
    if -2 <= exponent < 4:
        return f"{value:.4g}"
    return f"{value / 10 ** exponent:.2f}e{exponent}"


def _range(entry: dict) -> str:
    lo, hi = entry["min_pj"], entry["max_pj"]
    return energy_text(lo) if math.isclose(lo, hi, rel_tol=1e-9) else \
        f"{energy_text(lo)}–{energy_text(hi)}"


def estimate(counts: RunCounts, net: CompiledNetwork, profile: Profile,
             latency_s: float | None = None, traffic: noc.Traffic | None = None) -> EnergyReport:
    """Price ``counts`` of ``net`` with ``profile``. ``latency_s``: the time the chip is powered
    per inference (the event engine's seconds_per_inference, i.e. makespan / inputs, so a
    pipelined run is not charged twice for overlapping inputs); None (the reference engine has
    no time) leaves static energy at 0. ``traffic``: the run's NoC traffic (noc.traffic; by
    default computed here, which needs no recorded levels except for run-length coding)."""
    profile.require_energy()
    if traffic is None:
        traffic = noc.traffic(net, counts, profile.noc, profile.spike_bits)
    prices, rows = [], {}
    for i, layer in enumerate(counts.net.layers):
        layer = net.layer(layer.name)
        p = layer_prices(net, layer, profile)
        prices.append(p)
        totals = counts.data[i].sum(axis=0)
        c = {name: int(totals[F[name]]) for name in COUNT_FIELDS}
        rows[layer.name] = layer_energy(c, layer, p, profile, counts.timesteps,
                                        area.layer_static_w(net, layer.name, profile), latency_s,
                                        counts.samples, traffic.layers.loc[layer.name].to_dict())
    table = pd.DataFrame.from_dict(rows, orient="index")
    report = EnergyReport(profile, net, counts, table[list(CATEGORIES)],
                          ann_baseline(net, profile), prices, latency_s)
    report.parts = table[[f"{c}.{p}" for c, names in PARTS.items() for p in names]]
    return report
