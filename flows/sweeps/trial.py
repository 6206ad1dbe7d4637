"""One trial, trained as the train stage trains a cell: the same params check (train_spec), the plug-in's
splits, budget and Lightning module, the same fit (flows.training.lightning_fit.fit: seeding, selection callbacks,
loaders), and evaluate's validation score (the plug-in's score on the val split, never test). Only a
per-epoch callback is added: it reports the validation curve to Optuna and stops a pruned fit."""
from __future__ import annotations

import math
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytorch_lightning as pl
from optuna.trial import TrialState

from flows import datasets, tracking
from flows.core import paths
from flows.core.atomic import staged_outputs
from flows.core.params import train_spec
from flows.graph.lineage import data_hash, data_source
from flows.stages.train import describe, run_params
from flows.sweeps.config import WINDOWS, with_values
from flows.tracking import sweeps as sweep_runs
from flows.training import launch
from flows.training.lightning_fit import History, fit
from models.config import stability_note
from models.errors import RnnopsError
from models.runtime import flush_denormals


class ReportEpochs(pl.Callback):
    """Each epoch's validation headline to Optuna (step = epoch); when the pruner says so the fit stops
    after this epoch, and the curve logged so far stays in the trial's MLflow run."""

    def __init__(self, trial: optuna.Trial, key: str):
        self.trial, self.key, self.pruned_at, self.lost = trial, key, None, False

    def on_train_epoch_end(self, trainer, module):  # validation has run by now
        value = trainer.callback_metrics.get(self.key)
        if value is None:
            return
        epoch = trainer.current_epoch + 1
        try:
            self.trial.report(float(value), epoch)
        except optuna.exceptions.UpdateFinishedTrialError:  # failed as stale meanwhile: its retry goes on
            self.lost, trainer.should_stop = True, True
            return
        if self.trial.should_prune():
            self.pruned_at = epoch
            trainer.should_stop = True


def suggest(trial: optuna.Trial, dim):
    if dim.kind == "categorical":
        return trial.suggest_categorical(dim.key, list(dim.choices))
    if dim.kind == "int":
        return trial.suggest_int(dim.key, dim.low, dim.high, step=dim.step or 1)
    return trial.suggest_float(dim.key, float(dim.low), float(dim.high), log=dim.kind == "log_float",
                               step=dim.step)


@contextmanager
def trial_data(root: Path, params: dict, dataset: str, searched_windows: bool):
    """(splits, data hash): the pipeline's windows, or windows made for this trial's window keys by the
    plug-in's own windows step, from the same raw data, in a folder of its own."""
    plugin = datasets.get(dataset)
    if not searched_windows:
        yield plugin.load(root), data_hash(root, dataset)
        return
    with tempfile.TemporaryDirectory(prefix="rnnops-trial-") as tmp:
        shadow = Path(tmp)
        for folder in (paths.raw_dir(root, dataset), Path(root) / "data" / "sources"):
            if folder.exists():
                link = shadow / folder.relative_to(root)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(folder.resolve())
        with staged_outputs(paths.windows_dir(shadow, dataset)) as out:
            plugin.windows(shadow, params, out)
        yield plugin.load(shadow), f"{data_hash(shadow, dataset).split()[0]} (windows of this trial)"


def tell(sweep, trial: optuna.Trial, *args, **kwargs):
    """study.tell, unless another worker took this trial's worker for dead meanwhile (a stall longer than
    the grace period): then its retry holds the place, and this result is left out rather than counted twice."""
    try:
        return sweep.study.tell(trial, *args, **kwargs)
    except optuna.exceptions.UpdateFinishedTrialError:
        print(f"{sweep.cfg.name}: trial {trial.number} was failed as stale meanwhile; its retry counts instead")
        return None


def run_trial(sweep, trial: optuna.Trial) -> None:
    """Train, score and tell one trial: COMPLETE with the validation headline, PRUNED, or FAIL."""
    cfg, root = sweep.cfg, sweep.root
    plugin = datasets.get(cfg.dataset)
    metric = plugin.headline.metric
    flush_denormals()
    values = {dim.key: suggest(trial, dim) for dim in cfg.space}
    params = with_values(sweep.params, cfg, values)
    started, run, said = time.perf_counter(), None, ""
    try:
        spec = train_spec(params, cfg.dataset, cfg.cell)
        launch.layout(spec, f"{cfg.dataset}.train.{cfg.cell}")
        with trial_data(root, params, cfg.dataset, any(k.startswith(WINDOWS) for k in values)) as (data, digest):
            splits = plugin.task_splits(data, spec.net)
            if splits.val is None:
                raise RnnopsError(f"{cfg.dataset} has no validation split to score trials on.")
            spec = plugin.budget(spec, splits)
            kind, source = data_source(root, cfg.dataset)
            sizes = {k: len(getattr(splits, k)) for k in ("train", "val", "test") if getattr(splits, k) is not None}
            logged = {**run_params(cfg.dataset, spec, splits, stability_note(spec.net, spec.optim)),
                      **{k: v for k, v in values.items() if k.startswith(WINDOWS)}}
            run = sweep_runs.start_trial_run(
                root, sweep.parent_run_id, cfg.name, cfg.dataset, cfg.cell, trial.number, logged,
                tracking.DataInput(f"{cfg.dataset}-windows", digest, kind, source, sizes),
                describe(cfg.dataset, cfg.cell, spec, source))
            trial.set_user_attr("mlflow_run_id", run.run_id)
            reporter = ReportEpochs(trial, f"val/{metric}")
            module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val,
                                  [History(sink=run.log_epoch), reporter],
                                  progress_bar=os.environ.get("RNNOPS_PROGRESS_BAR", "0") != "0")
            if reporter.lost:
                raise RnnopsError("another worker took this one for dead (no heartbeat within the grace period); "
                                  "the trial's retry counts instead")
            if reporter.pruned_at is None:
                scored = plugin.score(root, params, module.net, splits, "val")
                value = float(scored.metrics[metric])
                if not math.isfinite(value):
                    raise RnnopsError(f"the validation {metric} is {value}")
    except RnnopsError as exc:  # diverged, a combination the params refuse: a result of the search
        said = " ".join(str(exc).split())
        if run is not None:
            sweep_runs.finish_trial_run(run, "FAIL", reason=said)
        trial.set_user_attr("failure", said[:500])
        tell(sweep, trial, state=TrialState.FAIL)
        print(f"{cfg.name}: trial {trial.number} FAIL ({said}) {values}")
        return
    except BaseException as exc:  # a bug or Ctrl-C: not the trial's result; its place goes to a retry
        if run is not None:
            sweep_runs.finish_trial_run(run, "FAIL", reason=f"{type(exc).__name__}: {exc}")
        frozen = tell(sweep, trial, state=TrialState.FAIL)
        if frozen is not None:
            sweep.storage.heartbeat_stale_trial_callback(sweep.study, frozen)
        raise
    seconds = round(time.perf_counter() - started, 2)
    if reporter.pruned_at is not None:
        sweep_runs.finish_trial_run(run, "PRUNED")
        tell(sweep, trial, state=TrialState.PRUNED)
        print(f"{cfg.name}: trial {trial.number} PRUNED after epoch {reporter.pruned_at} ({seconds} s) {values}")
        return
    sweep_runs.finish_trial_run(run, "COMPLETE", {"val": scored.metrics, "train_seconds": seconds,
                                                "epochs": trainer.current_epoch})
    tell(sweep, trial, value)
    print(f"{cfg.name}: trial {trial.number} COMPLETE val {metric} {value:.6g} ({seconds} s) {values}")
