"""Run lifecycle: training runs (opened, resumed, closed, ghosts marked KILLED) and the pipeline's parent
run, with the tags and dataset inputs MLflow's UI reads (a plug-in's summary runs: flows.tracking.summaries)."""
from __future__ import annotations

import getpass
import importlib.util
import json
import math
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from flows.core.env import redact
from flows.tracking.store import (
    OWNER,
    PHASE,
    REPOSITORY,
    RESUMES,
    client,
    experiment_id_of,
    git_sha,
    is_rank_zero,
    log_curves,
    quiet_logger,
    ready,
)


@dataclass
class TrainingRun:
    """One MLflow run per training; on ranks other than 0 every method is a no-op (run_id None)."""

    mlc: MlflowClient | None
    run_id: str | None
    resumed: bool = False  # reopened after a kill: its params are logged already

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """One epoch's metrics as step `epoch`; non-finite values are left out (MLflow rejects them)."""
        if self.run_id is None:
            return
        found = [Metric(k, float(v), 0, epoch) for k, v in metrics.items() if math.isfinite(float(v))]
        self.mlc.log_batch(self.run_id, metrics=found)

    def log_curves(self, curves: dict[str, list[tuple[int, float]]]) -> None:
        """Per-step curves, e.g. the gradient norm of every optimiser step (step = that step's number)."""
        if self.run_id is not None:
            log_curves(self.mlc, self.run_id, curves)

    def trained(self) -> None:
        """Training ended normally: the run closes now, so its Duration is the training's; evaluate
        (another process) logs into the closed run and keeps this end time."""
        if self.run_id is not None:
            self.mlc.set_tag(self.run_id, PHASE, "trained")
            self.mlc.set_terminated(self.run_id, "FINISHED")

    @contextmanager
    def system_metrics(self):
        """CPU and memory samples (system/...) in the run while training, when psutil is installed;
        RNNOPS_SYSTEM_METRICS_S sets the interval (default 10 s), 0 turns it off."""
        every = float(os.environ.get("RNNOPS_SYSTEM_METRICS_S", "10"))
        if self.run_id is None or every <= 0 or importlib.util.find_spec("psutil") is None:
            yield
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        with quiet_logger("mlflow.system_metrics"):  # its "no GPU" notice comes from the constructor
            monitor = SystemMetricsMonitor(self.run_id, sampling_interval=every, tracking_uri=self.mlc.tracking_uri)
            monitor.start()
        try:
            yield
        finally:
            with quiet_logger("mlflow.system_metrics"):
                monitor.finish()

    @contextmanager
    def failing_on_error(self):
        if self.run_id is None:
            yield
            return
        try:
            yield
        except BaseException as exc:
            self.mlc.set_tag(self.run_id, "failure", redact(str(exc))[:500])
            self.mlc.set_terminated(self.run_id, "FAILED")
            raise


@dataclass(frozen=True)
class DataInput:
    """The data a training saw, as MLflow's Dataset column shows it."""

    name: str  # e.g. cosine-windows
    digest: str  # DVC's md5 of data/windows/<dataset>
    source_type: str  # generated | yfinance | local | http | builtin
    source: str  # formula, ticker and dates, file paths or URL
    splits: dict  # split -> items (windows) in it

    def entity(self) -> DatasetInput:
        # MLflow caps a digest at 36 characters: DVC's "<md5>.dir" fits; "<md5> (files, not via dvc)" is cut to the md5
        dataset = DatasetEntity(self.name, self.digest.split()[0][:36], self.source_type, self.source,
                                profile=json.dumps({f"{k}_windows": v for k, v in self.splits.items()}))
        return DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])


def source_tags(root: Path, entry_point: str, description: str, parent_run_id: str | None) -> dict[str, str]:
    """The tags MLflow's own UI reads: Source, Version (git commit), User, the run's description, its parent."""
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": entry_point,
            "mlflow.source.git.commit": git_sha(root), "mlflow.user": _user(), "mlflow.note.content": description}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    return tags


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def start_training_run(root: Path, dataset: str, cell: str, params: dict, data: DataInput, description: str = "",
                       flow_run_id: str | None = None, parent_run_id: str | None = None,
                       resume: tuple[str, int] | None = None) -> TrainingRun:
    """A new run (a child of the pipeline run `parent_run_id` when there is one), or with `resume` =
    (run id, epoch) the run of a killed training, reopened.

    Reopening is what makes resume and close_ghosts agree: a later training may have marked the
    run KILLED (its process was dead); the resumed training sets it RUNNING again under its own pid.
    A run that no longer exists (deleted, another tracking server) gives a new run instead."""
    if not is_rank_zero():
        return TrainingRun(None, None)
    mlc = client(root)
    experiment = experiment_id_of(mlc, root)
    close_ghosts(mlc, experiment)
    if resume is not None:
        reopened = _reopen(mlc, experiment, *resume)
        if reopened is not None:
            return reopened
    tags = {"dataset": dataset, "cell": cell, "kind": "training", "git_sha": git_sha(root),
            "dvc_data_md5": data.digest, "prefect_flow_run_id": flow_run_id or "none (plain dvc repro)",
            PHASE: "training", OWNER: f"{os.getpid()}@{socket.gethostname()}",
            **source_tags(root, f"flows/stages/train.py {dataset} {cell}", description, parent_run_id)}
    run = mlc.create_run(experiment, run_name=f"{dataset}-{cell}", tags=tags)
    mlc.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in sorted(params.items())])
    mlc.log_inputs(run.info.run_id, datasets=[data.entity()])
    return TrainingRun(mlc, run.info.run_id)


def _reopen(mlc: MlflowClient, experiment: str, run_id: str, epoch: int) -> TrainingRun | None:
    try:
        run = mlc.get_run(run_id)
    except MlflowException:
        return None
    if run.info.experiment_id != experiment or run.info.lifecycle_stage != "active":
        return None
    mlc.update_run(run_id, status="RUNNING")
    if "failure" in run.data.tags:
        mlc.delete_tag(run_id, "failure")
    resumed = int(run.data.tags.get(RESUMES, "0")) + 1
    tags = {PHASE: "training", OWNER: f"{os.getpid()}@{socket.gethostname()}", RESUMES: str(resumed),
            f"rnnops.resume.{resumed}": f"after epoch {epoch}"}
    mlc.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    return TrainingRun(mlc, run_id, resumed=True)


def attach_training_run(root: Path, run_id: str) -> TrainingRun:
    """The run a launcher opened before starting the ranks: rank 0 logs into it, the others nowhere."""
    return TrainingRun(client(root), run_id) if is_rank_zero() else TrainingRun(None, None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def close_ghosts(mlc: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the runs still RUNNING whose training process on this host is gone (kill -9, OOM):
    left alone they would stay RUNNING forever. Runs that finished training and wait for evaluate,
    and runs owned by other hosts, are left as they are."""
    here = socket.gethostname()
    return _close_dead(mlc, mlc.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000),
                       lambda tags, pid, host: tags.get(PHASE) == "training" and host == here and not _alive(pid),
                       "training", "training")


def close_dead_pipelines(mlc: MlflowClient, experiment_id: str, root: Path) -> list[str]:
    """Mark KILLED the pipeline runs left RUNNING by a `rnnops run` that died (kill -9, a reboot).

    Called under the repository's run lock (flows.orchestration.run_lock), so no other pipeline run of this repository
    is alive: one of its RUNNING parents is dead whatever its pid names now (pids are reused, e.g. in a
    restarted container). Another repository's on this host is dead when its pid is; a run of another
    host, or one without an owner (made before the tag existed), is left as it is."""
    here, mine = socket.gethostname(), str(Path(root).resolve())
    found = mlc.search_runs([experiment_id], "attributes.status = 'RUNNING' and tags.kind = 'pipeline'",
                            max_results=1000)
    return _close_dead(mlc, found, lambda tags, pid, host: host == here and pid != os.getpid()  # ours: alive
                       and (tags.get(REPOSITORY) == mine or not _alive(pid)), "pipeline", "pipeline run")


def _close_dead(mlc: MlflowClient, found, dead, process: str, by: str) -> list[str]:
    """Mark KILLED each run of `found` whose owner (pid@host) `dead(tags, pid, host)` says is gone, with a
    failure tag naming it; a run without an owner is left as it is."""
    closed = []
    for run in found:
        pid, _, host = run.data.tags.get(OWNER, "").partition("@")
        if not pid.isdigit() or not dead(run.data.tags, int(pid), host):
            continue
        mlc.set_tag(run.info.run_id, "failure", f"its {process} process (pid {pid} on {host}) ended without "
                                                f"closing the run (killed?); marked by a later {by}")
        mlc.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed


def start_pipeline_run(root: Path, cells: dict[str, list[str]], flow_run_id: str | None, scheduled: bool) -> str:
    """The parent run of one `rnnops run` (or scheduled flow run): its trainings and summary runs are
    its children, so the UI groups one pipeline run's runs under one row. The runs a killed pipeline
    left RUNNING (its parent, its trainings) are closed as KILLED first. Call it under the run lock.

    `cells`: each dataset of the run, in order, with the cells it trains (flows.core.params.cells_of: a
    dataset's own list, e.g. cosine's model types, or params' `cells`); logged as params `datasets` and
    `cells.<dataset>`."""
    ready(root)  # the store warm_up began, if it did
    mlc = client(root)
    experiment = experiment_id_of(mlc, root)
    close_dead_pipelines(mlc, experiment, root)
    close_ghosts(mlc, experiment)  # also the trainings of a killed run that this run will not train again
    how = "scheduled Prefect flow run" if scheduled else "rnnops run"
    what = "; ".join(f"{dataset} x {', '.join(names)}" for dataset, names in cells.items())
    tags = {"kind": "pipeline", "prefect_flow_run_id": flow_run_id or "none",
            OWNER: f"{os.getpid()}@{socket.gethostname()}", REPOSITORY: str(Path(root).resolve()),
            **source_tags(root, "flows/orchestration/pipeline.py", f"{how}: {what}", None)}
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    run = mlc.create_run(experiment, run_name=f"{how} {stamp}", tags=tags)
    per_dataset = [Param(f"cells.{dataset}", ",".join(names)) for dataset, names in cells.items()]
    mlc.log_batch(run.info.run_id, params=[Param("datasets", ",".join(cells)), *per_dataset,
                                           Param("scheduled", str(scheduled))])
    return run.info.run_id


def finish_pipeline_run(root: Path, run_id: str, outcomes: dict[str, str], reports: list[Path]) -> None:
    """Close the parent with each dataset's outcome as a tag and the report files as artifacts."""
    mlc = client(root)
    mlc.log_batch(run_id, tags=[RunTag(f"outcome.{d}", status) for d, status in outcomes.items()])
    for folder in reports:
        if folder.is_dir():
            mlc.log_artifacts(run_id, str(folder), artifact_path=f"reports/{folder.name}")
    ok = all(status in ("ok", "skipped") for status in outcomes.values())
    mlc.set_terminated(run_id, "FINISHED" if ok else "FAILED")
