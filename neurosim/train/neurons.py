"""Spiking neurons for training: the simulator's rule forward, a surrogate gradient backward.

Forward is exactly neurosim.model.neurons.step, per timestep (membrane 0 at the start of a sample):

    v ← v + I(t)                               (v ← 0 first for S3NN's stateless neuron)
    z = clip(floor(v / θ), 0, N)               θ = Vth / N, fires on equality
    v ← v − z·θ                                soft reset
    out(t) = z·θ                               the value the next layer receives

Backward, by neuron role (all surrogates are derivatives of z with respect to v):

* multi-level / binary IF (the paper's §4, Fig. 5): z = Σ_{k=1..N} H(v/θ − k), the closed form of
  N micro-steps of a binary IF with threshold Vth; each step H gets the sigmoid surrogate
  σ'(x) = α·σ(αx)(1 − σ(αx)) at its own level threshold, x_k = v/θ − k, so
  ∂z/∂v = (1/θ)·Σ_k σ'(x_k) and ∂out/∂v = Σ_k σ'(x_k) (α = 5 in the paper's Fig. 5);
* barrier (Sparse-ResNet, Eq. 10): straight-through, ∂out/∂v = 1;
* S3NN (Suetake, Ikegawa, Saiin, Sawada, arXiv 2201.10879): x = v/Vth − 1, g'(x) = α·σ(αx)(1 − σ(αx)) for x < 0 and β/(x + 1) for
  x ≥ 0 (α = 4, β = 1).

The reset is detached by default (no gradient through v − z·θ, SpikingJelly's detach_reset): with
T = 1 it changes nothing, with T > 1 it keeps BPTT to the integration path.
"""

from __future__ import annotations

import torch
from torch import nn

SURROGATES = ("sigmoid", "ste", "s3nn")


def fire(v: torch.Tensor, theta: float, levels: int) -> torch.Tensor:
    """z = clip(floor(v / θ), 0, N), as neurosim.model.neurons.fire."""
    return torch.clamp(torch.floor(v / theta), 0, levels)


def sigmoid_slope(v: torch.Tensor, theta: float, levels: int, alpha: float) -> torch.Tensor:
    """∂z/∂v = (1/θ)·Σ_{k=1..N} α·σ(α(x − k))(1 − σ(α(x − k))), x = v/θ."""
    x = v / theta
    slope = torch.zeros_like(v)
    for k in range(1, levels + 1):
        s = torch.sigmoid(alpha * (x - k))
        slope = slope + alpha * s * (1 - s)
    return slope / theta


_slope = sigmoid_slope


def compile_surrogate(enable: bool = True) -> None:
    """Fuse the surrogate's elementwise work with torch.compile (several times faster on CPU;
    needs a C++ compiler). The values are those of ``sigmoid_slope``."""
    global _slope
    _slope = torch.compile(sigmoid_slope, dynamic=True) if enable else sigmoid_slope


class _SigmoidLevels(torch.autograd.Function):
    """Multi-level firing with a sigmoid surrogate at each of the N level thresholds."""

    @staticmethod
    def forward(ctx, v, theta: float, levels: int, alpha: float):
        ctx.save_for_backward(v)
        ctx.theta, ctx.levels, ctx.alpha = theta, levels, alpha
        return fire(v, theta, levels)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * _slope(v, ctx.theta, ctx.levels, ctx.alpha), None, None, None


class _StraightThrough(torch.autograd.Function):
    """Barrier neuron: multi-level forward, ∂(z·θ)/∂v = 1 backward (the paper's Eq. 10)."""

    @staticmethod
    def forward(ctx, v, theta: float, levels: int, alpha: float):
        ctx.theta = theta
        return fire(v, theta, levels)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.theta, None, None, None


class _S3NN(torch.autograd.Function):
    """S3NN's binary single-step neuron with its asymmetric reduced surrogate (β = 1)."""

    @staticmethod
    def forward(ctx, v, theta: float, levels: int, alpha: float):
        ctx.save_for_backward(v)
        ctx.theta, ctx.alpha = theta, alpha
        return fire(v, theta, levels)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        x = v / ctx.theta - 1.0  # binary: θ = Vth
        s = torch.sigmoid(ctx.alpha * x)
        below = ctx.alpha * s * (1 - s)
        above = 1.0 / (x.clamp(min=0) + 1.0)
        return grad * torch.where(x < 0, below, above) / ctx.theta, None, None, None


_FUNCTIONS = {"sigmoid": _SigmoidLevels, "ste": _StraightThrough, "s3nn": _S3NN}


class SpikingNeuron(nn.Module):
    """A population of IF neurons over T timesteps: input (T, B, ...) currents, output z·θ.

    ``levels`` N, ``vth`` Vth, ``stateless`` (S3NN), ``surrogate`` one of SURROGATES.
    """

    def __init__(self, levels: int = 4, vth: float = 1.0, surrogate: str = "sigmoid",
                 alpha: float = 5.0, stateless: bool = False, detach_reset: bool = True):
        super().__init__()
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {surrogate!r}; expected one of {SURROGATES}")
        if surrogate == "s3nn" and levels != 1:
            raise ValueError(f"the S3NN neuron is binary (levels = 1), got levels = {levels}")
        self.levels, self.vth, self.surrogate = int(levels), float(vth), surrogate
        self.theta = self.vth / self.levels
        self.alpha, self.stateless, self.detach_reset = float(alpha), stateless, detach_reset

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        fn = _FUNCTIONS[self.surrogate]
        v = torch.zeros_like(current[0])
        out = []
        for t in range(current.shape[0]):
            if self.stateless:
                v = torch.zeros_like(v)
            v = v + current[t]
            z = fn.apply(v, self.theta, self.levels, self.alpha)
            v = v - (z.detach() if self.detach_reset else z) * self.theta
            out.append(z * self.theta)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return (f"levels={self.levels}, vth={self.vth}, surrogate={self.surrogate}, "
                f"alpha={self.alpha}, stateless={self.stateless}")


def neuron_for(spec, alpha: float | None = None, detach_reset: bool = True) -> SpikingNeuron:
    """The trainable twin of a neurosim NeuronSpec (IF with soft reset only); ``alpha`` sets the
    sigmoid surrogate's sharpness (the barrier and S3NN neurons keep their own)."""
    if spec.kind != "if" or spec.reset != "subtract":
        raise ValueError(f"training supports IF neurons with soft reset, got kind={spec.kind!r}, "
                         f"reset={spec.reset!r}")
    if spec.barrier:
        surrogate, default_alpha = "ste", 0.0
    elif spec.stateless:
        surrogate, default_alpha = "s3nn", 4.0
    else:
        surrogate, default_alpha = "sigmoid", 5.0
    if surrogate == "sigmoid" and alpha is not None:
        default_alpha = alpha
    return SpikingNeuron(spec.levels, spec.vth, surrogate, default_alpha, spec.stateless,
                         detach_reset)
