"""The character language model on the shared base: cross-entropy in nats, bits/char, perplexity."""
from __future__ import annotations

import math

import torch

from models.lightning_base import SequenceModule
from models.text import CharNet, char_loss, stream_nats


class LanguageModel(SequenceModule):
    seen_metric = "train/chars_seen"  # loss against characters seen does not depend on the machine
    def __init__(self, net: CharNet, optim, many_to_many: bool = True):
        super().__init__(net, optim)
        self.many_to_many = many_to_many

    def loss(self, batch):
        return char_loss(self.net, batch, self.many_to_many), batch[1].numel()

    def chunk_loss(self, chunk, state, skip):  # truncated BPTT over streams of text (models.streams)
        nats, state = stream_nats(self.net, chunk, state)
        return nats[:, skip:].mean(), nats[:, skip:].numel(), state

    def val_sums(self, batch):
        if self.optim.tbptt is not None:  # streams: the state runs on through the validation split
            nats, self._val_state = stream_nats(self.net, batch, self._val_state)
            return torch.stack([nats.double().sum(), torch.tensor(float(nats.numel())).double()])
        nats = char_loss(self.net, batch, self.many_to_many, "sum").double()
        return torch.stack([nats, torch.tensor(float(batch[1].numel())).double()])

    def val_metrics(self, sums):
        nats, n = sums
        loss = nats / max(n, 1.0)
        return {"val/loss": loss, "val/loss_nats": loss, "val/bpc": loss / math.log(2),
                "val/perplexity": math.exp(min(loss, 50))}  # loss_nats: the name evaluate logs it under
