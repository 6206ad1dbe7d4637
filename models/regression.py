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


class StreamRegressor(Regressor):
    """The stateful form: the network predicts every next value along long streams (many-to-many),
    trained by truncated BPTT; validation runs its streams from a zero state through the weighted
    steps (a warm-up on the past, then the held-out tail), carrying the state across blocks."""

    def chunk_loss(self, chunk, state, skip):
        x, y, w = chunk  # (streams, time, features), (streams, time, 1), (streams, time)
        out, state = self.net(x, many_to_many=True, state=state, return_state=True)
        w = w[:, skip:, None]
        count = w.sum()
        return ((out[:, skip:] - y[:, skip:]).square() * w).sum() / count.clamp(min=1), int(count), state

    def val_sums(self, batch):
        x, y, w = batch
        out, self._val_state = self.net(x, many_to_many=True, state=self._val_state, return_state=True)
        err, w = (out - y).double(), w[..., None].double()
        return torch.stack([(err.square() * w).sum(), (err.abs() * w).sum(), w.sum()])
