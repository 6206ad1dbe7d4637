"""A sweep in MLflow: one parent run (kind=sweep: the search space and study as params, the best trial as
metrics and tags) and one child run per trial (kind=trial) under the metric names a training run uses,
so the UI's parallel-coordinates and chart views compare trials with the pipeline's cells."""
from __future__ import annotations

import os
import socket

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from flows.core.env import redact
from flows.tracking.registry import evaluation_metrics
from flows.tracking.runs import DataInput, TrainingRun, close_ghosts, source_tags
from flows.tracking.store import OWNER, PHASE, client, experiment_id_of, flat_metrics, git_sha

STATE = "trial_state"  # COMPLETE | PRUNED | FAIL, Optuna's word for how the trial ended


def start_sweep_run(root, name: str, description: str, params: dict[str, object]) -> str:
    mlc = client(root)
    tags = {"kind": "sweep", "sweep": name, "git_sha": git_sha(root),
            **source_tags(root, f"rnnops sweep {name}", description, None)}
    run = mlc.create_run(experiment_id_of(mlc, root), run_name=f"sweep {name}", tags=tags)
    mlc.log_batch(run.info.run_id, params=[Param(k, redact(str(v))[:6000]) for k, v in sorted(params.items())])
    return run.info.run_id


def reopen_sweep_run(root, run_id: str) -> bool:
    """A sweep run again continues its parent run; False when the store no longer holds it."""
    mlc = client(root)
    try:
        run = mlc.get_run(run_id)
    except MlflowException:
        return False
    if run.info.lifecycle_stage != "active":
        return False
    if run.info.status != "RUNNING":
        mlc.update_run(run_id, status="RUNNING")
    return True


def start_trial_run(root, parent_run_id: str, sweep: str, dataset: str, cell: str, number: int,
                    params: dict, data: DataInput, description: str) -> TrainingRun:
    """A child of the sweep's run. It carries the training run's phase and owner tags, so a later
    training or trial marks it KILLED when its worker died (close_ghosts)."""
    mlc = client(root)
    experiment = experiment_id_of(mlc, root)
    close_ghosts(mlc, experiment)
    tags = {"kind": "trial", "sweep": sweep, "trial": str(number), "dataset": dataset, "cell": cell,
            STATE: "RUNNING", "git_sha": git_sha(root), "dvc_data_md5": data.digest, PHASE: "training",
            OWNER: f"{os.getpid()}@{socket.gethostname()}",
            **source_tags(root, f"rnnops sweep {sweep} (trial {number})", description, parent_run_id)}
    run = mlc.create_run(experiment, run_name=f"{sweep}-trial-{number}", tags=tags)
    mlc.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in sorted(params.items())])
    mlc.log_inputs(run.info.run_id, datasets=[data.entity()])
    return TrainingRun(mlc, run.info.run_id)


def finish_trial_run(run: TrainingRun, state: str, metrics: dict | None = None, reason: str = "") -> None:
    """COMPLETE: the validation figures under evaluate's names (val/rmse ...) at step = epochs trained;
    PRUNED keeps the curve it had. FAIL ends the run FAILED with the reason."""
    tags = [RunTag(STATE, state), RunTag(PHASE, "done")] + ([RunTag("failure", redact(reason)[:500])] if reason else [])
    found = evaluation_metrics(metrics, int(metrics.get("epochs", 0))) if metrics else []
    run.mlc.log_batch(run.run_id, metrics=found, tags=tags)
    run.mlc.set_terminated(run.run_id, "FAILED" if state == "FAIL" else "FINISHED")


def close_lost_trial_run(root, run_id: str, why: str) -> None:
    """The run of a trial whose worker went silent (killed, machine lost): KILLED, trial_state FAIL."""
    mlc = client(root)
    try:
        if mlc.get_run(run_id).info.status != "RUNNING":
            return
    except MlflowException:
        return
    mlc.log_batch(run_id, tags=[RunTag(STATE, "FAIL"), RunTag(PHASE, "done"), RunTag("failure", why[:500])])
    mlc.set_terminated(run_id, "KILLED")


def update_sweep_run(root, run_id: str, metric: str, counts: dict[str, int], best: dict | None,
                     start_value: float | None, done: bool) -> None:
    """The study so far on the parent: trial counts (sweep/...), the best trial's score (best/val/<metric>)
    and params (tags best.<key>), the starting cell's score (start/val/<metric>); FINISHED once the study
    has its trials. best: {"number", "value", "params"} or None."""
    mlc = client(root)
    step = int(counts.get("finished", 0))
    found = flat_metrics(counts, "sweep", 0, step)
    tags = []
    if best is not None:
        found += [Metric(f"best/val/{metric}", float(best["value"]), 0, step),
                  Metric("sweep/best_trial", float(best["number"]), 0, step)]
        tags = [RunTag(f"best.{k}", str(v)) for k, v in best["params"].items()] + [
            RunTag("best_trial", str(best["number"]))]
    if start_value is not None:
        found.append(Metric(f"start/val/{metric}", float(start_value), 0, step))
    mlc.log_batch(run_id, metrics=found, tags=tags)
    if done:
        mlc.set_terminated(run_id, "FINISHED")
