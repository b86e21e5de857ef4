"""Numbers printed in "All in one timestep" (Castagnetti, Pegatoquet, Miramond 2025), as printed.

Reports put neurosim's results beside these. They are the paper's, not ours: the strings keep
the paper's own notation (several of its totals are truncated rather than rounded, e.g. 0.659
printed as 0.65; see ../shared/reference/energy_model.md §4.1).
"""

from __future__ import annotations

import pandas as pd

SOURCE = ("Castagnetti, Pegatoquet, Miramond, \"All in one timestep: enhancing sparsity and "
          "energy efficiency in multi-level spiking neural networks\", 2025")

# Table 3: VGG16 on CIFAR-10, energy per inference in nJ.
TABLE3_CONFIGS = ("ANN", "binary [T=4, N=1]", "multi-level [T=1, N=4]", "binary [T=8, N=1]",
                  "multi-level [T=1, N=8]")
TABLE3_SETTINGS = {"binary [T=4, N=1]": (4, 1), "multi-level [T=1, N=4]": (1, 4),
                   "binary [T=8, N=1]": (8, 1), "multi-level [T=1, N=8]": (1, 8)}
TABLE3_PRINTED = {
    "Potentials": ("-", "6.0·10^6", "3.1·10^6", "10.0·10^6", "3.6·10^6"),
    "Weights": ("5.58·10^6", "2.4·10^6", "1.3·10^6", "4.1·10^6", "1.54·10^6"),
    "Bias": ("6.9·10^2", "27.8·10^2", "6.9·10^2", "55.7·10^2", "6.9·10^2"),
    "In/Out": ("6.1·10^6", "3.5·10^3", "1.54·10^3", "5.7·10^3", "1.8·10^3"),
    "Memory total": ("11.6·10^6", "8.4·10^6", "4.38·10^6", "14.2·10^6", "5.19·10^6"),
    "Synaptic ops": ("1.29·10^6", "13.3·10^3", "27.9·10^3", "22.4·10^3", "65.4·10^3"),
    "Addressing": ("4.9·10^2", "9.0·10^2", "5.5·10^2", "14.8·10^2", "8.7·10^2"),
    "Total": ("12.9·10^6", "8.5·10^6", "4.41·10^6", "14.28·10^6", "5.26·10^6"),
}
TABLE3_RATIO_TO_ANN = {"binary [T=4, N=1]": 0.65, "multi-level [T=1, N=4]": 0.34,
                       "binary [T=8, N=1]": 1.10, "multi-level [T=1, N=8]": 0.4}
# §6.1: spikes per inference for the two functionally equivalent VGG16 configurations.
SPIKES_PER_INFERENCE = {"binary [T=4, N=1]": 130e3, "multi-level [T=1, N=4]": 57e3}

# §6.4 / Figure 10: SEW- vs Sparse-ResNet18, CIFAR-10, [T=1, N=4], spikes per image.
FIGURE10_SUM_SPIKES = {"sum0": {"SEW-ResNet18": 45665, "Sparse-ResNet18": 37150},
                       "sum1": {"SEW-ResNet18": 67848, "Sparse-ResNet18": 35819}}
# §6.5 / Figure 11: total spikes per image at T=1 (N=2 printed; N=4 and N=8 as reductions).
FIGURE11_SPIKES = {2: {"SEW-ResNet18": 242662, "Sparse-ResNet18": 218343}}
FIGURE11_REDUCTION = {2: 0.10, 4: 0.25, 8: 0.30}  # Sparse vs SEW, "x% less spikes/image"


def value(printed: str) -> float | None:
    """'27.8·10^2' → 2780.0; '-' → None."""
    if printed.strip() in ("-", "–"):
        return None
    mantissa, _, exponent = printed.partition("·10^")
    return float(mantissa) * 10 ** int(exponent or 0)


def table3() -> pd.DataFrame:
    """Table 3 as numbers: rows as energy.csv's categories, one column per configuration (nJ)."""
    return pd.DataFrame({cfg: [value(TABLE3_PRINTED[row][i]) for row in TABLE3_PRINTED]
                         for i, cfg in enumerate(TABLE3_CONFIGS)},
                        index=list(TABLE3_PRINTED), dtype=float)
