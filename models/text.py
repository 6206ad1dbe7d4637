"""Character-level language modelling: vocabulary, lazy windows, network, loss, sampling (torch only:
the stages that only read or score text start without Lightning's import cost; its module is language_model.py)."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from models.config import NetworkConfig
from models.errors import InvalidParameter
from models.networks import RecurrentNet
from models.streams import detach_state

UNKNOWN = "\ufffd"  # stands for characters the training split never showed


class Vocab:
    """Sorted characters of the training split (the reference recipe's), plus one id for unseen ones."""

    def __init__(self, chars: list[str]):
        self.chars = list(chars)
        if UNKNOWN not in self.chars:
            self.chars.append(UNKNOWN)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, text: str) -> "Vocab":
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> tuple[np.ndarray, list[str]]:
        """Ids, and the distinct characters that were not in the vocabulary (mapped to UNKNOWN)."""
        unk = self.index[UNKNOWN]
        ids = np.fromiter((self.index.get(c, unk) for c in text), dtype=np.int64, count=len(text))
        unseen = sorted({c for c in text if c not in self.index})
        return ids, unseen

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class CharWindows(Dataset):
    """Sequences of `seq_len` ids every `stride` characters, as views of one id tensor (memory O(text)).

    many_to_many: the target is the input shifted by one (char-rnn); otherwise the next id (the reference recipe).
    """

    def __init__(self, ids: np.ndarray, seq_len: int, stride: int = 1, many_to_many: bool = True):
        if not isinstance(seq_len, int) or seq_len <= 0 or not isinstance(stride, int) or stride <= 0:
            raise InvalidParameter(f"seq_len and stride must be positive integers, got {seq_len!r} and {stride!r}.")
        if len(ids) < seq_len + 1:
            raise InvalidParameter(f"the text has {len(ids)} characters, fewer than one sequence of {seq_len} + 1; "
                                   f"use a longer corpus or a shorter seq_len.")
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        self.seq_len, self.stride, self.many_to_many = seq_len, stride, many_to_many
        self.count = (len(ids) - seq_len - 1) // stride + 1

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        start = i * self.stride
        x = self.ids[start : start + self.seq_len]
        y = self.ids[start + 1 : start + self.seq_len + 1] if self.many_to_many else self.ids[start + self.seq_len]
        return x, y


class CharNet(nn.Module):
    """Embedding (or, reference_input, the reference recipe's normalised id as one feature) -> RNN/LSTM/GRU ->
    logits over the vocabulary."""

    def __init__(self, vocab_size: int, net: NetworkConfig, embedding_dim: int = 64, reference_input: bool = False):
        super().__init__()
        self.vocab_size, self.reference_input = vocab_size, reference_input
        self.embed = None if reference_input else nn.Embedding(vocab_size, embedding_dim)
        width = 1 if reference_input else embedding_dim
        self.rnn = RecurrentNet(NetworkConfig(**{**net.__dict__, "input_size": width, "output_size": vocab_size}))

    def forward(self, ids: torch.Tensor, many_to_many: bool = True, state=None, return_state: bool = False):
        """ids: (batch, time) -> logits (batch, time, vocab) or (batch, vocab); state as RecurrentNet's."""
        x = ids[..., None].float() / self.vocab_size if self.reference_input else self.embed(ids)
        return self.rnn(x, many_to_many=many_to_many, state=state, return_state=return_state)


def char_loss(net: CharNet, batch, many_to_many: bool = True, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy in nats of next-character logits; reduction "none" gives one value per target."""
    x, y = batch[:2]
    logits = net(x, many_to_many=many_to_many)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction=reduction)


def stream_nats(net: CharNet, blocks, state=None):
    """Per-character nats (streams, time) of one block of streams, and the state it leaves."""
    x, y = blocks[:2]
    logits, state = net(x, many_to_many=True, state=state, return_state=True)
    nats = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
    return nats.reshape(y.shape), state


@torch.no_grad()
def streamed_nats(net: CharNet, stream) -> torch.Tensor:
    """Every character's nats over a models.streams.StreamBlocks split, state carried block to block:
    (streams, steps), each character predicted from everything before it in its stream."""
    net.eval()
    state, parts = None, []
    for k in range(len(stream)):
        nats, state = stream_nats(net, stream[k], state)
        parts.append(nats)
    return torch.cat(parts, 1)


def dynamic_nats(net: CharNet, ids, segment: int, lr: float, decay: float = 0.0) -> torch.Tensor:
    """Per-character nats of one stream under dynamic evaluation (Krause et al. 2018): each segment of
    `segment` characters is scored, then the weights take one SGD step on it, pulled back towards the
    trained weights by `decay`; a character is always predicted before the model learns from it. The
    net's weights are restored afterwards."""
    if not isinstance(segment, int) or segment <= 0 or lr < 0 or not 0 <= decay <= 1:
        raise InvalidParameter(f"dynamic evaluation needs a positive segment, lr >= 0 and decay in [0, 1]; "
                               f"got {segment!r}, {lr!r}, {decay!r}.")
    net.eval()  # no dropout: the adaptation is a gradient step, not a training pass
    params = [p for p in net.parameters() if p.requires_grad]
    trained = [p.detach().clone() for p in params]
    ids = torch.as_tensor(ids)
    state, parts = None, []
    try:
        for start in range(0, len(ids) - 1, segment):
            y = ids[start + 1 : start + segment + 1]
            logits, state = net(ids[start : start + len(y)][None], many_to_many=True, state=state,
                                return_state=True)
            nats = nn.functional.cross_entropy(logits[0], y, reduction="none")
            parts.append(nats.detach())
            grads = torch.autograd.grad(nats.mean(), params)
            with torch.no_grad():
                for p, g, p0 in zip(params, grads, trained):
                    p.sub_(lr * g).add_(decay * (p0 - p))
            state = detach_state(state)
    finally:
        with torch.no_grad():
            for p, p0 in zip(params, trained):
                p.copy_(p0)
    return torch.cat(parts)


@torch.no_grad()
def generate(net: CharNet, vocab: Vocab, prompt: str, length: int, temperature: float = 1.0, top_k: int = 0,
             rng_seed: int = 0, context: int = 256, stateful: bool = False) -> str:
    """One-to-many: feed the prompt, then sample one character at a time (deterministic for a given rng_seed).

    stateful (a model trained on streams): the state runs on from character to character, as in training;
    otherwise each step re-reads the last `context` characters from a zero state, as windows were read."""
    if temperature <= 0:
        raise InvalidParameter(f"temperature must be > 0, got {temperature}.")
    if not prompt:
        raise InvalidParameter("the prompt is empty; give at least one character.")
    net.eval()
    generator = torch.Generator().manual_seed(rng_seed)
    ids = torch.as_tensor(vocab.encode(prompt)[0])[None]
    unknown = vocab.index[UNKNOWN]
    out, state = [], None
    for _ in range(length):
        if stateful:
            logits, state = net(ids if state is None else ids[:, -1:], many_to_many=False, state=state,
                                return_state=True)
            logits = logits[0] / temperature
        else:
            logits = net(ids[:, -context:], many_to_many=False)[0] / temperature
        logits[unknown] = -math.inf  # never write the stand-in for unseen characters
        if top_k > 0:
            kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < kth, -math.inf)
        next_id = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
        out.append(int(next_id))
        ids = torch.cat([ids, next_id[None]], 1)
    return vocab.decode(out)
