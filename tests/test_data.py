import gzip
import io

import numpy as np
import pytest
from PIL import Image

from neurosim.data import (bin_events, fashion_mnist, FASHION_MNIST_DIR, load_cifar10_bin,
                           load_idx, load_inputs, load_npz_images,
                           stratified_indices)
from neurosim.errors import InputError


def test_stratified_sampling_is_seeded_and_balanced():
    labels = np.repeat(np.arange(10), 100)  # sorted by class, like the CIFAR-10 copy
    idx = stratified_indices(labels, 50, seed=3)
    assert np.bincount(labels[idx], minlength=10).tolist() == [5] * 10
    assert np.array_equal(idx, stratified_indices(labels, 50, seed=3))
    assert not np.array_equal(idx, stratified_indices(labels, 50, seed=4))
    assert not np.array_equal(idx, np.arange(50))


def test_npz_images_nhwc_and_nchw(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=imgs, labels=np.arange(5))
    np.savez(tmp_path / "b.npz", images=imgs.transpose(0, 3, 1, 2), labels=np.arange(5))
    a, b = load_npz_images(tmp_path / "a.npz"), load_npz_images(tmp_path / "b.npz")
    assert a.inputs.shape == (5, 3, 8, 8) and np.array_equal(a.inputs, b.inputs)


def test_jpeg_npz(tmp_path):
    blobs = []
    for v in (10, 200):
        buf = io.BytesIO()
        Image.fromarray(np.full((4, 4, 3), v, np.uint8)).save(buf, format="JPEG", quality=95)
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(tmp_path / "j.npz", jpeg=np.concatenate(blobs), offsets=offsets, labels=[1, 2])
    d = load_npz_images(tmp_path / "j.npz")
    assert d.inputs.shape == (2, 3, 4, 4) and abs(int(d.inputs[1].mean()) - 200) <= 2


def test_cifar_binary_batch(tmp_path):
    rec = np.zeros((3, 3073), np.uint8)
    rec[:, 0] = [3, 1, 4]
    rec[1, 1:] = 7
    rec.tofile(tmp_path / "data_batch_1.bin")
    d = load_cifar10_bin(tmp_path / "data_batch_1.bin")
    assert d.labels.tolist() == [3, 1, 4] and d.inputs.shape == (3, 3, 32, 32)
    assert d.inputs[1].max() == 7
    (tmp_path / "bad.bin").write_bytes(rec.tobytes()[:-5])
    with pytest.raises(InputError, match="bad.bin: size .* not a multiple of 3073"):
        load_cifar10_bin(tmp_path / "bad.bin")


def write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_idx_files(tmp_path):
    write_idx(tmp_path / "x-images-idx3-ubyte.gz", np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256)
    write_idx(tmp_path / "x-labels-idx1-ubyte.gz", np.array([5, 9]))
    d = load_idx(tmp_path / "x-images-idx3-ubyte.gz")
    assert d.inputs.shape == (2, 1, 28, 28) and d.labels.tolist() == [5, 9]
    with gzip.open(tmp_path / "x-images-idx3-ubyte.gz", "rb") as fh:
        data = fh.read()
    with gzip.open(tmp_path / "x-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(data[:100])
    with pytest.raises(InputError, match="truncated"):
        load_idx(tmp_path / "x-images-idx3-ubyte.gz")


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="Debian's dataset-fashion-mnist")
def test_fashion_mnist_from_debian():
    d = fashion_mnist("test")
    assert d.inputs.shape == (10000, 1, 28, 28) and np.bincount(d.labels).tolist() == [1000] * 10


def test_event_binning_by_number_and_time():
    t = np.array([0, 1, 2, 3, 10, 11, 12, 100])
    x = np.array([0, 1, 1, 0, 1, 1, 0, 1])
    y = np.zeros(8, int)
    p = np.array([1, 0, 1, 1, 0, 1, 1, 0])
    by_number = bin_events(t, x, y, p, 2, (1, 2), "number")
    assert by_number.shape == (2, 2, 1, 2) and by_number.sum() == 8
    assert by_number[0].sum() == 4 and by_number[1].sum() == 4
    by_time = bin_events(t, x, y, p, 2, (1, 2), "time")
    assert by_time[0].sum() == 7 and by_time[1].sum() == 1
    assert by_time[0, 1, 0, 1] == 2  # positive events at x=1 in the first window: t=2 and t=11
    with pytest.raises(InputError, match="outside the 2x1 sensor"):
        bin_events(t, x + 5, y, p, 2, (1, 2))
    with pytest.raises(InputError, match="sorted"):
        bin_events(t[::-1], x, y, p, 2, (1, 2))


def test_event_npz_with_several_recordings(tmp_path):
    t = np.arange(6)
    np.savez(tmp_path / "ev.npz", t=t, x=np.array([0, 1, 2, 0, 1, 2]), y=np.zeros(6, int),
             p=np.ones(6, int), offsets=np.array([0, 2, 6]), labels=np.array([4, 7]),
             height=1, width=3)
    d = load_inputs(tmp_path / "ev.npz", timesteps=2)
    assert d.frames and d.inputs.shape == (2, 2, 2, 1, 3) and d.labels.tolist() == [4, 7]
    assert d.inputs[1].sum() == 4


def test_npz_of_binned_frames(tmp_path):
    """Pre-binned frames (N, T, C, H, W) under 'frames', or 'inputs' as the NIR fixtures store
    them; labels optional."""
    frames = np.arange(2 * 3 * 2 * 2 * 2).reshape(2, 3, 2, 2, 2) % 4
    np.savez(tmp_path / "f.npz", frames=frames.astype(np.uint8), labels=[3, 5])
    d = load_inputs(tmp_path / "f.npz")
    assert d.frames and np.array_equal(d.inputs, frames) and d.labels.tolist() == [3, 5]
    np.savez(tmp_path / "i.npz", inputs=frames.astype(np.int16))
    d = load_inputs(tmp_path / "i.npz")
    assert d.frames and d.labels.tolist() == [-1, -1]


def test_float_inputs_are_quantised_and_the_unit_recorded(tmp_path):
    """Floats hold the network's own input values: 8-bit pixels in [0, 1] and integral counts
    read exactly (unit 1/255, 1); any other non-negative range is quantised to 8 bits (unit =
    largest / 255) and the exact values are kept for the float model."""
    pixels = np.random.default_rng(0).integers(0, 256, (3, 1, 4, 4))
    np.savez(tmp_path / "p.npz", images=(pixels / 255).astype(np.float32), labels=[0, 1, 2])
    d = load_inputs(tmp_path / "p.npz")
    assert d.scale == pytest.approx(1 / 255) and d.exact is None
    assert d.inputs.dtype == np.uint8 and np.array_equal(d.inputs, pixels)
    np.savez(tmp_path / "c.npz", frames=np.full((2, 3, 1, 2, 2), 300.0))
    d = load_inputs(tmp_path / "c.npz")
    assert d.frames and d.scale == 1.0 and d.inputs.max() == 300 and d.exact is None
    values = np.array([0.0, 0.1, 0.33, 2.5]).reshape(1, 1, 2, 2)
    np.savez(tmp_path / "a.npz", images=values)
    d = load_inputs(tmp_path / "a.npz")
    assert d.scale == pytest.approx(2.5 / 255) and d.inputs.max() == 255
    assert np.allclose(d.exact * d.scale, values, rtol=1e-6)
    assert np.abs(d.inputs * d.scale - values).max() <= d.scale / 2 + 1e-12
    assert "quantised to 8 bits" in d.notes[0]
    assert np.array_equal(d.subset([0]).exact, d.exact) and d.subset([0]).index.tolist() == [0]


@pytest.mark.parametrize("arrays,match", [
    ({"frames": np.zeros((2, 3, 4, 4), np.uint8)}, r"shape \(N, T, C, H, W\)"),
    ({"frames": np.zeros((2, 1, 1, 2, 2), complex)}, "expected integer counts or float values"),
    ({"frames": -np.ones((2, 1, 1, 2, 2), np.int8)}, "counts must be >= 0"),
    ({"frames": -np.ones((2, 1, 1, 2, 2))}, r"values must be >= 0 \(an analog first layer"),
    ({"images": np.full((2, 1, 2, 2), np.nan)}, "holds NaN or infinite values"),
    ({"frames": np.zeros((2, 1, 1, 2, 2), np.uint8), "labels": [1]}, "1 labels for 2 samples"),
])
def test_bad_frame_files(tmp_path, arrays, match):
    np.savez(tmp_path / "f.npz", **arrays)
    with pytest.raises(InputError, match=match):
        load_inputs(tmp_path / "f.npz")


@pytest.mark.parametrize("content,match", [
    (b"not a zip", "cannot be read as npz"),
])
def test_corrupt_npz(tmp_path, content, match):
    (tmp_path / "x.npz").write_bytes(content)
    with pytest.raises(InputError, match=match):
        load_inputs(tmp_path / "x.npz")


def test_bad_image_files(tmp_path):
    np.savez(tmp_path / "f.npz", images=np.full((2, 4, 4, 3), 256), labels=[0, 1])
    with pytest.raises(InputError, match=r"pixel values must lie in \[0, 255\].*store floats"):
        load_npz_images(tmp_path / "f.npz")
    np.savez(tmp_path / "n.npz", pixels=np.zeros((2, 4, 4)))
    with pytest.raises(InputError, match="expected arrays 'images'"):
        load_npz_images(tmp_path / "n.npz")
    np.savez(tmp_path / "l.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=[0, 1, 2])
    with pytest.raises(InputError, match="3 labels for 2 images"):
        load_npz_images(tmp_path / "l.npz")
    with pytest.raises(InputError, match="no such file"):
        load_inputs(tmp_path / "missing.npz")
    (tmp_path / "a.txt").write_text("hi")
    with pytest.raises(InputError, match="unknown input format"):
        load_inputs(tmp_path / "a.txt")
