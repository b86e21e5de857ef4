"""Output directories and files that never lose a user's data.

Every command that writes follows one rule: neurosim deletes, replaces or hides only what neurosim
created. Every directory it creates (a run, a report, a comparison, a sweep, a model) holds a
marker file, ``.neurosim-run``, written first:

    {"format": "neurosim-run", "version": 1, "kind": "run", "command": "neurosim simulate"}

``atomic_dir(path, kind, command, force)`` decides what to do with ``path``:

    path                                          without force            with force
    absent                                        create                   create
    a directory with the marker of this kind      replace (atomic swap)    write into
    any other directory, a symbolic link, or a    refused (OutputError)    write into
      marked directory holding the working dir
    a file (or anything not a directory)          refused                  refused

"Create" and "replace" build everything in a temporary directory beside ``path``
(``.NAME.tmp.PID.XXXXXXXX``) and rename it into place only when the block succeeds, so a failure
leaves the previous directory (or nothing). "Write into" builds in a temporary directory inside
``path`` and then moves each file to its place with ``os.replace``, replacing only the names
neurosim writes, deleting nothing, and leaving no marker in the user's directory (the next run
would otherwise replace it whole).

A killed run leaves its temporary directory behind; the next run that writes NAME in the same
parent removes ``.NAME.tmp.PID.*`` and ``.NAME.old.PID.*`` directories that hold the marker and
whose process PID no longer runs. Nothing without the marker is ever removed, nor anything named
``*.partial`` (finished shards kept for a resumed run).

Caches (``cache_dir()``) hold only files neurosim can recompute, written atomically.

Single output files (a NIR file, a side-car, a report page) are written through ``atomic_file``
(a temporary file renamed into place) after ``check_file`` has refused to overwrite a file that
neurosim did not write. Everything is created with the user's umask.

``write_json`` writes strict JSON (RFC 8259: no NaN or Infinity): non-finite numbers become
``null`` and the dotted keys converted are returned, and optionally recorded in the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import OutputError

MARKER = ".neurosim-run"
MARKER_FORMAT = "neurosim-run"
MARKER_VERSION = 1
KINDS = ("run", "report", "comparison", "sweep", "model", "exploration", "partial")
KEEP_SUFFIX = ".partial"  # finished shards of an interrupted run: never removed here
CACHE_ENV = "NEUROSIM_CACHE"  # where neurosim keeps what it can recompute (default ~/.cache/neurosim)
FORCE_HINT = "pass --force to write neurosim's files into it (nothing else is touched)"
_LEFTOVER = re.compile(r"(?P<pid>\d+)\.[A-Za-z0-9_]+")  # what follows ".NAME.tmp." / ".NAME.old."


# --- permissions and temporary names -----------------------------------------------------------

def cache_dir() -> Path:
    """The directory of neurosim's caches ($NEUROSIM_CACHE, else ~/.cache/neurosim): only files
    neurosim can rebuild live there (the CIFAR-10 training set decoded, calibrations)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "neurosim")


def current_umask() -> int:
    """The process's umask (os.umask reads it only by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_dir(parent: Path, name: str) -> Path:
    """A new directory ``parent/.NAME.tmp.PID.XXXXXXXX`` with the umask's permissions (mkdtemp
    alone makes it 0700)."""
    try:
        path = Path(tempfile.mkdtemp(prefix=f".{name}.tmp.{os.getpid()}.", dir=parent))
    except OSError as err:
        raise OutputError(f"cannot create a directory in {parent}: {err.strerror}",
                          str(parent / name)) from None
    os.chmod(path, 0o777 & ~current_umask())
    return path


def temp_file(parent: Path, name: str) -> Path:
    """A new empty file ``parent/.NAME.tmp.PID.XXXXXXXX`` with the umask's permissions (mkstemp
    alone makes it 0600)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.tmp.{os.getpid()}.", dir=parent)
    except OSError as err:
        raise OutputError(f"cannot create a file in {parent}: {err.strerror}",
                          str(parent / name)) from None
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    return Path(tmp)


def make_parent(path: Path) -> None:
    """Create ``path``'s parent directories, or raise one OutputError naming the cause."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"cannot create the directory {parent}: a file is in the way",
                          str(path)) from None
    except OSError as err:
        raise OutputError(f"cannot create the directory {parent}: {err.strerror}",
                          str(path)) from None


# --- the marker --------------------------------------------------------------------------------

def write_marker(directory: Path, kind: str, command: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}; expected one of {KINDS}")
    path = Path(directory) / MARKER
    path.write_text(json.dumps({"format": MARKER_FORMAT, "version": MARKER_VERSION,
                                "kind": kind, "command": command}, allow_nan=False) + "\n")
    return path


def read_marker(directory) -> dict | None:
    """The marker of a directory neurosim created, or None (no marker, or not a valid one)."""
    path = Path(directory) / MARKER
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == MARKER_FORMAT else None


# --- leftovers of killed runs ------------------------------------------------------------------

def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _empty(directory: Path) -> bool:
    try:
        return next(directory.iterdir(), None) is None
    except OSError:
        return False


def clean_leftovers(parent: Path, name: str) -> list[Path]:
    """Remove ``.NAME.tmp.PID.*`` and ``.NAME.old.PID.*`` directories in ``parent`` that hold the
    marker (or nothing at all: a process killed before it wrote the marker) and whose process
    no longer runs; returns what was removed."""
    removed = []
    prefixes = (f".{name}.tmp.", f".{name}.old.")
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        if prefix is None or entry.name.endswith(KEEP_SUFFIX):
            continue
        match = _LEFTOVER.fullmatch(entry.name[len(prefix):])
        if (match is None or entry.is_symlink() or not entry.is_dir()
                or not (read_marker(entry) is not None or _empty(entry))
                or _running(int(match["pid"]))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


# --- directories -------------------------------------------------------------------------------

def _holds_cwd(path: Path) -> bool:
    try:
        here, there = Path.cwd().resolve(), path.resolve()
    except OSError:
        return False
    return here == there or there in here.parents


def plan_output(path, kind: str, force: bool = False) -> str:
    """What writing a ``kind`` directory at ``path`` would do: "create", "replace" or "into";
    raises OutputError, saying what to do instead, where it would lose something."""
    path = Path(path)
    try:
        if not (path.exists() or path.is_symlink()):
            return "create"
        if not path.is_dir():
            raise OutputError("exists and is not a directory; neurosim writes a directory here "
                              "and never replaces a file with one: choose a new --out", str(path))
        if force:
            return "into"
        if path.is_symlink():
            raise OutputError(f"is a symbolic link; choose a new --out, or {FORCE_HINT}",
                              str(path))
        marker = read_marker(path)
        if marker is None:
            raise OutputError(f"exists and is not a neurosim {kind} directory (no {MARKER} "
                              f"inside); choose a new --out, or {FORCE_HINT}", str(path))
        if marker.get("kind") != kind:
            raise OutputError(f"is a neurosim {marker.get('kind')} directory, not a {kind} "
                              f"directory; choose a new --out, or {FORCE_HINT}", str(path))
        if _holds_cwd(path):
            raise OutputError(f"contains the current directory, which cannot be replaced; run "
                              f"neurosim from another directory, or {FORCE_HINT}", str(path))
        return "replace"
    except OSError as err:
        raise OutputError(f"cannot inspect: {err.strerror}", str(path)) from None


def check_output(path, kind: str, force: bool = False) -> None:
    """Refuse, before any work starts, an output directory that ``atomic_dir`` would refuse
    (creates nothing)."""
    path = Path(path)
    if plan_output(path, kind, force) == "into":
        return
    ancestor = Path(os.path.abspath(path)).parent
    while not (ancestor.exists() or ancestor.is_symlink()):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot create the directory {path.parent}: a file is in the way "
                          f"({ancestor})", str(path))
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create a directory in {ancestor}: permission denied",
                          str(path))


@contextmanager
def atomic_dir(path, kind: str = "run", command: str = "neurosim", force: bool = False):
    """Yield a temporary directory (holding the marker) whose files end up at ``path`` only if
    the block succeeds: a new or replaced directory, or with ``force`` files moved into an
    existing one. See the module docstring for the rules."""
    path = Path(path)
    full = Path(os.path.abspath(path))  # names the temporary directory when path is "." or ".."
    mode = plan_output(path, kind, force)
    if mode != "into":
        make_parent(path)
    where = full if mode == "into" else full.parent
    clean_leftovers(where, full.name)
    tmp = temp_dir(where, full.name)
    try:
        write_marker(tmp, kind, command)
        yield tmp
        if mode == "into":
            publish(tmp, path)
        else:
            _swap(tmp, path, plan_output(path, kind, force))  # again: it may have appeared
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap(tmp: Path, path: Path, mode: str) -> None:
    full = Path(os.path.abspath(path))
    try:
        if mode == "create":
            os.rename(tmp, full)
            return
        old = full.with_name(f".{full.name}.old.{os.getpid()}.{secrets.token_hex(4)}")
        os.rename(full, old)
        try:
            os.rename(tmp, full)
        except OSError:
            os.rename(old, full)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        raise OutputError(f"cannot move the finished output into place: {err.strerror}",
                          str(path)) from None


def publish(tmp: Path, dest: Path) -> list[Path]:
    """Move every file under ``tmp`` to the same place under ``dest``, each with os.replace;
    nothing else in ``dest`` is touched. A marker is moved only into a directory this call
    creates, never into one that existed (that would mark a user's directory as neurosim's).
    Refused before anything moves if a file would replace a directory or a directory a file."""
    dest = Path(dest)
    files = sorted(p for p in Path(tmp).rglob("*") if p.is_file() and not p.is_symlink())
    moves = []
    for path in files:
        target = dest / path.relative_to(tmp)
        if path.name == MARKER and target.parent.is_dir():
            continue
        if target.is_dir() and not target.is_symlink():
            raise OutputError("is a directory where neurosim writes a file; move it away, or "
                              "choose a new --out", str(target))
        for parent in target.relative_to(dest).parents:
            if (dest / parent).exists() and not (dest / parent).is_dir():
                raise OutputError("is a file where neurosim writes a directory; move it "
                                  "away, or choose a new --out", str(dest / parent))
        moves.append((path, target))
    moved = []
    try:
        for path, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved.append(target)
    except OSError as err:
        raise OutputError(f"cannot write: {err.strerror}", str(err.filename or dest)) from None
    return moved


# --- single files ------------------------------------------------------------------------------

def check_file(path, written_by_neurosim, force: bool = False, what: str = "file") -> None:
    """Refuse to overwrite ``path`` unless it is absent, ``written_by_neurosim(path)`` says
    neurosim wrote it, or ``force``; a directory is never replaced by a file."""
    path = Path(path)
    try:
        if not (path.exists() or path.is_symlink()):
            return
        if path.is_dir():
            raise OutputError(f"is a directory; choose another name for the {what}", str(path))
        if not force and not written_by_neurosim(path):
            raise OutputError(f"exists and was not written by neurosim; choose another name for "
                              f"the {what}, or pass --force to replace it", str(path))
    except OSError as err:
        raise OutputError(f"cannot inspect: {err.strerror}", str(path)) from None


@contextmanager
def atomic_file(path):
    """Yield a temporary file beside ``path`` that replaces it only if the block succeeds."""
    path = Path(path)
    make_parent(path)
    tmp = temp_file(path.parent, path.name)
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror}", str(path)) from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def head_of(path, size: int = 4096) -> str:
    """The first ``size`` bytes of a file as text ('' if unreadable): enough to recognise the
    header neurosim writes."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


# --- reports written into a directory that holds their inputs ---------------------------

def build_in_place(build, dest: Path, kind: str = "report",
                   command: str = "neurosim report") -> list[Path]:
    """Run ``build(tmp)`` in a scratch directory inside ``dest``, then move each file into
    ``dest`` (os.replace): a report written into its run directory replaces only its own files."""
    dest = Path(dest)
    clean_leftovers(dest, kind)
    tmp = temp_dir(dest, kind)
    try:
        write_marker(tmp, kind, command)  # marks a leftover as neurosim's
        build(tmp)
        return publish(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_output_keeps_inputs(out, kind: str, inputs, force: bool) -> None:
    """Refuse, before any work, an --out that cannot be written, and one that would be replaced
    while it holds an input (a run or model the command reads)."""
    check_output(out, kind, force)
    if plan_output(out, kind, force) != "replace":
        return
    where = Path(out).resolve()
    for source in inputs:
        path = Path(source).resolve()
        if path == where or where in path.parents:
            raise OutputError(f"holds the input {source}, which replacing it would delete; "
                              f"choose another --out", str(out))


# --- JSON --------------------------------------------------------------------------------------

def _plain(value, key: str, converted: list[str]):
    """``value`` as plain JSON types; a NaN or ±inf becomes None and its dotted key is noted."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{key}.{k}" if key else str(k), converted)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{key}.{i}" if key else str(i), converted)
                for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), key, converted)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        converted.append(key)
        return None
    return value


def strict_json(data) -> tuple[object, list[str]]:
    """(``data`` as plain JSON values with non-finite numbers as None, the dotted keys of those)."""
    converted: list[str] = []
    return _plain(data, "", converted), converted


def write_json(path, data, note_key: str | None = None) -> list[str]:
    """Write ``data`` as strict JSON; NaN and ±inf are written as null. Returns the dotted keys
    converted. With ``note_key`` (``data`` a mapping), a note naming them is appended to the
    list of strings under that key (created if absent), so that a reader can tell a missing
    value from a non-finite one."""
    plain, converted = strict_json(data)
    if converted and note_key and isinstance(plain, dict):
        notes = plain.setdefault(note_key, [])
        if isinstance(notes, list):
            notes.append(f"non-finite values (NaN or infinity) written as null: "
                         f"{', '.join(converted)}")
    Path(path).write_text(json.dumps(plain, indent=2, allow_nan=False) + "\n")
    return converted
