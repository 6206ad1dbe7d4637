"""Long sequences as parallel streams for truncated BPTT: the stateful formulation of a series or a text.

One sequence of T steps is cut into `streams` contiguous stretches of T // streams steps (the tail that
does not divide is dropped), which run side by side as the batch. Item k is every stream's k-th block
of `block` steps, already a batch: the loader serves items in order (batch_size None), so the state a
block ends with is where the next block begins.
"""
from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from models.errors import InvalidParameter


class StreamBlocks(Dataset):
    def __init__(self, inputs, targets, streams: int = 1, block: int | None = None, weights=None):
        """inputs (T, ...), targets (T, ...): step t's input and what follows it; weights (T,): which
        steps count in the loss (None: all), e.g. only a held-out tail after a warm-up on the past."""
        if not isinstance(streams, int) or streams <= 0:
            raise InvalidParameter(f"streams must be a positive integer, got {streams!r}.")
        length = len(inputs) // streams
        if length < 2:
            raise InvalidParameter(f"{len(inputs)} steps cannot make {streams} streams of at least 2 steps; "
                                   f"use fewer streams.")
        weights = torch.ones(len(inputs)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)

        def cut(t):
            t = torch.as_tensor(t)[: streams * length]
            return t.reshape(streams, length, *t.shape[1:])

        self.parts = [cut(inputs), cut(targets), cut(weights)]  # (streams, length, ...) each
        self.block = length if block is None else block
        self.length = length

    def __len__(self) -> int:
        return math.ceil(self.length / self.block)

    def __getitem__(self, k: int):
        if not 0 <= k < len(self):
            raise IndexError(k)
        return tuple(p[:, k * self.block : (k + 1) * self.block] for p in self.parts)

    def for_rank(self, rank: int, world: int) -> "StreamBlocks":
        """Rank r of n trains streams r, r+n, ...: every rank makes the same number of updates."""
        if world == 1:
            return self
        if len(self.parts[0]) < world:
            raise InvalidParameter(f"{len(self.parts[0])} streams cannot feed {world} processes; "
                                   f"use at least as many streams as processes.")
        part = object.__new__(StreamBlocks)
        part.parts = [p[rank::world] for p in self.parts]
        part.block, part.length = self.block, self.length
        return part

    def steps(self) -> int:
        """Steps per stream (what one epoch runs through, sequentially)."""
        return self.length


def detach_state(state):
    """A recurrent state cut from the graph that made it: an (h, c) pair for LSTM, else a tensor, or None."""
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else state.detach()
    return tuple(s.detach() for s in state)


def carries_state(data) -> bool:
    """Whether a training set is the stateful formulation: its type says so (no flag beside it to keep in
    step). flows.training.lightning_fit.loaders serves it in order, one item per batch, streams split across ranks."""
    return isinstance(data, StreamBlocks)
