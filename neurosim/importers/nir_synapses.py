"""NIR connection nodes onto the IR (the synapse family of the importer): Scale, Delay,
Flatten, Conv1d/Conv2d, Affine/Linear (also on a current: a folded BatchNorm), SumPool2d and
AvgPool2d. See neurosim.importers.nir_import for the mapping table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import ConversionError
from ..model.graph import AvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d
from .dialects import TOLERANCE
from .nir_values import Value, pair


class SynapseNodes:
    """Handlers of the importer (neurosim.importers.nir_import.Importer) for connection nodes."""

    def _scale(self, name, node):
        value = self._gather(name, identity=True)
        s = self._per_channel(node.scale, value.shape, "scale", name)
        if value.scale is not None:
            s = s * value.scale
        if np.allclose(s, 1, rtol=0, atol=TOLERANCE):  # e.g. a neuron's level value θ absorbed
            return replace(value, scale=None)
        return replace(value, scale=s)

    def _delay(self, name, node):
        value = self._gather(name, identity=True)
        delay = np.asarray(node.delay, np.float64)
        if np.any(delay != 0):
            self.fail(f"delays its input by up to {delay.max():g}: neurosim has no synaptic "
                      "delays", name)
        return value

    def _flatten(self, name, node):
        value = self._gather(name, identity=False)
        nd = len(value.shape)
        declared = node.input_type.get("input") if isinstance(node.input_type, dict) else None
        if declared is not None and np.size(declared) and \
                int(np.prod(declared)) != int(np.prod(value.shape)):
            self.fail(f"declares input {np.asarray(declared).tolist()} but receives "
                      f"{list(value.shape)}", name)
        start, end = int(node.start_dim), int(node.end_dim)
        start, end = start % nd if start < 0 else start, end % nd if end < 0 else end
        if nd == 1:
            return value
        if (start, end) != (0, nd - 1):
            self.fail(f"flattens dimensions {start}..{end} of {list(value.shape)}: neurosim "
                      "flattens whole feature maps only", name)
        if value.kind != "stream":
            self.fail("flattens a current (put a neuron before it)", name)
        self.emit(Flatten(name, input=value.source))
        size = int(np.prod(value.shape))
        scale = None if value.scale is None else np.repeat(value.scale, size // value.shape[0])
        return Value(name, "stream", (size,), (size,), scale)

    def _conv(self, name, node, one_d: bool):
        value = self._gather(name, identity=False)
        w = np.asarray(node.weight, np.float64)
        nd = 1 if one_d else 2
        if w.ndim != nd + 2:
            self.fail(f"weight must have {nd + 2} dimensions, got shape {list(w.shape)}", name)
        groups = int(np.asarray(node.groups).ravel()[0])
        cout, cin_g = w.shape[:2]
        if groups < 1 or cout % groups:
            self.fail(f"groups={groups} does not divide {cout} output channels", name)
        if len(value.shape) != nd + 1 or value.shape[0] != cin_g * groups:
            self.fail(f"expects an input of {cin_g * groups} channels and {nd} spatial "
                      f"dimension(s), gets {list(value.shape)} from {self.preds[name]}"
                      + self._input_hint(name), name)
        if value.kind != "stream" or self.car.node(name).batchnorm is not None:
            return self._affine_on_current(name, node, value, w.reshape(cout, cin_g, -1), groups)
        kernel = w.shape[2:]
        stride = pair(node.stride, nd, "stride", self.where, name)
        dilation = pair(node.dilation, nd, "dilation", self.where, name)
        spatial = value.shape[1:]
        declared = np.asarray(node.input_shape if node.input_shape is not None else [],
                              np.float64).ravel()
        if declared.size and tuple(int(s) for s in declared) != tuple(spatial):
            self.fail(f"declares input_shape {declared.astype(int).tolist()} but receives "
                      f"{list(spatial)}", name)
        if isinstance(node.padding, str):
            if node.padding == "valid":
                padding = (0,) * nd
            else:  # "same"
                total = [d * (k - 1) for d, k in zip(dilation, kernel)]
                if any(t % 2 for t in total) or any(s != 1 for s in stride):
                    self.fail("padding 'same' needs stride 1 and an odd (dilated) kernel here",
                              name)
                padding = tuple(t // 2 for t in total)
        else:
            padding = pair(node.padding, nd, "padding", self.where, name)
        if groups > 1:
            dense = np.zeros((cout, cin_g * groups) + kernel)
            og = cout // groups
            for g in range(groups):
                dense[g * og:(g + 1) * og, g * cin_g:(g + 1) * cin_g] = w[g * og:(g + 1) * og]
            w = dense
        if any(d > 1 for d in dilation):
            shape = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
            dilated = np.zeros(w.shape[:2] + shape)
            dilated[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
            w = dilated
        if value.scale is not None:
            w = w * value.scale.reshape((1, -1) + (1,) * nd)
        if one_d:
            w, stride, padding = w[:, :, None, :], (1,) + stride, (0,) + padding
        out = [(s + 2 * p - k) // st + 1
               for s, p, k, st in zip(spatial, padding[-nd:], w.shape[-nd:], stride[-nd:])]
        if min(out) < 1:
            self.fail(f"kernel {list(w.shape[-nd:])} does not fit input {list(spatial)}", name)
        bias = self._bias(name, node, cout)
        weight = w.astype(np.float32) if w.dtype != np.float32 else w
        self.emit(Conv2d(name, input=value.source, weight=weight, bias=bias, stride=stride,
                         padding=padding))
        shape = (cout, *out)
        return Value(name, "current", shape, (cout, 1, out[0]) if one_d else shape)

    def _input_hint(self, name) -> str:
        if self.top_input not in self.preds[name] or self.car.input_shape:
            return ""
        return ("; if the exporter declared a wrong input shape, give the real one as "
                "input_shape in the side-car")

    def _bias(self, name, node, n: int):
        bias = getattr(node, "bias", None)
        if bias is None:
            return None
        bias = np.asarray(bias, np.float64).ravel()
        if bias.size == 1 and n > 1:
            bias = np.full(n, bias[0])
        if bias.shape != (n,):
            self.fail(f"bias has {bias.size} values for {n} outputs", name)
        if self.car.node(name).bias is False:
            if np.any(bias != 0):
                self.fail("the side-car says 'bias: false' but the node's bias is not zero", name)
            return None
        return bias.astype(np.float32)

    def _affine(self, name, node):
        value = self._gather(name, identity=False)
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2:
            self.fail(f"weight must be a matrix (out, in), got shape {list(w.shape)}", name)
        if value.shape != (w.shape[1],):
            self.fail(f"expects a vector of {w.shape[1]} features, gets {list(value.shape)} from "
                      f"{self.preds[name]}" + (" (insert a Flatten)" if len(value.shape) > 1
                                               else self._input_hint(name)), name)
        if value.kind != "stream" or self.car.node(name).batchnorm is not None:
            return self._affine_on_current(name, node, value, w[:, :, None], 1)
        if value.scale is not None:
            w = w * value.scale[None, :]
        weight = w.astype(np.float32)
        self.emit(Linear(name, input=value.source, weight=weight,
                         bias=self._bias(name, node, w.shape[0])))
        return Value(name, "current", (w.shape[0],), (w.shape[0],))

    def _affine_on_current(self, name, node, value, w, groups):
        """A conv/affine applied to a current is only possible as a per-channel scale and shift
        (a BatchNorm): a diagonal 1×1 map, such as a BatchNorm exported as a depthwise conv."""
        c = value.shape[0]
        cout = w.shape[0]
        diag = None
        if w.shape[2] == 1 and cout == c:
            stride = np.asarray(getattr(node, "stride", 1)).ravel()
            padding = getattr(node, "padding", 0)
            padding = np.asarray(padding if not isinstance(padding, str) else
                                 (0 if padding in ("valid", "same") else 1)).ravel()
            if np.all(stride == 1) and np.all(padding == 0):
                if groups == c and w.shape[1] == 1:
                    diag = w[:, 0, 0]
                elif groups == 1 and w.shape[1] == c:
                    m = w[:, :, 0]
                    if np.all(m[~np.eye(c, dtype=bool)] == 0):
                        diag = np.diag(m).copy()
        if diag is None:
            self.fail(f"takes the current of {self.preds[name]} (no neuron between): neurosim's "
                      "layers are fed by events, so only a per-channel scale and shift (a "
                      "diagonal 1x1 map) can follow a conv or linear layer", name)
        bias = self._bias(name, node, c)
        shift = np.zeros(c) if bias is None else bias.astype(np.float64)
        k = diag * (1.0 if value.scale is None else value.scale)
        bn = self.car.node(name).batchnorm
        if bn is not None:
            if value.scale is not None:
                self.fail("a side-car batchnorm cannot follow a scaled value", name)
            self._restore_bn(name, value, bn, diag, shift)
        else:
            self._bn(name, value.source, k, shift)
        return Value(name, "current", value.shape, value.ir_shape)

    def _restore_bn(self, name, value, bn, k, c):
        """The exact BatchNorm a neurosim export folded into a depthwise node (side-car)."""
        n = value.shape[0]
        if bn["gamma"].shape != (n,):
            raise ConversionError(f"batchnorm has {bn['gamma'].size} channels, the node has {n}",
                                  self.car.path, f"nodes.{name}.batchnorm")
        node = BatchNorm(name, input=value.source, gamma=bn["gamma"], beta=bn["beta"],
                         mean=bn["mean"], var=bn["var"], eps=bn["eps"])
        k_bn, c_bn = node.scale_shift()
        if not (np.allclose(k_bn, k, rtol=1e-5, atol=1e-6)
                and np.allclose(c_bn, c, rtol=1e-5, atol=1e-6)):
            raise ConversionError("batchnorm does not match the node's folded weight and bias "
                                  "(a side-car written for another file?)", self.car.path,
                                  f"nodes.{name}.batchnorm")
        self.emit(node)

    def _pool(self, name, node, kind):
        value = self._gather(name, identity=False)
        if value.kind != "stream":
            self.fail(f"pools the current of {self.preds[name]}: neurosim pools the output "
                      "levels of a neuron layer (put the pool after the neuron)", name)
        if len(value.shape) != 3:
            self.fail(f"expects a feature map (C, H, W), gets {list(value.shape)}", name)
        kernel = pair(node.kernel_size, 2, "kernel_size", self.where, name)
        stride = pair(node.stride, 2, "stride", self.where, name)
        if any(pair(node.padding, 2, "padding", self.where, name)):
            self.fail("pooling with padding: neurosim pools have none", name)
        c, h, w = value.shape
        out = ((h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1)
        if min(out) < 1 or min(kernel) < 1 or min(stride) < 1:
            self.fail(f"pool {list(kernel)} stride {list(stride)} does not fit {list(value.shape)}",
                      name)
        declared = self.car.node(name).pool
        scale = value.scale
        if declared == "max":
            self.emit(MaxPool2d(name, input=value.source, kernel=kernel, stride=stride))
        elif declared == "global" or (declared is None and kind == "AvgPool2d"
                                      and out == (1, 1) and kernel == (h, w)):
            if kind != "AvgPool2d" or out != (1, 1):
                self.fail("the side-car declares a global pool, but this is not an average pool "
                          "over the whole map", name)
            self.emit(AvgPool2d(name, input=value.source, kernel=None))
        else:
            if declared is not None and declared != {"AvgPool2d": "avg",
                                                     "SumPool2d": "sum"}[kind]:
                self.fail(f"the side-car declares pool '{declared}' but the node is a {kind}",
                          name)
            self.emit(AvgPool2d(name, input=value.source, kernel=kernel, stride=stride))
            if kind == "SumPool2d":
                k2 = float(kernel[0] * kernel[1])
                scale = np.full(c, k2) if scale is None else scale * k2
        return Value(name, "stream", (c, *out), (c, *out), scale)
