"""Physical quantities in profiles: plain numbers in a documented unit, or strings with a unit.

    energy     number = pJ;   "0.1 pJ", "100 fJ", "3.2e-3 nJ"    (fJ pJ nJ uJ µJ mJ J)
    power      number = W;    "25 mW", "1.5 uW"                  (pW nW uW µW mW W)
    frequency  number = Hz;   "200 MHz", "1 GHz"                 (Hz kHz MHz GHz)
    size       number = bytes; "8 KiB", "32 KB", "1 MiB"          (B KB KiB MB MiB GB GiB; KB = KiB,
                                                                   as SRAM datasheets use it)
    area       number = mm²;  "0.0588 um2", "0.4 mm2"             (nm2 um2 µm2 mm2)

Units are case-sensitive (``mJ`` is not ``MJ``); a unit of the wrong kind ("0.1 pW" for an energy)
is named in the error, so a slip between pJ and nJ or J and W cannot pass silently.
"""

from __future__ import annotations

import math
import re

from .errors import UnitError

ENERGY = {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6, "µJ": 1e6, "mJ": 1e9, "J": 1e12}
POWER = {"pW": 1e-12, "nW": 1e-9, "uW": 1e-6, "µW": 1e-6, "mW": 1e-3, "W": 1.0}
FREQUENCY = {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9}
SIZE = {"B": 1, "KB": 1024, "KiB": 1024, "MB": 1024 ** 2, "MiB": 1024 ** 2, "GB": 1024 ** 3,
        "GiB": 1024 ** 3}
AREA = {"nm2": 1e-12, "um2": 1e-6, "µm2": 1e-6, "mm2": 1.0}
KINDS = {"energy": (ENERGY, "pJ"), "power": (POWER, "W"), "frequency": (FREQUENCY, "Hz"),
         "size": (SIZE, "bytes"), "area": (AREA, "mm2")}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*$")


def parse(value, kind: str) -> float:
    """``value`` (number or "<number> <unit>") of ``kind`` in the kind's base unit (pJ, W, Hz,
    bytes). Raises UnitError with a message that names the accepted units."""
    units, base = KINDS[kind]
    expected = f"expected {'an' if kind in ('energy', 'area') else 'a'} {kind} (a number in {base}, or a " \
               f"string with a unit: {', '.join(u for u in units if u not in ('µJ', 'µW', 'µm2'))})"
    if isinstance(value, bool):
        raise UnitError(f"{expected}, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise UnitError(f"{expected}, got {value!r}")
        number, unit = float(match.group(1)), match.group(2)
        if unit is None:
            pass
        elif unit in units:
            number *= units[unit]
        else:
            other = next((k for k, (table, _) in KINDS.items() if k != kind and unit in table),
                         None)
            hint = f" ({unit!r} is a unit of {other})" if other else ""
            near = [u for u in units if u.lower() == unit.lower()]
            if near and not other:
                hint = f" (units are case-sensitive: did you mean {near[0]!r}?)"
            raise UnitError(f"{expected}, got {value!r}{hint}")
    else:
        raise UnitError(f"{expected}, got {value!r}")
    if not math.isfinite(number):
        raise UnitError(f"{expected}, got {value!r}")
    return number


def energy_text(pj: float) -> str:
    """An energy in pJ as a short readable string (0.1 pJ, 13.37 pJ, 2.1 nJ)."""
    if pj == 0:
        return "0 pJ"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3), ("pJ", 1.0)):
        if abs(pj) >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj * 1e3:.4g} fJ"
