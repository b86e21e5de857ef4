"""``neurosim import-nir`` and ``neurosim export-nir``."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ..errors import ConversionError
from ..importers.dialects import DIALECTS
from ..options import Command, path


def import_nir_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="NIR file (.nir, HDF5)")
    p.add_argument("--sidecar", help="YAML side-car: levels, reset, timesteps, dialect, ... "
                                     "(default: FILE.yaml beside the file, if there is one; "
                                     "without one, the dialect's defaults are used)")
    p.add_argument("--no-sidecar", action="store_true",
                   help="ignore a side-car FILE.yaml beside the file")
    p.add_argument("--dialect", choices=sorted(DIALECTS),
                   help="framework that wrote the file, if no side-car names it")
    p.add_argument("-o", "--out", type=path, required=True, help="model directory to write")
    p.add_argument("--force", action="store_true",
                   help="write manifest.yaml and weights.npz into an existing directory that "
                        "neurosim did not create (nothing else is touched)")


def import_nir_main(args) -> int:
    from ..importers.nir_import import NirImportWarning, NirOverride, import_nir, sidecar_beside
    from ..model.io import save_model
    from ..outputs import check_output

    check_output(args.out, "model", args.force)
    if args.no_sidecar and args.sidecar:
        raise ConversionError("--sidecar and --no-sidecar contradict each other", "--no-sidecar")
    source = Path(args.file)
    shown = []  # printed once the model is written: a failed import prints its error alone
    beside = sidecar_beside(source)
    hint = ""
    if args.no_sidecar and beside is not None:
        hint = f"{beside} exists beside the file; import without --no-sidecar to use it"
        shown.append(hint)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NirImportWarning)
        try:
            graph = import_nir(source, sidecar=False if args.no_sidecar else args.sidecar,
                               dialect=args.dialect)
        except ConversionError as err:
            if not hint:
                raise
            raise ConversionError(f"{err.message} ({hint})", err.where, err.field) from None
    shown += [str(w.message) for w in caught if issubclass(w.category, NirImportWarning)
              and not issubclass(w.category, NirOverride)]
    save_model(graph, args.out, force=args.force, command="neurosim import-nir")
    for message in shown:
        print(f"warning: {message}", file=sys.stderr)
    for line in graph.meta["import"]["overrides"]:
        print(f"override: {line}", file=sys.stderr)
    info = graph.meta["import"]
    levels = sorted({n.spec.levels for n in graph.neurons()})
    print(f"imported {source} (dialect {info['dialect']}, written by nir {info['nir_version']}): "
          f"{len(graph)} nodes, {graph.neuron_count():,} neurons, levels {levels}, "
          f"T={graph.timesteps}")
    print(f"wrote {args.out}/ (manifest.yaml, weights.npz)")
    return 0


def export_nir_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory (manifest.yaml + weights.npz)")
    p.add_argument("-o", "--out", type=path, required=True, help="NIR file to write (FILE.nir)")
    p.add_argument("--sidecar", help="side-car to write (default: FILE.yaml beside FILE.nir)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing NIR file or side-car that export-nir did not write")


def export_nir_main(args) -> int:
    from ..importers.nir_export import export_nir
    from ..model.io import load_model

    graph = load_model(args.model)
    path, sidecar = export_nir(graph, args.out, args.sidecar, force=args.force)
    print(f"wrote {path} and its side-car {sidecar} (levels, soft reset, BatchNorm, max-pool: "
          f"import with --sidecar {sidecar})")
    return 0


COMMANDS = (Command("import-nir", "import a NIR graph", import_nir_arguments, import_nir_main),
            Command("export-nir", "export a model to NIR", export_nir_arguments,
                    export_nir_main))
