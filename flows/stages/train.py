"""train-<dataset>-<cell>: fit one cell with Lightning, save its folder whole, open its MLflow run.

Runs in its own process (the DVC stage command), so a DDP launch via torchrun never re-executes
a Prefect flow or a pytest session.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import torch

from flows import datasets, paths, tracking
from flows.atomic import atomic_dir, dumps
from flows.lineage import data_hash
from flows.params import load_params, train_spec
from flows.stagecli import stage_main
from flows.training import History, KeepBest, fit
from models.config import stability_note
from models.runtime import flush_denormals


def train(root: Path, dataset: str, cell: str) -> dict:
    flush_denormals()
    plugin = datasets.get(dataset)
    spec = train_spec(load_params(root), dataset, cell)
    note = stability_note(spec.net, spec.optim)
    if note:
        print(f"{dataset}/{cell}: {note}")
    splits = plugin.load(root)
    extras = dict(spec.extras)
    run_params = {"dataset": dataset, "seed": spec.seed, "train_windows": len(splits.train),
                  "val_windows": len(splits.val), "test_windows": len(splits.test) if splits.test else 0,
                  "window": splits.info["window"], **extras, **({"stability": note} if note else {}),
                  **{f"net.{k}": v for k, v in dataclasses.asdict(spec.net).items()},
                  **{f"optim.{k}": v for k, v in dataclasses.asdict(spec.optim).items()}}
    run = tracking.start_training_run(root, dataset, cell, run_params, data_hash(root, dataset),
                                     flow_run_id=os.environ.get("RNNOPS_FLOW_RUN_ID") or None)
    history = History(sink=run.log_epoch)
    started = time.perf_counter()
    with run.failing_on_error():
        module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val, [history],
                              progress_bar=os.environ.get("RNNOPS_PROGRESS_BAR", "1") != "0")
    seconds = time.perf_counter() - started
    run.trained()
    if not trainer.is_global_zero:
        return {}
    kept = next((c.epoch for c in trainer.callbacks if isinstance(c, KeepBest)), None)
    summary = {"run_id": run.run_id, "train_seconds": round(seconds, 2), "epochs": trainer.current_epoch,
               **({"kept_epoch": kept} if kept else {})}
    with atomic_dir(paths.model_dir(root, dataset, cell)) as out:  # the folder appears whole or not at all
        torch.save(module.net.state_dict(), out / "model.pt")
        documents = {"config.json": {"net": dataclasses.asdict(spec.net), "window": splits.info["window"], **extras},
                     "run.json": summary, **plugin.model_files(splits)}
        for name, data in documents.items():
            (out / name).write_text(dumps(data), encoding="utf-8")
        (out / "history.csv").write_text(history.to_csv(), encoding="utf-8")
    return summary


if __name__ == "__main__":
    sys.exit(stage_main(train, needs_cell=True))
