"""A dense float32 forward pass of a compiled network: the baseline the engine is measured against.

The same layers, weights (BatchNorm folded) and pooling as the event engine runs, evaluated as an
ANN: every neuron computes its input current from all of its inputs (ReLU instead of levels), with
numpy/BLAS (im2col + matrix product) or torch (conv2d). It is the work a dense accelerator or a
framework does for one forward pass, whatever the activity.
"""

from __future__ import annotations

import numpy as np


def _conv_numpy(x, w, stride, padding):
    b, c, h, wd = x.shape
    cout, cin, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride[0], ::stride[1]]
    ho, wo = win.shape[2:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, cin * kh * kw)
    out = cols @ w.reshape(cout, -1).T
    return out.reshape(b, ho, wo, cout).transpose(0, 3, 1, 2)


def _pool_numpy(z, pool, out_shape):
    kh, kw = pool.kernel
    sh, sw = pool.stride
    ho, wo = out_shape[1:]
    win = np.lib.stride_tricks.sliding_window_view(z, (kh, kw), axis=(2, 3))
    win = win[:, :, ::sh, ::sw][:, :, :ho, :wo]
    return win.max(axis=(4, 5)) if pool.kind == "max" else win.sum(axis=(4, 5))


class DenseForward:
    """``forward(x)`` for a float-compiled network (compile_graph(..., integer=False))."""

    def __init__(self, net, backend: str = "numpy"):
        self.net = net
        self.backend = backend
        if backend == "torch":
            import torch
            self.torch = torch
            self.weights = {(layer.name, i): torch.from_numpy(p.weight.astype(np.float32))
                            for layer in net.layers for i, p in enumerate(layer.projections)}
        else:
            self.weights = {(layer.name, i): p.weight.astype(np.float32)
                            for layer in net.layers for i, p in enumerate(layer.projections)}
        self.biases = {layer.name: None if layer.bias is None else layer.bias.astype(np.float32)
                       for layer in net.layers}

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.backend == "torch":
            with self.torch.no_grad():
                return self._forward_torch(self.torch.from_numpy(x.astype(np.float32))).numpy()
        return self._forward_numpy(x.astype(np.float32))

    def _forward_numpy(self, x):
        streams = {self.net.input_name: x}
        out = None
        for layer in self.net.layers:
            b = len(x)
            cur = np.zeros((b,) + tuple(layer.shape), np.float32)
            for i, p in enumerate(layer.projections):
                src, w = streams[p.source], self.weights[(layer.name, i)]
                if p.kind == "conv":
                    cur += _conv_numpy(src, w, p.stride, p.padding)
                elif p.kind == "linear":
                    cur += (src.reshape(b, -1) @ w.T).reshape(cur.shape)
                else:
                    cur += src.reshape(cur.shape) * w.reshape((1, -1) + (1,) * (cur.ndim - 2))
            if self.biases[layer.name] is not None:
                cur += self.biases[layer.name].reshape((1, -1) + (1,) * (cur.ndim - 2))
            if layer.mode == "spiking":
                np.maximum(cur, 0, out=cur)
            if layer.pool is not None:
                cur = _pool_numpy(cur, layer.pool, layer.out_shape)
            streams[layer.name] = out = cur
        return out

    def _forward_torch(self, x):
        torch = self.torch
        f = torch.nn.functional
        streams = {self.net.input_name: x}
        out = None
        for layer in self.net.layers:
            b = x.shape[0]
            cur = None
            for i, p in enumerate(layer.projections):
                src, w = streams[p.source], self.weights[(layer.name, i)]
                if p.kind == "conv":
                    y = f.conv2d(src, w, stride=p.stride, padding=p.padding)
                elif p.kind == "linear":
                    y = (src.reshape(b, -1) @ w.T).reshape((b,) + tuple(layer.shape))
                else:
                    y = src.reshape((b,) + tuple(layer.shape)) * w.reshape(
                        (1, -1) + (1,) * (len(layer.shape) - 1))
                cur = y if cur is None else cur + y
            if self.biases[layer.name] is not None:
                cur = cur + torch.from_numpy(self.biases[layer.name]).reshape(
                    (1, -1) + (1,) * (len(layer.shape) - 1))
            if layer.mode == "spiking":
                cur = torch.relu(cur)
            if layer.pool is not None:
                k, s = layer.pool.kernel, layer.pool.stride
                cur = f.max_pool2d(cur, k, s) if layer.pool.kind == "max" else \
                    f.avg_pool2d(cur, k, s) * (k[0] * k[1])
            streams[layer.name] = out = cur
        return out


def dense_macs(net) -> int:
    """Multiply-accumulates of one dense forward pass (every synapse once)."""
    total = 0
    for layer in net.layers:
        for p in layer.projections:
            if p.kind == "conv":
                _, cin, kh, kw = p.weight.shape
                total += layer.neurons * cin * kh * kw
            elif p.kind == "linear":
                total += p.weight.size
            else:
                total += layer.neurons
    return total
