"""Numbers as the paper prints them: a mantissa times a power of ten, e.g. 3.1·10^6 nJ.

One formatter per output: Unicode superscripts for markdown and HTML (3.10·10⁶), ``$3.10\\cdot
10^{6}$`` for LaTeX. CSV files keep plain floats so other tools can read them.
"""

from __future__ import annotations

import math

SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def split(value: float, digits: int = 3) -> tuple[str, int]:
    """(mantissa text, exponent) with ``digits`` significant digits and 1 ≤ |mantissa| < 10."""
    if value == 0 or not math.isfinite(value):
        return (f"{value:g}", 0)
    exponent = math.floor(math.log10(abs(value)))
    mantissa = round(value / 10 ** exponent, digits - 1)
    if abs(mantissa) >= 10:  # 9.996 rounds up to 10.0
        mantissa /= 10
        exponent += 1
    return (f"{mantissa:.{digits - 1}f}", exponent)


def plain(value: float, digits: int = 3) -> str:
    """``digits`` significant digits without an exponent: 690, 13.4, 0.0217."""
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:.{decimals}f}"


def _scientific(value, digits: int, missing: str, power) -> str:
    """``missing`` for None/NaN; values in [0.01, 1000) plainly; others as ``power(m, e)``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    value = float(value)
    if value == 0 or 0.01 <= abs(value) < 1000:
        return plain(value, digits)
    return power(*split(value, digits))


def paper(value, digits: int = 3, missing: str = "–") -> str:
    """3.10·10⁶; values in [0.01, 1000) print plainly (690, 0.799)."""
    return _scientific(value, digits, missing,
                       lambda m, e: f"{m}·10{str(e).translate(SUPERSCRIPT)}")


def latex(value, digits: int = 3, missing: str = "--") -> str:
    """$3.10\\cdot10^{6}$."""
    return _scientific(value, digits, missing, lambda m, e: f"${m}\\cdot10^{{{e}}}$")


def count(value, missing: str = "–") -> str:
    """Counts per sample: integers with thousands separators, else 3 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def percent(value, missing: str = "–", signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return missing
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def share(value, missing: str = "–") -> str:
    """A small fraction as a percentage that stays readable: 0%, 0.012%, 1.94%, 15.9%."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return missing
    pct = 100 * float(value)
    if pct == 0 or abs(pct) >= 10:
        return f"{pct:.1f}%" if pct else "0%"
    if abs(pct) >= 0.1:
        return f"{pct:.2f}%"
    return f"{pct:.2g}%"


def printed(text, latex_style: bool = False) -> str:
    """A number as a paper printed it ('27.8·10^2', '-', '130,000'), in our notation's glyphs."""
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    if text.strip() in ("", "-", "–"):
        return "--" if latex_style else "–"
    mantissa, sep, exponent = text.partition("·10^")
    if not sep:
        return text.replace(",", "{,}") if latex_style else text
    if latex_style:
        return f"${mantissa}\\cdot10^{{{exponent}}}$"
    return f"{mantissa}·10{exponent.translate(SUPERSCRIPT)}"
