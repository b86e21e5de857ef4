"""Training extra: neurons equal the simulator's rule, the torch twin equals neurosim's float
reference, checkpoints resume exactly, export writes a model neurosim simulates. Tiny synthetic
data only (a few hundred images), no GPU, a few seconds."""

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurosim.compiler import compile_graph  # noqa: E402
from neurosim.data import Dataset  # noqa: E402
from neurosim.errors import InputError  # noqa: E402
from neurosim.importers.torch_state import state_dict_from_graph, state_dict_keys  # noqa: E402
from neurosim.model import builders  # noqa: E402
from neurosim.model.io import load_model, read_manifest  # noqa: E402
from neurosim.model.neurons import NeuronSpec, barrier, s3nn, step  # noqa: E402
from neurosim.reference import run  # noqa: E402
import neurosim.model.builders as train_config  # noqa: E402
from neurosim.model.builders import build_graph  # noqa: E402
from neurosim.train.data import augment, batches  # noqa: E402
from neurosim.train.export import export  # noqa: E402
from neurosim.train.loop import (TrainConfig, load_checkpoint, make_state, predict,  # noqa: E402
                                 save_checkpoint, train_epochs)
from neurosim.train.models import GraphNet  # noqa: E402
from neurosim.train.neurons import SpikingNeuron, neuron_for  # noqa: E402

torch.set_num_threads(1)


# --- neurons --------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [NeuronSpec(levels=1), NeuronSpec(levels=4),
                                  NeuronSpec(levels=8, vth=0.5), barrier(4), s3nn()])
@pytest.mark.parametrize("timesteps", [1, 4])
def test_neuron_forward_equals_simulator_rule(spec, timesteps, rng):
    current = rng.normal(0.3, 0.6, (timesteps, 64, 5))
    current[0, :8, 0] = spec.theta * np.arange(8)  # exact level boundaries fire on equality
    out = neuron_for(spec)(torch.from_numpy(current)).numpy()
    v = np.zeros(current.shape[1:])
    for t in range(timesteps):
        v, z = step(v, current[t], spec)
        np.testing.assert_array_equal(out[t], z * spec.theta)
    assert out[0, :8, 0].tolist() == [min(k, spec.levels) * spec.theta for k in range(8)]


def _grad(neuron, v):
    x = torch.tensor([[v]], dtype=torch.float64, requires_grad=True)
    neuron(x).sum().backward()
    return float(x.grad)


def test_sigmoid_surrogate_is_the_papers_at_each_level():
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    binary = SpikingNeuron(levels=1, alpha=5.0)
    assert _grad(binary, 1.0) == pytest.approx(5.0 / 4)  # σ'(0) = α/4 at the threshold
    assert _grad(binary, 0.6) == pytest.approx(5 * sig(-2.0) * (1 - sig(-2.0)))
    four = SpikingNeuron(levels=4, alpha=5.0)  # θ = 0.25: thresholds at v = 0.25, 0.5, 0.75, 1
    x = 0.5 / 0.25
    expected = sum(5 * sig(5 * (x - k)) * (1 - sig(5 * (x - k))) for k in range(1, 5))
    assert _grad(four, 0.5) == pytest.approx(expected)


def test_barrier_is_straight_through_and_s3nn_uses_its_surrogate():
    ste = neuron_for(barrier(4))
    assert [_grad(ste, v) for v in (-3.0, 0.1, 0.5, 7.0)] == [1.0, 1.0, 1.0, 1.0]
    single = neuron_for(s3nn())
    assert _grad(single, 2.0) == pytest.approx(0.5)  # β / (x + 1) at x = 1
    sig = 1 / (1 + np.exp(2.0))
    assert _grad(single, 0.5) == pytest.approx(4 * sig * (1 - sig))  # α = 4 at x = -0.5


def test_neuron_rejects_unsupported_settings():
    with pytest.raises(ValueError, match="unknown surrogate"):
        SpikingNeuron(surrogate="atan")
    with pytest.raises(ValueError, match="binary"):
        SpikingNeuron(levels=4, surrogate="s3nn")
    with pytest.raises(ValueError, match="soft reset"):
        neuron_for(NeuronSpec(reset="zero"))


# --- the torch twin of the builders -----------------------------------------------------------

@pytest.mark.parametrize("arch", ["vgg16", "sew-resnet18", "sparse-resnet18", "small"])
def test_state_dict_keys_are_neurosim_node_names(arch):
    graph = build_graph(arch, "cifar10", width=1 / 16)
    keys = {k for k in GraphNet(graph).state_dict() if not k.endswith("num_batches_tracked")}
    assert keys == set(state_dict_keys(graph))
    named = {"vgg16": ["conv1.conv.weight", "conv1.bn.running_var", "fc1.fc.weight",
                       "fc3.weight", "conv13.bn.bias"],
             "sew-resnet18": ["stem.conv.weight", "block0.bn1.running_var", "res2.conv.weight",
                              "res2.bn.weight", "fc.weight"],
             "sparse-resnet18": ["block7.conv2.weight", "res6.bn.running_mean", "fc.bias"],
             "small": ["conv1.conv.weight", "conv2.bn.weight", "fc1.fc.bias", "fc2.weight"]}
    assert set(named[arch]) <= keys


@pytest.mark.parametrize("graph", [
    builders.small_convnet(levels=4, timesteps=2, input_shape=(1, 12, 12), seed=3),
    builders.small_resnet("sew", levels=4, timesteps=1, seed=4),
    builders.small_resnet("sparse", levels=2, timesteps=3, seed=5),
    builders.small_resnet("spiking", levels=1, timesteps=2, seed=6),
], ids=lambda g: g.name)
def test_torch_forward_equals_neurosim_float_reference(graph, rng):
    net = GraphNet(graph).double().eval()
    net.load_state_dict({k: torch.from_numpy(v).double()
                         for k, v in state_dict_from_graph(graph).items()}, strict=False)
    images = rng.integers(0, 256, (24,) + graph.input.shape, dtype=np.uint8)
    with torch.no_grad():
        logits = net(torch.from_numpy(images).double() * graph.input.scale).numpy()
    ref = run(compile_graph(graph, integer=False), images)
    np.testing.assert_allclose(logits, ref.logits, rtol=1e-6, atol=1e-6)


# --- data -------------------------------------------------------------------------------------

def test_augment_is_a_zero_padded_crop_and_flip():
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.uint8).reshape(2, 3, 6, 6) + 1
    out = augment(images, pad=2, flip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for b in range(2):
        crops = [padded[b, :, y:y + 6, x:x + 6] for y in range(5) for x in range(5)]
        assert any(torch.equal(out[b], c) or torch.equal(out[b], c.flip(2)) for c in crops)


def _synthetic(n, seed, shape=(1, 12, 12)):
    """Images whose class is the brightest of four horizontal bands (flip-invariant): learnable
    in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 60, (n,) + shape).astype(np.uint8)
    band = shape[1] // 4
    for i, c in enumerate(labels):
        images[i, :, c * band:(c + 1) * band] += 150
    return Dataset(images, labels.astype(np.int64), f"synthetic-{seed}")


@pytest.fixture
def tiny(monkeypatch):
    """A width-1/2 small convnet on 12×12 one-channel images (a Fashion-MNIST stand-in)."""
    monkeypatch.setitem(train_config.DATASETS, "fashion-mnist", (1, 12, 12))
    return TrainConfig(arch="small", dataset="fashion-mnist", levels=4, timesteps=1, width=0.5,
                       epochs=2, batch_size=32, lr=0.05, seed=7)


def test_batches_cover_every_image_once():
    data = _synthetic(70, 0)
    seen = torch.cat([y for _, y in batches(data, 32, 1, True, "cifar10")])
    assert sorted(seen.tolist()) == sorted(data.labels.tolist())
    ordered = torch.cat([x for x, _ in batches(data, 32, 1, False, "")])
    assert torch.equal(ordered, torch.from_numpy(data.inputs))


# --- training, checkpoints, export -----------------------------------------------------------

def test_training_learns_and_resume_is_exact(tiny, tmp_path):
    train, test = _synthetic(256, 0), _synthetic(64, 1)
    straight = train_epochs(make_state(tiny), train, test, progress=False, log=lambda m: None)
    assert straight.history[-1]["test_accuracy"] > 0.6  # 4 classes: chance is 0.25
    first = train_epochs(make_state(tiny), train, test, tmp_path / "c.pt", progress=False,
                         log=lambda m: None, until=1)
    resumed = load_checkpoint(tmp_path / "c.pt", tiny)
    assert resumed.epoch == 1
    resumed = train_epochs(resumed, train, test, progress=False, log=lambda m: None)
    for k, v in straight.net.state_dict().items():
        assert torch.equal(v, resumed.net.state_dict()[k]), k


def test_gradient_clipping_bounds_the_first_update(tiny, monkeypatch):
    """With grad_clip = c, the norm of what reaches the optimizer is at most c (and unchanged
    without clipping): the first step then moves the weights by at most lr · c."""
    train = _synthetic(32, 0)
    norms = {}
    for clip in (None, 1e-3):
        cfg = TrainConfig.from_dict(dict(tiny.to_dict(), epochs=1, grad_clip=clip))
        state = make_state(cfg)
        step = state.optimizer.step

        def recording_step(*a, clip=clip, net=state.net, **k):
            grads = [p.grad.norm() for p in net.parameters() if p.grad is not None]
            norms.setdefault(clip, float(torch.linalg.vector_norm(torch.stack(grads))))
            return step(*a, **k)
        monkeypatch.setattr(state.optimizer, "step", recording_step)
        train_epochs(state, train, None, progress=False, log=lambda m: None)
    assert norms[None] > 1e-3
    assert norms[1e-3] == pytest.approx(1e-3, rel=1e-4)


def test_resume_refuses_another_network(tiny, tmp_path):
    state = make_state(tiny)
    save_checkpoint(state, tmp_path / "c.pt")
    other = TrainConfig.from_dict(dict(tiny.to_dict(), levels=8))
    with pytest.raises(InputError, match="levels=4, not 8"):
        load_checkpoint(tmp_path / "c.pt", other)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="weights-only torch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt", tiny)


def test_export_writes_a_model_that_neurosim_simulates(tiny, tmp_path):
    from neurosim.simulate import simulate

    train, test = _synthetic(256, 0), _synthetic(80, 1)
    state = train_epochs(make_state(tiny), train, None, progress=False, log=lambda m: None)
    out = export(state, tmp_path / "tiny_model", test, samples=40, agreement_samples=40,
                 log=lambda m: None)
    meta = read_manifest(out)["provenance"]
    assert meta["reduced_width"] == "yes" and meta["hardware"] == "CPU, 2 cores"
    assert meta["epochs"] == 2 and meta["levels"] == 4 and meta["timesteps"] == 1
    acc = meta["accuracy"]
    assert acc["float_reference_agreement"] >= 0.95 and acc["agreement_samples"] == 40
    assert 0 <= acc["quantised"] <= 1 and acc["quantised_samples"] == 80
    graph = load_model(out)
    assert graph["conv1.conv"].weight.dtype == np.float32  # stored float16, loaded as float32
    with np.load(out / "samples.npz", allow_pickle=False) as npz:
        assert npz["images"].shape == (40, 1, 12, 12) and npz["images"].dtype == np.uint8
    sim = simulate(out)
    assert sim.result.counts.samples == 40
    with np.load(out / "samples.npz", allow_pickle=False) as npz:
        samples = Dataset(npz["images"], npz["labels"].astype(np.int64), "samples")
    ref = run(compile_graph(graph, integer=False), samples.inputs)
    assert np.mean(ref.predictions == predict(state.net, samples)) >= 0.95


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                      for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_cli_trains_resumes_and_exports(tmp_path):
    root = tmp_path / "fmnist"
    root.mkdir()
    for prefix, n, seed in (("train", 200, 0), ("t10k", 60, 1)):
        data = _synthetic(n, seed, (1, 28, 28))
        _write_idx(root / f"{prefix}-images-idx3-ubyte.gz", data.inputs[:, 0])
        _write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", data.labels)
    common = ["--arch", "small", "--dataset", "fashion-mnist", "--width", "0.5",
              "--data-root", root, "--cache", tmp_path / "cache", "--threads", "1",
              "--batch-size", "50", "--samples", "20", "--agreement-samples", "20",
              "--no-progress", "--out", tmp_path / "model"]
    cli = [sys.executable, "-m", "neurosim.cli", "train"]
    r = subprocess.run(cli + list(map(str, common + ["--epochs", "1"])), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ckpt = tmp_path / "cache" / "ckpt" / "model.pt"
    assert ckpt.is_file() and "epoch 1:" in r.stdout
    r = subprocess.run(cli + list(map(str, common + ["--epochs", "2", "--resume", ckpt])),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "after epoch 1" in r.stdout and "epoch 2:" in r.stdout and "epoch 1:" not in r.stdout
    provenance = read_manifest(tmp_path / "model")["provenance"]
    assert provenance["epochs"] == 2 and provenance["training"]["grad_clip"] == 5.0
    r = subprocess.run(cli + list(map(str, common + ["--levels", "2", "--resume", ckpt])),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "levels=4, not 2" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_compiled_surrogate_has_the_same_values(rng):
    from neurosim.train import neurons

    v = torch.from_numpy(rng.normal(0.4, 0.7, (3, 50)))
    try:
        neurons.compile_surrogate()
        fused = neurons._slope(v, 0.25, 4, 5.0)
    except Exception as err:  # no C++ compiler here: the eager path is what runs
        pytest.skip(f"torch.compile unavailable: {err}")
    finally:
        neurons.compile_surrogate(False)
    np.testing.assert_allclose(fused.numpy(), neurons.sigmoid_slope(v, 0.25, 4, 5.0).numpy(),
                               rtol=1e-12, atol=1e-12)


def test_models_report_lists_models_and_their_accuracy_here(tmp_path, rng):
    from conftest import REPO

    from neurosim.model.graph import Graph
    from neurosim.model.io import save_model
    from neurosim.train.report import write

    for variant in ("sew", "sparse"):
        g = builders.small_resnet(variant, levels=4, seed=9)
        meta = {"architecture": f"{variant}-resnet18", "levels": 4, "width": 0.25, "epochs": 3,
                "seed": 0, "dataset": "CIFAR-10 (synthetic)", "training_time_s": 7200.0,
                "hardware": "CPU, 2 cores", "accuracy": {"float": 0.5, "float_samples": 10000},
                "fine_tuned_from": {"model": "parent"}}
        save_model(Graph(g.nodes, g.output, g.name, g.timesteps, meta), tmp_path / "m" / variant)
    images = tmp_path / "x.npz"
    np.savez(images, images=rng.integers(0, 256, (6, 3, 16, 16), dtype=np.uint8),
             labels=np.arange(6))
    for variant in ("sew", "sparse"):  # the profile runs read the model's own samples
        shutil.copyfile(images, tmp_path / "m" / variant / "samples.npz")
    text = write(tmp_path / "m", tmp_path / "models.md", images, None,
                 hw_dir=REPO / "hw_configs", fidelity_samples=6).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| sew |"))
    assert "| sew-resnet18 | CIFAR-10 (synthetic) | 4 | 1 | 0.25 |" in row
    assert "50.00% (10000)" in row and "2.00 h" in row and "| parent |" in row
    assert row.endswith("(6) | – | test set |") and row.count("%") == 2  # export, and here
    assert "## Fidelity: the integer network against the float model" in text
    assert any(line.startswith("| sparse | loihi_14nm | 8/16/16 |") for line in text.splitlines())


def test_bn_recalibration_is_the_plain_average_over_the_images(tiny):
    from neurosim.train.loop import inputs_of, recalibrate_bn

    data = _synthetic(90, 3)
    state = train_epochs(make_state(tiny), _synthetic(64, 0), None, progress=False,
                         log=lambda m: None)
    net = state.net.eval()
    assert recalibrate_bn(net, data, 60, batch_size=20, seed=1) == 60  # 3 equal batches
    assert not net.training
    pick = np.sort(np.random.default_rng(1).permutation(90)[:60])
    with torch.no_grad():
        conv = net.layers["conv1.conv"](inputs_of(torch.from_numpy(data.inputs[pick]), net))
    bn = net.layers["conv1.bn"]
    torch.testing.assert_close(bn.running_mean, conv.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1


@pytest.mark.parametrize("better", ["running", "recomputed"])
def test_bn_statistics_kept_are_the_better_on_held_out_training_images(tiny, monkeypatch,
                                                                        better):
    """The recomputed statistics replace the running ones only if they classify held-out
    training images (disjoint from those recomputed over) at least as well."""
    from neurosim.train import loop

    data = _synthetic(90, 3)
    state = train_epochs(make_state(tiny), _synthetic(64, 0), None, progress=False,
                         log=lambda m: None)
    net = state.net.eval()
    before = net.layers["conv1.bn"].running_mean.clone()
    calls = []

    def fake_predict(net, held):  # right on the first call (running) or the second
        calls.append(len(held))
        right = (len(calls) == 1) == (better == "running")
        return held.labels if right else held.labels + 1

    monkeypatch.setattr(loop, "predict", fake_predict)
    info = loop.choose_bn_statistics(net, data, 60, check=20, seed=1, log=lambda m: None)
    assert calls == [20, 20] and info["kept"] == better and info["recomputed_images"] == 60
    assert info["check_accuracy_" + better] == 1.0
    after = net.layers["conv1.bn"].running_mean
    assert torch.equal(after, before) == (better == "running")
    assert loop.choose_bn_statistics(net, data, 0)["kept"] == "running"


def test_init_starts_from_the_parent_weights_at_another_n(tiny, tmp_path):
    """--init: a fine-tuning run at N=1 starts with the N=4 parent's parameters (BN statistics
    too); a parent of another width is refused, naming the field."""
    from neurosim.importers.torch_state import state_dict_from_graph
    from neurosim.model.io import save_model

    parent = tiny.graph(name="parent")
    save_model(parent, tmp_path / "parent")
    child = make_state(TrainConfig.from_dict(dict(tiny.to_dict(), levels=1,
                                                  init=str(tmp_path / "parent"))))
    own = child.net.state_dict()
    for key, value in state_dict_from_graph(parent).items():
        assert torch.equal(own[key], torch.from_numpy(value)), key
    wider = TrainConfig.from_dict(dict(tiny.to_dict(), width=1.0, init=str(tmp_path / "parent")))
    with pytest.raises(InputError, match="width=0.5, this run has 1.0"):
        make_state(wider)
