import numpy as np
import pytest
import yaml

from neurosim.errors import ModelError
from neurosim.model import builders, load_model, save_model
from neurosim.model.io import FORMAT_VERSION, MANIFEST, WEIGHTS


def assert_same_graph(a, b):
    assert a.name == b.name and a.output == b.output and a.timesteps == b.timesteps
    assert [n.name for n in a.nodes] == [n.name for n in b.nodes]
    for na, nb in zip(a.nodes, b.nodes):
        assert type(na) is type(nb) and na.inputs == nb.inputs
        for key, arr in na.arrays().items():
            assert np.array_equal(arr, nb.arrays()[key]), (na.name, key)
            assert arr.dtype == nb.arrays()[key].dtype
        for attr in ("stride", "padding", "kernel", "spec", "shape", "scale", "eps"):
            assert getattr(na, attr, None) == getattr(nb, attr, None), (na.name, attr)
    assert a.shapes == b.shapes


@pytest.mark.parametrize("graph", [
    builders.small_convnet(levels=3, timesteps=2),
    builders.small_resnet("sew"), builders.small_resnet("sparse"), builders.small_resnet("spiking"),
    builders.vgg16(width=0.125, levels=8), builders.resnet18("sparse", width=0.125),
], ids=lambda g: g.name)
def test_round_trip_is_exact(tmp_path, graph):
    graph.meta.update({"dataset": "CIFAR-10 (JPEG-Q75 copy)", "accuracy": 0.5})
    save_model(graph, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert_same_graph(graph, loaded)
    assert loaded.meta["dataset"] == "CIFAR-10 (JPEG-Q75 copy)"


def test_float16_storage_round_trips_its_own_values(tmp_path):
    g = builders.small_convnet()
    save_model(g, tmp_path / "a", dtype="float16")
    once = load_model(tmp_path / "a")
    save_model(once, tmp_path / "b", dtype="float16")
    assert_same_graph(once, load_model(tmp_path / "b"))
    assert (tmp_path / "a" / WEIGHTS).stat().st_size < 0.6 * sum(
        a.nbytes for n in g.nodes for a in n.arrays().values())


def test_manifest_is_human_readable(tmp_path):
    save_model(builders.small_convnet(levels=4, timesteps=2), tmp_path / "m")
    m = yaml.safe_load((tmp_path / "m" / MANIFEST).read_text())
    assert m["format_version"] == FORMAT_VERSION and m["timesteps"] == 2
    neuron = next(e for e in m["graph"] if e["type"] == "Neuron")
    assert neuron["attributes"]["neuron"]["levels"] == 4


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m"
    save_model(builders.small_convnet(), path)
    return path


def edit_manifest(path, fn):
    m = yaml.safe_load((path / MANIFEST).read_text())
    fn(m)
    (path / MANIFEST).write_text(yaml.safe_dump(m))


def test_truncated_weights(saved):
    data = (saved / WEIGHTS).read_bytes()
    (saved / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="weights.npz: checksum does not match"):
        load_model(saved)
    edit_manifest(saved, lambda m: m.pop("weights_sha256"))
    with pytest.raises(ModelError, match="weights.npz: cannot be read as npz"):
        load_model(saved)


def test_tampered_weights(saved):
    data = bytearray((saved / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (saved / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_model(saved)


def test_newer_format_version(saved):
    edit_manifest(saved, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelError, match="format_version: format version 2 is newer"):
        load_model(saved)


def test_manifest_shape_mismatch(saved):
    def bump(m):
        conv = next(e for e in m["graph"] if e["type"] == "Conv2d")
        conv["arrays"]["weight"]["shape"][0] += 1
    edit_manifest(saved, bump)
    with pytest.raises(ModelError, match=r"graph\[1\].arrays.weight: array 'conv1.conv/weight' has"):
        load_model(saved)


def test_manifest_lists_missing_array(saved):
    def add(m):
        conv = next(e for e in m["graph"] if e["type"] == "Conv2d")
        conv["arrays"]["bias"] = {"shape": [8], "dtype": "float32"}
    edit_manifest(saved, add)
    with pytest.raises(ModelError, match="'conv1.conv/bias' listed in the manifest is missing"):
        load_model(saved)


def test_unlisted_array(saved):
    def drop(m):
        bn = next(e for e in m["graph"] if e["type"] == "BatchNorm")
        bn["type"] = "Flatten"
        bn.pop("arrays")
        bn.pop("attributes")
    edit_manifest(saved, drop)
    with pytest.raises(ModelError, match="holds arrays the manifest does not list"):
        load_model(saved)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m["graph"][2].update(type="Dropout"), r"graph\[2\].type: unknown node type"),
    (lambda m: m["graph"][3]["attributes"]["neuron"].update(levels=0), "levels"),
    (lambda m: m.update(format="onnx"), "not a neurosim model manifest"),
    (lambda m: m.pop("graph"), "graph: required key is missing"),
    (lambda m: m["graph"][1].update(inputs=["ghost"]), "unknown input 'ghost'"),
])
def test_bad_manifests(saved, edit, match):
    edit_manifest(saved, edit)
    with pytest.raises(ModelError, match=match):
        load_model(saved)


def test_malformed_yaml_and_missing_files(saved, tmp_path):
    with pytest.raises(ModelError, match="is not a model directory"):
        load_model(tmp_path / "nowhere")
    (saved / MANIFEST).write_text("format: [unclosed\n")
    with pytest.raises(ModelError, match="manifest.yaml: not valid YAML"):
        load_model(saved)
    (saved / MANIFEST).write_text("!!python/object:os.system 'echo pwned'\n")
    with pytest.raises(ModelError, match="not valid YAML"):
        load_model(saved)


def test_failed_save_leaves_previous_model(saved, monkeypatch):
    before = (saved / MANIFEST).read_text()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError):
        save_model(builders.small_convnet(levels=2), saved)
    assert (saved / MANIFEST).read_text() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["m"]
