"""Read a NIR file (HDF5) node by node, so that every failure names the file and the node.

``nir.read`` reports a missing dataset as a bare KeyError and a shape clash as an assertion,
without saying where. This reader walks the HDF5 tree itself, checks that each node group has
the datasets its type needs, builds each node with the nir package (so its semantics stay
nir's own), and checks the edges. Types are not checked here (``type_check=False``): exporters
write wrong or missing types often enough (see tests/fixtures/nir/README.md) that the importer
infers every shape itself and reports a clash at the node where it happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import ConversionError, NeurosimError

# Some single-byte corruptions of an HDF5 file make the HDF5 library loop forever (2-4% of them,
# measured on the fixtures) or crash. A file is therefore read once in a child process first,
# bounded in time and memory; only a file that child read completely is read here.
PROBE_TIMEOUT_S = 30.0

# The 19 node types of NIR 1.0.8 and the datasets nir's reader needs for each.
REQUIRED = {
    "Input": ("shape",), "Output": ("shape",),
    "Affine": ("weight", "bias"), "Linear": ("weight",), "Scale": ("scale",),
    "Conv1d": ("weight", "stride", "padding", "dilation", "groups", "bias"),
    "Conv2d": ("weight", "stride", "padding", "dilation", "groups", "bias"),
    "SumPool2d": ("kernel_size", "stride", "padding"),
    "AvgPool2d": ("kernel_size", "stride", "padding"),
    "Flatten": ("start_dim", "end_dim"), "Delay": ("delay",), "Threshold": ("threshold",),
    "I": ("r",), "IF": ("r", "v_threshold"), "LI": ("tau", "r", "v_leak"),
    "LIF": ("tau", "r", "v_leak", "v_threshold"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in"),
    "NIRGraph": ("nodes", "edges"),
}


def require_nir():
    try:
        import nir
    except ImportError as err:  # the optional extra
        raise ConversionError(f"reading NIR needs the nir package (pip install "
                              f"'neurosim[nir]'): {err}", "nir") from None
    return nir


# What h5py raises for a corrupt file: OSError or RuntimeError from reads, KeyError from an
# object whose header is damaged ("Unable to synchronously open object"), ValueError.
UNREADABLE = (OSError, RuntimeError, KeyError, ValueError)


def _first_line(err: BaseException) -> str:
    """An exception's message on one line (KeyError quotes its argument)."""
    msg = err.args[0] if isinstance(err, KeyError) and err.args else err
    lines = str(msg).strip().splitlines()
    return lines[0] if lines else ""


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def probe(path, timeout: float | None = None) -> None:
    """Read ``path`` in a child process (``python -m neurosim.importers.nir_read FILE``) with
    a time limit and the memory limit: a file that makes h5py hang or crash fails here, as one
    ConversionError, instead of hanging the command."""
    where = str(path)
    limit = limits.memory_limit()
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout

    def bound_memory():  # in the child, before it starts: address space ≤ the memory limit
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit + 2 ** 30  # the interpreter and h5py themselves take some
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)  # never above a hard limit set by the user (ulimit -v)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))

    env = dict(os.environ, PYTHONWARNINGS="ignore")
    try:
        done = subprocess.run([sys.executable, "-m", "neurosim.importers.nir_read", where],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              preexec_fn=bound_memory if os.name == "posix" else None)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"reading it did not finish within {timeout:g} s: the HDF5 "
                              "library loops on this file (corrupt?)", where) from None
    if done.returncode == 0:
        return
    lines = done.stderr.strip().splitlines()
    if done.returncode == 2 and lines:
        raise ConversionError(lines[-1], None)
    how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    last = f": {lines[-1]}" if lines else ""
    raise ConversionError(f"the HDF5 library failed reading it ({how}{last}); corrupt or "
                          "truncated file?", where)


def read_nir(path, check_first: bool = True):
    """The NIR graph stored in ``path`` and the nir version string that wrote it.
    ``check_first``: read it in a bounded child process before (see probe)."""
    import h5py

    require_nir()
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ConversionError("no such file", where)
    if check_first:
        probe(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ConversionError(f"cannot be opened as HDF5 (truncated or not a NIR file?): {err}",
                              where) from None
    with handle as f:
        try:  # a corrupt file can fail on any lookup, with any of h5py's error types
            has_node = "node" in f
            version = _text(f["version"][()]) if "version" in f else "unknown"
            top = f["node"] if has_node else None
        except UNREADABLE as err:
            raise ConversionError(f"its root group cannot be read (corrupt HDF5): "
                                  f"{_first_line(err)}", where, "node") from None
        if top is None:
            raise ConversionError("no 'node' group: not a NIR file", where, "node")
        return _read_node(top, where, ""), version


def _read_node(group, where: str, name: str):
    import h5py

    nir = require_nir()
    label = f"node {name!r}" if name else "the top-level graph"
    if not isinstance(group, h5py.Group):
        raise ConversionError(f"{label} is a dataset, expected a node group", where, name or "node")
    try:  # the node's structure: lookups in a corrupt file raise KeyError, RuntimeError, ...
        kind = _text(group["type"][()]) if "type" in group else None
        missing = [d for d in REQUIRED.get(kind, ()) if d not in group]
    except UNREADABLE as err:
        raise ConversionError(f"{label} cannot be read (corrupt HDF5): {_first_line(err)}",
                              where, name or "node") from None
    if kind is None:
        raise ConversionError(f"{label} has no 'type' dataset", where, name or "node")
    if kind not in REQUIRED:
        raise ConversionError(f"{label} has unknown type {kind!r}; NIR 1.0.8 defines "
                              f"{sorted(REQUIRED)}", where, name or "node")
    if missing:
        raise ConversionError(f"{label} ({kind}) lacks dataset(s) {missing}", where, name or "node")
    try:
        if kind == "NIRGraph":
            return _read_graph(group, where, name)
        return nir.serialization.read_node(group)
    except ConversionError:
        raise
    except (OSError, RuntimeError, KeyError) as err:  # h5py: unreadable (corrupt) data
        raise ConversionError(f"{label} ({kind}): cannot read its data: {_first_line(err)}",
                              where, name or "node") from None
    except Exception as err:  # nir's constructors assert on inconsistent shapes
        msg = _first_line(err) or type(err).__name__
        raise ConversionError(f"{label} ({kind}): {msg}", where, name or "node") from None


def _read_graph(group, where: str, name: str):
    nir = require_nir()
    prefix = f"{name}." if name else ""
    nodes = {}
    children = group["nodes"]
    for key in children.keys():
        child = prefix + _text(key)
        try:
            sub = children[key]
        except UNREADABLE as err:  # its object header is damaged
            raise ConversionError(f"node {child!r} cannot be read (corrupt HDF5): "
                                  f"{_first_line(err)}", where, child) from None
        nodes[_text(key)] = _read_node(sub, where, child)
    raw = np.asarray(group["edges"][()])
    if raw.size == 0:
        edges = []
    elif raw.ndim != 2 or raw.shape[1] != 2:
        raise ConversionError(f"edges must be an (N, 2) array of node names, got shape "
                              f"{raw.shape}", where, f"{prefix}edges")
    else:
        edges = [(_text(a), _text(b)) for a, b in raw]
    metadata = {}
    if "metadata" in group:
        metadata = {k: v[()] for k, v in group["metadata"].items() if hasattr(v, "shape")}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def _main(argv) -> int:
    """The child of ``probe``: read the file; a neurosim error goes to stderr as one line."""
    try:
        read_nir(argv[0], check_first=False)
    except NeurosimError as err:
        print(err, file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{argv[0]}: needs more memory than the limit to read (corrupt sizes?)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
