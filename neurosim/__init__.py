"""neurosim: an event-driven simulator of neuromorphic hardware for multi-level SNNs."""

__version__ = "0.1.0"

from .compiler import Widths, compile_graph
from .errors import (CompileError, InputError, ModelError, NeurosimError, ProfileError)
from .model import load_model, save_model

__all__ = ["CompileError", "InputError", "ModelError", "NeurosimError", "ProfileError",
           "Widths", "__version__", "compile_graph", "load_model", "save_model"]
