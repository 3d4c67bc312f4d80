"""Activation quantizers of the binarized linear layers (CONTRACT.md, activation_bits).

In eval mode each function returns exactly the values whose product with
alpha * sign(W) the engine computes:
    8: per-token symmetric int8, s = max|x| / 127, q = clamp(round(x / s), -127, 127)
       (round half to even, as torch.round and C++ std::nearbyint); s == 0 gives q = 0.
    1: XNOR, beta = mean|x| per token, sign(x) with sign(0) = +1.
Training passes gradients straight through: identity for int8, and for 1 bit
the clipped identity (1 on |x| <= 1, 0 outside; the usual BNN estimator),
with beta's own gradient kept.
"""
from __future__ import annotations

import torch

FLOAT_BITS = (0, 32)
SUPPORTED_BITS = (0, 1, 8, 32)


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def int8_scales(x: torch.Tensor) -> torch.Tensor:
    """Per-token scale s = max|x| / 127 over the last dimension, keepdim."""
    return x.abs().amax(dim=-1, keepdim=True) / 127.0


def quantize_int8(x: torch.Tensor) -> torch.Tensor:
    """s * q with straight-through gradient; the engine computes on q and s."""
    s = int8_scales(x)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    q = torch.clamp(torch.round(x / safe), -127, 127)
    q = torch.where(s > 0, q, torch.zeros_like(q))
    xq = q * s
    return x + (xq - x).detach()


def quantize_xnor(x: torch.Tensor) -> torch.Tensor:
    """beta * sign(x), beta = mean|x| per token."""
    beta = x.abs().mean(dim=-1, keepdim=True)
    return _SignSTE.apply(x) * beta


def quantize_activations(x: torch.Tensor, bits: int) -> torch.Tensor:
    if bits in FLOAT_BITS:
        return x
    if bits == 8:
        return quantize_int8(x)
    if bits == 1:
        return quantize_xnor(x)
    raise ValueError(f"activation bits must be one of {SUPPORTED_BITS}, not {bits}")
