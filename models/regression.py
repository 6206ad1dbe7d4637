"""Many-to-one regression on the shared base: MSE loss, exact validation MSE/RMSE/MAE."""
from __future__ import annotations

import math

import torch

from models.lightning_base import SequenceModule


class Regressor(SequenceModule):
    divergence_hint = "lower lr, set clip, or cap the recurrence with recurrent_max_norm"

    def loss(self, batch):
        x, y = batch  # (batch, time, features), (batch, 1)
        return torch.nn.functional.mse_loss(self.net(x), y), len(x)

    def val_sums(self, batch):
        x, y = batch
        err = (self.net(x) - y).double()
        return torch.stack([err.square().sum(), err.abs().sum(), torch.tensor(float(err.numel())).double()])

    def val_metrics(self, sums):
        sse, sae, n = sums
        n = max(n, 1.0)
        return {"val/loss": sse / n, "val/mse": sse / n, "val/rmse": math.sqrt(sse / n), "val/mae": sae / n}
