"""The LightningModule of the character language model: cross-entropy, clipping telemetry, divergence stop."""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch

from models.config import OptimConfig
from models.errors import TrainingDiverged
from models.text import CharNet, char_loss


class LanguageModel(pl.LightningModule):
    """Cross-entropy in nats; validation loss summed exactly over characters, also as bits/char and perplexity."""

    def __init__(self, net: CharNet, optim: OptimConfig, many_to_many: bool = True):
        super().__init__()
        self.net, self.optim, self.many_to_many = net, optim, many_to_many
        self._val = torch.zeros(2, dtype=torch.float64)  # summed nats, characters
        self._train = torch.zeros(3, dtype=torch.float64)  # summed nats, characters, max grad norm

    def _loss(self, batch, reduction="mean"):
        return char_loss(self.net, batch, self.many_to_many, reduction)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training diverged at epoch {self.current_epoch + 1}, batch {batch_idx + 1} "
                                   f"(loss is {loss.item()}); lower lr or set clip.")
        n = batch[1].numel()
        self._train[0] += loss.detach().double().cpu() * n
        self._train[1] += n
        return loss

    def on_before_optimizer_step(self, optimizer):
        norm = torch.nn.utils.clip_grad_norm_(self.parameters(), self.optim.clip or math.inf)
        self._train[2] = torch.maximum(self._train[2], norm.detach().double().cpu())

    def on_train_epoch_start(self):
        self._train.zero_()

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if batch_idx + 1 == self.trainer.num_training_batches:
            nats, n, norm = self._train.tolist()
            self.log_dict({"train/loss": nats / max(n, 1.0), "train/grad_norm": norm}, on_step=False, on_epoch=True)

    def on_validation_epoch_start(self):
        self._val.zero_()

    def validation_step(self, batch, batch_idx):
        self._val += torch.stack([self._loss(batch, "sum").double().cpu(), torch.tensor(float(batch[1].numel()))])

    def on_validation_epoch_end(self):
        nats, n = self.trainer.strategy.reduce(self._val.to(self.device), reduce_op="sum").tolist()
        loss = nats / max(n, 1.0)
        self.log_dict({"val/loss": loss, "val/bpc": loss / math.log(2), "val/perplexity": math.exp(min(loss, 50))})

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)
