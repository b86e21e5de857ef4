"""Load a hardware profile from YAML: schema check, units, then frozen records.

    profile = load_profile("hw_configs/paper_45nm.yaml")

Every error names the file and the field path (``hw.yaml: memories.weights.bits: expected an
integer in [1, 64], got 80``). The YAML is read with ``neurosim.safe_yaml`` (safe tags only, alias
bombs and duplicate keys refused).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import safe_yaml
from ..errors import CompileError, ProfileError, UnitError
from ..units import parse
from . import schema
from .profile import (BLOCK_INPUTS, MEMORIES, MEMORY_SIZES, Area, CoreLimits, EnergyModel,
                      Memory, NoC, Operations, Policies, Profile, Timing, Widths)

MAX_CLOCK_HZ = 100e9  # beyond any digital neuromorphic chip (Loihi: 1 GHz-class)
MODEL_KEYS = {"linear": {"per_bit", "offset"}, "table": {"points", "access_bits"},
              "constant": {"per_access"}}


class _Reader:
    """Turns checked YAML data into records; ``fail`` raises with the file and field path."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, message: str):
        raise ProfileError(message, self.where, field)

    def quantity(self, value, kind: str, field: str, nonnegative: bool = True) -> float:
        try:
            number = parse(value, kind)
        except UnitError as err:
            self.fail(field, str(err))
        if nonnegative and number < 0:
            self.fail(field, f"expected a non-negative {kind}, got {value!r}")
        return number

    def energy_model(self, data: dict, field: str, name: str = "") -> EnergyModel:
        kind = data["model"]
        allowed = MODEL_KEYS[kind] | {"model", "source"}
        for key in data:
            if key not in allowed:
                self.fail(f"{field}.{key}", f"not a setting of a {kind} model; expected "
                                            f"{', '.join(sorted(allowed))}")
        for key in sorted(MODEL_KEYS[kind] - {"access_bits"}):
            if key not in data:
                self.fail(f"{field}.{key}", f"missing (required by a {kind} model)")
        if not data["source"].strip():
            self.fail(f"{field}.source", "expected where the numbers come from (a paper, a "
                                         "datasheet, a fit), got an empty string")
        if kind == "constant":
            return EnergyModel("constant", per_access_pj=self.quantity(
                data["per_access"], "energy", f"{field}.per_access"), name=name,
                source=data["source"])
        if kind == "linear":
            return EnergyModel("linear",
                               per_bit_pj=self.quantity(data["per_bit"], "energy",
                                                        f"{field}.per_bit"),
                               offset_pj=self.quantity(data["offset"], "energy", f"{field}.offset"),
                               name=name, source=data["source"])
        points = []
        for i, point in enumerate(data["points"]):
            where = f"{field}.points.{i}"
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                self.fail(where, f"expected [capacity, energy], e.g. [8 KiB, 10 pJ], got {point!r}")
            size = self.quantity(point[0], "size", where + ".0")
            if size <= 0:
                self.fail(where + ".0", f"expected a positive capacity, got {point[0]!r}")
            points.append((size, self.quantity(point[1], "energy", where + ".1")))
        sizes = [p[0] for p in points]
        if sizes != sorted(sizes) or len(set(sizes)) != len(sizes):
            self.fail(f"{field}.points", "expected capacities in increasing order, each once")
        return EnergyModel("table", points=tuple(points), access_bits=data.get("access_bits", 64),
                           name=name, source=data["source"])

    def memory(self, name: str, data: dict, models: dict, widths: Widths) -> Memory:
        field = f"memories.{name}"
        energy = data["energy"]
        if isinstance(energy, str):
            if energy not in models:
                known = ", ".join(sorted(models)) or "none defined"
                self.fail(f"{field}.energy", f"no energy model named {energy!r} in "
                                             f"energy_models (known: {known})")
            model = models[energy]
        else:
            if "model" not in energy:
                self.fail(f"{field}.energy.model", "missing (required): linear, table or "
                                                   "constant")
            errors = schema.check({"name": "x", "energy_models": {"m": energy}})
            errors = [e for e in errors if e[0].startswith("energy_models.m")]
            if errors:
                path, message = errors[0]
                self.fail(path.replace("energy_models.m", f"{field}.energy"), message)
            model = self.energy_model(energy, f"{field}.energy")
        size = data.get("size", MEMORY_SIZES[name][0])
        if size == "fixed" and "entries" not in data:
            self.fail(f"{field}.entries", "missing (required when size is fixed)")
        if size != "fixed" and "entries" in data:
            self.fail(f"{field}.entries", f"only meaningful with size: fixed (size is {size})")
        default_bits = {"weights": widths.weights, "biases": widths.biases,
                        "potentials": widths.potentials}.get(name, 16)
        return Memory(name, data.get("bits", default_bits), model, size, data.get("entries"),
                      data.get("bank_entries"), data.get("source", ""))

    def operation_table(self, value, field: str) -> dict:
        """An operation energy: one value for every width, or {bits: energy}."""
        if not isinstance(value, dict):
            return {"*": self.quantity(value, "energy", field)}
        table = {}
        for bits, energy in value.items():
            if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 64:
                self.fail(f"{field}.{bits}", f"expected an operand width in bits (an integer in "
                                             f"[1, 64]) as the key, got {bits!r}")
            table[bits] = self.quantity(energy, "energy", f"{field}.{bits}")
        if not table:
            self.fail(field, "expected at least one {bits: energy} entry")
        return table

    def operations(self, data: dict) -> Operations:
        tables, sources, widths = {}, {}, {}
        for name in ("add", "multiply"):
            field = f"operations.{name}.energy"
            bits = data[name].get("bits", data["operand_bits"])
            setting = f"operations.{name}.bits" if "bits" in data[name] else \
                "operations.operand_bits"
            table = self.operation_table(data[name]["energy"], field)
            if "*" in table:
                table = {bits: table["*"]}
            if bits not in table:
                self.fail(field, f"no entry for {bits}-bit operands; give one or set {setting} "
                                 f"to one of {', '.join(map(str, sorted(table)))}")
            tables[name] = table
            sources[name] = data[name]["source"]
            widths[name] = data[name].get("bits")
        single = {}
        for name in ("synaptic_acc", "neuron_update", "spike_out"):
            if name in data:
                single[name] = self.quantity(data[name]["energy"], "energy",
                                             f"operations.{name}.energy")
                sources[name] = data[name]["source"]
        for name, source in sources.items():
            if not source.strip():
                self.fail(f"operations.{name}.source", "expected where the number comes from, "
                                                       "got an empty string")
        return Operations(data["operand_bits"], tables["add"], tables["multiply"],
                          single.get("synaptic_acc"), single.get("neuron_update", 0.0), sources,
                          widths["add"], widths["multiply"], single.get("spike_out", 0.0))

    def noc(self, n: dict) -> NoC:
        energies = {key: self.quantity(n.get(key, 0), "energy", f"noc.{key}") for key in
                    ("energy_per_packet_hop", "energy_per_event_hop", "energy_per_bit_hop",
                     "energy_per_router", "energy_per_message")}
        placement = n.get("placement")
        if placement is not None:
            placement = tuple((int(x), int(y)) for x, y in placement)
            seen = {}
            for i, xy in enumerate(placement):
                if xy in seen:
                    self.fail(f"noc.placement.{i}", f"core {i} is placed at {list(xy)}, where "
                                                    f"core {seen[xy]} already is")
                seen[xy] = i
        noc = NoC(n.get("topology", "mesh"), n.get("mesh_width"), n.get("hop_cycles", 1),
                  energies["energy_per_packet_hop"], energies["energy_per_event_hop"],
                  n.get("source", ""), n.get("encoding", "address_event"),
                  n.get("header_bits", 0), n.get("run_bits", 4), n.get("link_bits"),
                  energies["energy_per_bit_hop"], energies["energy_per_router"],
                  energies["energy_per_message"], placement)
        if noc.priced and not noc.source.strip():
            self.fail("noc.source", "missing: say where the NoC energies come from")
        return noc

    def area(self, a: dict | None) -> Area:
        if a is None:
            return Area()
        values = {key: None if a.get(key) is None else
                  self.quantity(a[key], "area", f"area.{key}")
                  for key in ("sram_per_bit", "logic_per_core")}
        if not a["source"].strip():
            self.fail("area.source", "expected where the area figures come from, or why there "
                                     "are none, got an empty string")
        return Area(values["sram_per_bit"], values["logic_per_core"], a["source"])

    def policies(self, data: dict) -> Policies:
        first = data.get("first_layer", {})
        addressing = data.get("addressing", {})
        defaults = Policies()
        return Policies(
            visits=data.get("visits", defaults.visits),
            synaptic_levels=data.get("synaptic_levels", defaults.synaptic_levels),
            addressing_conv=addressing.get("conv", defaults.addressing_conv),
            addressing_linear=addressing.get("linear", defaults.addressing_linear),
            first_layer_synaptic=first.get("synaptic", defaults.first_layer_synaptic),
            first_layer_input_reads=first.get("input_reads", defaults.first_layer_input_reads),
            first_layer_addressing=first.get("addressing", defaults.first_layer_addressing),
            first_layer_timesteps=first.get("timesteps", defaults.first_layer_timesteps),
            bias_reads=data.get("bias_reads", defaults.bias_reads),
            output_writes=data.get("output_writes", defaults.output_writes))


def read_yaml(path: Path) -> dict:
    data = safe_yaml.load_file(path, ProfileError, where=path.name)
    if not isinstance(data, dict):
        raise ProfileError(f"expected a mapping of profile settings, got "
                           f"{type(data).__name__}", path.name)
    return data


def profile_from_data(data: dict, where: str, path: str | None = None,
                      sha256: str | None = None) -> Profile:
    """Validate already-parsed profile data (a dict as from YAML) and build the Profile."""
    errors = schema.check(data)
    if errors:
        field, message = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ProfileError(message + more, where, field)
    r = _Reader(where)
    w = data.get("widths", {})
    try:
        widths = Widths(**{k: w[k] for k in ("weights", "biases", "potentials", "headroom")
                           if k in w})
    except CompileError as err:
        raise ProfileError(err.message, where, f"widths.{err.field}") from None
    models = {name: r.energy_model(model, f"energy_models.{name}", name)
              for name, model in data.get("energy_models", {}).items()}
    memories = {name: r.memory(name, data["memories"][name], models, widths) for name in MEMORIES}
    t = data.get("timing", {})
    default_t = Timing()
    clock = r.quantity(t.get("clock", default_t.clock_hz), "frequency", "timing.clock")
    if clock <= 0:
        r.fail("timing.clock", f"expected a positive frequency, got {t['clock']!r}")
    if clock > MAX_CLOCK_HZ:
        r.fail("timing.clock", f"expected at most {MAX_CLOCK_HZ / 1e9:g} GHz, got "
                               f"{t['clock']!r}")
    timing = Timing(clock, t.get("cycles_per_event", default_t.cycles_per_event),
                    t.get("cycles_per_synapse", default_t.cycles_per_synapse),
                    t.get("cycles_per_neuron", default_t.cycles_per_neuron),
                    t.get("cycles_per_packet", default_t.cycles_per_packet), t.get("source", ""))
    noc = r.noc(data.get("noc", {}))
    s = data.get("static", {})
    static = r.quantity(s.get("power_per_core", 0), "power", "static.power_per_core")
    leakage = r.quantity(s.get("leakage_per_bit", 0), "power", "static.leakage_per_bit")
    if (static or leakage) and not s.get("source", "").strip():
        r.fail("static.source", "missing: say where the static power comes from")
    area = r.area(data.get("area"))
    c = data.get("core", {})
    return Profile(
        name=data["name"], widths=widths, add_mode=data.get("add_mode", "forward"),
        fifo_depth=data.get("fifo_depth", 1000), packet_events=data.get("packet_events", 64),
        block_inputs=data.get("block_inputs", BLOCK_INPUTS),
        core=CoreLimits(c.get("max_neurons"), c.get("max_weights"), c.get("max_cores")),
        timing=timing, noc=noc, static_power_w_per_core=static, leakage_w_per_bit=leakage,
        area=area, path=path, sha256=sha256,
        description=data.get("description", ""), spike_bits=w.get("spikes", 8),
        memories=memories, operations=r.operations(data["operations"]),
        policies=r.policies(data.get("policies", {})), static_source=s.get("source", ""),
        notes=tuple(data.get("notes", ())))


def load_profile(path) -> Profile:
    """Read, validate and build the profile at ``path``; ProfileError names file and field."""
    path = Path(path)
    if not path.is_file():
        raise ProfileError("no such profile file (see hw_configs/ for the shipped profiles)",
                           str(path))
    data = read_yaml(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return profile_from_data(data, path.name, str(path), sha)
