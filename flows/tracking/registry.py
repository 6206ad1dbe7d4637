"""Evaluation results and the model registry: evaluate's metrics and model, registered versions, the
champion alias (moved only to a better version) and its weights."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import mlflow
import torch
from mlflow.entities import Metric
from mlflow.models import infer_signature

from flows.core.env import redact
from flows.core.perstep import PER_STEP  # curves for the run, too many to tag a model version with
from flows.tracking.election import DATA_TAG, Rescore, champion_version, elect_champion
from flows.tracking.store import (
    CHAMPION,
    PIP_REQUIREMENTS,
    client,
    flat_metrics,
    log_curves,
    quiet_logger,
    registered_name,
    run_link,
    tracking_uri,
)
from models.errors import RnnopsError


def pytorch_flavour():
    """mlflow.pytorch without the Lightning import it makes for its autolog callback (seconds in every
    evaluate, which never trains); a process that has Lightning loaded already gets the whole module."""
    if "mlflow.pytorch" not in sys.modules and "pytorch_lightning" not in sys.modules:
        sys.modules["mlflow.pytorch._lightning_autolog"] = None  # mlflow.pytorch skips it on ImportError
        try:
            import mlflow.pytorch
        finally:
            del sys.modules["mlflow.pytorch._lightning_autolog"]
    import mlflow.pytorch

    return mlflow.pytorch


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


def finish_evaluation(root: Path, dataset: str, run_id: str, metrics: dict, artifacts: list[Path],
                      net, input_example, code_dir: Path, weights: list[Path] = (),
                      selection: tuple[str, float] = ("val_rmse", math.inf),
                      curves: dict[str, list[tuple[int, float]]] | None = None, horizon: int | None = None,
                      data: str | None = None, rescore: Rescore | None = None) -> dict:
    """Log evaluation results and the model, register it with its validation score, then elect the
    champion over all registered versions (elect_champion): it moves only to a version better on the
    same data.

    `selection` is (tag, validation score; lower is better): the champion is chosen on validation
    data, never on a test split. `weights` (state_dict, config, data transform) go under
    artifacts/weights/: our own loaders read those with torch.load(weights_only=True) rather than
    unpickling the MLflow model. The run keeps the end time its training gave it. `curves` are
    per-step metric histories (e.g. ||dL/dh_t|| over t). `horizon`: a multi-step forecaster's H; it is
    registered and elected among the forecasters of that horizon (registered_name). `data`: the hash of
    the data the validation score was computed on (default: the run's, what it trained on); the
    election compares only scores on it, re-scoring an incumbent validated elsewhere with `rescore`
    (flows/tracking/election.py).
    """
    mlc = client(root)
    run = mlc.get_run(run_id)
    trained_at = run.info.end_time
    figures = evaluation_metrics(metrics, int(metrics.get("epochs", 0)))
    for start in range(0, len(figures), 1000):  # log_batch takes at most 1000; per-step interval figures of a
        mlc.log_batch(run_id, metrics=figures[start:start + 1000])  # long horizon on val and test pass that
    for split, words in (metrics.get("verdict") or {}).items():  # what the summary says, in the runs table
        mlc.set_tag(run_id, f"verdict/{split}", words)
    log_curves(mlc, run_id, curves or {})
    for path in artifacts:
        mlc.log_artifact(run_id, str(path))
    for path in weights:
        mlc.log_artifact(run_id, str(path), artifact_path="weights")
    name = registered_name(dataset, horizon)
    example = input_example.numpy()
    with mlflow.start_run(run_id=run_id), torch.no_grad(), quiet_logger("mlflow.pytorch"):
        info = pytorch_flavour().log_model(
            net, name="model", signature=infer_signature(example, net(input_example).numpy()),
            input_example=example, registered_model_name=name, pip_requirements=PIP_REQUIREMENTS,
            code_paths=[str(code_dir)], serialization_format="pickle",
        )
    version = str(info.registered_model_version)
    tag, score = selection[0], float(selection[1])
    link = run_link(root, run_id, run.info.experiment_id)
    version_tags = {tag: repr(score), "cell": metrics.get("cell", ""), "dataset": dataset,
                    "horizon": str(horizon or 1),
                    DATA_TAG: data or run.data.tags.get(DATA_TAG, ""), "run_link": link,
                    **{m.key.replace("/", "_"): repr(m.value) for m in evaluation_metrics(metrics, 0)
                       if not PER_STEP.search(m.key)}}
    for key, value in version_tags.items():
        mlc.set_model_version_tag(name, version, key, value)
    mlc.update_model_version(name, version, description=(
        f"{dataset}/{metrics.get('cell', '')}: {tag} {score:.4g}; data {version_tags[DATA_TAG]}; "
        f"run {link}"))
    champion = elect_champion(mlc, name, tag, version_tags[DATA_TAG], rescore)
    mlc.set_terminated(run_id, "FINISHED", end_time=trained_at)
    return {"registered_model": name, "version": version, "champion_moved": champion == version,
            "champion_version": champion}


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
