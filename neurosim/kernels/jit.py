"""The jit options of every kernel, where their compiled code is kept, and the wrappers' one
check.

Numba keys a kernel's cached machine code by the content of the kernel's own file. Two kinds of
code escape that key: events.advance compiles noc.py's steps into itself, and the neuron kernels
freeze model/neurons.py's DECAY_BITS; an edit to either file alone would leave stale code that
still loads (and a simulation that silently follows the old rules). So every kernel is compiled
with ``@kernel``, which keeps its code in a folder named by a hash of all the files the kernels
are built from (``code_folder``: in neurosim's cache, or under $NUMBA_CACHE_DIR): any change
compiles them all again, once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

from ..errors import KernelError
from ..outputs import cache_dir

# One place for the jit options: no fastmath (integer potentials and counts must be exact), no
# bounds checks in the hot loops (the wrappers validate shapes), compiled code cached on disk.
JIT = dict(nogil=True, cache=True, boundscheck=False, fastmath=False)

HERE = Path(__file__).resolve().parent
SOURCES = (*sorted(HERE.glob("*.py")), HERE.parent / "model" / "neurons.py")
_folder: Path | None = None


def fingerprint(paths) -> str:
    """A hash of the files' names and contents."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def code_folder() -> Path | None:
    """Where the kernels' compiled code lives: one folder per version of their sources (None
    where there is no home directory to put it in)."""
    global _folder
    if _folder is None:
        root = os.environ.get("NUMBA_CACHE_DIR")
        try:
            root = Path(root) if root else cache_dir() / "numba"
        except (RuntimeError, KeyError):  # Path.home() without $HOME or a passwd entry
            return None
        _folder = root / f"kernels-{fingerprint(SOURCES)}"
    return _folder


def kernel(fn=None, *, refcounts: bool = True):
    """``numba.njit(**JIT)``, its compiled code kept in code_folder() (Numba picks the folder
    when the function is decorated; other code's Numba cache is left where it was). Where that
    folder cannot be written, Numba falls back to its own places.

    ``refcounts=False`` (``@kernel(refcounts=False)``) compiles without Numba's reference
    counting, for kernels that allocate nothing and only index, slice and reshape the arrays
    they are given: each call of a helper otherwise adds and drops a reference to every array
    it takes, two atomic operations apiece, which the event loop's many small steps paid more
    for than for their own work."""
    if fn is None:
        return lambda f: kernel(f, refcounts=refcounts)
    options = JIT if refcounts else dict(JIT, _nrt=False)
    folder = code_folder()
    if folder is None:
        return numba.njit(**options)(fn)
    previous = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = str(folder)
    try:
        return numba.njit(**options)(fn)
    finally:
        numba.config.CACHE_DIR = previous


def _check(cond: bool, what: str, message: str) -> None:
    if not cond:
        raise KernelError(message, "kernels", what)
