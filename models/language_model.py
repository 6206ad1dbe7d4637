"""The character language model on the shared base: cross-entropy in nats, bits/char, perplexity."""
from __future__ import annotations

import math

import torch

from models.lightning_base import SequenceModule
from models.text import CharNet, char_loss


class LanguageModel(SequenceModule):
    def __init__(self, net: CharNet, optim, many_to_many: bool = True):
        super().__init__(net, optim)
        self.many_to_many = many_to_many

    def loss(self, batch):
        return char_loss(self.net, batch, self.many_to_many), batch[1].numel()

    def val_sums(self, batch):
        nats = char_loss(self.net, batch, self.many_to_many, "sum").double()
        return torch.stack([nats, torch.tensor(float(batch[1].numel())).double()])

    def val_metrics(self, sums):
        nats, n = sums
        loss = nats / max(n, 1.0)
        return {"val/loss": loss, "val/loss_nats": loss, "val/bpc": loss / math.log(2),
                "val/perplexity": math.exp(min(loss, 50))}  # loss_nats: the name evaluate logs it under
