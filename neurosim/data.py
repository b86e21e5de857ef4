"""Input loaders: images (npz, JPEG npz, CIFAR-10 binary batches, Fashion-MNIST idx) and event
streams (a DVS recording as (t, x, y, polarity) events in npz, binned into T frames).

Every loader returns a ``Dataset`` of non-negative integers: images as uint8 (N, C, H, W) fed to
the first layer directly (analog encoding, one frame repeated every timestep), event streams as
per-timestep counts (N, T, 2, H, W). The model's Input.scale turns these integers into the
values the network was trained on. Images or frames stored as floats hold those values
themselves; they are quantised on loading (quantise_floats) and the unit used is recorded.
Nothing is unpickled.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import limits
from .compiler.network import PIXEL_MAX
from .errors import InputError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class Dataset:
    """Integer inputs and their labels. ``frames`` is True when inputs carry a time axis.

    ``scale`` is None when the inputs are integers in the model's own input unit (its
    Input.scale); a file of floats is quantised on loading (quantise_floats), and ``scale`` is
    then the float value of one integer unit, ``exact`` the file's values in that unit before
    rounding (None where rounding changed nothing), for the float network. ``index``: each
    input's position in the file."""

    inputs: np.ndarray  # (N, C, H, W) uint8, or (N, T, C, H, W) integer counts
    labels: np.ndarray  # (N,) int64; -1 where unknown
    source: str
    frames: bool = False
    notes: list = field(default_factory=list)  # what loading decided, for the run's notes
    scale: float | None = None
    exact: np.ndarray | None = None  # float32, inputs' shape
    index: np.ndarray | None = None  # (N,) int64; None: 0 … N−1

    def __post_init__(self):
        if self.index is None:
            self.index = np.arange(len(self.inputs), dtype=np.int64)

    def __len__(self):
        return len(self.inputs)

    def subset(self, indices) -> "Dataset":
        idx = np.asarray(indices, np.int64)
        return Dataset(self.inputs[idx], self.labels[idx], self.source, self.frames,
                       list(self.notes), self.scale,
                       None if self.exact is None else self.exact[idx], self.index[idx])


def stratified_indices(labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k indices drawn evenly across classes with a seeded generator (never the first k: the
    CIFAR-10 copy is sorted by class). Sorted, so runs read inputs in a stable order."""
    labels = np.asarray(labels)
    n = len(labels)
    if k <= 0:
        raise InputError(f"expected a positive number of samples, got {k}", "samples")
    if k >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    chosen, i = [], 0
    while len(chosen) < k:
        for c in classes:
            if i < len(per_class[c]) and len(chosen) < k:
                chosen.append(per_class[c][i])
        i += 1
    return np.sort(np.asarray(chosen, np.int64))


MAX_LABEL = 2 ** 31 - 1
MAX_SENSOR = 2 ** 16  # pixels along one side of an event sensor


def _labels(labels, n: int, where: str, what: str = "samples") -> np.ndarray:
    """Labels as int64 (N,): integers (or integral floats) in [-1, 2^31); -1 means unlabeled."""
    if labels is None:
        return np.full(n, -1, np.int64)
    arr = np.asarray(labels).reshape(-1)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                 or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"expected integer class labels, got {arr.dtype}", where, "labels")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError("expected integer class labels, got non-integral or non-finite "
                             "values", where, "labels")
    if arr.size and (arr.min() < -1 or arr.max() > MAX_LABEL):
        raise InputError(f"labels must lie in [-1, {MAX_LABEL}] (-1: unlabeled), got "
                         f"[{arr.min()}, {arr.max()}]", where, "labels")
    if len(arr) != n:
        raise InputError(f"{len(arr)} labels for {n} {what}", where, "labels")
    return arr.astype(np.int64)


def _to_nchw(images: np.ndarray, where: str) -> np.ndarray:
    if images.ndim == 3:  # (N, H, W): one channel
        return images[:, None]
    if images.ndim != 4:
        raise InputError(f"expected images of shape (N, H, W, C) or (N, C, H, W), got "
                         f"{images.shape}", where, "images")
    if images.shape[-1] in (1, 2, 3) and images.shape[1] not in (1, 2, 3):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return images


def quantise_floats(values: np.ndarray, where: str, key: str) -> tuple[np.ndarray, float,
                                                                       np.ndarray | None, str]:
    """Float inputs, in the float units the network was trained on, as integers of a unit u:
    (integers, u, the exact values in units of u or None where rounding changed nothing, a
    note). u is 1 for integral values (counts), 1/255 for 8-bit pixels in [0, 1], else the
    largest value / 255 (8-bit inputs, as pixels are). Analog first layers take values ≥ 0."""
    x = np.asarray(values, np.float64)
    if x.size and not np.all(np.isfinite(x)):
        raise InputError("holds NaN or infinite values", where, key)
    if x.size and x.min() < 0:
        raise InputError(f"values must be >= 0 (an analog first layer takes non-negative "
                         f"values), got minimum {x.min():g}: undo the normalisation or shift "
                         "the inputs", where, key)
    top = float(x.max(initial=0.0))
    for unit, name in ((1.0, "1 (integral values)"), (1 / PIXEL_MAX, "1/255 (8-bit values)")):
        q = np.rint(x / unit)
        if np.all(np.abs(x / unit - q) <= 1e-4) and q.max(initial=0) <= limits.INPUT_VALUE_MAX:
            return _narrow(q), unit, None, f"{where}: float {key} read exactly, unit {name}"
    unit = top / PIXEL_MAX
    q = np.rint(x / unit)
    note = (f"{where}: float {key} quantised to 8 bits, unit {unit:.6g} (largest value / 255; "
            "up to half a unit of rounding): the float model reads the exact values")
    return _narrow(q), unit, (x / unit).astype(np.float32), note


def _narrow(q: np.ndarray) -> np.ndarray:
    return q.astype(np.uint8 if q.max(initial=0) <= 255 else np.int32)


def _check_images(images: np.ndarray, where: str) -> np.ndarray:
    if not np.issubdtype(images.dtype, np.integer):
        raise InputError(f"expected integer pixel values, got {images.dtype}", where, "images")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise InputError(f"pixel values must lie in [0, 255], got [{images.min()}, "
                         f"{images.max()}] (integers are 8-bit pixels; store floats in the "
                         "model's float units to have them quantised)", where, "images")
    return images.astype(np.uint8)


def _float_dataset(values, labels, where: str, key: str, frames: bool) -> Dataset:
    q, unit, exact, note = quantise_floats(values, where, key)
    return Dataset(q, _labels(labels, len(q), where), where, frames=frames, notes=[note],
                   scale=unit, exact=exact)


def _open_npz(path: Path):
    """np.load of an npz whose arrays' headers were checked against the memory limit first."""
    limits.check_npz(path, str(path))
    try:
        return np.load(path, allow_pickle=False)
    except limits.NPZ_ERRORS as err:
        raise InputError(f"cannot be read as npz: {err}", str(path)) from None


def _read_key(npz, key: str, where: str) -> np.ndarray:
    try:
        return npz[key]
    except limits.NPZ_ERRORS as err:
        raise InputError(f"array {key!r} is corrupt or truncated: {err}", where, key) from None


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(blob) \
            or np.any(np.diff(offsets) <= 0):
        raise InputError("offsets must start at 0, increase, and end at len(jpeg)", where,
                         "offsets")
    images = []
    for i in range(len(offsets) - 1):
        try:
            img = Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes()))
            images.append(np.asarray(img.convert("RGB")))
        except (UnidentifiedImageError, OSError) as err:
            raise InputError(f"image {i} is not a readable JPEG: {err}", where, "jpeg") from None
    return np.stack(images)


def load_npz_images(path) -> Dataset:
    """An npz with ``images`` (uint8, NHWC or NCHW) and ``labels``, or ``jpeg`` + ``offsets``
    + ``labels`` (the CIFAR-10 JPEG-Q75 copy), or ``frames`` (N, T, C, H, W) integer counts
    (``inputs`` is read the same way), or event ``t, x, y, p`` arrays (see load_events)."""
    path = Path(path)
    where = str(path)
    with _open_npz(path) as npz:
        keys = set(npz.files)
        if {"t", "x", "y", "p"} <= keys:
            raise InputError("holds an event stream; load it with load_events (neurosim "
                             "simulate --input FILE.npz --events)", where)
        framed = "frames" if "frames" in keys else "inputs" if "inputs" in keys else None
        if framed is not None:
            return _frames(_read_key(npz, framed, where), _read_key(npz, "labels", where)
                           if "labels" in keys else None, where, framed)
        if "images" in keys:
            images = _read_key(npz, "images", where)
        elif {"jpeg", "offsets"} <= keys:
            images = _decode_jpegs(_read_key(npz, "jpeg", where),
                                   _read_key(npz, "offsets", where), where)
        else:
            raise InputError(f"expected arrays 'images' (or 'jpeg' and 'offsets', or 'frames') "
                             f"and 'labels'; found {sorted(keys)}", where)
        labels = _read_key(npz, "labels", where) if "labels" in keys else None
    images = _to_nchw(np.asarray(images), where)
    if np.issubdtype(images.dtype, np.floating):
        return _float_dataset(images, labels, where, "images", frames=False)
    images = _check_images(images, where)
    return Dataset(images, _labels(labels, len(images), where, "images"), where)


def _frames(frames: np.ndarray, labels, where: str, key: str) -> Dataset:
    """Pre-binned frames (N, T, C, H, W) of non-negative integer counts (event frames, or the
    inputs stored beside the NIR fixtures): one frame per timestep, T must match the run's."""
    frames = np.asarray(frames)
    if frames.ndim != 5:
        raise InputError(f"expected frames of shape (N, T, C, H, W), got {frames.shape}", where,
                         key)
    if np.issubdtype(frames.dtype, np.floating):
        return _float_dataset(frames, labels, where, key, frames=True)
    if not np.issubdtype(frames.dtype, np.integer):
        raise InputError(f"expected integer counts or float values, got {frames.dtype}", where,
                         key)
    if frames.size and frames.min() < 0:
        raise InputError(f"counts must be >= 0, got minimum {frames.min()}", where, key)
    if frames.size and frames.max() > limits.INPUT_VALUE_MAX:
        raise InputError(f"counts must be at most {limits.INPUT_VALUE_MAX}, got {frames.max()}",
                         where, key)
    return Dataset(frames, _labels(labels, len(frames), where), where, frames=True)


def load_cifar10_bin(path) -> Dataset:
    """A CIFAR-10 binary batch (``data_batch_1.bin``): records of 1 label byte + 3072 pixels."""
    path = Path(path)
    limits.check(2 * path.stat().st_size, "reading this CIFAR-10 batch", str(path))
    raw = np.fromfile(path, np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise InputError(f"size {raw.size} bytes is not a multiple of 3073 (1 label + 32·32·3 "
                         "pixels): truncated or not a CIFAR-10 binary batch", str(path))
    rec = raw.reshape(-1, 3073)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise InputError(f"label {labels.max()} out of range 0..9: not a CIFAR-10 batch",
                         str(path), "labels")
    return Dataset(rec[:, 1:].reshape(-1, 3, 32, 32).copy(), labels, str(path))


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:  # bounded: a small .gz can unpack to any size
            data = fh.read(limits.memory_limit() // 2 + 1)
            if len(data) > limits.memory_limit() // 2:
                limits.check(2 * len(data), "reading this idx file", str(path))
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"cannot be read: {err}", str(path)) from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise InputError("not an idx file of unsigned bytes (bad magic number)", str(path))
    ndim = data[3]
    dims = np.frombuffer(data[4:4 + 4 * ndim], ">u4").astype(np.int64)
    body = np.frombuffer(data[4 + 4 * ndim:], np.uint8)
    if len(dims) != ndim or body.size != limits.elements(dims):
        raise InputError(f"header says {tuple(dims)} values, file holds {body.size}: truncated",
                         str(path))
    return body.reshape(tuple(dims))


def load_idx(images_path, labels_path=None) -> Dataset:
    """MNIST/Fashion-MNIST idx files (optionally gzipped); labels are found beside the images."""
    images_path = Path(images_path)
    if labels_path is None:
        labels_path = images_path.with_name(images_path.name.replace("images-idx3", "labels-idx1"))
    images = _read_idx(images_path)
    if images.ndim != 3:
        raise InputError(f"expected images of shape (N, H, W), the header says {images.shape}",
                         str(images_path))
    labels = _read_idx(Path(labels_path))
    if labels.ndim != 1:
        raise InputError(f"expected labels of shape (N,), the header says {labels.shape}",
                         str(labels_path))
    return Dataset(images[:, None].copy(), _labels(labels, len(images), str(labels_path),
                                                   "images"), str(images_path))


def fashion_mnist(split: str = "test", root=FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST from Debian's dataset-fashion-mnist package."""
    prefix = {"test": "t10k", "train": "train"}[split]
    path = Path(root) / f"{prefix}-images-idx3-ubyte.gz"
    if not path.exists():
        raise InputError("not found; install Debian's dataset-fashion-mnist package", str(path))
    return load_idx(path)


def bin_events(t, x, y, p, timesteps: int, size: tuple[int, int], split_by: str = "number",
               where: str = "events") -> np.ndarray:
    """Integrate a recording's events into T frames of per-polarity counts (T, 2, H, W).

    ``split_by="number"``: T slices with equal event counts (SpikingJelly's default, used by
    Fang et al. 2021 for CIFAR10-DVS); ``"time"``: T equal time windows.
    """
    t, x, y, p = (np.asarray(a).reshape(-1) for a in (t, x, y, p))
    h, w = _sensor_side(size[0], where, "height"), _sensor_side(size[1], where, "width")
    if not (len(t) == len(x) == len(y) == len(p)):
        raise InputError(f"t, x, y, p have different lengths {len(t)}, {len(x)}, {len(y)}, "
                         f"{len(p)}", where)
    for name, arr in (("t", t), ("x", x), ("y", y), ("p", p)):
        if arr.dtype == bool and name != "p" or not (np.issubdtype(arr.dtype, np.number)
                                                     or arr.dtype == bool):
            raise InputError(f"expected numbers, got {arr.dtype}", where, name)
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise InputError("holds NaN or infinite values", where, name)
    for name, arr in (("x", x), ("y", y)):
        if np.issubdtype(arr.dtype, np.floating) and np.any(arr != np.round(arr)):
            raise InputError("pixel coordinates must be integers", where, name)
    if len(t) and (x.min() < 0 or x.max() >= w or y.min() < 0 or y.max() >= h):
        raise InputError(f"event coordinates outside the {w}x{h} sensor (x in [{x.min()}, "
                         f"{x.max()}], y in [{y.min()}, {y.max()}])", where, "x")
    if len(t) and np.any(np.diff(t) < 0):
        raise InputError("timestamps must be sorted", where, "t")
    pol = (np.asarray(p) > 0).astype(np.int64)
    frames = np.zeros((timesteps, 2, h, w), np.int32)
    n = len(t)
    if n == 0:
        return frames
    if split_by == "number":
        slot = (np.arange(n) * timesteps) // n
    elif split_by == "time":
        span = max(int(t[-1]) - int(t[0]), 1)
        slot = np.minimum(((t - t[0]) * timesteps) // span, timesteps - 1).astype(np.int64)
    else:
        raise InputError(f"unknown split_by {split_by!r}; expected 'number' or 'time'", where,
                         "split_by")
    np.add.at(frames, (slot, pol, y.astype(np.int64), x.astype(np.int64)), 1)
    return frames


def load_events(path, timesteps: int, size: tuple[int, int] | None = None,
                split_by: str = "number") -> Dataset:
    """Event recordings in npz: ``t, x, y, p`` (one recording) or with ``offsets`` (n + 1) and
    ``labels`` for several; the sensor size comes from ``height``/``width`` or ``size``."""
    path = Path(path)
    where = str(path)
    with _open_npz(path) as npz:
        missing = {"t", "x", "y", "p"} - set(npz.files)
        if missing:
            raise InputError(f"missing event arrays {sorted(missing)}", where)
        t, x, y, p = (_read_key(npz, k, where) for k in "txyp")
        if size is None:
            if {"height", "width"} <= set(npz.files):
                size = (_sensor_side(_read_key(npz, "height", where), where, "height"),
                        _sensor_side(_read_key(npz, "width", where), where, "width"))
            else:
                size = (_sensor_side(y.max() + 1, where, "y"), _sensor_side(x.max() + 1, where,
                                                                            "x")) \
                    if len(x) else (1, 1)
        offsets = _read_key(npz, "offsets", where) if "offsets" in npz.files else \
            np.array([0, len(t)])
        labels = _read_key(npz, "labels", where) if "labels" in npz.files else None
    offsets = np.asarray(offsets).reshape(-1)
    if not np.issubdtype(offsets.dtype, np.integer) or len(offsets) < 2 or offsets[0] != 0 \
            or offsets[-1] != len(t) or np.any(np.diff(offsets) < 0):
        raise InputError(f"offsets must be integers rising from 0 to the number of events "
                         f"({len(t)})", where, "offsets")
    labels = _labels(labels, len(offsets) - 1, where, "recordings")
    limits.check(4 * (len(offsets) - 1) * timesteps * 2 * size[0] * size[1],
                 f"binning {len(offsets) - 1} recording(s) of a {size[1]}x{size[0]} sensor "
                 f"into T={timesteps} frames", where)
    frames = [bin_events(t[a:b], x[a:b], y[a:b], p[a:b], timesteps, size, split_by, where)
              for a, b in zip(offsets[:-1], offsets[1:])]
    return Dataset(np.stack(frames), labels, where, frames=True)


def _sensor_side(value, where: str, field: str) -> int:
    """A sensor height or width: a positive integer scalar up to MAX_SENSOR."""
    arr = np.asarray(value)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.number) or \
            not np.isfinite(arr) or arr != np.round(arr) or not 1 <= arr <= MAX_SENSOR:
        raise InputError(f"expected a sensor size in [1, {MAX_SENSOR}], got "
                         f"{str(value)[:40]}", where, field)
    return int(arr)


def load_inputs(path, timesteps: int = 1, events: bool | None = None) -> Dataset:
    """Pick the loader from the file: npz (images, JPEG or events), .bin, idx(.gz)."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", str(path))
    if not path.is_file():
        raise InputError("is not a regular file (a directory, a pipe or a device); expected an "
                         "input file (.npz, CIFAR-10 .bin, idx)", str(path))
    name = path.name
    if name.endswith(".bin"):
        data = load_cifar10_bin(path)
    elif "idx3-ubyte" in name:
        data = load_idx(path)
    elif name.endswith(".npz"):
        with _open_npz(path) as npz:
            is_events = {"t", "x", "y", "p"} <= set(npz.files)
        data = load_events(path, timesteps) if events or is_events else load_npz_images(path)
    else:
        raise InputError("unknown input format; expected .npz, a CIFAR-10 .bin batch or an idx "
                         "file", str(path))
    if len(data) == 0:
        raise InputError("holds no inputs (0 samples)", str(path))
    return data
