"""train-<dataset>-<cell>: fit one cell with Lightning, save its folder whole, open its MLflow run.

Runs in its own process (the DVC stage command). When params ask for more than one process it
opens the MLflow run, then starts itself again as the ranks under torchrun, which find the run id
in RNNOPS_RUN_ID; only global rank 0 logs and writes the model folder. Every epoch ends with a
checkpoint (flows.training.checkpoints): a re-run after a kill resumes from it into the same MLflow run.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from flows import datasets, tracking
from flows.core import paths
from flows.core.atomic import atomic_dir, dumps, read_json
from flows.core.env import child_env
from flows.core.params import load_params, train_spec
from flows.graph.lineage import data_hash, data_source
from flows.orchestration.stage_command import ERROR_FILE, stage_main
from flows.training import checkpoints, launch
from flows.training.grad_norm_trace import GRAD_TRACE, grad_curves, grad_trace_csv
from flows.training.lightning_fit import History, KeepBest, fit
from models.config import stability_note
from models.errors import RnnopsError
from models.model_types import model_type
from models.runtime import flush_denormals

RUN_ID = "RNNOPS_RUN_ID"  # set by the launcher for its ranks


def describe(dataset: str, cell: str, spec, source: str) -> str:
    """The run's description in MLflow: what was trained on what, in one line."""
    net, optim = spec.net, spec.optim
    shape = f"{net.num_layers} x {net.kind.upper()}({net.hidden_size})"
    shape += ", bidirectional" if net.bidirectional else ""
    if net.kind == "rnn":
        shape += f", {net.activation}"
    shape += f", dropout {net.dropout}"
    if getattr(net, "multi_step", False):  # text's nets have no model type
        shape += f"; task {net.task} ({model_type(net.task).summary}), horizon {net.horizon}, head {net.head}"
    return (f"{dataset} / {cell}: {shape}; {optim.epochs} epochs, batch {optim.batch_size}, "
            f"lr {optim.lr}, clip {optim.clip}. Data: {source}.")


def split_sizes(splits) -> dict[str, int]:
    return {split: len(getattr(splits, split)) if getattr(splits, split) is not None else 0
            for split in ("train", "val", "test")}


def run_params(dataset: str, spec, splits, note: str | None = None) -> dict:
    """A training's MLflow params (a sweep's trials log the same names, so the UI compares them)."""
    return {"dataset": dataset, "seed": spec.seed, **{f"{k}_windows": v for k, v in split_sizes(splits).items()},
            "window": splits.info["window"], **dict(spec.extras), **({"stability": note} if note else {}),
            **{f"net.{k}": v for k, v in dataclasses.asdict(spec.net).items()},
            **{f"optim.{k}": v for k, v in dataclasses.asdict(spec.optim).items()}}


def open_run(root: Path, dataset: str, cell: str, spec, splits, resume: checkpoints.Resume):
    """The training's one MLflow run: reopened when resuming, else new (and the checkpoint folder reset)."""
    note = stability_note(spec.net, spec.optim)
    if note:
        print(f"{dataset}/{cell}: {note}")
    sizes = split_sizes(splits)
    kind, source = data_source(root, dataset)
    data = tracking.DataInput(f"{dataset}-windows", data_hash(root, dataset), kind, source,
                              {k: v for k, v in sizes.items() if v})
    run = tracking.start_training_run(root, dataset, cell, run_params(dataset, spec, splits, note), data,
                                     describe(dataset, cell, spec, source),
                                     flow_run_id=os.environ.get("RNNOPS_FLOW_RUN_ID") or None,
                                     parent_run_id=os.environ.get(tracking.PARENT_RUN_ID) or None,
                                     resume=(resume.run_id, resume.epoch) if resume.ckpt else None)
    if run.run_id is None:  # not rank 0 of an srun / multi-node launch: rank 0 decides, the plan is the same
        return run, resume
    if run.resumed:
        print(f"{dataset}/{cell}: resuming after epoch {resume.epoch} into MLflow run {run.run_id}")
        return run, resume
    checkpoints.start_fresh(resume, run.run_id)  # the old checkpoint, if any, cannot be used
    return run, dataclasses.replace(resume, ckpt=None)


def epoch_sink(run, label: str, epochs: int, say: bool):
    """Each epoch to MLflow and, with the progress bar off (logs, CI), one line per epoch this process
    trained itself: after a resume the lines start at the checkpoint's next epoch."""
    def sink(epoch: int, metrics: dict[str, float]) -> None:
        if say:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            print(f"{label}: epoch {epoch}/{epochs} trained ({shown})", flush=True)
        run.log_epoch(epoch, metrics)
    return sink


def launch_ranks(root: Path, dataset: str, cell: str, where: launch.Layout, run) -> dict:
    """Start `where.devices` ranks of this stage under torchrun and wait for them."""
    with tempfile.TemporaryDirectory(prefix="rnnops-ranks-") as tmp, run.failing_on_error():
        errors = Path(tmp) / "error.txt"
        env = child_env(**{RUN_ID: run.run_id, ERROR_FILE: str(errors)})
        code = launch.torchrun("flows.stages.train", [dataset, cell], where.devices, env)
        if code:
            said = (errors.read_text(encoding="utf-8").splitlines() or [""])[0] if errors.exists() else ""
            raise RnnopsError(said or f"the {where.devices} training processes under torchrun failed (exit code "
                              f"{code}); the epochs done so far are checkpointed, re-run to resume.")
    return read_json(paths.model_dir(root, dataset, cell) / "run.json")


def train(root: Path, dataset: str, cell: str) -> dict:
    flush_denormals()
    plugin = datasets.get(dataset)
    spec = train_spec(load_params(root), dataset, cell)
    where = launch.layout(spec, f"{dataset}.train.{cell}")
    splits = plugin.task_splits(plugin.load(root), spec.net)  # H targets per window for a multi-step cell
    spec = plugin.budget(spec, splits)
    resume = checkpoints.plan(root, dataset, cell, checkpoints.key(spec, where, data_hash(root, dataset)))
    if os.environ.get(RUN_ID):  # a rank of our own launcher, which opened (or reopened) the run
        run = tracking.attach_training_run(root, os.environ[RUN_ID])
    else:
        run, resume = open_run(root, dataset, cell, spec, splits, resume)
    if where.world > 1 and not launch.launched():
        return launch_ranks(root, dataset, cell, where, run)
    if launch.launched():
        launch.die_with_parent()
        torch.set_num_threads(launch.threads_per_rank(launch.ranks_per_node()))
    bar = os.environ.get("RNNOPS_PROGRESS_BAR", "1") != "0"
    history = History(sink=epoch_sink(run, f"{dataset}/{cell}", spec.optim.epochs, say=not bar))
    started = time.perf_counter()
    with run.failing_on_error(), run.system_metrics():
        module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val, [history],
                              progress_bar=bar, ckpt_path=resume.ckpt,
                              last_callbacks=[checkpoints.EpochCheckpoint(resume, run.run_id)])
    seconds = time.perf_counter() - started
    if trainer.is_global_zero:
        run.log_curves(grad_curves(module.grad_trace))
    if not trainer.is_global_zero:
        return {}
    kept = next((c.epoch for c in trainer.callbacks if isinstance(c, KeepBest)), None)
    summary = {"run_id": run.run_id, "train_seconds": round(seconds, 2), "epochs": trainer.current_epoch,
               "processes": where.world, **({"kept_epoch": kept} if kept else {}),
               **({"resumed_after_epoch": resume.epoch} if resume.ckpt else {})}
    extras = dict(spec.extras)
    # the folder appears whole or not at all; a failure to write it (a full disk) fails the run too
    with run.failing_on_error(), atomic_dir(paths.model_dir(root, dataset, cell)) as out:
        with open(out / "model.pt", "wb") as fh:  # via Python: a full disk is ENOSPC, not "unexpected pos"
            torch.save(module.net.state_dict(), fh)
        documents = {"config.json": {"net": dataclasses.asdict(spec.net), "window": splits.info["window"], **extras},
                     "run.json": summary, **plugin.model_files(splits)}
        for name, data in documents.items():
            (out / name).write_text(dumps(data), encoding="utf-8")
        (out / "history.csv").write_text(history.to_csv(), encoding="utf-8")
        (out / GRAD_TRACE).write_text(grad_trace_csv(module.grad_trace), encoding="utf-8")
    run.trained()
    checkpoints.finish(resume, spec.keep_checkpoint)
    return summary


if __name__ == "__main__":
    sys.exit(stage_main(train, needs_cell=True))
