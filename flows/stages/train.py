"""train: fit one (dataset, cell) with Lightning, save the weights, open its MLflow run.

Runs in its own process (the DVC stage command), so a DDP launch via torchrun never re-executes
a Prefect flow or a pytest session.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from flows import paths, tracking
from flows.atomic import atomic_path, write_json, write_text
from flows.lineage import data_hash
from flows.params import load_params, train_spec
from flows.stages.data import load_windows
from models.config import stability_note
from models.networks import RecurrentNet
from models.regression import Regressor
from models.runtime import flush_denormals


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
        lines = [",".join(keys)] + [",".join(str(row.get(k, "")) for k in keys) for row in self.rows]
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


def fit(spec, train_set, val_set, callbacks=(), progress_bar: bool = True, make_module=None):
    """Seeded Lightning fit of a fresh module (a Regressor unless make_module builds another) on the windows."""
    pl.seed_everything(spec.seed, verbose=False)
    module = make_module() if make_module else Regressor(RecurrentNet(spec.net), spec.optim)
    trainer = build_trainer(spec, list(callbacks), progress_bar)
    trainer.fit(
        module,
        DataLoader(train_set, batch_size=spec.optim.batch_size, shuffle=True),
        DataLoader(val_set, batch_size=max(spec.optim.batch_size, 256)) if val_set is not None else None,
    )
    return module, trainer


def train(root: Path, dataset: str, cell: str, flow_run_id: str | None = None) -> dict:
    flush_denormals()
    params = load_params(root)
    spec = train_spec(params, dataset, cell)
    note = stability_note(spec.net, spec.optim)
    if note:
        print(f"{dataset}/{cell}: {note}")
    make_module, saved = None, {}
    if dataset == "text":
        from flows.stages.text import build_module, load_text

        train_set, val_set, vocab, text_spec = load_text(root)
        window = text_spec["seq_len"]
        make_module = functools.partial(build_module, spec, vocab, text_spec["mode"] == "many_to_many")
        saved = {"embedding_dim": 64, "seed_faithful": False, **dict(spec.text)}
    else:
        train_set, val_set = load_windows(root, dataset)
        window = train_set.window
    run_params = {"dataset": dataset, "seed": spec.seed, "train_windows": len(train_set),
                  "val_windows": len(val_set), "window": window, **saved,
                  **({"stability": note} if note else {}),
                  **{f"net.{k}": v for k, v in dataclasses.asdict(spec.net).items()},
                  **{f"optim.{k}": v for k, v in dataclasses.asdict(spec.optim).items()}}
    run = tracking.start_training_run(root, dataset, cell, run_params, data_hash(root, dataset),
                                     flow_run_id=flow_run_id)
    history = History(sink=run.log_epoch)
    started = time.perf_counter()
    with run.failing_on_error():
        module, trainer = fit(spec, train_set, val_set, [history],
                              progress_bar=os.environ.get("RNNOPS_PROGRESS_BAR", "1") != "0", make_module=make_module)
    seconds = time.perf_counter() - started
    if not trainer.is_global_zero:
        return {}
    out = paths.model_dir(root, dataset, cell)
    with atomic_path(out / "model.pt") as tmp:
        torch.save(module.net.state_dict(), tmp)
    write_json(out / "config.json", {"net": dataclasses.asdict(spec.net), "window": window, **saved})
    if dataset == "text":  # the vocabulary travels with the weights
        write_json(out / "vocab.json", {"chars": vocab.chars})
    write_text(out / "history.csv", history.to_csv())
    summary = {"run_id": run.run_id, "train_seconds": round(seconds, 2), "epochs": trainer.current_epoch}
    write_json(out / "run.json", summary)
    return summary

