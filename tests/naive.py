"""Naive float64 interpreter of the graph IR, independent of the compiler.

It runs the nodes as a training framework would (conv, then BatchNorm with its statistics, then
the neuron on decoded values z·θ), with explicit loops for convolution. The compiled float
network must produce the same levels: that checks BN folding, scale folding and add handling.
"""

from __future__ import annotations

import numpy as np

from neurosim.model.graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear,
                                  MaxPool2d, Neuron)


def conv2d(x, w, stride, padding):
    b, cin, h, wd = x.shape
    cout, _, kh, kw = w.shape
    ph, pw = padding
    xp = np.zeros((b, cin, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho = (h + 2 * ph - kh) // stride[0] + 1
    wo = (wd + 2 * pw - kw) // stride[1] + 1
    out = np.zeros((b, cout, ho, wo))
    for oy in range(ho):
        for ox in range(wo):
            patch = xp[:, :, oy * stride[0]:oy * stride[0] + kh, ox * stride[1]:ox * stride[1] + kw]
            out[:, :, oy, ox] = np.einsum("bchw,ochw->bo", patch, w)
    return out


def pool2d(x, kernel, stride, op):
    b, c, h, w = x.shape
    ho = (h - kernel[0]) // stride[0] + 1
    wo = (w - kernel[1]) // stride[1] + 1
    out = np.zeros((b, c, ho, wo))
    for oy in range(ho):
        for ox in range(wo):
            win = x[:, :, oy * stride[0]:oy * stride[0] + kernel[0],
                    ox * stride[1]:ox * stride[1] + kernel[1]]
            out[:, :, oy, ox] = op(win, axis=(2, 3))
    return out


def run_graph(graph, x_int, timesteps=None):
    """Returns ({neuron name: levels (T, B, ...)}, logits (B, classes)) in float64."""
    timesteps = timesteps or graph.timesteps
    b = len(x_int)
    v = {n.name: np.zeros((b,) + graph.shapes[n.name]) for n in graph.neurons()}
    levels = {n.name: [] for n in graph.neurons()}
    logit_sum = 0.0
    for t in range(timesteps):
        frame = x_int[:, t] if x_int.ndim == len(graph.input.shape) + 2 else x_int
        val = {}
        for node in graph.nodes:
            if isinstance(node, Input):
                val[node.name] = frame.astype(np.float64) * node.scale
            elif isinstance(node, Conv2d):
                out = conv2d(val[node.input], node.weight.astype(np.float64), node.stride,
                             node.padding)
                if node.bias is not None:
                    out += node.bias.reshape(1, -1, 1, 1)
                val[node.name] = out
            elif isinstance(node, Linear):
                x = val[node.input].reshape(b, -1)
                val[node.name] = x @ node.weight.astype(np.float64).T + (
                    0 if node.bias is None else node.bias)
            elif isinstance(node, BatchNorm):
                x = val[node.input]
                shape = (1, -1) + (1,) * (x.ndim - 2)
                k = node.gamma.astype(np.float64) / np.sqrt(node.var.astype(np.float64) + node.eps)
                val[node.name] = (x - node.mean.reshape(shape)) * k.reshape(shape) + \
                    node.beta.reshape(shape)
            elif isinstance(node, Neuron):
                s = node.spec
                vv = np.zeros_like(v[node.name]) if s.stateless else v[node.name] * s.decay
                vv = vv + val[node.input]
                z = np.clip(np.floor(vv / s.theta), 0, s.levels)
                v[node.name] = vv - z * s.theta if s.reset == "subtract" else np.where(z > 0, 0, vv)
                levels[node.name].append(z)
                val[node.name] = z * s.theta
            elif isinstance(node, MaxPool2d):
                val[node.name] = pool2d(val[node.input], node.kernel, node.stride, np.max)
            elif isinstance(node, AvgPool2d):
                x = val[node.input]
                val[node.name] = x.mean(axis=(2, 3), keepdims=True) if node.is_global else \
                    pool2d(x, node.kernel, node.stride, np.mean)
            elif isinstance(node, Flatten):
                val[node.name] = val[node.input].reshape(b, -1)
            elif isinstance(node, Add):
                val[node.name] = sum(val[a] for a in node.args)
        logit_sum = logit_sum + val[graph.output]
    return {k: np.stack(a) for k, a in levels.items()}, logit_sum / timesteps
