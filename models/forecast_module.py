"""Training of the multi-step forecasters (models/forecasters.py) on the shared Lightning base.

What a model type learns from a batch (x: window, y: the H values after it) is its net's
fit_outputs (e.g. recursive: the next value only; seq2seq: the H values, with teacher forcing), so
this module serves every type. Loss: MSE on the mean, or the Gaussian negative log-likelihood for
head gaussian. Validation uses the training's targets with the decoder fed its own forecasts.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from models.lightning_base import SequenceModule


class HorizonRegressor(SequenceModule):
    divergence_hint = "lower lr or set clip"

    def __init__(self, net, optim):
        super().__init__(net, optim)
        self.gaussian = net.cfg.head == "gaussian"

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        if hasattr(self.net, "sampling"):  # scheduled sampling: 0 at the first epoch, the params' value by the last
            ramp = self.current_epoch / max(self.trainer.max_epochs - 1, 1)
            self.net.sampling = self.net.cfg.scheduled_sampling * ramp

    def outputs(self, x: torch.Tensor, y: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(forecast (..., P), the targets it is scored against (...)): what the net's type learns."""
        return self.net.fit_outputs(x, y, training)

    def criterion(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.gaussian:
            return F.gaussian_nll_loss(out[..., 0], target, out[..., 1], full=True)
        return F.mse_loss(out[..., 0], target)

    def loss(self, batch):
        x, y = batch
        out, target = self.outputs(x, y, training=True)
        return self.criterion(out, target), len(x)

    def val_sums(self, batch):
        x, y = batch
        out, target = self.outputs(x, y, training=False)
        err = (out[..., 0] - target).double()
        nll = (F.gaussian_nll_loss(out[..., 0], target, out[..., 1], full=True, reduction="sum").double()
               if self.gaussian else torch.zeros((), dtype=torch.float64))
        return torch.stack([err.square().sum(), err.abs().sum(), nll.cpu(), torch.tensor(float(err.numel())).double()])

    def val_metrics(self, sums):
        sse, sae, nll, n = sums
        n = max(n, 1.0)
        found = {"val/mse": sse / n, "val/rmse": math.sqrt(sse / n), "val/mae": sae / n}
        if self.gaussian:
            found["val/nll"] = nll / n
        return {"val/loss": found["val/nll"] if self.gaussian else found["val/mse"], **found}
