"""The only module that imports mlflow: runs, per-epoch curves, model logging, registry and champion alias.

Defaults need no server: `sqlite:///<root>/mlflow.db` and artifacts under <root>/mlartifacts.
MLFLOW_TRACKING_URI overrides both (e.g. a real `mlflow server`).
"""
from __future__ import annotations

import base64
import getpass
import importlib.util
import json
import logging
import math
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import torch
from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from flows.env import redact
from models.errors import RnnopsError

CHAMPION = "champion"
# One experiment for every dataset: the pipeline's parent run holds all its trainings as children, and
# one chart compares cells, datasets and pipeline runs (registered models stay one per dataset).
EXPERIMENT = "rnnops"
# MLflow 3 opens an experiment on its GenAI overview unless this tag says it trains models.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
PHASE = "rnnops.phase"  # training -> trained (waiting for evaluate); evaluate closes the run
OWNER = "rnnops.owner"  # pid@host of the training process (the launcher's, under torchrun)
RESUMES = "rnnops.resumes"  # how many times a killed training was resumed into this run
PARENT_RUN_ID = "RNNOPS_PARENT_RUN_ID"  # the pipeline run's id, handed to the stage processes
PIP_REQUIREMENTS = ["torch==2.13.0", "numpy"]  # given explicitly: guessing them costs 10+ s per model


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"


def check_reachable(root: Path, timeout_s: float = 5.0) -> None:
    """An MLflow server that does not answer is one sentence before any stage starts, not five
    tracebacks after MLflow's retries inside a training."""
    uri = tracking_uri(root)
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(_health_request(uri), timeout=timeout_s) as answer:
            answer.read(64)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: a malformed URI
        reason = redact(str(getattr(exc, "reason", exc)))
        raise RnnopsError(f"the MLflow server at {redact(uri)} does not answer ({reason}); start it, or unset "
                          f"MLFLOW_TRACKING_URI to track in sqlite:///mlflow.db.") from None


def _health_request(uri: str) -> urllib.request.Request:
    """GET <uri>/health; a user:password in the URI becomes a Basic header (as MLflow's own client
    sends it), since urllib would take `user:password@host` for the host name."""
    parts = urllib.parse.urlsplit(uri)
    bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    request = urllib.request.Request(bare.rstrip("/") + "/health")
    if parts.username is not None:
        pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    return request


def client(root: Path) -> MlflowClient:
    uri = tracking_uri(root)
    if redact(uri) != uri:  # MLflow prints "View run at <uri>/#/..." with the user and password in it
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


def registered_name(dataset: str) -> str:
    return f"rnnops-{dataset}"


def _experiment_id(mlc: MlflowClient, root: Path) -> str:
    name = EXPERIMENT
    found = mlc.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(KIND_TAG) != KIND:  # experiments made before the tag existed
            mlc.set_experiment_tag(found.experiment_id, KIND_TAG, KIND)
        return found.experiment_id
    location = None
    uri = tracking_uri(root)
    if uri.startswith("sqlite:///"):  # keep artifacts beside the database, not in ./mlruns of the cwd
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name).resolve().as_uri()
    try:
        return mlc.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})
    except MlflowException:  # created meanwhile by another process
        return mlc.get_experiment_by_name(name).experiment_id


def run_lineage(root: Path, run_id: str) -> dict | None:
    """Read-only, for the report: a run's link in the MLflow UI and the commit and data hash it was tagged
    with; None when the store does not hold the run. A SQLite store's UI is `make ui`'s loopback address."""
    uri = tracking_uri(root)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None
    try:
        run = MlflowClient(uri).get_run(run_id)
    except MlflowException:
        return None
    base = "http://127.0.0.1:5000"
    if uri.startswith(("http://", "https://")):  # the server's own UI, without any user:password
        parts = urllib.parse.urlsplit(uri)
        base = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl().rstrip("/")
    tags = run.data.tags
    return {"url": f"{base}/#/experiments/{run.info.experiment_id}/runs/{run_id}",
            "commit": tags.get("mlflow.source.git.commit") or tags.get("git_sha"),
            "data_hash": tags.get("dvc_data_md5")}


def git_sha(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def is_rank_zero() -> bool:
    """True in the one process that may talk to MLflow, under torchrun / Lightning DDP or alone."""
    if "RANK" in os.environ:
        return os.environ["RANK"] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


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

        with _quiet("mlflow.system_metrics"):  # its "no GPU" notice comes from the constructor
            monitor = SystemMetricsMonitor(self.run_id, sampling_interval=every, tracking_uri=self.mlc.tracking_uri)
            monitor.start()
        try:
            yield
        finally:
            with _quiet("mlflow.system_metrics"):
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


@contextmanager
def _quiet(logger: str):
    """Silence a logger's warnings: the pickle flavour's caution is answered once, in the README
    (it loads back our own class, where pt2 gives a traced graph; rnnops' own loaders read the
    weights/ artifacts with torch.load(weights_only=True))."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


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
    experiment = _experiment_id(mlc, root)
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
    closed = []
    here = socket.gethostname()
    for run in mlc.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        pid, _, host = tags.get(OWNER, "").partition("@")
        if tags.get(PHASE) != "training" or host != here or not pid.isdigit() or _alive(int(pid)):
            continue
        mlc.set_tag(run.info.run_id, "failure", f"its training process (pid {pid} on {host}) ended without "
                                                f"closing the run (killed?); marked by a later training")
        mlc.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed


def flat_metrics(metrics: dict, prefix: str = "eval", timestamp: int = 0, step: int = 0) -> list[Metric]:
    """Nested evaluation figures as MLflow metrics, e.g. eval/test/rmse; non-numbers and non-finite left out."""
    found = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            found += flat_metrics(value, f"{prefix}/{key}", timestamp, step)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            found.append(Metric(f"{prefix}/{key}", float(value), timestamp, step))
    return found


def evaluation_metrics(metrics: dict, step: int) -> list[Metric]:
    """Evaluate's figures under the names every dataset shares: <split>/<metric> (val/rmse,
    test/persistence_rmse, val/loss_nats ...), skill/<split> against the headline baseline, and
    train/seconds; at step = epochs trained, so a curve's last point is the evaluated model."""
    now = int(time.time() * 1000)
    found = []
    for split in ("val", "test"):
        figures = dict(metrics.get(split) or {})
        if "skill" in figures:
            found += flat_metrics({split: figures.pop("skill")}, "skill", now, step)
        found += flat_metrics(figures, split, now, step)
    found += flat_metrics({"seconds": metrics.get("train_seconds")}, "train", now, step)
    for key, value in metrics.items():  # further sections under their own names, e.g. gradients/...
        if isinstance(value, dict) and key not in ("val", "test", "headline"):
            found += flat_metrics(value, key, now, step)
    return found


def run_link(root: Path, run_id: str, experiment_id: str) -> str:
    """Where a person opens the run: the tracking server's page, or `make ui`'s for the local store."""
    uri = redact(tracking_uri(root))
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def log_curves(mlc: MlflowClient, run_id: str, curves: dict[str, list[tuple[int, float]]]) -> None:
    """Each curve as one metric's history, (step, value) pairs; non-finite values left out (MLflow rejects them)."""
    found = [Metric(name, float(v), 0, int(step)) for name, points in curves.items() for step, v in points
             if math.isfinite(float(v))]
    for start in range(0, len(found), 1000):  # log_batch takes at most 1000 metrics
        mlc.log_batch(run_id, metrics=found[start:start + 1000])


def finish_evaluation(root: Path, dataset: str, run_id: str, metrics: dict, artifacts: list[Path],
                      net, input_example, code_dir: Path, weights: list[Path] = (),
                      selection: tuple[str, float] = ("val_rmse", math.inf),
                      curves: dict[str, list[tuple[int, float]]] | None = None) -> dict:
    """Log evaluation results and the model, register it with its validation score, then elect the
    champion over all registered versions (elect_champion): it moves only to a better version.

    `selection` is (tag, validation score; lower is better): the champion is chosen on validation
    data, never on a test split. `weights` (state_dict, config, data transform) go under
    artifacts/weights/: our own loaders read those with torch.load(weights_only=True) rather than
    unpickling the MLflow model. The run keeps the end time its training gave it. `curves` are
    per-step metric histories (e.g. ||dL/dh_t|| over t).
    """
    mlc = client(root)
    run = mlc.get_run(run_id)
    trained_at = run.info.end_time
    mlc.log_batch(run_id, metrics=evaluation_metrics(metrics, int(metrics.get("epochs", 0))))
    log_curves(mlc, run_id, curves or {})
    for path in artifacts:
        mlc.log_artifact(run_id, str(path))
    for path in weights:
        mlc.log_artifact(run_id, str(path), artifact_path="weights")
    name = registered_name(dataset)
    example = input_example.numpy()
    with mlflow.start_run(run_id=run_id), torch.no_grad(), _quiet("mlflow.pytorch"):
        info = mlflow.pytorch.log_model(
            net, name="model", signature=infer_signature(example, net(input_example).numpy()),
            input_example=example, registered_model_name=name, pip_requirements=PIP_REQUIREMENTS,
            code_paths=[str(code_dir)], serialization_format="pickle",
        )
    version = str(info.registered_model_version)
    tag, score = selection[0], float(selection[1])
    link = run_link(root, run_id, run.info.experiment_id)
    version_tags = {tag: repr(score), "cell": metrics.get("cell", ""), "dataset": dataset,
                    "dvc_data_md5": run.data.tags.get("dvc_data_md5", ""), "run_link": link,
                    **{m.key.replace("/", "_"): repr(m.value) for m in evaluation_metrics(metrics, 0)}}
    for key, value in version_tags.items():
        mlc.set_model_version_tag(name, version, key, value)
    mlc.update_model_version(name, version, description=(
        f"{dataset}/{metrics.get('cell', '')}: {tag} {score:.4g}; data {version_tags['dvc_data_md5']}; "
        f"run {link}"))
    champion = elect_champion(mlc, name, tag)
    mlc.set_terminated(run_id, "FINISHED", end_time=trained_at)
    return {"registered_model": name, "version": version, "champion_moved": champion == version,
            "champion_version": champion}


def best_version(mlc: MlflowClient, name: str, tag: str) -> str | None:
    """The version with the lowest `tag` score over ALL versions of `name`; a tie goes to the older
    version. Versions without the tag (still being registered) are not candidates yet."""
    scored, token = [], None
    while True:
        page = mlc.search_model_versions(f"name='{name}'", page_token=token)
        for v in page:
            score = float(v.tags.get(tag, "nan"))
            if not math.isnan(score):
                scored.append((score, int(v.version)))
        token = page.token
        if not token:
            break
    return str(min(scored)[1]) if scored else None


def elect_champion(mlc: MlflowClient, name: str, tag: str) -> str | None:
    """Point `champion` at the best version over all versions, then read back until the alias and the
    best agree. Runs on several machines may interleave (a slow run's alias write landing after a
    better run's): whichever writes last re-reads after its write and corrects it, so whatever the
    interleaving, once every run has returned the alias names the best version. Idempotent."""
    for _ in range(20):  # converges in one or two rounds; the bound only guards a pathological server
        best = best_version(mlc, name, tag)
        current = champion_version(mlc, name)
        if best is None or (current is not None and str(current.version) == best):
            return best
        mlc.set_registered_model_alias(name, CHAMPION, best)
    return best


def log_backtest(root: Path, dataset: str, cell: str, summary: dict) -> str | None:
    """A run of its own (tag kind=backtest), so the UI can compare backtests across configurations;
    a child of the pipeline run like the trainings."""
    if not is_rank_zero():
        return None
    mlc = client(root)
    parent = os.environ.get(PARENT_RUN_ID)
    tags = {"dataset": dataset, "cell": cell, "kind": "backtest", "git_sha": git_sha(root),
            **source_tags(root, f"flows/datasets/stocks/backtest.py {dataset} {cell}",
                          f"{dataset}/{cell}: walk-forward backtest, {summary['folds']} folds of "
                          f"{summary['horizon']} sessions", parent)}
    run = mlc.create_run(_experiment_id(mlc, root), run_name=f"{dataset}-{cell}-backtest", tags=tags)
    params = [Param(k, str(summary[k])) for k in ("folds", "horizon", "refit", "epochs")]
    metrics = flat_metrics({k: v for k, v in summary.items() if k != "per_fold"}, "backtest")
    metrics += [Metric("backtest/fold_skill", float(f["skill"]), 0, f["fold"]) for f in summary["per_fold"]]
    mlc.log_batch(run.info.run_id, metrics=metrics, params=params)
    mlc.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def start_pipeline_run(root: Path, datasets: list[str], cells: list[str], flow_run_id: str | None,
                       scheduled: bool) -> str:
    """The parent run of one `rnnops run` (or scheduled flow run): its trainings and backtests are
    its children, so the UI groups one pipeline run's runs under one row."""
    mlc = client(root)
    how = "scheduled Prefect flow run" if scheduled else "rnnops run"
    tags = {"kind": "pipeline", "prefect_flow_run_id": flow_run_id or "none",
            **source_tags(root, "flows/pipeline.py", f"{how}: {', '.join(datasets)} x {', '.join(cells)}", None)}
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    run = mlc.create_run(_experiment_id(mlc, root), run_name=f"{how} {stamp}", tags=tags)
    mlc.log_batch(run.info.run_id, params=[Param("datasets", ",".join(datasets)), Param("cells", ",".join(cells)),
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


def log_scorecard(root: Path, dataset: str, card: dict) -> str:
    """One long-lived run per dataset (tag kind=scorecard); step = forecasts scored so far, so the
    UI draws the live skill against persistence as it accumulates."""
    mlc = client(root)
    experiment = _experiment_id(mlc, root)
    found = mlc.search_runs([experiment], filter_string=f"tags.kind = 'scorecard' and tags.dataset = '{dataset}'",
                            max_results=1)
    run_id = found[0].info.run_id if found else mlc.create_run(
        experiment, run_name=f"{dataset}-scorecard", tags={"dataset": dataset, "kind": "scorecard"}).info.run_id
    now = int(time.time() * 1000)
    metrics = flat_metrics({k: v for k, v in card.items() if k != "next"}, "scorecard", now, int(card["scored"]))
    metrics.append(Metric("scorecard/next_forecast", float(card["next"]["forecast"]), now, int(card["forecasts"])))
    mlc.log_batch(run_id, metrics=metrics)
    mlc.set_terminated(run_id, "FINISHED")
    return run_id


def champion_weights(root: Path, dataset: str, into: Path) -> dict:
    """Download the champion's weights/ artifacts (state_dict, config, data transform) into `into`."""
    mlc = client(root)
    name = registered_name(dataset)
    version = champion_version(mlc, name)
    if version is None:
        raise RnnopsError(f"no model {name}@{CHAMPION} in {redact(tracking_uri(root))}; run the pipeline "
                          f"(make run) first.")
    folder = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="weights", dst_path=str(into))
    return {"dir": Path(folder), "model": f"models:/{name}@{CHAMPION}", "version": str(version.version),
            "cell": version.tags.get("cell", "")}


def champion_version(mlc: MlflowClient, name: str):
    try:
        return mlc.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
