"""The jit options of every kernel, and the wrappers' one check."""

from __future__ import annotations

from ..errors import KernelError

# One place for the jit options: no fastmath (integer potentials and counts must be exact), no
# bounds checks in the hot loops (the wrappers validate shapes), compiled code cached on disk.
JIT = dict(nogil=True, cache=True, boundscheck=False, fastmath=False)


def _check(cond: bool, what: str, message: str) -> None:
    if not cond:
        raise KernelError(message, "kernels", what)
