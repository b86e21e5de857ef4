"""The YAML profile schema (JSON Schema) and its errors rewritten as `file: field.path: message`.

The schema checks structure: known keys, types, ranges, choices. Quantities with units
(energies, power, clock, sizes) are typed "number or string" here and parsed by the loader, which
knows the units (neurosim/units.py). ``neurosim profiles --schema`` prints this schema
for editors that validate YAML against JSON Schema.
"""

from __future__ import annotations

import jsonschema

from .profile import ENCODINGS, ENERGY_MODELS, MEMORIES, MEMORY_SIZES, POLICY_CHOICES

QUANTITY = {"type": ["number", "string"]}
TEXT = {"type": "string"}
# Upper bounds beyond every chip built or announced (Loihi 2: 8k neurons and 32k FIFO words per
# core, SpiNNaker: a million cores): a larger number is a typo, and would make the mapping or
# the engine allocate without end. Raising one is a one-line change here.
MAX_CORE_NEURONS = 2 ** 24
MAX_CORE_WEIGHTS = 2 ** 32
MAX_CORES = 2 ** 20
MAX_FIFO_DEPTH = 2 ** 24
MAX_PACKET_EVENTS = 2 ** 20
MAX_ENTRIES = 2 ** 36
MAX_CYCLES = 2 ** 20
MAX_BITS = 2 ** 16  # a packet header or a link wider than this is a typo
MAX_BLOCK_INPUTS = 2 ** 16


def _int(minimum: int, maximum: int | None = None, nullable: bool = False) -> dict:
    schema = {"type": ["integer", "null"] if nullable else "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _object(properties: dict, required: tuple = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


ENERGY_MODEL = _object({
    "model": {"enum": list(ENERGY_MODELS)},
    "per_bit": QUANTITY, "offset": QUANTITY,  # linear
    "per_access": QUANTITY,  # constant
    "access_bits": _int(1, 4096), "points": {"type": "array", "minItems": 1},  # table
    "source": TEXT,
}, ("model", "source"))


def _memory(name: str) -> dict:
    return _object({
        "bits": _int(1, 64),
        "size": {"enum": list(MEMORY_SIZES[name])},
        "entries": _int(1, MAX_ENTRIES),
        "bank_entries": _int(1, MAX_ENTRIES, nullable=True),
        "energy": {"type": ["string", "object"]},  # a model, or the name of one in energy_models
        "source": TEXT,
    }, ("energy",))


OPERATION = _object({"energy": {"type": ["number", "string", "object"]}, "bits": _int(1, 64),
                     "source": TEXT}, ("energy", "source"))

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "neurosim hardware profile",
    **_object({
        "name": TEXT,
        "description": TEXT,
        "version": {"const": 1},
        "notes": {"type": "array", "items": TEXT},
        "widths": _object({"weights": _int(2, 32), "biases": _int(2, 32),
                           "potentials": _int(2, 32), "spikes": _int(1, 32),
                           "headroom": _int(1, 1024)}),
        "add_mode": {"enum": ["forward", "merge"]},
        "fifo_depth": _int(1, MAX_FIFO_DEPTH),
        "packet_events": _int(1, MAX_PACKET_EVENTS),
        "block_inputs": _int(1, MAX_BLOCK_INPUTS),
        "core": _object({"max_neurons": _int(1, MAX_CORE_NEURONS, nullable=True),
                         "max_weights": _int(1, MAX_CORE_WEIGHTS, nullable=True),
                         "max_cores": _int(1, MAX_CORES, nullable=True)}),
        "timing": _object({"clock": QUANTITY, "cycles_per_event": _int(0, MAX_CYCLES),
                           "cycles_per_synapse": _int(0, MAX_CYCLES),
                           "cycles_per_neuron": _int(0, MAX_CYCLES),
                           "cycles_per_packet": _int(0, MAX_CYCLES), "source": TEXT}),
        "noc": _object({"topology": {"enum": ["mesh", "crossbar"]},
                        "mesh_width": _int(1, MAX_CORES, nullable=True),
                        "hop_cycles": _int(0, MAX_CYCLES),
                        "energy_per_packet_hop": QUANTITY, "energy_per_event_hop": QUANTITY,
                        "energy_per_bit_hop": QUANTITY, "energy_per_router": QUANTITY,
                        "energy_per_message": QUANTITY,
                        "encoding": {"enum": list(ENCODINGS)},
                        "header_bits": _int(0, MAX_BITS), "run_bits": _int(1, 32),
                        "link_bits": _int(1, MAX_BITS, nullable=True),
                        "placement": {"type": ["array", "null"],
                                      "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                                "items": _int(0, MAX_CORES)}},
                        "source": TEXT}),
        "static": _object({"power_per_core": QUANTITY, "leakage_per_bit": QUANTITY,
                           "source": TEXT}),
        "area": _object({"sram_per_bit": {"type": ["number", "string", "null"]},
                         "logic_per_core": {"type": ["number", "string", "null"]},
                         "source": TEXT}, ("source",)),
        "energy_models": {"type": "object", "additionalProperties": ENERGY_MODEL},
        "memories": _object({name: _memory(name) for name in MEMORIES}, MEMORIES),
        "operations": _object({"operand_bits": _int(1, 64), "add": OPERATION,
                               "multiply": OPERATION, "synaptic_acc": OPERATION,
                               "neuron_update": OPERATION, "spike_out": OPERATION},
                              ("operand_bits", "add", "multiply")),
        "policies": _object({
            "visits": {"enum": list(POLICY_CHOICES["visits"])},
            "synaptic_levels": {"enum": list(POLICY_CHOICES["synaptic_levels"])},
            "addressing": _object({"conv": {"enum": list(POLICY_CHOICES["addressing_conv"])},
                                   "linear": {"enum": list(POLICY_CHOICES["addressing_linear"])}}),
            "first_layer": _object({
                "synaptic": {"enum": list(POLICY_CHOICES["first_layer_synaptic"])},
                "input_reads": {"enum": list(POLICY_CHOICES["first_layer_input_reads"])},
                "addressing": {"enum": list(POLICY_CHOICES["first_layer_addressing"])},
                "timesteps": {"enum": list(POLICY_CHOICES["first_layer_timesteps"])}}),
            "bias_reads": {"enum": list(POLICY_CHOICES["bias_reads"])},
            "output_writes": {"enum": list(POLICY_CHOICES["output_writes"])},
        }),
    }, ("name", "memories", "operations")),
}

_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string",
               "object": "a mapping", "array": "a list", "null": "null", "boolean": "true/false"}


def _path(parts) -> str:
    return ".".join(str(p) for p in parts)


def _expected(schema: dict) -> str:
    """'an integer in [1, 32]', 'an integer >= 1', 'a number or a string' from a schema."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    text = " or ".join(_TYPE_WORDS.get(t, t) for t in types) or "a value"
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if lo is not None and hi is not None:
        text += f" in [{lo}, {hi}]"
    elif lo is not None:
        text += f" >= {lo}"
    return text + (" (or null)" if nullable else "")


def _message(error) -> tuple[str, str]:
    """(field path, message) for one jsonschema error."""
    where = list(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        key = str(extra[0]) if extra else "?"
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return _path(where + [key]), f"unknown key {key!r}{hint}"
    if kind == "required":
        key = error.message.split("'")[1]
        hint = ""
        if where == ["memories"]:
            hint = f"; a profile describes every memory: {', '.join(MEMORIES)}"
        return _path(where + [key]), f"missing (required){hint}"
    if kind in ("type", "minimum", "maximum"):
        return _path(where), f"expected {_expected(error.schema)}, got {error.instance!r}"
    if kind == "enum":
        return _path(where), (f"expected one of {', '.join(map(str, error.validator_value))}, "
                              f"got {error.instance!r}")
    if kind == "const":
        return _path(where), f"expected {error.validator_value!r}, got {error.instance!r}"
    if kind == "minItems":
        return _path(where), f"expected at least {error.validator_value} item(s)"
    return _path(where), error.message


def check(data) -> list[tuple[str, str]]:
    """Every schema error as (field path, message), in a stable order (by field path)."""
    errors = [_message(e) for e in _VALIDATOR.iter_errors(data)]
    return sorted(errors, key=lambda e: (e[0].count("."), e[0], e[1]))
