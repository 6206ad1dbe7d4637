"""The Lightning fit shared by the train stage and the stocks backtest (imports Lightning: training only)."""
from __future__ import annotations

import logging
import math
import warnings

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping
from torch.utils.data import DataLoader


class History(pl.Callback):
    """Per-epoch metrics, kept for the report's loss curves and sent to `sink` (the MLflow run) from rank 0."""

    def __init__(self, sink=None):
        self.rows: list[dict] = []
        self.sink = sink

    def on_train_epoch_end(self, trainer, module):
        metrics = {k: float(v) for k, v in sorted(trainer.callback_metrics.items())}
        self.rows.append({"epoch": trainer.current_epoch + 1, **metrics})
        if self.sink is not None and trainer.is_global_zero:
            self.sink(trainer.current_epoch + 1, metrics)

    def to_csv(self) -> str:
        keys = sorted({k for row in self.rows for k in row}, key=lambda k: (k != "epoch", k))
        lines = [",".join(keys)] + [",".join(repr(row[k]) if k in row else "" for k in keys) for row in self.rows]
        return "\n".join(lines) + "\n"


class KeepBest(pl.Callback):
    """Selection on validation within one training: remember the weights of the epoch with the lowest
    val/loss and restore them when the fit ends (in memory: the stage saves the final folder itself)."""

    def __init__(self):
        self.best, self.epoch, self.state = math.inf, 0, None

    def on_train_epoch_end(self, trainer, module):  # validation has run by now
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and float(loss) < self.best:
            self.best, self.epoch = float(loss), trainer.current_epoch + 1
            self.state = {k: v.detach().clone() for k, v in module.net.state_dict().items()}

    def on_fit_end(self, trainer, module):
        if self.state is not None:
            module.net.load_state_dict(self.state)


def selection_callbacks(optim, has_validation: bool) -> list[pl.Callback]:
    """What the validation split steers besides the champion: early stopping and the kept epoch."""
    if not has_validation:
        return []
    found: list[pl.Callback] = []
    if optim.patience:
        found.append(EarlyStopping(monitor="val/loss", mode="min", patience=optim.patience))
    if optim.keep_best:
        found.append(KeepBest())
    return found


def quiet_lightning() -> None:
    """Keep the progress bar, drop Lightning's tips and a deprecation notice from its own internals."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*treespec.*", category=Warning)
    warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*", category=Warning)


def build_trainer(spec, callbacks, progress_bar: bool = True) -> pl.Trainer:
    quiet_lightning()
    return pl.Trainer(
        max_epochs=spec.optim.epochs,
        accelerator=spec.accelerator,
        devices=spec.devices,
        logger=False,  # MLflow logging goes through flows.tracking, once, from rank 0
        enable_checkpointing=False,  # the stage saves the final weights itself, atomically
        enable_model_summary=False,
        num_sanity_val_steps=0,
        enable_progress_bar=progress_bar,
        callbacks=callbacks,
    )


def fit(spec, module_factory, train_set, val_set, callbacks=(), progress_bar: bool = True):
    """Seeded Lightning fit of the module `module_factory()` builds (after seeding, so weights are reproducible)."""
    pl.seed_everything(spec.seed, verbose=False)
    module = module_factory()
    trainer = build_trainer(spec, [*callbacks, *selection_callbacks(spec.optim, val_set is not None)], progress_bar)
    trainer.fit(
        module,
        DataLoader(train_set, batch_size=spec.optim.batch_size, shuffle=True),
        DataLoader(val_set, batch_size=max(spec.optim.batch_size, 256)) if val_set is not None else None,
    )
    return module, trainer
