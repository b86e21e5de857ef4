"""Import of neurosim's own torch checkpoints: every key and shape checked, no pickle."""

import numpy as np
import pytest

from neurosim.errors import ConversionError
from neurosim.importers.torch_state import (graph_from_state_dict, load_torch_checkpoint,
                                            state_dict_from_graph, state_dict_keys)
from neurosim.model import builders


@pytest.fixture
def sparse():
    return builders.small_resnet("sparse", levels=4, seed=1)


def test_keys_follow_node_names(sparse):
    keys = state_dict_keys(sparse)
    assert keys["stem.conv.weight"] == ("stem.conv", "weight", (8, 3, 3, 3))
    assert keys["block1.bn2.running_var"] == ("block1.bn2", "var", (16,))
    assert keys["res1.bn.weight"] == ("res1.bn", "gamma", (16,))
    assert keys["fc.bias"] == ("fc", "bias", (10,))
    assert "stem.conv.bias" not in keys  # the builders' convolutions have no bias (BN follows)


def test_round_trip_replaces_every_array(sparse):
    other = builders.small_resnet("sparse", levels=4, seed=2)
    state = state_dict_from_graph(sparse)
    state["block0.bn1.num_batches_tracked"] = np.array(10)  # torch's counter is ignored
    imported = graph_from_state_dict(other, state)
    for node in sparse.nodes:
        for field, arr in node.arrays().items():
            np.testing.assert_array_equal(imported[node.name].arrays()[field], arr)
    assert imported.name == other.name and imported.timesteps == other.timesteps


@pytest.mark.parametrize("edit, match", [
    (lambda s: s.pop("block1.conv2.weight"), r"missing parameter\(s\) \['block1.conv2.weight'\]"),
    (lambda s: s.__setitem__("extra.weight", np.zeros(3)), r"unexpected parameter.*extra.weight"),
    (lambda s: s.__setitem__("fc.weight", np.zeros((10, 3))),
     r"fc.weight: shape \[10, 3\] does not match the graph's \[10, 16\]"),
    (lambda s: s.__setitem__("stem.bn.running_var", np.full(8, np.nan)),
     r"stem.bn.running_var: holds NaN"),
    (lambda s: s.__setitem__("stem.bn.bias", np.array(["a"] * 8)), r"stem.bn.bias: not an array"),
])
def test_bad_state_dict_names_the_key(sparse, edit, match):
    state = state_dict_from_graph(sparse)
    edit(state)
    with pytest.raises(ConversionError, match=match):
        graph_from_state_dict(sparse, state, "ckpt.pt")


def test_not_a_mapping(sparse):
    with pytest.raises(ConversionError, match="ckpt.pt: expected a mapping"):
        graph_from_state_dict(sparse, [1, 2], "ckpt.pt")


def test_checkpoint_round_trip_without_pickle(tmp_path):
    torch = pytest.importorskip("torch")
    from neurosim.model.builders import build_graph
    from neurosim.train.loop import TrainConfig, make_state, save_checkpoint

    config = TrainConfig(arch="sparse-resnet18", dataset="cifar10", levels=4, width=1 / 16)
    state = make_state(config)
    save_checkpoint(state, tmp_path / "c.pt")
    graph = load_torch_checkpoint(tmp_path / "c.pt")  # settings read from the checkpoint
    assert graph["sum3"].spec.barrier and graph["sum3"].spec.levels == 4
    np.testing.assert_array_equal(graph["block2.conv1"].weight,
                                  state.net.state_dict()["block2.conv1.weight"].numpy())
    torch.save(state.net.state_dict(), tmp_path / "bare.pt")
    bare = load_torch_checkpoint(tmp_path / "bare.pt", arch="sparse-resnet18", dataset="cifar10",
                                 width=1 / 16)
    np.testing.assert_array_equal(bare["fc"].weight, graph["fc"].weight)
    with pytest.raises(ConversionError, match=r"stem.conv.weight: shape \[4, 3, 3, 3\] does "):
        load_torch_checkpoint(tmp_path / "bare.pt", arch="sew-resnet18", dataset="cifar10",
                              width=1 / 8)
    with pytest.raises(ConversionError, match=r"bare.pt: conv1.bn.bias: missing parameter"):
        load_torch_checkpoint(tmp_path / "bare.pt", arch="vgg16", dataset="cifar10",
                              width=1 / 16)
    with pytest.raises(ConversionError, match="cannot rebuild the network"):
        load_torch_checkpoint(tmp_path / "bare.pt")
    assert build_graph("sparse-resnet18", "cifar10", width=1 / 16).name == graph.name


class Payload:
    """An object a weights-only load must refuse to unpickle."""


def test_pickled_objects_and_missing_files_are_refused(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"model": Payload(), "config": {}}, tmp_path / "evil.pt")
    with pytest.raises(ConversionError, match="evil.pt: cannot be read as a weights-only"):
        load_torch_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(ConversionError, match="no such file"):
        load_torch_checkpoint(tmp_path / "absent.pt")
