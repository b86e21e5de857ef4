"""One error tree for everything a user can get wrong.

Every error names where the problem is (a file, a node, a profile field) and what was expected, so
the CLI can print it as one line without a traceback:

    hw.yaml: memories.weights.bits: expected an integer in [1, 32], got 40
"""

from __future__ import annotations


class NeurosimError(ValueError):
    """Base class. ``where`` is a file name or object name; ``field`` a dotted path inside it."""

    def __init__(self, message: str, where: str | None = None, field: str | None = None):
        self.message = message
        self.where = where
        self.field = field
        parts = [p for p in (where, field) if p]
        super().__init__(": ".join(parts + [message]))

    def __reduce__(self):  # errors raised in worker processes arrive whole
        return type(self), (self.message, self.where, self.field)


class ModelError(NeurosimError):
    """A network graph, node or model file is invalid."""


class ProfileError(NeurosimError):
    """A hardware profile is invalid."""


class InputError(NeurosimError):
    """Input data (images, event streams, arguments) is invalid."""


class CompileError(NeurosimError):
    """A network cannot be mapped onto the hardware described by a profile."""


class ConversionError(NeurosimError):
    """A file from another framework (NIR, torch) cannot be imported."""


class OutputError(NeurosimError):
    """An output path cannot be written without losing something, or cannot be written at all."""


class UnitError(NeurosimError):
    """A physical quantity (energy, power, frequency, size) is not of the expected kind; the
    message names the accepted units. Readers re-raise it with the file and field."""


class KernelError(NeurosimError):
    """A kernel was called with arrays that do not fit together (a bug in the caller)."""


class EngineError(NeurosimError):
    """The event simulation could not finish (a deadlock would be a bug in the engine)."""


class ShardError(NeurosimError):
    """A shard of a run (a range of its inputs, on a worker) failed; ``where`` names the inputs."""
