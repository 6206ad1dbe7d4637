"""One trial, trained as the train stage trains a cell: the same params check (train_spec), the plug-in's
splits, budget and Lightning module, the same fit (flows.training.lightning_fit.fit: seeding, selection callbacks,
loaders), and evaluate's validation score (the plug-in's score on the val split, never test). Only a
per-epoch callback is added: it reports the validation curve to Optuna and stops a pruned fit. A cell
that asks for several devices trains as the train stage's does, as ranks under torchrun (flows.sweeps.ranks)."""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytorch_lightning as pl
import torch
from optuna.trial import TrialState

from flows import datasets, tracking
from flows.core import paths
from flows.core.atomic import read_json, staged_outputs
from flows.core.env import child_env
from flows.core.params import train_spec
from flows.graph.lineage import data_hash, data_source
from flows.orchestration.stage_command import ERROR_FILE
from flows.stages.train import describe, run_params
from flows.sweeps.config import WINDOWS, with_values
from flows.tracking import sweeps as sweep_runs
from flows.training import launch
from flows.training.lightning_fit import History, fit
from models.config import stability_note
from models.errors import RnnopsError
from models.runtime import flush_denormals

ORDER = "RNNOPS_TRIAL_ORDER"  # a trial's ranks read what to train (sweep, values, trial, run) from it


class ReportEpochs(pl.Callback):
    """Each epoch's validation headline to Optuna (step = epoch); when the pruner says so the fit stops
    after this epoch, and the curve logged so far stays in the trial's MLflow run. Under torchrun only
    rank 0 holds the trial (`trial` None elsewhere): it decides, and every rank stops together."""

    def __init__(self, trial: optuna.Trial | None, key: str):
        self.trial, self.key, self.pruned_at, self.lost = trial, key, None, False

    def verdict(self, trainer) -> tuple[bool, bool]:
        """(prune, lost) for this epoch, from the trial's holder."""
        value = trainer.callback_metrics.get(self.key)
        if self.trial is None or value is None:
            return False, False
        try:
            self.trial.report(float(value), trainer.current_epoch + 1)
        except optuna.exceptions.UpdateFinishedTrialError:  # failed as stale meanwhile: its retry goes on
            return False, True
        return self.trial.should_prune(), False

    def on_train_epoch_end(self, trainer, module):  # validation has run by now
        prune, lost = self.verdict(trainer)
        if trainer.world_size > 1:  # every rank calls it every epoch, or the collective waits for ever
            prune, lost = trainer.strategy.broadcast((prune, lost), src=0)
        if lost:
            self.lost, trainer.should_stop = True, True
        elif prune:
            self.pruned_at, trainer.should_stop = trainer.current_epoch + 1, True


@dataclass
class Outcome:
    """What a fit of a trial came to: the validation headline (None when pruned) and its figures."""

    value: float | None = None
    metrics: dict = field(default_factory=dict)
    pruned_at: int | None = None
    epochs: int = 0


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
        where = launch.layout(spec, f"{cfg.dataset}.train.{cfg.cell}")  # a bad runtime key fails before any data
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
            if where.world > 1:
                outcome = launch_trial(sweep, trial, values, where, run)
            else:
                outcome = fit_trial(root, params, spec, plugin, splits, trial, run)
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
    if outcome.pruned_at is not None:
        sweep_runs.finish_trial_run(run, "PRUNED")
        tell(sweep, trial, state=TrialState.PRUNED)
        print(f"{cfg.name}: trial {trial.number} PRUNED after epoch {outcome.pruned_at} ({seconds} s) {values}")
        return
    sweep_runs.finish_trial_run(run, "COMPLETE", {"val": outcome.metrics, "train_seconds": seconds,
                                                "epochs": outcome.epochs})
    tell(sweep, trial, outcome.value)
    print(f"{cfg.name}: trial {trial.number} COMPLETE val {metric} {outcome.value:.6g} ({seconds} s) {values}")


def fit_trial(root: Path, params: dict, spec, plugin, splits, trial: optuna.Trial | None, run) -> Outcome:
    """Fit and score in this process: the worker's own, or one rank of a torchrun launch (rank 0 scores)."""
    metric = plugin.headline.metric
    reporter = ReportEpochs(trial, f"val/{metric}")
    module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val,
                          [History(sink=run.log_epoch), reporter],
                          progress_bar=os.environ.get("RNNOPS_PROGRESS_BAR", "0") != "0")
    if reporter.lost:
        raise RnnopsError("another worker took this one for dead (no heartbeat within the grace period); "
                          "the trial's retry counts instead")
    if reporter.pruned_at is not None or not trainer.is_global_zero:
        return Outcome(pruned_at=reporter.pruned_at, epochs=trainer.current_epoch)
    scored = plugin.score(root, params, module.net, splits, "val")
    value = float(scored.metrics[metric])
    if not math.isfinite(value):
        raise RnnopsError(f"the validation {metric} is {value}")
    return Outcome(value, scored.metrics, None, trainer.current_epoch)


def launch_trial(sweep, trial: optuna.Trial, values: dict, where: launch.Layout, run) -> Outcome:
    """A trial whose cell asks for several devices: its ranks under torchrun, as the train stage starts
    its own (flows.sweeps.ranks); this worker keeps the trial's heartbeat and tells the study."""
    with tempfile.TemporaryDirectory(prefix="rnnops-trial-ranks-") as tmp:
        result, errors = Path(tmp) / "outcome.json", Path(tmp) / "error.txt"
        order = {"sweep": sweep.cfg.name, "values": values, "storage": sweep.storage.url,
                 "trial_id": trial._trial_id, "run_id": run.run_id, "outcome": str(result)}
        env = child_env(**{ORDER: json.dumps(order), ERROR_FILE: str(errors),
                           "RNNOPS_THREADS": str(torch.get_num_threads())})  # this worker's share, split
        print(f"{sweep.cfg.name}: trial {trial.number} trains as {where.devices} processes under torchrun", flush=True)
        code = launch.torchrun("flows.sweeps.ranks", [], where.devices, env)
        if code or not result.exists():
            said = (errors.read_text(encoding="utf-8").splitlines() or [""])[0] if errors.exists() else ""
            raise RnnopsError(said or f"the trial's {where.devices} processes under torchrun failed (exit code {code})")
        return Outcome(**read_json(result))
