"""LightningModule for many-to-one regression: MSE loss, exact epoch RMSE/MAE, clipping, divergence stop."""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch.distributed import ReduceOp

from models.config import OptimConfig
from models.errors import TrainingDiverged
from models.networks import RecurrentNet


class Regressor(pl.LightningModule):
    def __init__(self, net: RecurrentNet, optim: OptimConfig):
        super().__init__()
        self.net = net
        self.optim = optim
        self._val = torch.zeros(3, dtype=torch.float64)  # sum squared error, sum abs error, count
        # Per-epoch sums kept here and logged once per epoch: self.log per step costs ~10% of a
        # 15 ms linear-RNN step.
        self._train = torch.zeros(3, dtype=torch.float64)  # sum of batch-weighted loss, count, max grad norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch  # (batch, time, features), (batch, 1)
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged at epoch {self.current_epoch + 1}, batch {batch_idx + 1} (loss is "
                f"{loss.item()}); lower lr, set clip, or cap the recurrence with recurrent_max_norm."
            )
        self._train[0] += loss.detach().double().cpu() * len(x)
        self._train[1] += len(x)
        return loss

    def on_before_optimizer_step(self, optimizer):
        # The pre-clip norm is the exploding-gradient story made visible (train/grad_norm per epoch).
        limit = self.optim.clip if self.optim.clip else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.parameters(), limit)
        self._train[2] = torch.maximum(self._train[2], norm.detach().double().cpu())

    def on_train_epoch_start(self):
        self._train.zero_()

    def on_train_batch_end(self, outputs, batch, batch_idx):
        # Logged at the last batch (not in on_train_epoch_end, which runs after the callbacks'
        # epoch-end hooks), so History and the MLflow logger see this epoch's values.
        if batch_idx + 1 != self.trainer.num_training_batches:
            return
        strategy = self.trainer.strategy
        total, count, _ = strategy.reduce(self._train.to(self.device), reduce_op="sum").tolist()
        norm = strategy.reduce(self._train[2:].to(self.device), reduce_op=ReduceOp.MAX)
        self.log_dict({"train/loss": total / max(count, 1.0), "train/grad_norm": float(norm)},
                      on_step=False, on_epoch=True)

    def on_validation_epoch_start(self):
        self._val.zero_()

    def validation_step(self, batch, batch_idx):
        x, y = batch
        err = (self.net(x) - y).double()
        self._val += torch.stack([err.square().sum(), err.abs().sum(), torch.tensor(err.numel())]).cpu()

    def on_validation_epoch_end(self):
        sse, sae, n = self.trainer.strategy.reduce(self._val.to(self.device), reduce_op="sum").tolist()
        n = max(n, 1.0)
        self.log_dict(
            {"val/mse": sse / n, "val/rmse": math.sqrt(sse / n), "val/mae": sae / n}, sync_dist=False
        )

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)
