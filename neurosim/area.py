"""Silicon area and static power of the mapped chip, from its SRAM bits and its cores.

    area of a core    = SRAM bits × area per bit + logic area per core      (profile ``area``)
    static of a core  = power per core + SRAM bits × leakage per bit        (profile ``static``)

A core's SRAM bits are compiler.mapping's one sizing (weights, biases and potentials at the
compiled widths, the input FIFO at its word width: ``CoreSpec.sram_bits``). A figure the profile
does not give (``null``) is left out, and the summary says what is missing, so a silicon total
is never quietly a partial one. Static energy is static power × chip time (energy.py).
"""

from __future__ import annotations

from .compiler import CompiledNetwork, default_mapping
from .hardware.profile import Profile


def core_area_mm2(sram_bits: int, profile: Profile) -> float | None:
    """One core's area (mm²), or None when the profile gives no area figure."""
    a = profile.area
    if not a.priced:
        return None
    return sram_bits * (a.sram_mm2_per_bit or 0.0) + (a.logic_mm2_per_core or 0.0)


def core_static_w(sram_bits: int, profile: Profile) -> float:
    """One core's static power (W): its fixed part plus the leakage of its SRAM bits."""
    return profile.static_power_w_per_core + sram_bits * profile.leakage_w_per_bit


def layer_static_w(net: CompiledNetwork, layer: str, profile: Profile) -> float:
    """Static power (W) of the cores that hold ``layer``."""
    return sum(core_static_w(c.sram_bits, profile) for c in default_mapping(net).cores_of(layer))


def summary(net: CompiledNetwork, profile: Profile) -> dict:
    """summary.json's ``area``: totals, per layer and per core (mm²), what was priced, sources."""
    mapped = default_mapping(net)
    a = profile.area
    bits = [c.sram_bits for c in mapped.cores]
    missing = [name for name, value in (("area.sram_per_bit", a.sram_mm2_per_bit),
                                        ("area.logic_per_core", a.logic_mm2_per_core))
               if value is None]
    out = {"unit": "mm2", "cores": len(bits), "sram_bits": int(sum(bits)),
           "sram_mm2": None, "logic_mm2": None, "total_mm2": None, "per_core_mm2": None,
           "per_layer_mm2": None, "static_w": sum(core_static_w(b, profile) for b in bits),
           "source": a.source, "not_priced": missing}
    if not a.priced:
        return out
    per_core = [core_area_mm2(b, profile) for b in bits]
    out.update({
        "sram_mm2": None if a.sram_mm2_per_bit is None else sum(bits) * a.sram_mm2_per_bit,
        "logic_mm2": None if a.logic_mm2_per_core is None else len(bits) * a.logic_mm2_per_core,
        "total_mm2": sum(per_core), "per_core_mm2": per_core,
        "per_layer_mm2": {layer.name: sum(per_core[c.index] for c in mapped.cores_of(layer.name))
                          for layer in mapped.layers}})
    return out
