"""The compiler: IR graph → integer (or float) layers → cores with sized SRAMs.

    net = compile_graph(graph, profile.widths, add_mode=profile.add_mode)   # neurosim.compiler.lower
    mapped = map_to_cores(net, profile)                                     # neurosim.compiler.mapping

The stages: ``network`` (the compiled types, the largest event value, input checks), ``lower``
(IR nodes → layers through a registry by node type), ``quantise`` (fixed point), ``mapping``
(cores, placement, SRAM sizing).
"""

from ..hardware.profile import Widths
from .lower import compile_graph
from .mapping import (CoreSpec, CoreWords, MappedNetwork, core_table, core_words, default_mapping,
                      map_to_cores, weight_words_per_channel)
from .network import (ADD_MODES, PIXEL_MAX, AddPoint, CompiledNetwork, Layer, Pool, Projection,
                      check_inputs, event_max_level)
from .quantise import Calibration

__all__ = ["ADD_MODES", "PIXEL_MAX", "AddPoint", "Calibration", "CompiledNetwork", "CoreSpec",
           "CoreWords", "Layer", "MappedNetwork", "Pool", "Projection", "Widths", "check_inputs",
           "compile_graph", "core_table", "core_words", "default_mapping", "event_max_level",
           "map_to_cores", "weight_words_per_channel"]
