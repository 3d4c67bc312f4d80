"""The BEExformer-style encoder that engine/encoder.cc runs.

Per block (post-LN, as in the SLFN encoder BEExformer builds on):
    x1  = LN1(x + O(attention(QKV(x))))
    gc  = GC(x1)                       # one matrix: gate rows, then candidate rows
    x   = LN2(x1 + D(sigmoid(gate) * tanh(candidate)))   # selective learn-forget
    exit_i = Linear(masked_mean(x))    # an exit after every block
QKV, O, GC and D are binarized: the forward pass uses alpha * sign(W) with
alpha = mean |W| per output row, and the backward pass uses the derivative of
the second-order ApproxSign polynomial (2 - 2|w| on [-1, 1], 0 outside), so
the gradient depends on the weight's magnitude, not only its sign.

Which tensors are 1-bit (see docs/MODELS.md, "What is 1-bit"):
  - 1-bit: the weights of every projection and FFN layer (QKV, O, GC, D), and,
    with emb_bits=1 (the default), the token and position embeddings (per-row
    scale alpha = mean |row|, trained with the same ApproxSign backward).
  - not 1-bit: per-channel scales, biases, LayerNorms, type embeddings, exit
    and learning-to-exit heads (stored float16: a few KB), the attention
    softmax, and activations unless act_bits selects the XNOR/int8 path.
Every exit also has a learning-to-exit (LTE) head, BERxiT's: sigmoid(Linear(
pooled)) predicting whether that exit's answer is right; it reads the pooled
vector detached, so training it never moves the backbone.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .quant import quantize_activations


@dataclasses.dataclass
class ModelConfig:
    vocab_size: int
    hidden: int = 128
    heads: int = 4
    ffn: int = 256
    layers: int = 6
    max_len: int = 128
    type_vocab: int = 2
    num_outputs: int = 2  # classes, or 1 for regression
    ln_eps: float = 1e-5
    dropout: float = 0.1
    binary: bool = True
    emb_bits: int = 1  # 1: sign bits + per-row scale; 16: float16
    match: bool = False  # pair inputs: add an embedding of "this token also occurs in the other text"
    act_bits: int = 0  # inputs of the binarized layers: 0 float, 8 int8, 1 XNOR (quant.py)


class ApproxSign(torch.autograd.Function):
    """sign() forward; Bi-Real's second-order polynomial derivative backward."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * torch.clamp(2.0 - 2.0 * w.abs(), min=0.0)


def binarize(w: torch.Tensor) -> torch.Tensor:
    """alpha * sign(w), alpha per output row; exactly what the engine computes."""
    alpha = w.abs().mean(dim=1, keepdim=True)
    return ApproxSign.apply(w) * alpha


class BinaryLinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, binary: bool = True, act_bits: int = 0):
        super().__init__(in_features, out_features)
        self.binary = binary
        # Activation bits of a binarized layer (quant.py): 0/32 float, 8 int8, 1 XNOR.
        self.act_bits = act_bits if binary else 0
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(in_features))
        nn.init.zeros_(self.bias)

    def effective_weight(self) -> torch.Tensor:
        return binarize(self.weight) if self.binary else self.weight

    def forward(self, x):
        return F.linear(quantize_activations(x, self.act_bits), self.effective_weight(), self.bias)


class Embedding(nn.Embedding):
    """An embedding table stored 1-bit (alpha_row * sign) or float16."""

    def __init__(self, rows: int, dim: int, bits: int):
        super().__init__(rows, dim)
        self.bits = bits
        nn.init.normal_(self.weight, std=0.02)

    def table(self) -> torch.Tensor:
        return binarize(self.weight) if self.bits == 1 else self.weight

    def forward(self, ids):
        return F.embedding(ids, self.table())


class Block(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        self.qkv = BinaryLinear(c.hidden, 3 * c.hidden, c.binary)
        self.out = BinaryLinear(c.hidden, c.hidden, c.binary)
        self.ln1 = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.gate_cand = BinaryLinear(c.hidden, 2 * c.ffn, c.binary)
        self.down = BinaryLinear(c.ffn, c.hidden, c.binary)
        self.ln2 = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.drop = nn.Dropout(c.dropout)
        for lin in (self.qkv, self.out, self.gate_cand, self.down):
            lin.act_bits = c.act_bits if c.binary else 0  # read by BinaryLinear (quant.py)

    def forward(self, x, key_mask):
        b, s, h = x.shape
        nh, dh = self.c.heads, h // self.c.heads
        q, k, v = self.qkv(x).view(b, s, 3, nh, dh).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        ctx = (self.drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(b, s, h)
        x1 = self.ln1(x + self.drop(self.out(ctx)))
        gate, cand = self.gate_cand(x1).split(self.c.ffn, dim=-1)
        return self.ln2(x1 + self.drop(self.down(torch.sigmoid(gate) * torch.tanh(cand))))


def match_flags(ids, types, mask, first_piece: int = 4):
    """[batch, tokens] 1 where a token (not pad/unk/[CLS]/[SEP]) also occurs in
    the other segment of its pair; engine/encoder.cc computes the same."""
    real = mask & (ids >= first_piece)
    same = ids[:, :, None] == ids[:, None, :]
    other = types[:, :, None] != types[:, None, :]
    return ((same & other & real[:, None, :]).any(-1) & real).long()


class EarlyExitEncoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        bits = c.emb_bits if c.binary else 16
        self.tok = Embedding(c.vocab_size, c.hidden, bits)
        self.pos = Embedding(c.max_len, c.hidden, bits)
        self.typ = Embedding(c.type_vocab, c.hidden, 16)
        # Exact-match feature (as in DrQA): which tokens of one text occur in
        # the other. Sentence-pair tasks hinge on overlap, which a small model
        # trained from scratch on a few thousand pairs learns slowly otherwise.
        self.match = Embedding(2, c.hidden, 16) if c.match else None
        self.ln_emb = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.exits = nn.ModuleList(nn.Linear(c.hidden, c.num_outputs) for _ in range(c.layers))
        self.lte = nn.ModuleList(nn.Linear(c.hidden, 1) for _ in range(c.layers))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, ids, types, mask):
        """Returns the logits of every exit, [layers, batch, num_outputs], and every
        LTE head's predicted probability that its exit is right, [layers, batch]."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        e = self.tok(ids) + self.pos(pos)[None] + self.typ(types)
        if self.match is not None:
            e = e + self.match(match_flags(ids, types, mask))
        x = self.drop(self.ln_emb(e))
        m = mask.unsqueeze(-1).to(x.dtype)
        count = m.sum(1)
        outs, lte = [], []
        for block, head, lte_head in zip(self.blocks, self.exits, self.lte):
            x = block(x, mask)
            pooled = (x * m).sum(1) / count
            outs.append(head(pooled))
            lte.append(torch.sigmoid(lte_head(pooled.detach()))[:, 0])
        return torch.stack(outs), torch.stack(lte)
