"""The one LightningModule base: divergence stop, clipping telemetry, cross-device epoch sums, optimiser.

Subclasses add only their loss and their validation sums/metrics. Epoch figures are kept as float64
sums on the module and reduced across ranks once per epoch: self.log per step costs ~10% of a
15 ms linear-RNN step, and per-rank means would weight ranks wrongly under DDP.

Truncated BPTT (optim.tbptt; Lightning 2 removed truncated_bptt_steps) runs under manual optimisation:
a batch is a block of parallel streams, cut along time into chunks with an update after each, and the
recurrent state is carried, detached, from chunk to chunk and from block to block within an epoch.
"""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch.distributed import ReduceOp

from models.config import OptimConfig
from models.errors import TrainingDiverged
from models.streams import detach_state


class SequenceModule(pl.LightningModule):
    divergence_hint = "lower lr or set clip"
    seen_metric: str | None = None  # e.g. train/chars_seen: items trained on so far, a machine-free x axis

    def __init__(self, net: torch.nn.Module, optim: OptimConfig):
        super().__init__()
        self.net, self.optim = net, optim
        self._train = torch.zeros(2, dtype=torch.float64)  # summed loss * items, items
        self._grad_steps: list[torch.Tensor] = []  # (pre, post) of each optimiser step this epoch, on device
        self.grad_trace: list[tuple[int, int, float, float]] = []  # (step, epoch, pre, post), every step so far
        self._val: torch.Tensor | None = None
        self.automatic_optimization = optim.tbptt is None
        self._carry = None  # truncated BPTT: the detached state at the end of the last block

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

    def chunk_loss(self, chunk, state, skip: int) -> tuple[torch.Tensor, int, object]:
        """Truncated BPTT: mean loss over the chunk's steps from `skip` on (the ones this update is for),
        how many items it averages, and the recurrent state at the chunk's end (started from `state`)."""
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------
    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        if self.optim.tbptt is not None:
            return self._truncated_bptt(batch, batch_idx)
        self._schedule(batch_idx, 0.0)
        loss, items = self.loss(batch)
        self._record(loss, items, batch_idx)
        return loss

    def _record(self, loss: torch.Tensor, items: int, batch_idx: int) -> None:
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training diverged at epoch {self.current_epoch + 1}, batch {batch_idx + 1} "
                                   f"(loss is {loss.item()}); {self.divergence_hint}.")
        self._train += torch.stack([loss.detach().double().cpu() * items, torch.tensor(float(items)).double()])

    def _truncated_bptt(self, batch, batch_idx):
        """TBPTT(k1, k2) over a block (streams, time, ...): the update at step s+k1 backpropagates the loss of
        outputs s..s+k1-1 through steps s+k1-k2..s+k1-1, from the state detached at s+k1-k2 (k2 = k1: plain
        chunks). The block's end state is carried to the next block, the streams' next stretch."""
        k1, k2 = self.optim.tbptt.k1, self.optim.tbptt.k2
        steps = batch[0].shape[1]
        if batch_idx == 0:
            self._carry = None  # every epoch starts the streams from a zero state
        elif self.optim.tbptt.reset:
            self._carry = restart_some(self._carry, self.optim.tbptt.reset)
        optimizer = self.optimizers()
        boundary = {0: self._carry}  # detached states at chunk starts, as far back as k2 reaches
        for start in range(0, steps, k1):
            self._schedule(batch_idx, start / steps)
            begin = max(0, start - (k2 - k1))
            loss, items, state = self.chunk_loss(tuple(t[:, begin : start + k1] for t in batch),
                                                  boundary[begin], start - begin)
            self._record(loss, items, batch_idx)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()  # on_before_optimizer_step clips, as in automatic optimisation
            boundary[min(start + k1, steps)] = detach_state(state)
            boundary.pop(start + k1 - (k2 - k1) - k1, None)  # no later chunk starts its backward there
        self._carry = boundary[steps]

    def progress(self, batch_idx: int, fraction: float) -> float:
        """How much of the training is done, 0..1, for the learning-rate schedule (a benchmark on a
        wall-clock budget overrides it)."""
        batches = max(int(self.trainer.num_training_batches), 1)
        return (self.current_epoch + (batch_idx + fraction) / batches) / max(self.trainer.max_epochs or 1, 1)

    def _schedule(self, batch_idx: int, fraction: float) -> None:
        if self.optim.lr_schedule == "constant":
            return
        done = min(max(self.progress(batch_idx, fraction), 0.0), 1.0)
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = self.optim.lr * 0.5 * (1 + math.cos(math.pi * done))

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
        figures = {"train/loss": total / max(count, 1.0), "train/grad_norm": top_pre,
                   "train/grad_norm_clipped": top_post}
        if self.seen_metric:  # every epoch trains on the same items: epochs x this epoch's count
            figures[self.seen_metric] = (self.current_epoch + 1) * count
        self.log_dict(figures, on_step=False, on_epoch=True)
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
        self._val_state = None  # streams (tbptt): the state validation carries from block to block

    def validation_step(self, batch, batch_idx):
        sums = self.val_sums(batch).double().cpu()
        self._val = sums if self._val is None else self._val + sums

    def on_validation_epoch_end(self):
        if self._val is None:
            return
        sums = self.trainer.strategy.reduce(self._val.to(self.device), reduce_op="sum").tolist()
        self.log_dict(self.val_metrics(sums))

    def configure_optimizers(self):
        # AdamW with weight_decay 0 is Adam (the reference recipes' optimiser) step for step.
        return torch.optim.AdamW(self.parameters(), lr=self.optim.lr, weight_decay=self.optim.weight_decay)


def restart_some(state, chance: float):
    """The carried state with each stream (batch row) zeroed with probability `chance`."""
    if state is None:
        return None
    pair = not isinstance(state, torch.Tensor)
    first = state[0] if pair else state  # (layers * directions, streams, hidden)
    keep = (torch.rand(first.shape[1], device=first.device) >= chance).to(first.dtype)[None, :, None]
    return tuple(s * keep for s in state) if pair else state * keep
