"""NIR export: import(export(m)) reproduces m exactly — the same graph, and the same levels,
logits and counts once both are compiled — for every builder and every shipped model; the file
alone is plain NIR that nir itself reads and type-checks."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from neurosim import reference  # noqa: E402
from neurosim.compiler import compile_graph  # noqa: E402
from neurosim.errors import ConversionError, ModelError  # noqa: E402
from neurosim.importers import NirImportWarning, export_nir, import_nir  # noqa: E402
from neurosim.model import builders  # noqa: E402
from neurosim.model.graph import (AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input,  # noqa: E402
                                  Linear, MaxPool2d, Neuron)
from neurosim.model.io import graph_to_manifest, load_model, save_model  # noqa: E402
from neurosim.model.neurons import NeuronSpec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (REPO / "models").glob("*") if (p / "manifest.yaml").is_file())


def odd_graph() -> Graph:
    """What the builders do not use: a LIF with hard reset and θ = 1/3, a windowed average
    pool, a conv without bias, a stateless neuron, BatchNorm on a vector, a barrier neuron with
    Vth ≠ 1, a readout without bias."""
    r = np.random.default_rng(2)
    f32 = np.float32

    def bn(name, src, c):
        return BatchNorm(name, input=src, gamma=r.uniform(0.5, 1.5, c).astype(f32),
                         beta=r.uniform(-0.2, 0.5, c).astype(f32),
                         mean=r.normal(0, 0.1, c).astype(f32),
                         var=r.uniform(0.5, 1.5, c).astype(f32))

    nodes = [Input("in", shape=(2, 8, 8), scale=1.0),
             Conv2d("c1", input="in", weight=(r.standard_normal((6, 2, 3, 3)) * 0.6).astype(f32),
                    stride=1, padding=1),
             bn("c1.bn", "c1", 6),
             Neuron("n1", input="c1.bn", spec=NeuronSpec(kind="lif", levels=3, vth=1.0,
                                                         reset="zero", decay=0.7)),
             AvgPool2d("p1", input="n1", kernel=2),
             Conv2d("c2", input="p1", weight=(r.standard_normal((4, 6, 3, 3)) * 0.6).astype(f32),
                    bias=r.normal(0, 0.1, 4).astype(f32), stride=2, padding=1),
             Neuron("n2", input="c2", spec=NeuronSpec(levels=1, vth=0.5, stateless=True)),
             MaxPool2d("p2", input="n2", kernel=2),
             Flatten("flat", input="p2"),
             Linear("fc1", input="flat", weight=(r.standard_normal((8, 4)) * 0.8).astype(f32)),
             bn("fc1.bn", "fc1", 8),
             Neuron("n3", input="fc1.bn", spec=NeuronSpec(levels=2, vth=1.5, barrier=True)),
             Linear("fc2", input="n3", weight=(r.standard_normal((3, 8))).astype(f32))]
    return Graph(nodes, "fc2", "odd", timesteps=3, meta={"note": "test graph"})


GRAPHS = {
    "vgg16": lambda: builders.vgg16(levels=4, timesteps=2, width=1 / 16, fc=(16, 16)),
    "resnet18-sew": lambda: builders.resnet18("sew", levels=3, width=1 / 16),
    "resnet18-sparse": lambda: builders.resnet18("sparse", levels=2, timesteps=2, width=1 / 16,
                                                 barrier_levels=3),
    "resnet18-spiking": lambda: builders.resnet18("spiking", levels=4, width=1 / 16),
    "small_convnet": lambda: builders.small_convnet(levels=5, timesteps=2),
    **{f"small_resnet-{v}": (lambda v=v: builders.small_resnet(v, levels=4, timesteps=2))
       for v in builders.RESNET_VARIANTS},
    "odd": odd_graph,
    **{f"models/{p.name}": (lambda p=p: load_model(p)) for p in SHIPPED},
}


def test_every_builder_and_shipped_model_is_covered():
    names = {k.split("-")[0] for k in GRAPHS}
    assert set(builders.BUILDERS) <= names
    assert {f"models/{p.name}" for p in SHIPPED} <= set(GRAPHS)


def round_trip(graph, tmp_path):
    path, sidecar = export_nir(graph, tmp_path / "net.nir")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NirImportWarning)
        back = import_nir(path, sidecar=sidecar)
    assert not [str(w.message) for w in caught if w.category is NirImportWarning]
    return back, path, sidecar


def inputs_for(graph, n=3, seed=0):
    rng = np.random.default_rng(seed)
    high = 256 if graph.input.scale < 0.1 else 4
    return rng.integers(0, high, (n,) + graph.input.shape).astype(np.uint8)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_round_trip_is_exact(name, tmp_path):
    graph = GRAPHS[name]()
    back, _, _ = round_trip(graph, tmp_path)
    original, arrays = graph_to_manifest(graph)
    restored, arrays_back = graph_to_manifest(back)
    assert restored["graph"] == original["graph"]  # node order, types, attributes, shapes
    assert arrays.keys() == arrays_back.keys()
    assert all(np.array_equal(arrays[k], arrays_back[k]) for k in arrays)
    assert (back.name, back.timesteps, back.input.scale) == (graph.name, graph.timesteps,
                                                             graph.input.scale)
    # shipped models run at full size (VGG16, ResNet18 on 32×32: ~25 s a sample here); the graph
    # and arrays are already compared exactly above, so one sample suffices for them
    x = inputs_for(graph, n=1 if name.startswith("models/") else 3)
    for integer in (True, False):
        a = reference.run(compile_graph(graph, integer=integer), x, record=True)
        b = reference.run(compile_graph(back, integer=integer), x, record=True)
        assert a.levels.keys() == b.levels.keys()
        assert all(np.array_equal(a.levels[k], b.levels[k]) for k in a.levels)
        assert np.array_equal(a.logits, b.logits)
        assert np.array_equal(a.counts.data, b.counts.data)
        assert a.counts.table().equals(b.counts.table())
        assert any(v.any() for v in a.levels.values())


def test_round_trip_in_merge_mode(tmp_path):
    graph = builders.small_resnet("sew", levels=3, timesteps=2)
    back, _, _ = round_trip(graph, tmp_path)
    x = inputs_for(graph)
    a = reference.run(compile_graph(graph, add_mode="merge"), x)
    b = reference.run(compile_graph(back, add_mode="merge"), x)
    assert np.array_equal(a.counts.data, b.counts.data) and np.array_equal(a.logits, b.logits)


def test_exported_file_is_plain_nir(tmp_path):
    """nir reads and type-checks the file by itself; what NIR can say is said in NIR."""
    graph = odd_graph()
    path, sidecar = export_nir(graph, tmp_path / "odd.nir")
    assert sidecar == tmp_path / "odd.yaml"
    g = nir.read(path)  # type_check=True
    kinds = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert kinds["p2"] == "SumPool2d"  # max-pool: NIR has none, the side-car says max
    assert kinds["p1"] == "AvgPool2d" and kinds["c1.bn"] == "Conv2d"
    assert kinds["fc1.bn"] == "Affine" and kinds["n2"] == "Threshold"
    assert kinds["n1"] == "LIF" and kinds["n3"] == "IF"
    assert kinds["n1.level"] == "Scale" and kinds["n3.level"] == "Scale"
    np.testing.assert_allclose(g.nodes["n1.level"].scale, 1 / 3, rtol=1e-7)
    np.testing.assert_allclose(g.nodes["n1"].tau, 1 / 0.3)
    assert ("n1", "n1.level") in g.edges and ("n1.level", "p1") in g.edges
    assert kinds["n2.level"] == "Scale"  # stateless, N = 1, Vth = 0.5: a spike is worth 0.5
    k, c = graph["c1.bn"].scale_shift()
    w = g.nodes["c1.bn"].weight[:, :, 0, 0]
    assert np.array_equal(np.diag(w), k.astype(np.float32)) and not (w - np.diag(np.diag(w))).any()
    assert g.metadata["source"].startswith("neurosim")


def test_residual_add_is_a_fan_in(tmp_path):
    graph = builders.small_resnet("sew", levels=2)
    path, _ = export_nir(graph, tmp_path / "sew.nir")
    g = nir.read(path)
    assert type(g.nodes["sum0"]).__name__ == "Scale" and np.all(g.nodes["sum0"].scale == 1)
    assert sorted(a for a, b in g.edges if b == "sum0") == ["block0.level", "stem.level"]


def test_import_without_sidecar_says_what_it_lost(tmp_path):
    path, _ = export_nir(builders.small_convnet(levels=4), tmp_path / "s.nir")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NirImportWarning)
        back = import_nir(path, sidecar=False)  # export_nir wrote s.yaml beside it
    messages = " ".join(str(w.message) for w in caught)
    assert "assuming neurosim (the file's metadata says source 'neurosim" in messages
    assert "no side-car" in messages and "levels (N=1)" in messages
    assert {n.spec.levels for n in back.neurons()} == {1}
    compile_graph(back)  # still a runnable (binary) network


def test_sidecar_of_another_model_is_refused(tmp_path):
    a = builders.small_convnet(levels=4, seed=0)
    b = builders.small_convnet(levels=4, seed=1)
    path_a, _ = export_nir(a, tmp_path / "a.nir")
    _, sidecar_b = export_nir(b, tmp_path / "b.nir")
    with pytest.raises(ConversionError, match=r"b\.yaml: nodes\.conv1\.bn\.batchnorm: batchnorm "
                                              r"does not match the node's folded weight"):
        import_nir(path_a, sidecar=sidecar_b)
    c = builders.small_convnet(levels=2, seed=0)
    _, sidecar_c = export_nir(c, tmp_path / "c.nir")
    with pytest.raises(ConversionError, match=r"c\.yaml: nodes\.conv1\.neuron: says theta = "
                                              r"Vth/N = 0\.5, the file's threshold is 0\.25"):
        import_nir(path_a, sidecar=sidecar_c)


def test_export_refuses_to_overwrite_its_own_file(tmp_path):
    with pytest.raises(ConversionError, match="the side-car would overwrite the NIR file"):
        export_nir(odd_graph(), tmp_path / "x.yaml")
    assert not list(tmp_path.iterdir())


def test_node_name_that_hdf5_would_split_is_refused(tmp_path):
    """nir.write would store "a/b" as a group b inside a group a: a file nothing can read. Such
    a name is refused when the graph is built (it would also be a path inside weights.npz), so
    it can reach neither the exporter nor a model file."""
    f32 = np.float32
    with pytest.raises(ModelError, match=r"slash: node name 'a/b': a node name cannot contain"):
        Graph([Input("in", shape=(4,), scale=1.0),
               Linear("a/b", input="in", weight=np.ones((3, 4), f32)),
               Neuron("n", input="a/b", spec=NeuronSpec(levels=2)),
               Linear("out", input="n", weight=np.ones((2, 3), f32))], "out", "slash", 1)
    assert not list(tmp_path.iterdir())


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "neurosim.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_export_then_import(tmp_path):
    model = tmp_path / "model"
    save_model(odd_graph(), model)
    r = run_cli("export-nir", model, "-o", tmp_path / "out" / "odd.nir")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "odd.nir").is_file() and (tmp_path / "out" / "odd.yaml").is_file()
    r = run_cli("import-nir", tmp_path / "out" / "odd.nir", "--sidecar",
                tmp_path / "out" / "odd.yaml", "-o", tmp_path / "back")
    assert r.returncode == 0, r.stderr
    # no warnings; the side-car's overrides of what NIR says (levels, reset) are named
    assert all(line.startswith("override: ") for line in r.stderr.splitlines())
    assert "n3: reset: file says v_reset = 0 (NIR: a hard reset), using subtract" in r.stderr
    a, arrays_a = graph_to_manifest(load_model(model))
    b, arrays_b = graph_to_manifest(load_model(tmp_path / "back"))
    assert a["graph"] == b["graph"] and all(np.array_equal(arrays_a[k], arrays_b[k])
                                            for k in arrays_a)
    r = run_cli("export-nir", tmp_path / "nope", "-o", tmp_path / "x.nir")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "nope" in r.stderr and "Traceback" not in r.stderr
