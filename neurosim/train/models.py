"""The torch twin of a neurosim graph: same nodes, same names, same arithmetic.

``GraphNet(graph)`` creates one torch module per parameterised node (Conv2d, Linear, BatchNorm),
registered under the node's dotted name, so its state_dict keys are "<node>.<param>"
(conv1.conv.weight, block0.bn1.running_var, fc.weight) and export is a key-by-key copy
(neurosim.importers.torch_state). Neurons, pools, flatten and adds are functional.

Tensors flow as (T·B, ...): the image x = pixel · Input.scale is repeated every timestep (direct
encoding), convolutions and BatchNorm see the T·B batch, neurons view it as (T, B, ...) and run
their timesteps in order; the readout (the graph's output Linear) is averaged over T.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear,
                           MaxPool2d, Neuron)
from .neurons import neuron_for


def _attach(root: nn.Module, dotted: str, module: nn.Module) -> None:
    """Register ``module`` at ``dotted`` (e.g. "block0.conv1"), creating empty containers."""
    *parents, leaf = dotted.split(".")
    here = root
    for part in parents:
        if not hasattr(here, part):
            here.add_module(part, nn.Module())
        here = getattr(here, part)
    here.add_module(leaf, module)


def _module_for(node, in_shape: tuple[int, ...]) -> nn.Module | None:
    if isinstance(node, Conv2d):
        cout, cin, kh, kw = node.weight.shape
        return nn.Conv2d(cin, cout, (kh, kw), stride=node.stride, padding=node.padding,
                         bias=node.bias is not None)
    if isinstance(node, Linear):
        nout, nin = node.weight.shape
        return nn.Linear(nin, nout, bias=node.bias is not None)
    if isinstance(node, BatchNorm):
        bn = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        return bn(node.gamma.shape[0], eps=node.eps)
    return None


class GraphNet(nn.Module):
    """A trainable network that computes exactly what neurosim's float reference computes."""

    def __init__(self, graph: Graph, alpha: float | None = None, detach_reset: bool = True):
        super().__init__()
        self.timesteps = graph.timesteps
        self.input_name, self.output_name = graph.input.name, graph.output
        self.input_scale = float(graph.input.scale)
        self.nodes = list(graph.nodes)
        self.layers: dict[str, nn.Module] = {}  # node name → module (also registered by name)
        self.neurons = {}
        for node in self.nodes:
            if isinstance(node, Neuron):
                self.neurons[node.name] = neuron_for(node.spec, alpha, detach_reset)
                continue
            inputs = node.inputs
            module = _module_for(node, graph.shapes[inputs[0]] if inputs else ())
            if module is not None:
                _attach(self, node.name, module)
                self.layers[node.name] = module
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal convolutions and linears, BN γ = 1 and β = 0 (fresh training)."""
        for module in self.layers.values():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            else:
                module.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) float input values (pixel · scale); returns (B, classes) logits."""
        t, b = self.timesteps, x.shape[0]
        values = {self.input_name: x.unsqueeze(0).expand(t, *x.shape).reshape(t * b,
                                                                              *x.shape[1:])}
        for node in self.nodes:
            if isinstance(node, Input):
                continue
            if isinstance(node, Add):
                out = values[node.args[0]]
                for arg in node.args[1:]:
                    out = out + values[arg]
            else:
                src = values[node.input]
                if isinstance(node, Neuron):
                    out = self.neurons[node.name](src.view(t, b, *src.shape[1:]))
                    out = out.view(t * b, *src.shape[1:])
                elif node.name in self.layers:
                    out = self.layers[node.name](src)
                elif isinstance(node, MaxPool2d):
                    out = F.max_pool2d(src, node.kernel, node.stride)
                elif isinstance(node, AvgPool2d):
                    out = src.mean((2, 3), keepdim=True) if node.is_global else \
                        F.avg_pool2d(src, node.kernel, node.stride)
                elif isinstance(node, Flatten):
                    out = src.flatten(1)
                else:
                    raise TypeError(f"no torch rule for node {node.name!r} "
                                    f"({type(node).__name__})")
            values[node.name] = out
        logits = values[self.output_name]
        return logits.view(t, b, -1).mean(0)
