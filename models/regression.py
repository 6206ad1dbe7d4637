"""LightningModule for many-to-one regression: MSE loss, exact epoch RMSE/MAE, clipping, divergence stop."""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch

from models.config import OptimConfig
from models.errors import TrainingDiverged
from models.networks import RecurrentNet


class Regressor(pl.LightningModule):
    def __init__(self, net: RecurrentNet, optim: OptimConfig):
        super().__init__()
        self.net = net
        self.optim = optim
        self._val = torch.zeros(3, dtype=torch.float64)  # sum squared error, sum abs error, count

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
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def on_before_optimizer_step(self, optimizer):
        # The pre-clip norm is the exploding-gradient story made visible (train/grad_norm per epoch).
        limit = self.optim.clip if self.optim.clip else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.parameters(), limit)
        self.log("train/grad_norm", norm, on_step=False, on_epoch=True, reduce_fx="max")

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
