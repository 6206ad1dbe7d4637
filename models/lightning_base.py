"""The one LightningModule base: divergence stop, clipping telemetry, cross-device epoch sums, optimiser.

Subclasses add only their loss and their validation sums/metrics. Epoch figures are kept as float64
sums on the module and reduced across ranks once per epoch: self.log per step costs ~10% of a
15 ms linear-RNN step, and per-rank means would weight ranks wrongly under DDP.
"""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch.distributed import ReduceOp

from models.config import OptimConfig
from models.errors import TrainingDiverged


class SequenceModule(pl.LightningModule):
    divergence_hint = "lower lr or set clip"

    def __init__(self, net: torch.nn.Module, optim: OptimConfig):
        super().__init__()
        self.net, self.optim = net, optim
        self._train = torch.zeros(2, dtype=torch.float64)  # summed loss * items, items
        self._grad_steps: list[torch.Tensor] = []  # (pre, post) of each optimiser step this epoch, on device
        self.grad_trace: list[tuple[int, int, float, float]] = []  # (step, epoch, pre, post), every step so far
        self._val: torch.Tensor | None = None

    # --- what a subclass provides -------------------------------------------------------------
    def loss(self, batch) -> tuple[torch.Tensor, int]:
        """Mean training loss of the batch and how many items it averages over."""
        raise NotImplementedError

    def val_sums(self, batch) -> torch.Tensor:
        """float64 sums over the batch whose ratios make the validation metrics (last entry: count)."""
        raise NotImplementedError

    def val_metrics(self, sums: list[float]) -> dict[str, float]:
        """Metrics from the sums reduced over the whole validation split; must include val/loss."""
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------
    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        loss, items = self.loss(batch)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training diverged at epoch {self.current_epoch + 1}, batch {batch_idx + 1} "
                                   f"(loss is {loss.item()}); {self.divergence_hint}.")
        self._train += torch.stack([loss.detach().double().cpu() * items, torch.tensor(float(items)).double()])
        return loss

    def on_before_optimizer_step(self, optimizer):
        # The pre-clip norm is the exploding-gradient story made visible (train/grad_norm per epoch), the
        # post-clip one what the optimiser really got (train/grad_norm_clipped; equal when clip is null).
        norm = torch.nn.utils.clip_grad_norm_(self.parameters(), self.optim.clip or math.inf)
        clipped = norm if not self.optim.clip else torch.nn.utils.get_total_norm(
            [p.grad for p in self.parameters() if p.grad is not None])
        self._grad_steps.append(torch.stack([norm, clipped]).detach())  # read back once per epoch, not per step

    def on_train_epoch_start(self):
        self._train.zero_()
        self._grad_steps = []

    def on_train_batch_end(self, outputs, batch, batch_idx):
        # Logged at the last batch (on_train_epoch_end runs after the callbacks' epoch-end hooks),
        # so History and MLflow see this epoch's values.
        if batch_idx + 1 != self.trainer.num_training_batches:
            return
        strategy = self.trainer.strategy
        total, count = strategy.reduce(self._train.to(self.device), reduce_op="sum").tolist()
        steps = torch.stack(self._grad_steps).double() if self._grad_steps else torch.zeros(1, 2, dtype=torch.float64)
        top_pre, top_post = strategy.reduce(steps.max(0).values.to(self.device), reduce_op=ReduceOp.MAX).tolist()
        self.log_dict({"train/loss": total / max(count, 1.0), "train/grad_norm": top_pre,
                       "train/grad_norm_clipped": top_post},
                      on_step=False, on_epoch=True)
        # Every step's pair, kept for the training curve (the same on every rank: DDP averaged the gradients).
        first, epoch = len(self.grad_trace) + 1, self.current_epoch + 1
        pairs = steps.cpu().tolist()[: len(self._grad_steps)]
        self.grad_trace += [(first + i, epoch, pre, post) for i, (pre, post) in enumerate(pairs)]
        self._grad_steps = []

    def on_save_checkpoint(self, checkpoint):  # a resumed training keeps the curve of the epochs before the kill
        checkpoint["rnnops_grad_trace"] = [list(row) for row in self.grad_trace]

    def on_load_checkpoint(self, checkpoint):
        self.grad_trace = [tuple(row) for row in checkpoint.get("rnnops_grad_trace", [])]

    def on_validation_epoch_start(self):
        self._val = None

    def validation_step(self, batch, batch_idx):
        sums = self.val_sums(batch).double().cpu()
        self._val = sums if self._val is None else self._val + sums

    def on_validation_epoch_end(self):
        if self._val is None:
            return
        sums = self.trainer.strategy.reduce(self._val.to(self.device), reduce_op="sum").tolist()
        self.log_dict(self.val_metrics(sums))

    def configure_optimizers(self):
        # AdamW with weight_decay 0 is Adam (the seeds' optimiser) step for step.
        return torch.optim.AdamW(self.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)
