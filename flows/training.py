"""The Lightning fit shared by the train stage and the stocks backtest (imports Lightning: training only)."""
from __future__ import annotations

import logging
import warnings

import pytorch_lightning as pl
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
    trainer = build_trainer(spec, list(callbacks), progress_bar)
    trainer.fit(
        module,
        DataLoader(train_set, batch_size=spec.optim.batch_size, shuffle=True),
        DataLoader(val_set, batch_size=max(spec.optim.batch_size, 256)) if val_set is not None else None,
    )
    return module, trainer
