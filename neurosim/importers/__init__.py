"""Importers: networks from other tools onto neurosim's graph IR, each failing loudly.

    import_nir(path_or_graph, sidecar=None)   NIR (+ YAML side-car)      (extra: nir)
    export_nir(graph, path)                   NIR + side-car, exact round trip
    torch_state                               neurosim's own training checkpoints

The nir package is imported only when a NIR function runs.
"""

from .nir_export import export_nir
from .nir_import import NirImportWarning, NirOverride, import_nir
from .sidecar import SideCar, load_sidecar

__all__ = ["import_nir", "export_nir", "NirImportWarning", "NirOverride", "SideCar",
           "load_sidecar"]
