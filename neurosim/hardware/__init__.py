"""Hardware profiles: the YAML schema, loading with clear errors, SRAM and operation energies."""

from .loader import load_profile, profile_from_data
from .profile import (Area, CoreLimits, EnergyModel, Memory, NoC, Operations, Policies, Profile,
                      Timing, Widths)

__all__ = ["Area", "CoreLimits", "EnergyModel", "Memory", "NoC", "Operations", "Policies", "Profile",
           "Timing", "Widths", "load_profile", "profile_from_data"]
