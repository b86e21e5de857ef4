"""Fuzz suite (issue 13): bad input of every kind, through the command line, judged one way.

What goes in, by family (one section each below)
    command-line arguments; ``--out`` targets; hardware profiles (YAML); model manifests;
    weight files; input files (npz images, frames and events, CIFAR-10 .bin, idx, run
    directories); NIR files and their side-cars; and the cases that could hang, signals and
    umasks. Kinds of damage: malformed YAML, wrong types, missing and unknown fields, wrong
    shapes and dtypes, NaN/inf, truncated and bit-flipped files, empty and absurd sizes, YAML
    alias bombs, ``!!python/...`` tags, path-like node names, existing / read-only / odd
    ``--out`` targets. Explicit parametrised lists name the cases from the issue; hypothesis
    (derandomised: CI sees the same corpus every run; no shrinking, so a failure costs one
    example and its message carries the exact mutation) generates substitutions into profile,
    manifest and side-car fields, truncations and byte flips.

How every case is judged (``check``, built on ``run``, ``snapshot`` and ``assert_clean_error``)
    * the exit code is 2 for bad input, or 0 where the input is valid but unusual (a case then
      names the note summary.json ``notes`` must hold); never anything else;
    * no "Traceback" in stdout or stderr; a failure prints ONE line on stderr,
      ``neurosim <command>: error: <FILE or option>: [<field>: ]<what is wrong>``, and that
      line names the file at fault (its path or file name) or the option;
    * nothing in the case's directory changes when a command fails (every file and directory:
      path, size, sha256, mode), no ``--out`` appears, and no ``.NAME.tmp.*`` / ``.NAME.old.*``
      is left anywhere; after a success nothing outside ``--out`` (and its new parents) has
      changed and every JSON file written parses as strict JSON (no NaN, no Infinity);
    * no hang: the cases that could hang (alias bombs, deep nesting, FIFOs, devices, huge
      ranges), the signal and the umask cases run ``python -m neurosim.cli`` in a subprocess
      with a timeout; every other case calls ``neurosim.cli.main(argv)`` in-process.

In-process output is captured at the file descriptors (capfd: capsys plus whatever C libraries
write to fd 1/2), and Python warnings are shown the way the command line would show them, so
that "one line on stderr" means what a user sees. Each case runs in its own directory (tmp_path,
or a fresh one per hypothesis example) holding copies of the shipped model and fixtures, with
that directory as the working directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from neurosim.cli import main

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "fmnist_small_n4t1"
PROFILE = REPO / "hw_configs" / "paper_45nm.yaml"
NIR_DIR = REPO / "tests" / "fixtures" / "nir"
NIR_NET = "sinabs_convnet"  # levels 3, T=4, input (2, 8, 8)
FAST = ["--samples", "4", "--no-float", "--quiet", "--engine", "reference"]
ROOT = os.geteuid() == 0  # chmod does not restrict root
UNWRITABLE = Path("/sys")  # refuses mkdir even to root
LEFTOVER = re.compile(r"^\..+\.(tmp|old)\.\d+\.")
SUBPROCESS_MEMORY = 8 * 2 ** 30  # address-space limit of the subprocess cases


def fuzz(examples: int):
    """Hypothesis settings of this suite: the same corpus every run, bounded time."""
    return settings(derandomize=True, deadline=None, max_examples=examples, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


# --- running a command --------------------------------------------------------------------------

@dataclass
class Result:
    rc: int | None  # None: an exception escaped main()
    out: str
    err: str
    argv: list

    def __str__(self):
        def tail(text):
            return text if len(text) < 3000 else "..." + text[-3000:]
        return (f"argv: {self.argv}\nexit: {self.rc}\n--- stderr ---\n{tail(self.err)}"
                f"\n--- stdout ---\n{tail(self.out)}")


def run(argv, capfd, cwd) -> Result:
    """``neurosim.cli.main(argv)`` in ``cwd``, output captured; an exception that escapes main
    (what a user would see as a traceback) is appended to stderr with rc None."""
    argv = [str(a) for a in argv]
    capfd.readouterr()
    rc, escaped = None, ""
    with warnings.catch_warnings(record=True) as caught, contextlib.chdir(cwd):
        warnings.resetwarnings()  # Python's default filters, as the command line has them
        warnings.simplefilter("default")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                         ResourceWarning):
            warnings.simplefilter("ignore", category)
        try:
            rc = main(argv)
        except (Exception, SystemExit):
            escaped = traceback.format_exc()
    out, err = capfd.readouterr()
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
                    for w in caught)
    return Result(rc, out, err + shown + escaped, argv)


def _limit_memory(hard: bool = False):
    """Bound a subprocess's address space (soft limit: neurosim may still raise it for its own
    children; ``hard``: as under a hard ``ulimit -v``)."""
    _, hard_limit = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_MEMORY,
                                            SUBPROCESS_MEMORY if hard else hard_limit))


def run_subprocess(argv, timeout: float, umask: int | None = None,
                   hard_limit: bool = False) -> Result:
    """``python -m neurosim.cli argv`` in the repository with a timeout (a hang fails the
    case), an address-space limit, and optionally a umask."""
    argv = [str(a) for a in argv]

    def setup():
        _limit_memory(hard_limit)
        if umask is not None:
            os.umask(umask)

    try:
        proc = subprocess.run([sys.executable, "-m", "neurosim.cli", *argv], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=setup)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"hang: `neurosim {' '.join(argv)}` still running after {timeout} s\n"
                    f"stderr: {(err.stderr or b'')[-2000:]!r}")
    return Result(proc.returncode, proc.stdout, proc.stderr, argv)


# --- judging ------------------------------------------------------------------------------------

def _sha256(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def snapshot(root) -> dict:
    """Every entry under ``root`` (and root itself): files as (size, sha256, mode), directories
    and special files as their mode, links as their target. Nothing is followed or opened but
    regular files."""
    root = Path(root)
    entries = {".": ("dir", stat.S_IMODE(os.lstat(root).st_mode))}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st_ = os.lstat(path)
            mode = stat.S_IMODE(st_.st_mode)
            if stat.S_ISLNK(st_.st_mode):
                entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st_.st_mode):
                entries[rel] = ("dir", mode)
            elif stat.S_ISREG(st_.st_mode):
                entries[rel] = ("file", st_.st_size, _sha256(path), mode)
            else:
                entries[rel] = ("special", stat.S_IFMT(st_.st_mode), mode)
    return entries


def snapshot_diff(before: dict, after: dict) -> list[str]:
    lines = [f"added {k}" for k in sorted(after.keys() - before.keys())]
    lines += [f"removed {k}" for k in sorted(before.keys() - after.keys())]
    lines += [f"changed {k}: {before[k]} -> {after[k]}"
              for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return lines


def leftovers(root) -> list[str]:
    """Half-written outputs: ``.NAME.tmp.PID.*`` and ``.NAME.old.PID.*`` entries."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if LEFTOVER.match(n)]
    return found


def _names(blame) -> list[str]:
    """What a message may use to name each thing at fault: a Path by its path or file name, an
    option as given."""
    names = []
    for b in blame:
        names.append(str(b))
        if isinstance(b, Path) and b.name:
            names.append(b.name)
    return names


def assert_clean_error(result: Result, command: str, blame=()) -> str:
    """Exit 2, no traceback, one stderr line ``neurosim CMD: error: WHERE: WHAT`` naming one of
    ``blame`` (files as Path, options as str). Returns the line."""
    assert result.rc == 2, f"expected exit 2, got {result.rc}\n{result}"
    assert "Traceback" not in result.out + result.err, f"traceback in the output\n{result}"
    lines = result.err.rstrip("\n").split("\n") if result.err.strip() else []
    assert len(lines) == 1, f"expected ONE line on stderr, got {len(lines)}\n{result}"
    line = lines[0]
    prefix = f"neurosim {command}" if command else "neurosim"
    assert re.fullmatch(rf"{re.escape(prefix)}: error: \S.*?: \S.*", line), \
        f"not of the form '{prefix}: error: <FILE or option>: <what>'\n{result}"
    names = _names(blame)
    assert not names or any(n in line for n in names), \
        f"the message names none of {names}\n{result}"
    return line


def strict_json(path):
    return json.loads(Path(path).read_text(), parse_constant=lambda c: pytest.fail(
        f"{path}: not strict JSON: {c}"))


def _under(rel: str, top: str) -> bool:
    return top == "." or rel == top or rel.startswith(top + os.sep)


def check(argv, capfd, work, *, expect=2, blame=(), out=None, notes=(), command=None,
          cwd=None) -> Result:
    """Run ``argv`` in ``cwd`` (default ``work``) and judge it by the files under ``work`` (see
    the module docstring). ``expect``: 2, 0 or (0, 2); ``blame``: files (Path) and options
    (str) the error must name; ``out``: the --out of the command (relative to ``work``);
    ``notes``: regular expressions summary.json's notes must match on exit 0."""
    expect = (expect,) if isinstance(expect, int) else tuple(expect)
    command = str(argv[0]) if command is None else command
    work = Path(work)
    out = None if out is None else Path(work, out)
    existed = out is not None and os.path.lexists(out)
    before = snapshot(work)
    result = run(argv, capfd, cwd or work)
    after = snapshot(work)
    assert result.rc in expect, f"expected exit {' or '.join(map(str, expect))}, got " \
                                f"{result.rc}\n{result}"
    assert "Traceback" not in result.out + result.err, f"traceback in the output\n{result}"
    left = leftovers(work)
    assert not left, f"half-written leftovers {left}\n{result}"
    if result.rc == 2:
        assert_clean_error(result, command, blame)
        changed = snapshot_diff(before, after)
        assert not changed, f"a failed command changed files: {changed[:10]}\n{result}"
        assert existed or out is None or not os.path.lexists(out), \
            f"--out {out} exists after a failed run\n{result}"
        return result
    tree = None if out is None else os.path.relpath(out, work)  # what --out may hold
    parents = set() if tree is None else {str(p) for p in Path(tree).parents}  # may appear

    def outside(snap):  # and the leftovers of a killed run may be cleaned away
        return {k: v for k, v in snap.items()
                if not (tree is not None and _under(k, tree)) and k not in parents
                and not any(LEFTOVER.match(part) for part in Path(k).parts)}
    changed = snapshot_diff(outside(before), outside(after))
    assert not changed, f"files outside --out changed: {changed[:10]}\n{result}"
    if out is not None and out.is_dir():
        for path in out.rglob("*.json"):
            strict_json(path)
    if notes:
        summary = strict_json(out / "summary.json")
        for pattern in notes:
            assert any(re.search(pattern, n) for n in summary.get("notes", [])), \
                f"no note matching {pattern!r} in {summary.get('notes')}\n{result}"
    return result


# --- building inputs ----------------------------------------------------------------------------

@contextlib.contextmanager
def fresh_dir(tmp_path):
    """A new directory per hypothesis example (tmp_path is shared by the examples)."""
    path = Path(tempfile.mkdtemp(dir=tmp_path))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def copy_model(work, name: str = "fmnist-copy") -> Path:
    dest = Path(work) / name
    shutil.copytree(MODEL, dest)
    return dest


@cache
def _pristine_manifest_text() -> str:
    return (MODEL / "manifest.yaml").read_text()


def manifest() -> dict:
    return yaml.safe_load(_pristine_manifest_text())


@cache
def _pristine_weights() -> dict:
    with np.load(MODEL / "weights.npz") as npz:
        return {k: npz[k] for k in npz.files}


def weights() -> dict:
    return {k: v.copy() for k, v in _pristine_weights().items()}


@cache
def _images() -> tuple:
    with np.load(MODEL / "samples.npz") as npz:
        return npz["images"][:6].copy(), npz["labels"][:6].astype(np.int64)


def images(n: int = 6):
    x, y = _images()
    return x[:n].copy(), y[:n].copy()


def write_manifest(model: Path, data) -> Path:
    path = model / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_weights(model: Path, arrays: dict, data: dict | None = None, sha: bool = True) -> Path:
    """weights.npz from ``arrays``; the manifest's checksum follows it (``sha``) so that the
    loader gets past the checksum to the arrays."""
    path = model / "weights.npz"
    np.savez_compressed(path, **arrays)
    data = manifest() if data is None else data
    if sha:
        data["weights_sha256"] = _sha256(path)
    write_manifest(model, data)
    return path


def write_bytes_weights(model: Path, raw: bytes) -> Path:
    """weights.npz holding ``raw``, with the manifest's checksum updated to match."""
    path = model / "weights.npz"
    path.write_bytes(raw)
    data = manifest()
    data["weights_sha256"] = hashlib.sha256(raw).hexdigest()
    write_manifest(model, data)
    return path


def npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def set_path(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def del_path(data, path):
    for key in path[:-1]:
        data = data[key]
    del data[path[-1]]


def all_paths(data, prefix=(), skip=()) -> list[tuple]:
    """Every key path in nested dicts and lists (sections and leaves)."""
    paths = []
    items = data.items() if isinstance(data, dict) else enumerate(data) \
        if isinstance(data, list) else ()
    for key, value in items:
        path = prefix + (key,)
        paths.append(path)
        if key not in skip:
            paths += all_paths(value, path, skip)
    return paths


def mutate(data, path, op: str, value):
    """Apply one mutation: set the value, delete the key, or add an unknown key beside it."""
    if op == "set":
        set_path(data, path, value)
    elif op == "delete":
        del_path(data, path)
    else:
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict):
            parent["unexpected_key"] = value
        else:
            parent.append(value)
    return data


def flip(raw: bytes, flips) -> bytes:
    data = bytearray(raw)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    return bytes(data)


@cache
def _profile_text() -> str:
    return PROFILE.read_text()


def profile() -> dict:
    return yaml.safe_load(_profile_text())


def write_profile(work, data, name: str = "hw.yaml") -> Path:
    path = Path(work) / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False,
                                                                      allow_unicode=True))
    return path


# Values substituted into fields: wrong types, signs, magnitudes, NaN/inf, odd text.
NASTY = st.one_of(
    st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.sampled_from([0, -1, 1, 2, 255, 256, 1024, 1025, 2 ** 24 + 1, 2 ** 31, 2 ** 63, 10 ** 12,
                     2 ** 64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.5, -0.0, 1e308]),
    st.booleans(), st.none(),
    st.text(max_size=12),
    st.sampled_from(["", " ", "1e999 pJ", "nan pJ", "-1 pJ", "1 pW", "200 mhz", "0 Hz",
                     "1e30 Hz", "16 KiB", "8", "../x", "a/b", "/etc/passwd", "\x00", "\u202e"]),
    st.lists(st.integers(min_value=-3, max_value=70), max_size=4),
    st.dictionaries(st.sampled_from(["8", "16", "x", "bits", "model"]),
                    st.integers(min_value=-1, max_value=40), max_size=2),
)
OPS = st.sampled_from(["set", "set", "set", "delete", "unknown"])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished run directory (simulate --out), copied into a case before it is read."""
    path = tmp_path_factory.mktemp("runs") / "run"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["simulate", str(MODEL), *FAST, "--out", str(path)]) == 0
    return path


# =================================================================================================
# command-line arguments
# =================================================================================================

SIMULATE_OPTIONS = [
    # (id, arguments after FAST, option the message must name)
    ("T-zero", ["-T", "0"], "-T"),
    ("T-negative", ["-T", "-1"], "-T"),
    ("T-1025", ["-T", "1025"], "-T"),
    ("T-100000", ["-T", "100000"], "-T"),
    ("T-float", ["-T", "1.5"], "-T"),
    ("T-text", ["-T", "four"], "-T"),
    ("T-empty", ["-T", ""], "-T"),
    ("T-exponent", ["-T", "1e3"], "-T"),
    ("T-40-digits", ["-T", "9" * 40], "-T"),
    ("T-no-value", ["-T"], "-T"),
    ("N-zero", ["-N", "0"], "-N"),
    ("N-256", ["-N", "256"], "-N"),
    ("N-negative", ["-N", "-4"], "-N"),
    ("N-float", ["-N", "2.0"], "-N"),
    ("N-nan", ["-N", "nan"], "-N"),
    ("seed-negative", ["--seed", "-1"], "--seed"),
    ("seed-float", ["--seed", "0.5"], "--seed"),
    ("seed-text", ["--seed", "x"], "--seed"),
    ("samples-zero", ["--samples", "0"], "--samples"),
    ("samples-negative", ["--samples", "-3"], "--samples"),
    ("samples-float", ["--samples", "2.5"], "--samples"),
    ("samples-inf", ["--samples", "inf"], "--samples"),
    ("engine-unknown", ["--engine", "gpu"], "--engine"),
    ("add-mode-unknown", ["--add-mode", "sum"], "--add-mode"),
    ("max-memory-zero", ["--max-memory", "0"], "--max-memory"),
    ("max-memory-negative", ["--max-memory", "-1MB"], "--max-memory"),
    ("max-memory-text", ["--max-memory", "lots"], "--max-memory"),
    ("max-memory-unknown-unit", ["--max-memory", "1 XB"], "--max-memory"),
    ("max-memory-nan", ["--max-memory", "nan"], "--max-memory"),
    ("max-memory-inf", ["--max-memory", "inf GiB"], "--max-memory"),
    ("max-memory-1e400", ["--max-memory", "1e400"], "--max-memory"),
    ("max-memory-1MB-refuses-the-work", ["--max-memory", "1MB"], "--max-memory"),
    ("max-memory-1MB-T1024", ["--max-memory", "1MB", "-T", "1024"], "--max-memory"),
    ("max-memory-1KB-samples-1e9", ["--max-memory", "1KB", "--samples", "1000000000"],
     "--max-memory"),
    ("unknown-option", ["--bogus"], "--bogus"),
    ("add-mode-no-value", ["--add-mode"], "--add-mode"),
]


@pytest.mark.parametrize("extra,option", [c[1:] for c in SIMULATE_OPTIONS],
                         ids=[c[0] for c in SIMULATE_OPTIONS])
def test_simulate_option(tmp_path, capfd, extra, option):
    model = copy_model(tmp_path)
    check(["simulate", model, *FAST, *extra], capfd, tmp_path, blame=[option])


def test_samples_beyond_the_input_runs_all_with_a_note(tmp_path, capfd):
    model = copy_model(tmp_path)
    x, y = images(6)
    small = npz(tmp_path / "six.npz", images=x, labels=y)
    check(["simulate", model, "--input", small, *FAST, "--samples", "1000000000", "--out", "run"],
          capfd, tmp_path, expect=0, out="run", notes=[r"--samples 1000000000"])


def test_samples_beyond_the_shipped_samples_runs_all_500(tmp_path, capfd):
    model = copy_model(tmp_path)
    result = check(["simulate", model, *FAST, "--samples", "1000000000"], capfd, tmp_path,
                   expect=0)
    assert not result.err, result


def test_T_1024_is_accepted(tmp_path, capfd):
    model = copy_model(tmp_path)
    check(["simulate", model, *FAST, "--samples", "1", "-T", "1024"], capfd, tmp_path, expect=0)


# (id, argv with {m} the model copy and {w} the case directory, expected exit, what is named)
OTHER_ARGUMENTS = [
    ("simulate-no-model", ["simulate"], 2, ["model"]),
    ("simulate-missing-model", ["simulate", "{w}/nope", *FAST], 2, [Path("nope")]),
    ("simulate-model-is-a-file", ["simulate", "{m}/manifest.yaml", *FAST], 2,
     [Path("manifest.yaml")]),
    ("simulate-model-empty-dir", ["simulate", "{w}/empty", *FAST], 2, [Path("empty")]),
    ("simulate-input-missing", ["simulate", "{m}", "--input", "{w}/none.npz", *FAST], 2,
     [Path("none.npz")]),
    ("simulate-input-dir", ["simulate", "{m}", "--input", "{w}/empty", *FAST], 2,
     [Path("empty")]),
    ("simulate-input-txt", ["simulate", "{m}", "--input", "{w}/notes.txt", *FAST], 2,
     [Path("notes.txt")]),
    ("simulate-hw-missing", ["simulate", "{m}", "--hw", "{w}/none.yaml", *FAST], 2,
     [Path("none.yaml")]),
    ("simulate-hw-dir", ["simulate", "{m}", "--hw", "{w}/empty", *FAST], 2, [Path("empty")]),
    ("simulate-hw-is-the-manifest", ["simulate", "{m}", "--hw", "{m}/manifest.yaml", *FAST], 2,
     [Path("manifest.yaml")]),
    ("inspect-missing", ["inspect", "{w}/nope"], 2, [Path("nope")]),
    ("inspect-hw-missing", ["inspect", "{m}", "--hw", "{w}/none.yaml"], 2, [Path("none.yaml")]),
    ("inspect-unknown-option", ["inspect", "{m}", "--samples", "4"], 2, ["--samples"]),
    ("profiles-missing", ["profiles", "{w}/none.yaml"], 2, [Path("none.yaml")]),
    ("profiles-empty-dir", ["profiles", "{w}/empty"], 2, [Path("empty")]),
    ("profiles-unknown-option", ["profiles", "--bogus"], 2, ["--bogus"]),
    ("report-missing", ["report", "{w}/nope", "--quiet"], 2, [Path("nope")]),
    ("report-a-file", ["report", "{w}/notes.txt", "--quiet"], 2, [Path("notes.txt")]),
    ("report-empty-dir", ["report", "{w}/empty", "--quiet"], 2, [Path("empty")]),
    ("report-a-model", ["report", "{m}", "--out", "{w}/r", "--quiet"], 2,
     [Path("fmnist-copy")]),
    ("compare-missing", ["compare", "{w}/nope", "--quiet"], 2, [Path("nope")]),
    ("compare-no-runs", ["compare"], 2, ["DIR"]),
    ("sweep-no-out", ["sweep", "{m}"], 2, ["--out"]),
    ("sweep-N-zero", ["sweep", "{m}", "-N", "0", "--out", "{w}/s"], 2, ["-N"]),
    ("sweep-N-text", ["sweep", "{m}", "-N", "a", "--out", "{w}/s"], 2, ["-N"]),
    ("sweep-N-reversed", ["sweep", "{m}", "-N", "8-1", "--out", "{w}/s"], 2, ["-N"]),
    ("sweep-N-256", ["sweep", "{m}", "-N", "256", "--samples", "2", "--jobs", "1", "--no-float",
                     "--engine", "reference", "--quiet", "--out", "{w}/s"], 2, ["-N"]),
    ("sweep-T-2000", ["sweep", "{m}", "-T", "2000", "--samples", "2", "--jobs", "1",
                      "--no-float", "--engine", "reference", "--quiet", "--out", "{w}/s"], 2,
     ["-T"]),
    ("sweep-T-empty-item", ["sweep", "{m}", "-T", "1,,2", "--out", "{w}/s"], 2, ["-T"]),
    ("sweep-jobs-zero", ["sweep", "{m}", "--jobs", "0", "--out", "{w}/s"], 2, ["--jobs"]),
    ("sweep-samples-zero", ["sweep", "{m}", "--samples", "0", "--out", "{w}/s"], 2,
     ["--samples"]),
    ("sweep-seed-negative", ["sweep", "{m}", "--seed", "-1", "--out", "{w}/s"], 2, ["--seed"]),
    ("sweep-missing-model", ["sweep", "{w}/nope", "--out", "{w}/s"], 2, [Path("nope")]),
    ("sweep-hw-missing", ["sweep", "{m}", "--hw", "{w}/none.yaml", "--out", "{w}/s"], 2,
     [Path("none.yaml")]),
    ("import-nir-missing", ["import-nir", "{w}/none.nir", "-o", "{w}/imp"], 2,
     [Path("none.nir")]),
    ("import-nir-no-out", ["import-nir", "{w}/none.nir"], 2, ["-o"]),
    ("import-nir-dialect-unknown", ["import-nir", "{w}/none.nir", "--dialect", "keras", "-o",
                                    "{w}/imp"], 2, ["--dialect"]),
    ("export-nir-missing-model", ["export-nir", "{w}/nope", "-o", "{w}/x.nir"], 2,
     [Path("nope")]),
    ("export-nir-no-out", ["export-nir", "{m}"], 2, ["-o"]),
    ("paper-tables-hw-missing", ["paper-tables", "--hw", "{w}/none.yaml", "--out",
                                 "{w}/t.md"], 2, [Path("none.yaml")]),
    ("paper-tables-samples-zero", ["paper-tables", "--hw", str(PROFILE), "--code-hw", "",
                                   "--models", "{w}/empty", "--samples", "0", "--out",
                                   "{w}/t.md"], 2, ["--samples"]),
    ("train-no-arch", ["train", "--dataset", "fashion-mnist", "--out", "{w}/t"], 2, ["--arch"]),
    ("train-T-zero", ["train", "--arch", "small", "--dataset", "fashion-mnist", "-T", "0",
                      "--data-root", "{w}/none", "--cache", "{w}/none", "--out", "{w}/t"], 2,
     ["-T", "--timesteps"]),
    ("train-T-100000", ["train", "--arch", "small", "--dataset", "fashion-mnist", "-T",
                        "100000", "--data-root", "{w}/none", "--cache", "{w}/none", "--out",
                        "{w}/t"], 2, ["-T", "--timesteps"]),
    ("train-N-256", ["train", "--arch", "small", "--dataset", "fashion-mnist", "-N", "256",
                     "--data-root", "{w}/none", "--cache", "{w}/none", "--out", "{w}/t"], 2,
     ["-N", "--levels"]),
    ("train-width-nan", ["train", "--arch", "small", "--dataset", "fashion-mnist", "--width",
                         "nan", "--data-root", "{w}/none", "--cache", "{w}/none", "--out",
                         "{w}/t"], 2, ["--width"]),
    ("train-lr-nan", ["train", "--arch", "small", "--dataset", "fashion-mnist", "--lr", "nan",
                      "--data-root", "{w}/none", "--cache", "{w}/none", "--out", "{w}/t"], 2,
     ["--lr"]),
    ("train-alpha-inf", ["train", "--arch", "small", "--dataset", "fashion-mnist", "--alpha",
                         "inf", "--data-root", "{w}/none", "--cache", "{w}/none", "--out",
                         "{w}/t"], 2, ["--alpha"]),
    ("unknown-command", ["simulat", "{m}"], 2, ["simulat"]),
]


@pytest.mark.parametrize("argv,expect,blame", [c[1:] for c in OTHER_ARGUMENTS],
                         ids=[c[0] for c in OTHER_ARGUMENTS])
def test_command_arguments(tmp_path, capfd, argv, expect, blame):
    model = copy_model(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("a user's notes\n")
    argv = [a.format(m=model, w=tmp_path) for a in argv]
    command = "" if argv[0] == "simulat" else argv[0]  # an unknown command: "neurosim: error:"
    check(argv, capfd, tmp_path, expect=expect, blame=blame, command=command)


# =================================================================================================
# --out targets
# =================================================================================================

def _user_dir(work) -> Path:
    d = Path(work) / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("a user's file\n")
    return d


def _marked(work, kind: str) -> Path:
    d = Path(work) / f"old_{kind}"
    d.mkdir()
    (d / ".neurosim-run").write_text(json.dumps({"format": "neurosim-run", "version": 1,
                                                 "kind": kind, "command": "neurosim"}) + "\n")
    return d


def _setup_out(work, target: str) -> tuple[str, Path | None]:
    """Build the --out target named ``target`` in ``work``: (the --out argument, the path)."""
    work = Path(work)
    (work / "notes.txt").write_text("a user's notes\n")
    if target == "user-dir":
        return "mine", _user_dir(work)
    if target == "file":
        return "notes.txt", work / "notes.txt"
    if target == "dot":
        return ".", work
    if target == "dotdot":
        (work / "sub").mkdir()
        return "..", work
    if target == "under-a-file":
        return "notes.txt/run", work / "notes.txt" / "run"
    if target == "unwritable-fs":
        return str(UNWRITABLE / "neurosim-fuzz-run"), UNWRITABLE / "neurosim-fuzz-run"
    if target == "report-dir":
        d = _marked(work, "report")
        return d.name, d
    if target == "corrupt-marker":
        d = work / "halfmarked"
        d.mkdir()
        (d / ".neurosim-run").write_text("{not json")
        return d.name, d
    if target == "symlink-to-dir":
        d = _user_dir(work)
        (work / "mylink").symlink_to(d)
        return "mylink", work / "mylink"
    if target == "dangling-symlink":
        (work / "dangling").symlink_to(work / "nowhere")
        return "dangling", work / "dangling"
    if target == "dev-null":
        return "/dev/null", Path("/dev/null")
    if target == "empty-string":
        return "", None
    if target == "name-too-long":
        return "r" * 300, work / ("r" * 300)
    if target == "model-dir":
        return "fmnist-copy", work / "fmnist-copy"
    if target == "root":
        return "/", Path("/")
    raise ValueError(target)


OUT_REFUSED = ["user-dir", "file", "dot", "dotdot", "under-a-file", "unwritable-fs",
               "report-dir", "corrupt-marker", "symlink-to-dir", "dangling-symlink", "dev-null",
               "empty-string", "name-too-long", "model-dir", "root"]


@pytest.mark.parametrize("target", OUT_REFUSED)
def test_simulate_out_refused(tmp_path, capfd, target):
    model = copy_model(tmp_path)
    arg, path = _setup_out(tmp_path, target)
    cwd = tmp_path / "sub" if target == "dotdot" else tmp_path
    blame = [path, arg] if path is not None else ["--out"]  # ("choose a new --out" is no name)
    check(["simulate", model, *FAST, "--out", arg], capfd, tmp_path, cwd=cwd, blame=blame,
          out=Path(cwd, arg))


@pytest.mark.parametrize("target", ["file", "under-a-file", "unwritable-fs", "dev-null"])
def test_simulate_out_refused_even_with_force(tmp_path, capfd, target):
    model = copy_model(tmp_path)
    arg, path = _setup_out(tmp_path, target)
    check(["simulate", model, *FAST, "--out", arg, "--force"], capfd, tmp_path,
          blame=[path, arg])


def test_simulate_force_writes_into_a_user_dir_and_deletes_nothing(tmp_path, capfd):
    model = copy_model(tmp_path)
    mine = _user_dir(tmp_path)
    before = snapshot(mine)
    check(["simulate", model, *FAST, "--out", "mine", "--force"], capfd, tmp_path, expect=0,
          out="mine")
    after = snapshot(mine)
    assert after["thesis.tex"] == before["thesis.tex"]
    assert (mine / "summary.json").is_file()
    assert not (mine / ".neurosim-run").exists(), "marked a user's directory as neurosim's"


def test_simulate_force_into_the_model_dir_keeps_the_model(tmp_path, capfd):
    model = copy_model(tmp_path)
    before = {k: v for k, v in snapshot(model).items() if k != "."}
    check(["simulate", model, *FAST, "--out", model.name, "--force"], capfd, tmp_path,
          expect=0, out=model.name)
    after = snapshot(model)
    assert all(after.get(k) == v for k, v in before.items()), "a model file changed"


def test_simulate_force_refuses_a_directory_where_a_file_goes(tmp_path, capfd):
    model = copy_model(tmp_path)
    mine = _user_dir(tmp_path)
    (mine / "summary.json").mkdir()
    check(["simulate", model, *FAST, "--out", "mine", "--force"], capfd, tmp_path,
          blame=[mine / "summary.json"], out="mine")


def test_simulate_force_refuses_a_file_where_a_directory_goes(tmp_path, capfd):
    model = copy_model(tmp_path)
    mine = _user_dir(tmp_path)
    (mine / "figures").write_text("not a directory\n")
    check(["simulate", model, *FAST, "--out", "mine", "--force"], capfd, tmp_path,
          blame=[mine / "figures"], out="mine")


def test_simulate_replaces_its_own_run_dir(tmp_path, capfd):
    model = copy_model(tmp_path)
    old = _marked(tmp_path, "run")
    check(["simulate", model, *FAST, "--out", old.name], capfd, tmp_path, expect=0, out=old.name)
    assert (old / "summary.json").is_file()


def test_simulate_out_with_new_parents(tmp_path, capfd):
    model = copy_model(tmp_path)
    check(["simulate", model, *FAST, "--out", "a/b/run"], capfd, tmp_path, expect=0,
          out="a/b/run")


def test_simulate_out_read_only_parent(tmp_path, capfd):
    """chmod 555 stops a normal user; root writes anyway, so then the run must succeed."""
    model = copy_model(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if ROOT:
            check(["simulate", model, *FAST, "--out", "ro/run"], capfd, tmp_path, expect=0,
                  out="ro/run")
        else:
            check(["simulate", model, *FAST, "--out", "ro/run"], capfd, tmp_path,
                  blame=[ro / "run", "ro/run"], out="ro/run")
    finally:
        ro.chmod(0o755)


def test_simulate_failure_leaves_no_out(tmp_path, capfd):
    model = copy_model(tmp_path)
    bad = npz(tmp_path / "bad.npz", images=np.zeros((2, 1, 27, 28), np.uint8),
              labels=np.zeros(2, np.int64))
    check(["simulate", model, "--input", bad, *FAST, "--out", "run"], capfd, tmp_path,
          blame=[bad], out="run")


def test_simulate_failure_keeps_the_previous_run(tmp_path, capfd, run_dir):
    model = copy_model(tmp_path)
    shutil.copytree(run_dir, tmp_path / "run")
    bad = npz(tmp_path / "bad.npz", images=np.zeros((2, 1, 28, 28), np.uint8),
              labels=np.full(2, 10))
    check(["simulate", model, "--input", bad, *FAST, "--out", "run"], capfd, tmp_path,
          blame=[bad], out="run")


@pytest.mark.parametrize("target", ["user-dir", "file", "under-a-file", "unwritable-fs"])
def test_import_nir_out_refused(tmp_path, capfd, target):
    nir_file, sidecar = _nir_copy(tmp_path)
    arg, path = _setup_out(tmp_path, target)
    check(["import-nir", nir_file, "--sidecar", sidecar, "-o", arg], capfd, tmp_path,
          blame=[path, arg],
          out=None if target in ("dot", "unwritable-fs") else arg)


def test_import_nir_replaces_its_own_model_dir(tmp_path, capfd):
    nir_file, sidecar = _nir_copy(tmp_path)
    old = _marked(tmp_path, "model")
    check(["import-nir", nir_file, "--sidecar", sidecar, "-o", old.name], capfd, tmp_path,
          expect=0, out=old.name)
    assert (old / "manifest.yaml").is_file()


@pytest.mark.parametrize("target", ["file", "user-dir", "under-a-file", "unwritable-fs",
                                    "sidecar-is-a-user-file"])
def test_export_nir_out_refused(tmp_path, capfd, target):
    model = copy_model(tmp_path)
    (tmp_path / "notes.txt").write_text("a user's notes\n")
    if target == "sidecar-is-a-user-file":
        argv, blame = ["-o", "x.nir", "--sidecar", "notes.txt"], [tmp_path / "notes.txt"]
    elif target == "file":
        argv, blame = ["-o", "notes.txt"], [tmp_path / "notes.txt"]
    elif target == "user-dir":
        argv, blame = ["-o", str(_user_dir(tmp_path))], [tmp_path / "mine"]
    elif target == "under-a-file":
        argv, blame = ["-o", "notes.txt/x.nir"], [tmp_path / "notes.txt", Path("x.nir")]
    else:
        argv, blame = ["-o", str(UNWRITABLE / "x.nir")], [UNWRITABLE / "x.nir"]
    check(["export-nir", model, *argv], capfd, tmp_path, blame=blame)


@pytest.mark.parametrize("target", ["file", "run-itself", "dot", "user-dir"])
def test_report_out_refused(tmp_path, capfd, run_dir, target):
    run_copy = tmp_path / "run-copy"
    shutil.copytree(run_dir, run_copy)
    if target == "run-itself":
        arg, path = run_copy.name, run_copy
    else:
        arg, path = _setup_out(tmp_path, target)
    check(["report", run_copy, "--out", arg, "--quiet"], capfd, tmp_path,
          blame=[path, arg], out=None if target == "dot" else arg)


@pytest.mark.parametrize("target", ["file", "run-itself", "user-dir"])
def test_compare_out_refused(tmp_path, capfd, run_dir, target):
    run_copy = tmp_path / "run-copy"
    shutil.copytree(run_dir, run_copy)
    arg, path = (run_copy.name, run_copy) if target == "run-itself" else \
        _setup_out(tmp_path, target)
    check(["compare", run_copy, "--out", arg, "--quiet"], capfd, tmp_path,
          blame=[path, arg], out=arg)


@pytest.mark.parametrize("target", ["file", "user-dir", "model-dir"])
def test_sweep_out_refused(tmp_path, capfd, target):
    copy_model(tmp_path)
    arg, path = _setup_out(tmp_path, target)
    check(["sweep", tmp_path / "fmnist-copy", "--samples", "2", "--jobs", "1", "--no-float", "--quiet",
           "--engine", "reference", "--out", arg], capfd, tmp_path, blame=[path, arg],
          out=arg)


@pytest.mark.parametrize("target", ["user-file", "dir"])
def test_paper_tables_out_refused(tmp_path, capfd, target):
    (tmp_path / "table.md").write_text("a user's table\n")
    (tmp_path / "mine").mkdir()
    arg = "table.md" if target == "user-file" else "mine"
    check(["paper-tables", "--out", arg], capfd, tmp_path, blame=[tmp_path / arg, arg])


# =================================================================================================
# hardware profiles
# =================================================================================================

BOMB_LEVELS = 9


def alias_bomb(key: str = "lol", levels: int = BOMB_LEVELS) -> str:
    """'Billion laughs': ``levels`` levels of 9 aliases each (9**9 = 387M values)."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"{key}: *a{levels}")
    return "\n".join(lines) + "\n"


PROFILE_TEXTS = [
    ("empty", ""),
    ("comment-only", "# nothing here\n"),
    ("top-level-list", "- name\n- memories\n"),
    ("top-level-scalar", "42\n"),
    ("null-document", "~\n"),
    ("unclosed-bracket", "name: [paper\nmemories: {}\n"),
    ("tab-indent", "name: x\nmemories:\n\tweights: {}\n"),
    ("bad-indent", "name: x\n  memories: {}\n operations: 1\n"),
    ("python-object-apply", "name: !!python/object/apply:os.system ['touch pwned']\n"),
    ("python-name", "name: !!python/name:os.system\n"),
    ("python-object-new", "name: !!python/object/new:builtins.dict [[]]\n"),
    ("custom-tag", "name: !include other.yaml\n"),
    ("binary-name", "name: !!binary AAAA\nmemories: {}\noperations: {}\n"),
    ("bad-timestamp", "name: x\nversion: 2001-13-45\n"),
    ("undefined-alias", "name: *nowhere\n"),
    ("merge-of-a-scalar", "base: &b 3\nname: x\n<<: *b\n"),
    ("deep-nesting-200", "name: x\nnotes: " + "[" * 200 + "]" * 200 + "\n"),
    ("two-documents", "name: a\n---\nname: b\n"),
]


@pytest.mark.parametrize("text", [c[1] for c in PROFILE_TEXTS], ids=[c[0] for c in PROFILE_TEXTS])
def test_profile_text(tmp_path, capfd, text):
    model = copy_model(tmp_path)
    hw = write_profile(tmp_path, text)
    check(["inspect", model, "--hw", hw], capfd, tmp_path, blame=[hw])


@pytest.mark.parametrize("variant", ["duplicate-top-key", "duplicate-nested-key"])
def test_profile_duplicate_keys(tmp_path, capfd, variant):
    model = copy_model(tmp_path)
    text = _profile_text()
    if variant == "duplicate-top-key":
        text += "\nfifo_depth: 10\n"
    else:
        text = text.replace("memories:\n", "memories:\n  fifo: {energy: horowitz45_linear}\n", 1)
    hw = write_profile(tmp_path, text)
    check(["inspect", model, "--hw", hw], capfd, tmp_path, blame=[hw])


@pytest.mark.parametrize("variant", ["not-utf8", "latin1-comment", "utf16", "nul-bytes",
                                     "bom-then-valid", "crlf-valid", "17MB"])
def test_profile_bytes(tmp_path, capfd, variant):
    model = copy_model(tmp_path)
    hw = tmp_path / "hw.yaml"
    text = _profile_text()
    expect = 2
    if variant == "not-utf8":
        hw.write_bytes(bytes(range(128, 256)) * 4)
    elif variant == "latin1-comment":
        hw.write_bytes(text.encode() + "# caf\xe9\n".encode("latin-1"))
    elif variant == "utf16":
        hw.write_bytes(text.encode("utf-16"))
    elif variant == "nul-bytes":
        hw.write_bytes(text.encode()[:500] + b"\0" * 20 + text.encode()[500:])
    elif variant == "bom-then-valid":
        hw.write_bytes(b"\xef\xbb\xbf" + text.encode())
        expect = (0, 2)
    elif variant == "crlf-valid":
        hw.write_bytes(text.replace("\n", "\r\n").encode())
        expect = 0
    else:
        hw.write_bytes(text.encode() + b"# padding" + b"x" * (17 * 2 ** 20) + b"\n")
    check(["inspect", model, "--hw", hw], capfd, tmp_path, expect=expect, blame=[hw])


_TABLE = {"model": "table", "points": [["8 KiB", "10 pJ"], ["32 KiB", "20 pJ"]], "source": "t"}
# (id, [(path, value) ... or (path, DELETE)], expected exit)
DELETE = object()
@dataclass(frozen=True)
class Note:
    """Expected: exit 2, or exit 0 with a note matching ``pattern`` in summary.json (the input
    is valid but unusual, and the run must say what it did with it)."""

    pattern: str
PROFILE_FIELDS = [
    ("max-neurons-1e12", [(("core", "max_neurons"), 1000000000000)], 2),
    ("max-neurons-zero", [(("core", "max_neurons"), 0)], 2),
    ("max-neurons-negative", [(("core", "max_neurons"), -1)], 2),
    ("max-neurons-float", [(("core", "max_neurons"), 1.5)], 2),
    ("max-neurons-text", [(("core", "max_neurons"), "many")], 2),
    ("max-neurons-true", [(("core", "max_neurons"), True)], 2),
    ("max-neurons-1-too-small", [(("core", "max_neurons"), 1)], 2),
    ("max-weights-1-too-small", [(("core", "max_weights"), 1)], 2),
    ("max-cores-1-too-few", [(("core", "max_neurons"), 1024), (("core", "max_cores"), 1)], 2),
    ("core-a-list", [(("core",), [1, 2])], 2),
    ("fifo-zero", [(("fifo_depth",), 0)], 2),
    ("fifo-2-40", [(("fifo_depth",), 2 ** 40)], 2),
    ("fifo-nan", [(("fifo_depth",), float("nan"))], 2),
    ("fifo-text", [(("fifo_depth",), "1000")], 2),
    ("packet-events-zero", [(("packet_events",), 0)], 2),
    ("weights-1-bit", [(("widths", "weights"), 1)], 2),
    ("weights-33-bits", [(("widths", "weights"), 33)], 2),
    ("weights-text", [(("widths", "weights"), "16")], 2),
    ("weights-16.0", [(("widths", "weights"), 16.0)], (0, 2)),
    ("potentials-2-bits", [(("widths", "potentials"), 2)], (0, 2)),
    ("headroom-zero", [(("widths", "headroom"), 0)], 2),
    ("add-mode-unknown", [(("add_mode",), "sideways")], 2),
    ("version-2", [(("version",), 2)], 2),
    ("name-missing", [(("name",), DELETE)], 2),
    ("name-a-number", [(("name",), 123)], 2),
    ("name-empty", [(("name",), "")], (0, 2)),
    ("unknown-top-key", [(("colour",), "blue")], 2),
    ("unknown-memory-key", [(("memories", "weights", "colour"), "blue")], 2),
    ("memories-missing", [(("memories",), DELETE)], 2),
    ("memory-weights-missing", [(("memories", "weights"), DELETE)], 2),
    ("memories-a-list", [(("memories",), [])], 2),
    ("memory-bits-zero", [(("memories", "weights", "bits"), 0)], 2),
    ("memory-bits-65", [(("memories", "weights", "bits"), 65)], 2),
    ("memory-bits-nan", [(("memories", "weights", "bits"), float("nan"))], 2),
    ("memory-energy-unknown-model", [(("memories", "weights", "energy"), "nosuch")], 2),
    ("memory-energy-no-source", [(("memories", "weights", "energy"), {"model": "linear"})], 2),
    ("memory-energy-no-model", [(("memories", "weights", "energy"), {"source": "x"})], 2),
    ("memory-fixed-without-entries", [(("memories", "weights", "size"), "fixed")], 2),
    ("memory-size-unknown", [(("memories", "weights", "size"), "huge")], 2),
    ("bank-entries-zero", [(("memories", "weights", "bank_entries"), 0)], 2),
    ("bank-entries-2-40", [(("memories", "weights", "bank_entries"), 2 ** 40)], 2),
    ("per-bit-nan", [(("energy_models", "horowitz45_linear", "per_bit"), float("nan"))], 2),
    ("per-bit-inf", [(("energy_models", "horowitz45_linear", "per_bit"), float("inf"))], 2),
    ("per-bit-negative", [(("energy_models", "horowitz45_linear", "per_bit"), "-1 pJ")], 2),
    ("per-bit-wrong-unit", [(("energy_models", "horowitz45_linear", "per_bit"), "1 pW")], 2),
    ("per-bit-1e999", [(("energy_models", "horowitz45_linear", "per_bit"), "1e999 pJ")], 2),
    ("per-bit-NaN-text", [(("energy_models", "horowitz45_linear", "per_bit"), "NaN pJ")], 2),
    ("energy-model-kind-unknown", [(("energy_models", "horowitz45_linear", "model"), "cubic")], 2),
    ("energy-source-empty", [(("energy_models", "horowitz45_linear", "source"), "  ")], 2),
    ("table-unsorted", [(("energy_models", "t"), dict(_TABLE, points=_TABLE["points"][::-1])),
                        (("memories", "fifo", "energy"), "t")], 2),
    ("table-zero-capacity", [(("energy_models", "t"), dict(_TABLE, points=[[0, "1 pJ"]])),
                             (("memories", "fifo", "energy"), "t")], 2),
    ("table-empty", [(("energy_models", "t"), dict(_TABLE, points=[])),
                     (("memories", "fifo", "energy"), "t")], 2),
    ("table-triples", [(("energy_models", "t"), dict(_TABLE, points=[[1, 2, 3]])),
                       (("memories", "fifo", "energy"), "t")], 2),
    ("table-points-text", [(("energy_models", "t"), dict(_TABLE, points="x")),
                           (("memories", "fifo", "energy"), "t")], 2),
    ("add-energy-empty", [(("operations", "add", "energy"), {})], 2),
    ("add-energy-zero-bits", [(("operations", "add", "energy"), {0: "1 pJ"})], 2),
    ("add-energy-text-key", [(("operations", "add", "energy"), {"eight": "1 pJ"})], 2),
    ("add-energy-bad-value", [(("operations", "add", "energy"), {32: "x"})], 2),
    ("add-energy-nan", [(("operations", "add", "energy"), float("nan"))], 2),
    ("operand-bits-7", [(("operations", "operand_bits"), 7)], 2),
    ("multiply-missing", [(("operations", "multiply"), DELETE)], 2),
    ("add-source-empty", [(("operations", "add", "source"), "")], 2),
    ("clock-zero", [(("timing", "clock"), "0 Hz")], 2),
    ("clock-negative", [(("timing", "clock"), "-1 MHz")], 2),
    ("clock-1e30", [(("timing", "clock"), "1e30 Hz")], 2),
    ("clock-nan", [(("timing", "clock"), float("nan"))], 2),
    ("clock-wrong-unit", [(("timing", "clock"), "200 MJ")], 2),
    ("clock-wrong-case", [(("timing", "clock"), "200 mhz")], 2),
    ("cycles-negative", [(("timing", "cycles_per_event"), -1)], 2),
    ("cycles-2-21", [(("timing", "cycles_per_event"), 2 ** 21)], 2),
    ("static-power-without-source", [(("static",), {"power_per_core": "1 W"})], 2),
    ("noc-topology-unknown", [(("noc", "topology"), "torus")], 2),
    ("noc-mesh-width-zero", [(("noc", "mesh_width"), 0)], 2),
    ("noc-energy-without-source", [(("noc", "energy_per_packet_hop"), "1 pJ"),
                                   (("noc", "source"), "")], 2),
    ("policy-unknown", [(("policies", "visits"), "bogus")], 2),
    ("policy-first-layer-text", [(("policies", "first_layer"), "exclude")], 2),
    ("notes-a-string", [(("notes",), "a note")], 2),
    ("notes-numbers", [(("notes",), [1, 2])], 2),
]


def _apply(data, changes):
    for path, value in changes:
        if value is DELETE:
            del_path(data, path)
        else:
            set_path(data, path, value)
    return data


@pytest.mark.parametrize("changes,expect", [c[1:] for c in PROFILE_FIELDS],
                         ids=[c[0] for c in PROFILE_FIELDS])
def test_profile_field(tmp_path, capfd, changes, expect):
    model = copy_model(tmp_path)
    hw = write_profile(tmp_path, _apply(profile(), changes))
    check(["inspect", model, "--hw", hw], capfd, tmp_path, expect=expect, blame=[hw])


@pytest.mark.parametrize("case", ["max-neurons-1e12", "max-neurons-1-too-small", "per-bit-nan",
                                  "memory-energy-unknown-model"])
def test_profile_field_through_simulate(tmp_path, capfd, case):
    changes, expect = next(c[1:] for c in PROFILE_FIELDS if c[0] == case)
    model = copy_model(tmp_path)
    hw = write_profile(tmp_path, _apply(profile(), changes))
    check(["simulate", model, "--hw", hw, *FAST], capfd, tmp_path, expect=expect, blame=[hw])


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "/tmp/abs", "..", "nul\x00name"])
def test_profile_path_like_name(tmp_path, capfd, name):
    """A profile's name is text, never a path: a run with it writes only inside --out."""
    model = copy_model(tmp_path)
    data = profile()
    data["name"] = name
    hw = write_profile(tmp_path, data)
    check(["simulate", model, "--hw", hw, *FAST, "--out", "run"], capfd, tmp_path,
          expect=(0, 2), blame=[hw], out="run")


PROFILES_COMMAND = [
    ("empty", ""),
    ("unclosed-bracket", "name: [paper\n"),
    ("python-tag", "name: !!python/object/apply:os.system ['touch pwned']\n"),
    ("unknown-key", None),
    ("max-neurons-1e12", None),
]


@pytest.mark.parametrize("case", [c[0] for c in PROFILES_COMMAND])
def test_profiles_command_on_a_bad_profile(tmp_path, capfd, case):
    text = dict(PROFILES_COMMAND)[case]
    if case == "unknown-key":
        data = profile()
        data["colour"] = "blue"
        text = data
    elif case == "max-neurons-1e12":
        text = _apply(profile(), [(("core", "max_neurons"), 1000000000000)])
    hw = write_profile(tmp_path, text)
    check(["profiles", hw], capfd, tmp_path, blame=[hw])


PROFILE_PATHS = all_paths(profile(), skip=("notes",))


@fuzz(140)
@given(path=st.sampled_from(PROFILE_PATHS), op=OPS, value=NASTY)
def test_profile_fuzzed_field(tmp_path, capfd, path, op, value):
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        hw = write_profile(work, mutate(profile(), path, op, value))
        check(["inspect", model, "--hw", hw], capfd, work, expect=(0, 2), blame=[hw])


# =================================================================================================
# model manifests
# =================================================================================================

def _node(data, name):
    return next(n for n in data["graph"] if n["name"] == name)


def _rename_node(data, arrays, old, new):
    for node in data["graph"]:
        if node["name"] == old:
            node["name"] = new
        node["inputs"] = [new if i == old else i for i in node.get("inputs", [])]
    if data["output"] == old:
        data["output"] = new
    for key in list(arrays):
        if key.startswith(old + "/"):
            arrays[new + key[len(old):]] = arrays.pop(key)


def _manifest_case(case: str, data: dict):
    """Mutate the manifest ``data`` for ``case``; None when the case writes text itself."""
    g = data["graph"]
    conv1, bn1, sn1, pool1 = (_node(data, n) for n in ("conv1.conv", "conv1.bn", "conv1",
                                                       "conv1.pool"))
    fc1 = _node(data, "fc1.fc")
    inp = _node(data, "input")
    changes = {
        "format-wrong": lambda: data.update(format="onnx"),
        "format-missing": lambda: data.pop("format"),
        "version-2": lambda: data.update(format_version=2),
        "version-0": lambda: data.update(format_version=0),
        "version-text": lambda: data.update(format_version="1"),
        "version-true": lambda: data.update(format_version=True),
        "name-missing": lambda: data.pop("name"),
        "name-empty": lambda: data.update(name=""),
        "name-300-chars": lambda: data.update(name="n" * 300),
        "name-a-list": lambda: data.update(name=["a"]),
        "timesteps-missing": lambda: data.pop("timesteps"),
        "timesteps-zero": lambda: data.update(timesteps=0),
        "timesteps-negative": lambda: data.update(timesteps=-1),
        "timesteps-1e9": lambda: data.update(timesteps=10 ** 9),
        "timesteps-100000": lambda: data.update(timesteps=100000),
        "timesteps-text": lambda: data.update(timesteps="4"),
        "timesteps-float": lambda: data.update(timesteps=1.5),
        "timesteps-true": lambda: data.update(timesteps=True),
        "timesteps-nan": lambda: data.update(timesteps=float("nan")),
        "output-missing": lambda: data.pop("output"),
        "output-unknown": lambda: data.update(output="nope"),
        "output-a-number": lambda: data.update(output=123),
        "graph-missing": lambda: data.pop("graph"),
        "graph-a-mapping": lambda: data.update(graph={"input": {}}),
        "graph-empty": lambda: data.update(graph=[]),
        "graph-node-a-string": lambda: g.__setitem__(3, "conv1"),
        "provenance-a-list": lambda: data.update(provenance=[1]),
        "node-type-unknown": lambda: conv1.update(type="Conv3d"),
        "node-type-missing": lambda: conv1.pop("type"),
        "node-name-missing": lambda: pool1.pop("name"),
        "node-name-duplicate": lambda: pool1.update(name="conv1"),
        "node-inputs-unknown": lambda: bn1.update(inputs=["nowhere"]),
        "node-inputs-two": lambda: bn1.update(inputs=["conv1.conv", "input"]),
        "node-inputs-a-string": lambda: bn1.update(inputs="conv1.conv"),
        "node-cycle": lambda: conv1.update(inputs=["conv1.pool"]),
        "two-inputs": lambda: g.append(dict(inp, name="input2")),
        "stride-zero": lambda: conv1["attributes"].update(stride=[0, 0]),
        "stride-text": lambda: conv1["attributes"].update(stride="x"),
        "padding-negative": lambda: conv1["attributes"].update(padding=[-1, -1]),
        "padding-1e9": lambda: conv1["attributes"].update(padding=[10 ** 9, 10 ** 9]),
        "conv-unknown-attribute": lambda: conv1["attributes"].update(dilation=[2, 2]),
        "input-shape-2d": lambda: inp["attributes"].update(shape=[28, 28]),
        "input-shape-zero": lambda: inp["attributes"].update(shape=[1, 0, 28]),
        "input-shape-negative": lambda: inp["attributes"].update(shape=[1, -28, 28]),
        "input-shape-absurd": lambda: inp["attributes"].update(shape=[1, 10 ** 5, 10 ** 5]),
        "input-shape-text": lambda: inp["attributes"].update(shape="1x28x28"),
        "input-scale-zero": lambda: inp["attributes"].update(scale=0),
        "input-scale-negative": lambda: inp["attributes"].update(scale=-1.0),
        "input-scale-nan": lambda: inp["attributes"].update(scale=float("nan")),
        "input-scale-inf": lambda: inp["attributes"].update(scale=float("inf")),
        "input-scale-missing": lambda: inp["attributes"].pop("scale"),
        "bn-eps-zero": lambda: bn1["attributes"].update(eps=0),
        "bn-eps-nan": lambda: bn1["attributes"].update(eps=float("nan")),
        "levels-zero": lambda: sn1["attributes"]["neuron"].update(levels=0),
        "levels-256": lambda: sn1["attributes"]["neuron"].update(levels=256),
        "levels-1e9": lambda: sn1["attributes"]["neuron"].update(levels=10 ** 9),
        "levels-float": lambda: sn1["attributes"]["neuron"].update(levels=2.5),
        "vth-nan": lambda: sn1["attributes"]["neuron"].update(vth=float("nan")),
        "vth-zero": lambda: sn1["attributes"]["neuron"].update(vth=0),
        "vth-negative": lambda: sn1["attributes"]["neuron"].update(vth=-1.0),
        "vth-inf": lambda: sn1["attributes"]["neuron"].update(vth=float("inf")),
        "reset-unknown": lambda: sn1["attributes"]["neuron"].update(reset="bounce"),
        "decay-2": lambda: sn1["attributes"]["neuron"].update(decay=2.0),
        "decay-nan": lambda: sn1["attributes"]["neuron"].update(decay=float("nan")),
        "neuron-kind-unknown": lambda: sn1["attributes"]["neuron"].update(kind="hh"),
        "neuron-unknown-key": lambda: sn1["attributes"]["neuron"].update(colour="red"),
        "neuron-a-string": lambda: sn1["attributes"].update(neuron="if"),
        "pool-kernel-zero": lambda: pool1["attributes"].update(kernel=[0, 0]),
        "pool-kernel-too-big": lambda: pool1["attributes"].update(kernel=[64, 64]),
        "arrays-a-list": lambda: conv1.update(arrays=[1]),
        "array-shape-mismatch": lambda: conv1["arrays"]["weight"].update(shape=[8, 1, 3, 4]),
        "array-shape-negative": lambda: conv1["arrays"]["weight"].update(shape=[-8, 1, 3, 3]),
        "array-shape-floats": lambda: conv1["arrays"]["weight"].update(shape=[8.0, 1, 3, 3]),
        "array-shape-text": lambda: conv1["arrays"]["weight"].update(shape="8x1x3x3"),
        "array-shape-bools": lambda: conv1["arrays"]["weight"].update(shape=[True] * 4),
        "array-dtype-int8": lambda: conv1["arrays"]["weight"].update(dtype="int8"),
        "array-dtype-float64": lambda: conv1["arrays"]["weight"].update(dtype="float64"),
        "array-dtype-object": lambda: conv1["arrays"]["weight"].update(dtype="object"),
        "array-dtype-number": lambda: conv1["arrays"]["weight"].update(dtype=16),
        "array-listed-not-stored": lambda: conv1["arrays"].update(bias={"shape": [8],
                                                                        "dtype": "float16"}),
        "array-stored-not-listed": lambda: fc1["arrays"].pop("bias"),
        "declared-29.8GiB-conv": lambda: conv1["arrays"]["weight"].update(
            shape=[8000, 1000, 1000, 1], dtype="float32"),
        "declared-2-64-elements": lambda: fc1["arrays"]["weight"].update(shape=[2 ** 32, 2 ** 32]),
        "checksum-wrong": lambda: data.update(weights_sha256="0" * 64),
        "checksum-a-number": lambda: data.update(weights_sha256=123),
    }
    changes[case]()


MANIFEST_CASES = ["format-wrong", "format-missing", "version-2", "version-0", "version-text",
                  "version-true", "name-missing", "name-empty", "name-300-chars", "name-a-list",
                  "timesteps-missing", "timesteps-zero", "timesteps-negative", "timesteps-1e9",
                  "timesteps-100000", "timesteps-text", "timesteps-float", "timesteps-true",
                  "timesteps-nan", "output-missing", "output-unknown", "output-a-number",
                  "graph-missing", "graph-a-mapping", "graph-empty", "graph-node-a-string",
                  "provenance-a-list", "node-type-unknown", "node-type-missing",
                  "node-name-missing", "node-name-duplicate", "node-inputs-unknown",
                  "node-inputs-two", "node-inputs-a-string", "node-cycle", "two-inputs",
                  "stride-zero", "stride-text", "padding-negative", "padding-1e9",
                  "conv-unknown-attribute", "input-shape-2d", "input-shape-zero",
                  "input-shape-negative", "input-shape-absurd", "input-shape-text",
                  "input-scale-zero", "input-scale-negative", "input-scale-nan",
                  "input-scale-inf", "input-scale-missing", "bn-eps-zero", "bn-eps-nan",
                  "levels-zero", "levels-256", "levels-1e9", "levels-float", "vth-nan",
                  "vth-zero", "vth-negative", "vth-inf", "reset-unknown", "decay-2", "decay-nan",
                  "neuron-kind-unknown", "neuron-unknown-key", "neuron-a-string",
                  "pool-kernel-zero", "pool-kernel-too-big", "arrays-a-list",
                  "array-shape-mismatch", "array-shape-negative", "array-shape-floats",
                  "array-shape-text", "array-shape-bools", "array-dtype-int8",
                  "array-dtype-float64", "array-dtype-object", "array-dtype-number",
                  "array-listed-not-stored", "array-stored-not-listed", "declared-29.8GiB-conv",
                  "declared-2-64-elements", "checksum-wrong", "checksum-a-number"]


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_manifest_field(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    data = manifest()
    _manifest_case(case, data)
    write_manifest(model, data)
    check(["inspect", model], capfd, tmp_path,
          blame=[model / "manifest.yaml", model / "weights.npz"])


@pytest.mark.parametrize("case", ["timesteps-1e9", "levels-1e9", "declared-29.8GiB-conv",
                                  "input-scale-nan", "vth-nan", "padding-1e9"])
def test_manifest_field_through_simulate(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    data = manifest()
    _manifest_case(case, data)
    write_manifest(model, data)
    check(["simulate", model, *FAST, "--out", "run"], capfd, tmp_path,
          blame=[model / "manifest.yaml", model / "weights.npz"], out="run")


MANIFEST_TEXTS = [
    ("empty", ""),
    ("a-list", "- format\n- graph\n"),
    ("a-scalar", "neurosim-model\n"),
    ("python-object-apply", "format: !!python/object/apply:os.system ['touch pwned']\n"),
    ("unclosed-flow", "format: neurosim-model\ngraph: [{name: input\n"),
    ("tab-indent", "format: neurosim-model\ngraph:\n\t- name: input\n"),
    ("not-utf8", None),
    ("duplicate-key", None),
    ("deep-nesting-100", None),
    ("17MB", None),
]


@pytest.mark.parametrize("case", [c[0] for c in MANIFEST_TEXTS])
def test_manifest_text(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    path = model / "manifest.yaml"
    text = dict(MANIFEST_TEXTS)[case]
    if case == "not-utf8":
        path.write_bytes(_pristine_manifest_text().encode() + b"# \xff\xfe\n")
    elif case == "duplicate-key":
        path.write_text(_pristine_manifest_text() + "timesteps: 4\n")
    elif case == "deep-nesting-100":
        path.write_text(_pristine_manifest_text() + "extra: " + "[" * 100 + "]" * 100 + "\n")
    elif case == "17MB":
        path.write_text(_pristine_manifest_text() + "# " + "x" * (17 * 2 ** 20) + "\n")
    else:
        path.write_text(text)
    check(["inspect", model], capfd, tmp_path, blame=[path])


@pytest.mark.parametrize("variant", ["manifest-missing", "manifest-a-dir", "weights-missing",
                                     "weights-a-dir", "model-is-a-symlink-loop"])
def test_model_files_missing(tmp_path, capfd, variant):
    model = copy_model(tmp_path)
    blame = [model / "manifest.yaml", model / "weights.npz"]
    if variant == "manifest-missing":
        (model / "manifest.yaml").unlink()
    elif variant == "manifest-a-dir":
        (model / "manifest.yaml").unlink()
        (model / "manifest.yaml").mkdir()
    elif variant == "weights-missing":
        (model / "weights.npz").unlink()
    elif variant == "weights-a-dir":
        (model / "weights.npz").unlink()
        (model / "weights.npz").mkdir()
    else:
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
        model, blame = tmp_path / "loop", [tmp_path / "loop"]
    check(["inspect", model], capfd, tmp_path, blame=blame)


@pytest.mark.parametrize("name", ["../x", "a/b", "/abs", "..", "x\ny", "con/../../up"])
def test_manifest_path_like_node_names(tmp_path, capfd, name):
    """A node (and so a layer) named like a path: refused, or run with every file written inside
    --out."""
    model = copy_model(tmp_path)
    data, arrays = manifest(), weights()
    _rename_node(data, arrays, "conv1", name)  # a Neuron: its name is a layer name
    _rename_node(data, arrays, "conv1.conv", name + ".conv")  # has arrays: "<name>/weight"
    write_weights(model, arrays, data)
    check(["simulate", model, *FAST, "--out", "run"], capfd, tmp_path, expect=(0, 2),
          blame=[model / "manifest.yaml", model / "weights.npz"], out="run")


@pytest.mark.parametrize("name", ["../x", "a/b"])
def test_export_nir_path_like_node_names(tmp_path, capfd, name):
    model = copy_model(tmp_path)
    data, arrays = manifest(), weights()
    _rename_node(data, arrays, "conv1.conv", name)
    write_weights(model, arrays, data)
    check(["export-nir", model, "-o", "x.nir"], capfd, tmp_path, expect=(0, 2),
          blame=[model, model / "manifest.yaml", Path("x.nir")], out="x.nir")


@pytest.mark.parametrize("model_name", ["../../escaped", "a/b", "/tmp/abs-model"])
def test_manifest_path_like_model_name(tmp_path, capfd, model_name):
    model = copy_model(tmp_path)
    data = manifest()
    data["name"] = model_name
    write_manifest(model, data)
    check(["simulate", model, *FAST, "--out", "run"], capfd, tmp_path, expect=(0, 2),
          blame=[model / "manifest.yaml"], out="run")


def test_output_layer_that_never_fires_runs_with_a_note(tmp_path, capfd):
    """An output Neuron with an unreachable threshold: exit 0, and the run says so."""
    model = copy_model(tmp_path)
    data = manifest()
    neuron = {"kind": "if", "levels": 4, "vth": 1.0e6, "reset": "subtract", "decay": 1.0,
              "barrier": False, "stateless": False}
    data["graph"].append({"name": "fc2.sn", "type": "Neuron", "inputs": ["fc2"],
                          "attributes": {"neuron": neuron}})
    data["output"] = "fc2.sn"
    write_manifest(model, data)
    check(["simulate", model, *FAST, "--out", "run"], capfd, tmp_path, expect=0, out="run",
          notes=[r"never fired"])


MANIFEST_FIELD_PATHS = all_paths(manifest(), skip=("provenance", "summary"))


@fuzz(110)
@given(path=st.sampled_from(MANIFEST_FIELD_PATHS), op=OPS, value=NASTY)
def test_manifest_fuzzed_field(tmp_path, capfd, path, op, value):
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        write_manifest(model, mutate(manifest(), path, op, value))
        check(["inspect", model], capfd, work, expect=(0, 2),
              blame=[model / "manifest.yaml", model / "weights.npz"])


@fuzz(40)
@given(cut=st.integers(min_value=0, max_value=len(_pristine_manifest_text().encode()) - 1))
def test_manifest_truncated(tmp_path, capfd, cut):
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        (model / "manifest.yaml").write_bytes(_pristine_manifest_text().encode()[:cut])
        check(["inspect", model], capfd, work, expect=(0, 2),  # a cut checksum: either file
              blame=[model / "manifest.yaml", model / "weights.npz"])


@fuzz(40)
@given(flips=st.lists(st.tuples(st.integers(min_value=0, max_value=2 ** 31),
                                st.integers(min_value=1, max_value=255)), min_size=1, max_size=3))
def test_manifest_bit_flips(tmp_path, capfd, flips):
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        (model / "manifest.yaml").write_bytes(flip(_pristine_manifest_text().encode(), flips))
        check(["inspect", model], capfd, work, expect=(0, 2),
              blame=[model / "manifest.yaml", model / "weights.npz"])


# =================================================================================================
# weight files
# =================================================================================================

def _huge_header_npz(path: Path, shape=(10 ** 12,)) -> None:
    """An npz whose member's .npy header promises ``shape`` float16 (data absent)."""
    header = {"descr": "<f2", "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as zf:
        for key in _pristine_weights():
            if key == "fc1.fc/weight":
                zf.writestr(key + ".npy", buf.getvalue())
            else:
                arr_buf = io.BytesIO()
                np.save(arr_buf, _pristine_weights()[key])
                zf.writestr(key + ".npy", arr_buf.getvalue())


def _weights_case(model: Path, case: str) -> None:
    arrays, data = weights(), manifest()
    w = model / "weights.npz"
    if case == "empty-file":
        write_bytes_weights(model, b"")
    elif case == "text-file":
        write_bytes_weights(model, b"these are not weights\n")
    elif case == "zip-without-arrays":
        with zipfile.ZipFile(w, "w") as zf:
            zf.writestr("readme.txt", "hi")
        write_bytes_weights(model, w.read_bytes())
    elif case == "pickled-object-array":
        arrays["fc2/bias"] = np.array([{"x": 1}] * 10, dtype=object)
        buf = io.BytesIO()
        _pickled_npz(buf, **arrays)
        write_bytes_weights(model, buf.getvalue())
    elif case == "extra-array":
        arrays["spare/weight"] = np.zeros(3, np.float16)
        write_weights(model, arrays, data)
    elif case == "missing-array":
        del arrays["fc2/bias"]
        write_weights(model, arrays, data)
    elif case == "wrong-shape":
        arrays["fc2/weight"] = np.zeros((10, 65), np.float16)
        write_weights(model, arrays, data)
    elif case == "wrong-dtype-float64":
        arrays["fc2/weight"] = arrays["fc2/weight"].astype(np.float64)
        write_weights(model, arrays, data)
    elif case == "wrong-dtype-int8":
        arrays["fc2/weight"] = arrays["fc2/weight"].astype(np.int8)
        write_weights(model, arrays, data)
    elif case == "complex":
        arrays["fc2/weight"] = arrays["fc2/weight"].astype(np.complex64)
        write_weights(model, arrays, data)
    elif case == "nan-weight":
        arrays["conv1.conv/weight"][0, 0, 0, 0] = np.nan
        write_weights(model, arrays, data)
    elif case == "inf-bias":
        arrays["fc1.fc/bias"][3] = np.inf
        write_weights(model, arrays, data)
    elif case == "negative-variance":
        arrays["conv1.bn/var"][0] = -1
        write_weights(model, arrays, data)
    elif case == "huge-finite-weights":
        data["graph"][-1]["arrays"]["weight"]["dtype"] = "float32"
        arrays["fc2/weight"] = np.full((10, 64), 1e38, np.float32)
        write_weights(model, arrays, data)
    elif case == "header-promises-1e12":
        _huge_header_npz(w)
        write_bytes_weights(model, w.read_bytes())
    elif case == "header-bad-descr":
        np.savez(w, **arrays)  # stored, so that the header can be edited in place
        raw = w.read_bytes()
        assert b"'descr': '<f2'" in raw
        write_bytes_weights(model, raw.replace(b"'descr': '<f2'", b"'descr': '|V2'", 1))
    elif case == "checksum-mismatch":
        arrays["fc2/bias"][0] += 1
        np.savez_compressed(w, **arrays)
    elif case == "truncated-half-checksum-updated":
        write_bytes_weights(model, _pristine_weights_bytes()[: len(_pristine_weights_bytes()) // 2])
    elif case == "truncated-keep-checksum":
        w.write_bytes(_pristine_weights_bytes()[:-100])
    elif case == "gzip-not-zip":
        import gzip
        write_bytes_weights(model, gzip.compress(_pristine_weights_bytes()))
    else:
        raise ValueError(case)


@cache
def _pristine_weights_bytes() -> bytes:
    return (MODEL / "weights.npz").read_bytes()


WEIGHTS_CASES = ["empty-file", "text-file", "zip-without-arrays", "pickled-object-array",
                 "extra-array", "missing-array", "wrong-shape", "wrong-dtype-float64",
                 "wrong-dtype-int8", "complex", "nan-weight", "inf-bias", "negative-variance",
                 "huge-finite-weights", "header-promises-1e12", "header-bad-descr",
                 "checksum-mismatch", "truncated-half-checksum-updated",
                 "truncated-keep-checksum", "gzip-not-zip"]


@pytest.mark.parametrize("case", WEIGHTS_CASES)
def test_weights_file(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    _weights_case(model, case)
    check(["inspect", model], capfd, tmp_path, expect=(0, 2) if case.startswith("huge") else 2,
          blame=[model / "weights.npz", model / "manifest.yaml"])


@pytest.mark.parametrize("case", ["nan-weight", "header-promises-1e12", "huge-finite-weights"])
def test_weights_file_through_simulate(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    _weights_case(model, case)
    unusual = case.startswith("huge")  # valid but absurd: exit 2, or exit 0 with a note
    check(["simulate", model, *FAST, "--out", "run"], capfd, tmp_path, out="run",
          expect=(0, 2) if unusual else 2,
          notes=[r"(?i)weight|saturat|overflow|clip|tied"] if unusual else (),
          blame=[model / "weights.npz", model / "manifest.yaml"])


def _positions(size: int):
    """Byte positions biased toward a zip's structure: the first member's headers, the central
    directory at the end, and anywhere."""
    return st.one_of(st.integers(min_value=0, max_value=min(400, size - 1)),
                     st.integers(min_value=max(0, size - 2500), max_value=size - 1),
                     st.integers(min_value=0, max_value=size - 1))


WEIGHTS_SIZE = (MODEL / "weights.npz").stat().st_size


@fuzz(45)
@given(flips=st.lists(st.tuples(_positions(WEIGHTS_SIZE), st.integers(min_value=1, max_value=255)),
                      min_size=1, max_size=4))
def test_weights_bit_flips(tmp_path, capfd, flips):
    """Flipped bytes with the checksum updated, so that the npz reader itself meets them."""
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        write_bytes_weights(model, flip(_pristine_weights_bytes(), flips))
        check(["inspect", model], capfd, work, expect=(0, 2),
              blame=[model / "weights.npz", model / "manifest.yaml"])


@fuzz(20)
@given(cut=_positions(WEIGHTS_SIZE))
def test_weights_truncated(tmp_path, capfd, cut):
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        write_bytes_weights(model, _pristine_weights_bytes()[:cut])
        check(["inspect", model], capfd, work, blame=[model / "weights.npz"])


# =================================================================================================
# input files
# =================================================================================================

def _input_case(work: Path, case: str):
    """Write the input file of ``case``: (path, expected exit, note pattern or None)."""
    x, y = images(6)
    p = work / "in.npz"
    cases = {
        # images
        "float-images-0-1": lambda: npz(p, images=x / 255.0, labels=y),
        "float-images-0-255": lambda: npz(p, images=x.astype(np.float32), labels=y),
        "nan-images": lambda: npz(p, images=np.full(x.shape, np.nan), labels=y),
        "inf-images": lambda: npz(p, images=np.full(x.shape, np.inf, np.float32), labels=y),
        "int64-over-255": lambda: npz(p, images=x.astype(np.int64) + 300, labels=y),
        "negative-pixels": lambda: npz(p, images=x.astype(np.int16) - 1, labels=y),
        "bool-images": lambda: npz(p, images=x > 128, labels=y),
        "complex-images": lambda: npz(p, images=x.astype(np.complex64), labels=y),
        "string-images": lambda: npz(p, images=np.array(["a"] * 6), labels=y),
        "uint16-in-range": lambda: npz(p, images=x.astype(np.uint16), labels=y),
        "images-2d": lambda: npz(p, images=x.reshape(6, -1), labels=y),
        "images-5d": lambda: npz(p, images=x[:, None], labels=y),
        "images-1d": lambda: npz(p, images=x.reshape(-1), labels=y),
        "images-0d": lambda: npz(p, images=np.uint8(3), labels=y),
        "wrong-height": lambda: npz(p, images=x[:, :, :27], labels=y),
        "three-channels": lambda: npz(p, images=np.repeat(x, 3, axis=1), labels=y),
        "nhwc-one-channel": lambda: npz(p, images=x.transpose(0, 2, 3, 1), labels=y),
        "zero-images": lambda: npz(p, images=x[:0], labels=y[:0]),
        "zero-size-images": lambda: npz(p, images=np.zeros((6, 1, 0, 28), np.uint8), labels=y),
        "empty-npz": lambda: npz(p),
        "unknown-keys": lambda: npz(p, pictures=x, labels=y),
        "pickled-images": lambda: _pickled_npz(p, images=np.array([x[0]] * 6 + [None],
                                                                  dtype=object)[:6], labels=y),
        # labels
        "labels-missing": lambda: npz(p, images=x),
        "labels-too-few": lambda: npz(p, images=x, labels=y[:3]),
        "labels-10": lambda: npz(p, images=x, labels=np.full(6, 10)),
        "labels-minus-2": lambda: npz(p, images=x, labels=np.full(6, -2)),
        "labels-2-40": lambda: npz(p, images=x, labels=np.full(6, 2 ** 40)),
        "labels-unlabeled": lambda: npz(p, images=x, labels=np.full(6, -1)),
        "labels-nan": lambda: npz(p, images=x, labels=np.full(6, np.nan)),
        "labels-float-fraction": lambda: npz(p, images=x, labels=y + 0.5),
        "labels-text": lambda: npz(p, images=x, labels=np.array(list("abcdef"))),
        "labels-2d": lambda: npz(p, images=x, labels=np.stack([y, y], 1)),
        "labels-uint64-max": lambda: npz(p, images=x, labels=np.full(6, 2 ** 64 - 1, np.uint64)),
        # frames
        "frames-valid": lambda: npz(p, frames=x[:, None].astype(np.int32), labels=y),
        "frames-wrong-T": lambda: npz(p, frames=np.repeat(x[:, None], 3, 1), labels=y),
        "frames-float": lambda: npz(p, frames=x[:, None].astype(np.float32), labels=y),
        "frames-negative": lambda: npz(p, frames=-x[:, None].astype(np.int32), labels=y),
        "frames-4d": lambda: npz(p, frames=x, labels=y),
        "frames-nan": lambda: npz(p, frames=np.full((6, 1, 1, 28, 28), np.nan), labels=y),
        "frames-int64-huge": lambda: npz(p, frames=np.full((6, 1, 1, 28, 28), 2 ** 62),
                                         labels=y),
        # events
        "events-unsorted": lambda: npz(p, t=np.array([3, 1, 2]), x=np.array([1, 2, 3]),
                                       y=np.array([1, 2, 3]), p=np.array([1, 0, 1]),
                                       height=28, width=28),
        "events-outside-sensor": lambda: npz(p, t=np.arange(3), x=np.array([1, 2, 300]),
                                             y=np.array([1, 2, 3]), p=np.ones(3), height=28,
                                             width=28),
        "events-lengths-differ": lambda: npz(p, t=np.arange(3), x=np.arange(2), y=np.arange(3),
                                             p=np.ones(3)),
        "events-two-polarities": lambda: npz(p, t=np.arange(3), x=np.arange(3), y=np.arange(3),
                                             p=np.array([1, 0, 1]), height=28, width=28),
        "events-empty": lambda: npz(p, t=np.zeros(0), x=np.zeros(0), y=np.zeros(0),
                                    p=np.zeros(0)),
        "events-height-an-array": lambda: npz(p, t=np.arange(3), x=np.arange(3), y=np.arange(3),
                                              p=np.ones(3), height=np.array([28, 28]),
                                              width=28),
        "events-negative-size": lambda: npz(p, t=np.zeros(0), x=np.zeros(0), y=np.zeros(0),
                                            p=np.zeros(0), height=-1, width=-1),
        "events-absurd-size": lambda: npz(p, t=np.arange(1), x=np.zeros(1, int),
                                          y=np.zeros(1, int), p=np.ones(1), height=10 ** 9,
                                          width=10 ** 9),
        "events-labels-mismatch": lambda: npz(p, t=np.arange(4), x=np.arange(4), y=np.arange(4),
                                              p=np.ones(4), offsets=np.array([0, 2, 4]),
                                              labels=np.zeros(5, int), height=28, width=28),
    }
    expected = {"uint16-in-range": 0, "labels-missing": 0, "labels-unlabeled": 0,
                "frames-valid": 0, "nhwc-one-channel": 0,
                # floats in the model's units are accepted (quantised, the unit recorded)
                "float-images-0-1": 0, "float-images-0-255": 0, "frames-float": 0,
                "labels-float-fraction": Note(r"(?i)label"),
                "frames-int64-huge": Note(r"(?i)\bcounts?\b|overflow|saturat|too large")}
    cases[case]()
    return p, expected.get(case, 2)


def _object_npy(count: int) -> bytes:
    """A .npy member that declares an object array (what np.save would pickle), written by
    hand: the test never pickles, the loader must refuse it from the header alone."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (%d,), }" % count
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
            + b"\x80\x04not a pickle")


def _pickled_npz(path, **arrays):
    """An npz whose object-dtype members are declared as pickled object arrays."""
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in arrays.items():
            b = io.BytesIO()
            if v.dtype == object:
                b.write(_object_npy(len(v)))
            else:
                np.save(b, v, allow_pickle=False)
            zf.writestr(k + ".npy", b.getvalue())
    return path


INPUT_CASES = ["float-images-0-1", "float-images-0-255", "nan-images", "inf-images",
               "int64-over-255", "negative-pixels", "bool-images", "complex-images",
               "string-images", "uint16-in-range", "images-2d", "images-5d", "images-1d",
               "images-0d", "wrong-height", "three-channels", "nhwc-one-channel", "zero-images",
               "zero-size-images", "empty-npz", "unknown-keys", "pickled-images",
               "labels-missing", "labels-too-few", "labels-10", "labels-minus-2", "labels-2-40",
               "labels-unlabeled", "labels-nan", "labels-float-fraction", "labels-text",
               "labels-2d", "labels-uint64-max", "frames-valid", "frames-wrong-T",
               "frames-float", "frames-negative", "frames-4d", "frames-nan",
               "frames-int64-huge", "events-unsorted", "events-outside-sensor",
               "events-lengths-differ", "events-two-polarities", "events-empty",
               "events-height-an-array", "events-negative-size", "events-absurd-size",
               "events-labels-mismatch"]


@pytest.mark.parametrize("case", INPUT_CASES)
def test_input_npz(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    path, expect = _input_case(tmp_path, case)
    if isinstance(expect, Note):
        check(["simulate", model, "--input", path, *FAST, "--out", "run"], capfd, tmp_path,
              expect=(0, 2), blame=[path], out="run", notes=[expect.pattern])
    else:
        check(["simulate", model, "--input", path, *FAST], capfd, tmp_path, expect=expect,
              blame=[path])


@pytest.fixture(scope="module")
def nir_model(tmp_path_factory):
    """The sinabs NIR fixture imported: input (2, 8, 8), T=4, a model event streams fit."""
    work = tmp_path_factory.mktemp("nir_model")
    nir_file, sidecar = _nir_copy(work)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["import-nir", str(nir_file), "--sidecar", str(sidecar), "-o",
                     str(work / "model")]) == 0
    return work / "model"


def _events(p: Path, t, x, y, pol, **extra) -> Path:
    return npz(p, t=np.asarray(t), x=np.asarray(x), y=np.asarray(y), p=np.asarray(pol),
               **{"height": 8, "width": 8, **extra})


EVENT_CASES = {  # id: (writer of the file, expected exit)
    "valid": (lambda p: _events(p, [0, 1, 2, 3], [0, 1, 2, 7], [0, 1, 2, 7], [1, 0, 1, 0]), 0),
    "empty-recording": (lambda p: _events(p, [], [], [], []), (0, 2)),
    "nan-times": (lambda p: _events(p, [0.0, np.nan, 2.0], [1, 2, 3], [1, 2, 3], [1, 1, 0]), 2),
    "inf-times": (lambda p: _events(p, [0.0, 1.0, np.inf], [1, 2, 3], [1, 2, 3], [1, 1, 0]), 2),
    "float-coordinates": (lambda p: _events(p, [0, 1], [1.5, 2.7], [1.2, 3.9], [1, 0]),
                          Note(r"(?i)coordinat|integer|round")),
    "negative-coordinates": (lambda p: _events(p, [0, 1], [-1, 2], [1, 3], [1, 0]), 2),
    "offsets-decreasing": (lambda p: _events(p, np.arange(4), [0, 1, 2, 3], [0, 1, 2, 3],
                                             [1, 1, 1, 1], offsets=np.array([0, 3, 1, 4]),
                                             labels=np.zeros(3, int)), 2),
    "offsets-beyond": (lambda p: _events(p, np.arange(4), [0, 1, 2, 3], [0, 1, 2, 3],
                                         [1, 1, 1, 1], offsets=np.array([0, 100]),
                                         labels=np.zeros(1, int)), 2),
    "offsets-not-from-zero": (lambda p: _events(p, np.arange(4), [0, 1, 2, 3], [0, 1, 2, 3],
                                                [1, 1, 1, 1], offsets=np.array([2, 4]),
                                                labels=np.zeros(1, int)), 2),
    "labels-10": (lambda p: _events(p, [0, 1], [1, 2], [1, 2], [1, 0], labels=np.array([10]),
                                    offsets=np.array([0, 2])), 2),
    "sensor-size-text": (lambda p: _events(p, [0, 1], [1, 2], [1, 2], [1, 0], height="8",
                                           width="8"), (0, 2)),
    "sensor-smaller-than-model": (lambda p: _events(p, [0, 1], [1, 2], [1, 2], [1, 0],
                                                    height=4, width=4), 2),
}


@pytest.mark.parametrize("case", list(EVENT_CASES))
def test_input_events(tmp_path, capfd, nir_model, case):
    model = tmp_path / "model"
    shutil.copytree(nir_model, model)
    write, expect = EVENT_CASES[case]
    path = write(tmp_path / "events.npz")
    if isinstance(expect, Note):
        check(["simulate", model, "--input", path, *FAST, "--out", "run"], capfd, tmp_path,
              expect=(0, 2), blame=[path], out="run", notes=[expect.pattern])
    else:
        check(["simulate", model, "--input", path, *FAST], capfd, tmp_path, expect=expect,
              blame=[path])


@pytest.mark.parametrize("case", ["labels-10", "labels-unlabeled", "nan-images",
                                  "events-absurd-size"])
def test_input_npz_with_out(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    path, expect = _input_case(tmp_path, case)
    check(["simulate", model, "--input", path, *FAST, "--out", "run"], capfd, tmp_path,
          expect=expect, blame=[path], out="run")


def _cifar_record(label: int) -> bytes:
    return bytes([label]) + bytes(3072)


def _idx(dims, body: bytes, type_byte: int = 0x08) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + b"".join(
        int(d).to_bytes(4, "big") for d in dims) + body


def _binary_case(work: Path, case: str) -> tuple[Path, list]:
    """Write a CIFAR-10 .bin or idx input for ``case``: (the path to pass, files to blame)."""
    import gzip
    x, y = images(6)
    if case.startswith("cifar"):
        p = work / "data_batch_1.bin"
        p.write_bytes({"cifar-empty": b"",
                       "cifar-truncated": _cifar_record(1) * 2 + b"\0" * 100,
                       "cifar-label-10": _cifar_record(10) * 2,
                       "cifar-valid-wrong-model": _cifar_record(3) * 2}[case])
        return p, [p]
    images_path = work / "t10k-images-idx3-ubyte"
    labels_path = work / "t10k-labels-idx1-ubyte"
    good_images = _idx((6, 28, 28), x.tobytes())
    good_labels = _idx((6,), y.astype(np.uint8).tobytes())
    content = {
        "idx-bad-magic": (b"\x01\x02\x03\x04" + x.tobytes(), good_labels),
        "idx-float-type": (_idx((6, 28, 28), x.tobytes(), 0x0D), good_labels),
        "idx-truncated": (good_images[:-10], good_labels),
        "idx-header-promises-1e9": (_idx((10 ** 9, 28, 28), x.tobytes()), good_labels),
        "idx-ndim-0": (_idx((), b"\x07"), _idx((), b"\x01")),
        "idx-ndim-1": (_idx((6,), bytes(6)), good_labels),
        "idx-labels-missing": (good_images, None),
        "idx-labels-count": (good_images, _idx((5,), bytes(5))),
        "idx-labels-11": (good_images, _idx((6,), bytes([11] * 6))),
        "idx-short-header": (b"\0\0\x08", good_labels),
        "idx-gz-corrupt": (b"\x1f\x8b" + b"\xff" * 50, good_labels),
        "idx-gz-truncated": (gzip.compress(good_images)[:-20], good_labels),
    }[case]
    if case.startswith("idx-gz"):
        images_path = work / "t10k-images-idx3-ubyte.gz"
        labels_path = work / "t10k-labels-idx1-ubyte.gz"
        images_path.write_bytes(content[0])
        labels_path.write_bytes(gzip.compress(content[1]))
    else:
        images_path.write_bytes(content[0])
        if content[1] is not None:
            labels_path.write_bytes(content[1])
    return images_path, [images_path, labels_path]


BINARY_CASES = ["cifar-empty", "cifar-truncated", "cifar-label-10", "cifar-valid-wrong-model",
                "idx-bad-magic", "idx-float-type", "idx-truncated", "idx-header-promises-1e9",
                "idx-ndim-0", "idx-ndim-1", "idx-labels-missing", "idx-labels-count",
                "idx-labels-11", "idx-short-header", "idx-gz-corrupt", "idx-gz-truncated"]


@pytest.mark.parametrize("case", BINARY_CASES)
def test_input_cifar_and_idx(tmp_path, capfd, case):
    model = copy_model(tmp_path)
    path, blame = _binary_case(tmp_path, case)
    check(["simulate", model, "--input", path, *FAST], capfd, tmp_path, blame=blame)


@cache
def _samples_bytes() -> bytes:
    x, y = images(6)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=x, labels=y)
    return buf.getvalue()


SAMPLES_SIZE = len(_samples_bytes())


@fuzz(25)
@given(flips=st.lists(st.tuples(_positions(SAMPLES_SIZE), st.integers(min_value=1, max_value=255)),
                      min_size=1, max_size=4))
def test_input_bit_flips(tmp_path, capfd, flips):
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        path = work / "in.npz"
        path.write_bytes(flip(_samples_bytes(), flips))
        check(["simulate", model, "--input", path, *FAST], capfd, work, expect=(0, 2),
              blame=[path])


@fuzz(15)
@given(cut=_positions(SAMPLES_SIZE))
def test_input_truncated(tmp_path, capfd, cut):
    with fresh_dir(tmp_path) as work:
        model = copy_model(work)
        path = work / "in.npz"
        path.write_bytes(_samples_bytes()[:cut])
        check(["simulate", model, "--input", path, *FAST], capfd, work, blame=[path])


# --- run directories (the input of report and compare) ------------------------------------------

def _run_case(run: Path, case: str) -> Path:
    summary = run / "summary.json"
    data = json.loads(summary.read_text())
    if case == "summary-missing":
        summary.unlink()
    elif case == "summary-truncated":
        summary.write_text(summary.read_text()[:100])
    elif case == "summary-nan":
        summary.write_text(summary.read_text().replace('"samples": 4', '"samples": NaN', 1))
    elif case == "summary-a-list":
        summary.write_text("[1, 2]")
    elif case == "summary-samples-text":
        data["samples"] = "four"
        summary.write_text(json.dumps(data))
    elif case == "summary-samples-disagree":
        data["samples"] = 5
        summary.write_text(json.dumps(data))
    elif case == "layers-missing":
        (run / "layers.csv").unlink()
        return run / "layers.csv"
    elif case == "layers-garbage":
        (run / "layers.csv").write_bytes(b"\xff\xfe\x00garbage\n1,2\n")
        return run / "layers.csv"
    elif case == "layers-empty":
        (run / "layers.csv").write_text("")
        return run / "layers.csv"
    elif case == "metrics-bad-json":
        (run / "metrics.json").write_text("{")
        return run / "metrics.json"
    return summary


RUN_CASES = ["summary-missing", "summary-truncated", "summary-nan", "summary-a-list",
             "summary-samples-text", "summary-samples-disagree", "layers-missing",
             "layers-garbage", "layers-empty", "metrics-bad-json"]


@pytest.mark.parametrize("case", RUN_CASES)
def test_report_on_a_damaged_run(tmp_path, capfd, run_dir, case):
    run_copy = tmp_path / "run"
    shutil.copytree(run_dir, run_copy)
    blame = _run_case(run_copy, case)
    check(["report", run_copy, "--out", "rep", "--quiet"], capfd, tmp_path, blame=[blame],
          out="rep")


@pytest.mark.parametrize("case", ["summary-nan", "layers-garbage"])
def test_compare_on_a_damaged_run(tmp_path, capfd, run_dir, case):
    good, bad = tmp_path / "good", tmp_path / "bad"
    shutil.copytree(run_dir, good)
    shutil.copytree(run_dir, bad)
    blame = _run_case(bad, case)
    check(["compare", good, bad, "--quiet"], capfd, tmp_path, blame=[blame])


def test_compare_labels_mismatch(tmp_path, capfd, run_dir):
    shutil.copytree(run_dir, tmp_path / "run")
    check(["compare", tmp_path / "run", "--labels", "a,b", "--quiet"], capfd, tmp_path,
          blame=["--labels"])


# =================================================================================================
# NIR files and side-cars
# =================================================================================================

def _nir_copy(work, net: str = NIR_NET) -> tuple[Path, Path]:
    """The NIR file and its side-car, copied under names import-nir does not pick up by itself
    (a side-car beside the file would print a warning line)."""
    nir_file = Path(work) / "net.nir"
    sidecar = Path(work) / "side.yaml"
    shutil.copy(NIR_DIR / f"{net}.nir", nir_file)
    shutil.copy(NIR_DIR / f"{net}.yaml", sidecar)
    return nir_file, sidecar


@cache
def _nir_bytes() -> bytes:
    return (NIR_DIR / f"{NIR_NET}.nir").read_bytes()


def _nir_rename(path: Path, old: str, new: str) -> None:
    """Rename a node in a NIR file (HDF5 group and edges)."""
    import h5py
    with h5py.File(path, "r+") as f:
        f.move(f"node/nodes/{old}", f"node/nodes/{new}")
        edges = f["node/edges"][()]
        renamed = np.array([[new.encode() if e == old.encode() else e for e in pair]
                            for pair in edges], dtype=object)
        del f["node/edges"]
        f.create_dataset("node/edges", data=renamed, dtype=h5py.string_dtype())


NIR_FILES = ["empty", "text", "zip", "truncated-1k", "truncated-half", "superblock-zeroed",
             "a-directory", "edges-removed", "node-type-unknown", "weight-nan", "weight-3d",
             "edge-to-nowhere", "node-named-dotdot", "node-nested-a-b"]


def _nir_case(work: Path, case: str) -> tuple[Path, Path, object]:
    """Damage the NIR copy for ``case``: (nir path, side-car, expected exit)."""
    import h5py
    nir_file, sidecar = _nir_copy(work)
    raw = _nir_bytes()
    expect = 2
    if case == "empty":
        nir_file.write_bytes(b"")
    elif case == "text":
        nir_file.write_text("not hdf5\n")
    elif case == "zip":
        shutil.copy(MODEL / "weights.npz", nir_file)
    elif case == "truncated-1k":
        nir_file.write_bytes(raw[:1024])
    elif case == "truncated-half":
        nir_file.write_bytes(raw[: len(raw) // 2])
    elif case == "superblock-zeroed":
        nir_file.write_bytes(bytes(64) + raw[64:])
    elif case == "a-directory":
        nir_file.unlink()
        nir_file.mkdir()
    else:
        with h5py.File(nir_file, "r+") as f:
            if case == "edges-removed":
                del f["node/edges"]
            elif case == "node-type-unknown":
                del f["node/nodes/2/type"]
                f["node/nodes/2/type"] = np.bytes_("Conv7d")
            elif case == "weight-nan":
                w = f["node/nodes/0/weight"]
                data = w[()]
                data.flat[0] = np.nan
                w[...] = data
            elif case == "weight-3d":
                data = f["node/nodes/0/weight"][()]
                del f["node/nodes/0/weight"]
                f["node/nodes/0/weight"] = data[0]
            elif case == "edge-to-nowhere":
                edges = f["node/edges"][()]
                edges[0, 1] = b"ghost"
                del f["node/edges"]
                f.create_dataset("node/edges", data=edges, dtype=h5py.string_dtype())
        if case == "node-named-dotdot":
            _nir_rename(nir_file, "0", "..")
            sidecar.write_text("dialect: sinabs\ntimesteps: 4\ninput_scale: 1.0\n")
            expect = (0, 2)
        elif case == "node-nested-a-b":
            with h5py.File(nir_file, "r+") as f:
                f.create_group("node/nodes/a")
            _nir_rename(nir_file, "0", "a/b")
            sidecar.write_text("dialect: sinabs\ntimesteps: 4\ninput_scale: 1.0\n")
    return nir_file, sidecar, expect


def _assert_no_escaping_members(out: Path):
    """No member of a written npz is named like a path out of its archive."""
    for path in out.rglob("*.npz"):
        with zipfile.ZipFile(path) as zf:
            bad = [n for n in zf.namelist() if n.startswith("/") or ".." in Path(n).parts]
        assert not bad, f"{path} holds members named like escaping paths: {bad}"


@pytest.mark.parametrize("case", NIR_FILES)
def test_nir_file(tmp_path, capfd, case):
    nir_file, sidecar, expect = _nir_case(tmp_path, case)
    result = check(["import-nir", nir_file, "--sidecar", sidecar, "-o", "imp"], capfd, tmp_path,
                   expect=expect, blame=[nir_file], out="imp")
    if result.rc == 0:
        _assert_no_escaping_members(tmp_path / "imp")


SIDECAR_TEXTS = [
    ("empty", "", (0, 2)),
    ("malformed", "dialect: [sinabs\n", 2),
    ("python-tag", "dialect: !!python/object/apply:os.system ['touch pwned']\n", 2),
    ("a-list", "- sinabs\n", 2),
    ("unknown-key", None, 2),
    ("duplicate-key", None, 2),
    ("dialect-unknown", None, 2),
    ("timesteps-100000", None, 2),
    ("timesteps-zero", None, 2),
    ("levels-zero", None, 2),
    ("reset-unknown", None, 2),
    ("input-scale-nan", None, 2),
    ("input-shape-wrong", None, 2),
    ("input-shape-absurd", None, 2),
    ("node-unknown", None, 2),
    ("node-path-like", None, 2),
    ("name-path-like", None, (0, 2)),
    ("dt-inf", None, 2),
]


def _sidecar_data(case: str) -> dict:
    data = yaml.safe_load((NIR_DIR / f"{NIR_NET}.yaml").read_text())
    changes = {
        "unknown-key": lambda: data.update(colour="red"),
        "dialect-unknown": lambda: data.update(dialect="keras"),
        "timesteps-100000": lambda: data.update(timesteps=100000),
        "timesteps-zero": lambda: data.update(timesteps=0),
        "levels-zero": lambda: data["nodes"]["1"].update(levels=0),
        "reset-unknown": lambda: data["nodes"]["1"].update(reset="bounce"),
        "input-scale-nan": lambda: data.update(input_scale=float("nan")),
        "input-shape-wrong": lambda: data.update(input_shape=[3, 8, 8]),
        "input-shape-absurd": lambda: data.update(input_shape=[2, 10 ** 6, 10 ** 6]),
        "node-unknown": lambda: data["nodes"].update(ghost={"levels": 3}),
        "node-path-like": lambda: data["nodes"].update({"../1": {"levels": 3}}),
        "name-path-like": lambda: data.update(name="../../escaped"),
        "dt-inf": lambda: data.update(dt=float("inf")),
    }
    changes[case]()
    return data


@pytest.mark.parametrize("case,text,expect", SIDECAR_TEXTS, ids=[c[0] for c in SIDECAR_TEXTS])
def test_nir_sidecar(tmp_path, capfd, case, text, expect):
    nir_file, sidecar = _nir_copy(tmp_path)
    if case == "duplicate-key":
        sidecar.write_text(sidecar.read_text() + "timesteps: 2\n")
    elif text is None:
        sidecar.write_text(yaml.safe_dump(_sidecar_data(case), sort_keys=False))
    else:
        sidecar.write_text(text)
    check(["import-nir", nir_file, "--sidecar", sidecar, "-o", "imp"], capfd, tmp_path,
          expect=expect, blame=[sidecar], out="imp")


def test_nir_sidecar_missing(tmp_path, capfd):
    nir_file, sidecar = _nir_copy(tmp_path)
    sidecar.unlink()
    check(["import-nir", nir_file, "--sidecar", sidecar, "-o", "imp"], capfd, tmp_path,
          blame=[sidecar], out="imp")


def test_nir_frames_input_of_the_wrong_size(tmp_path, capfd, nir_model):
    """An imported model run on frames of another sensor size."""
    shutil.copytree(nir_model, tmp_path / "imp")
    frames = npz(tmp_path / "frames.npz", inputs=np.ones((2, 4, 2, 9, 9), np.uint8))
    check(["simulate", tmp_path / "imp", "--input", frames, *FAST], capfd, tmp_path,
          blame=[frames])


NIR_SIZE = len(_nir_bytes())


@fuzz(6)
@given(flips=st.lists(st.tuples(st.one_of(st.integers(min_value=0, max_value=2047),
                                          st.integers(min_value=0, max_value=NIR_SIZE - 1)),
                                st.integers(min_value=1, max_value=255)), min_size=1, max_size=2))
def test_nir_bit_flips(tmp_path, capfd, flips):
    with fresh_dir(tmp_path) as work:
        nir_file, sidecar = _nir_copy(work)
        nir_file.write_bytes(flip(_nir_bytes(), flips))
        check(["import-nir", nir_file, "--sidecar", sidecar, "-o", "imp"], capfd, work,
              expect=(0, 2), blame=[nir_file], out="imp")


# Single-byte corruptions that trap the HDF5 library itself (h5py 3.16, HDF5 2.0): found by
# setting 1,000 random bytes of the four NIR fixtures to random values (850 still read, 147 gave
# clean errors, these 3 looped forever or crashed the process). Without the bounded child read
# (neurosim.importers.nir_read.probe) each would hang or kill the command.
HDF5_TRAPS = [("spikingjelly_residual", 2816, 213, "did not finish within 3 s"),
              ("snntorch_convnet", 36857, 127, "HDF5 library failed reading it"),
              ("snntorch_convnet", 16473, 108, "HDF5 library failed reading it")]


@pytest.mark.parametrize("net, offset, value, message", HDF5_TRAPS)
def test_nir_files_that_trap_hdf5(tmp_path, capfd, monkeypatch, net, offset, value, message):
    from neurosim.importers import nir_read

    monkeypatch.setattr(nir_read, "PROBE_TIMEOUT_S", 3.0)
    with fresh_dir(tmp_path) as work:
        nir_file, sidecar = _nir_copy(work, net)
        data = bytearray(nir_file.read_bytes())
        data[offset] = value
        nir_file.write_bytes(bytes(data))
        start = time.perf_counter()
        result = check(["import-nir", nir_file, "--sidecar", sidecar, "-o", "imp"], capfd, work,
                       blame=[nir_file])
        assert message in result.err and time.perf_counter() - start < 20


SIDECAR_PATHS = all_paths(yaml.safe_load((NIR_DIR / f"{NIR_NET}.yaml").read_text()))


@fuzz(8)
@given(path=st.sampled_from(SIDECAR_PATHS), op=OPS, value=NASTY)
def test_nir_sidecar_fuzzed_field(tmp_path, capfd, path, op, value):
    with fresh_dir(tmp_path) as work:
        nir_file, sidecar = _nir_copy(work)
        data = mutate(yaml.safe_load(sidecar.read_text()), path, op, value)
        sidecar.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        check(["import-nir", nir_file, "--sidecar", sidecar, "-o", "imp"], capfd, work,
              expect=(0, 2), blame=[sidecar, nir_file], out="imp")


# =================================================================================================
# hangs, signals and umasks (subprocesses with a timeout)
# =================================================================================================

def check_subprocess(argv, work, *, timeout: float, blame=(), command=None) -> Result:
    """A subprocess case: exit 2 within ``timeout`` seconds, judged like ``check``."""
    before = snapshot(work)
    start = time.monotonic()
    result = run_subprocess(argv, timeout)
    elapsed = time.monotonic() - start
    assert_clean_error(result, command or str(argv[0]), blame)
    assert elapsed < timeout
    changed = snapshot_diff(before, snapshot(work))
    assert not changed, f"a failed command changed files: {changed[:10]}\n{result}"
    assert not leftovers(work)
    return result


def test_alias_bomb_profile_via_profiles(tmp_path):
    hw = write_profile(tmp_path, alias_bomb("notes"))
    check_subprocess(["profiles", hw], tmp_path, timeout=10, blame=[hw])


def test_alias_bomb_profile_via_simulate(tmp_path):
    model = copy_model(tmp_path)
    hw = write_profile(tmp_path, "name: bomb\n" + alias_bomb("notes"))
    check_subprocess(["simulate", model, "--hw", hw, *FAST], tmp_path, timeout=10, blame=[hw])


def test_alias_bomb_manifest(tmp_path):
    model = copy_model(tmp_path)
    path = model / "manifest.yaml"
    path.write_text(_pristine_manifest_text().replace("provenance:\n", alias_bomb("bomb") +
                                                       "provenance:\n", 1))
    check_subprocess(["inspect", model], tmp_path, timeout=10, blame=[path])


def test_alias_bomb_sidecar(tmp_path):
    nir_file, sidecar = _nir_copy(tmp_path)
    sidecar.write_text(sidecar.read_text() + alias_bomb("provenance"))
    check_subprocess(["import-nir", nir_file, "--sidecar", sidecar, "-o", tmp_path / "imp"],
                     tmp_path, timeout=15, blame=[sidecar])


def test_deep_nesting_100000_profile(tmp_path):
    hw = write_profile(tmp_path, "name: x\nnotes: " + "[" * 100000 + "]" * 100000 + "\n")
    check_subprocess(["inspect", copy_model(tmp_path), "--hw", hw], tmp_path, timeout=10,
                     blame=[hw], command="inspect")


def test_input_is_a_fifo(tmp_path):
    """A named pipe nobody writes to: refused, not waited on."""
    model = copy_model(tmp_path)
    fifo = tmp_path / "in.npz"
    os.mkfifo(fifo)
    check_subprocess(["simulate", model, "--input", fifo, *FAST], tmp_path, timeout=10,
                     blame=[fifo])


def test_input_is_an_endless_device(tmp_path):
    """A CIFAR-10 batch that is /dev/zero: refused, not read without end."""
    model = copy_model(tmp_path)
    dev = tmp_path / "data_batch_1.bin"
    dev.symlink_to("/dev/zero")
    check_subprocess(["simulate", model, "--input", dev, *FAST], tmp_path, timeout=20,
                     blame=[dev])


def test_profile_is_a_fifo(tmp_path):
    model = copy_model(tmp_path)
    fifo = tmp_path / "hw.yaml"
    os.mkfifo(fifo)
    check_subprocess(["simulate", model, "--hw", fifo, *FAST], tmp_path, timeout=10,
                     blame=[fifo])


def test_sweep_huge_range(tmp_path):
    """-N 1-1000000000000 must be refused, not expanded into a trillion values."""
    model = copy_model(tmp_path)
    check_subprocess(["sweep", model, "-N", "1-1000000000000", "--samples", "2", "--out",
                      tmp_path / "s"], tmp_path, timeout=15, blame=["-N"])


def _wait_for_temp(work: Path, name: str, proc, limit: float = 60.0) -> bool:
    """Wait until the run is writing: its temporary directory exists and holds the marker."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(f".{name}.tmp.") and (p / ".neurosim-run").is_file()
               for p in work.iterdir()):
            return True
        time.sleep(0.005)
    return False


def _start_run(work: Path, model: Path, out: Path):
    return subprocess.Popen([sys.executable, "-m", "neurosim.cli", "simulate", str(model), *FAST,
                             "--out", str(out)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_limit_memory)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_writing_leaves_nothing_half_written(tmp_path, sig):
    """A signal while the run directory is being written ends the command through its cleanup.
    On a loaded machine the signal can land after the last rename (the run then finished):
    that attempt must have left a complete --out, and the test tries again to catch the write."""
    for attempt in range(3):
        work = tmp_path / str(attempt)
        work.mkdir()
        model = copy_model(work)
        out = work / "run"
        proc = _start_run(work, model, out)
        try:
            caught = _wait_for_temp(work, "run", proc)
            assert caught, f"the run finished before its output was being written: {proc.poll()}"
            proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "Traceback" not in stdout + stderr, stderr
        assert not leftovers(work), f"half-written leftovers after {sig.name}: {leftovers(work)}"
        assert not out.exists() or (out / "report.html").is_file(), "a half-written --out"
        if proc.returncode == 0 and (out / "report.html").is_file():
            continue  # the signal came after the run had finished writing
        assert proc.returncode in (130, 2, -sig, 128 + sig), (proc.returncode, stderr)
        break


def test_sigkill_leftover_is_cleaned_by_the_next_run(tmp_path, capfd):
    model = copy_model(tmp_path)
    out = tmp_path / "run"
    proc = _start_run(tmp_path, model, out)
    try:
        assert _wait_for_temp(tmp_path, "run", proc), "the run finished before it wrote"
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists(), "a killed run left a half-written --out"
    # its finished shards are kept (run.partial/): the same command with --resume finishes it
    # and cleans the half-written temporary folder away
    again = run_subprocess(["simulate", model, *FAST, "--out", out, "--resume"], timeout=120)
    assert again.rc == 0 and "Traceback" not in again.err, again
    assert (out / "summary.json").is_file() and not (tmp_path / "run.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fmnist-copy", "run"]


@pytest.mark.parametrize("umask", [0o077, 0o002], ids=["077", "002"])
def test_simulate_respects_the_umask(tmp_path, umask):
    model = copy_model(tmp_path)
    out = tmp_path / "run"
    result = run_subprocess(["simulate", model, *FAST, "--out", out], timeout=120, umask=umask)
    assert result.rc == 0 and "Traceback" not in result.err, result
    _assert_modes(out, umask)


def test_import_nir_under_a_hard_memory_ulimit(tmp_path):
    """As under a hard `ulimit -v`: the NIR probe cannot raise its limit; a clean result
    either way."""
    nir_file, sidecar = _nir_copy(tmp_path)
    result = run_subprocess(["import-nir", nir_file, "--sidecar", sidecar, "-o",
                             tmp_path / "imp"], timeout=60, hard_limit=True)
    assert result.rc in (0, 2) and "Traceback" not in result.out + result.err, result
    if result.rc == 2:
        assert_clean_error(result, "import-nir")


def test_import_nir_respects_the_umask(tmp_path):
    nir_file, sidecar = _nir_copy(tmp_path)
    out = tmp_path / "imp"
    result = run_subprocess(["import-nir", nir_file, "--sidecar", sidecar, "-o", out],
                            timeout=120, umask=0o027)
    assert result.rc == 0 and "Traceback" not in result.err, result
    _assert_modes(out, 0o027)


def _assert_modes(out: Path, umask: int):
    wrong = []
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = (0o777 if path.is_dir() else 0o666) & ~umask
        if mode != want:
            wrong.append(f"{path.relative_to(out.parent)}: {oct(mode)} (umask {oct(umask)} "
                         f"gives {oct(want)})")
    assert not wrong, wrong
