"""Hardware profiles: the YAML schema, loading with clear errors, SRAM and operation energies."""

from .profile import CoreLimits, NoC, Profile, Timing

__all__ = ["CoreLimits", "NoC", "Profile", "Timing"]
