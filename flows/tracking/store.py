"""The connection to MLflow: where it is, the one experiment, shared naming and low-level logging.

Defaults need no server: `sqlite:///<root>/mlflow.db` and artifacts under <root>/mlartifacts.
MLFLOW_TRACKING_URI overrides both (e.g. a real `mlflow server`).
"""
from __future__ import annotations

import base64
import logging
import math
import os
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from flows.core.env import redact
from models.errors import RnnopsError

CHAMPION = "champion"
# One experiment for every dataset: the pipeline's parent run holds all its trainings as children, and
# one chart compares cells, datasets and pipeline runs (registered models stay one per dataset).
EXPERIMENT = "rnnops"
# The experiment's kind for MLflow 3 (the UI's view is another matter: VIEW).
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
PHASE = "rnnops.phase"  # training -> trained (waiting for evaluate); evaluate closes the run
OWNER = "rnnops.owner"  # pid@host of the training (the launcher's, under torchrun) or pipeline process
REPOSITORY = "rnnops.repository"  # the absolute path of the repository a pipeline run ran in (with OWNER's host)
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


_warming: dict[str, threading.Thread] = {}


def warm_up(root: Path) -> None:
    """Create a new store's tables and our experiment on a thread (a fresh SQLite store runs seconds of
    migrations) while the caller does something else, e.g. start Prefect's server; `ready` waits for it.
    A failure here is left for the caller's own first call to raise, in its own words."""
    def prepare():
        try:
            experiment_id_of(client(root), root)
        except Exception:  # noqa: BLE001 - said again, properly, by the call that needs the store
            pass

    thread = threading.Thread(target=prepare, name="mlflow-store")  # not daemon: exit waits, no half-made store
    _warming[str(Path(root).resolve())] = thread
    thread.start()


def ready(root: Path) -> None:
    thread = _warming.pop(str(Path(root).resolve()), None)
    if thread is not None:
        thread.join()


def registered_name(dataset: str, horizon: int | None = None) -> str:
    """rnnops-<dataset> holds the one-step forecasters and the character models: its champion is what
    `rnnops predict` / `generate` serve. Multi-step forecasters of horizon H are compared among
    themselves, on their mean validation RMSE over h = 1..H, in rnnops-<dataset>-h<H>: that score and
    a one-step RMSE measure different things."""
    return f"rnnops-{dataset}" if horizon is None else f"rnnops-{dataset}-h{horizon}"


def experiment_id_of(mlc: MlflowClient, root: Path) -> str:
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


# MLflow 3.17's UI ignores KIND_TAG for the view it opens: a switch kept in the browser (localStorage
# mlflow.workflowType, default genai) shows traces and token usage instead of our runs. Every address we
# print or store carries this query, which overrides the switch (ui_page).
VIEW = "workflowType=machine_learning"
LOCAL_UI = "http://127.0.0.1:5000"  # `rnnops ui`'s default address


def ui_base(uri: str, local: str = LOCAL_UI) -> str:
    """Where a person opens the tracking UI: the server's own address without any user:password, or
    `local` (`make ui`'s loopback address) for a local store."""
    if not uri.startswith(("http://", "https://")):
        return local
    parts = urllib.parse.urlsplit(uri)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl().rstrip("/")


def ui_page(base: str, route: str) -> str:
    """The address of a page of the UI at `base`, opening in the model-training view. The UI routes in
    the URL's fragment (#/experiments/1/runs/<id>) and reads the view from the fragment's own query:
    a query before the '#' is ignored."""
    return f"{base}/#/{route}?{VIEW}"


def run_link(root: Path, run_id: str, experiment_id: str | None = None) -> str:
    """A run's page; without `experiment_id`, the store is asked for it."""
    experiment_id = experiment_id or client(root).get_run(run_id).info.experiment_id
    return ui_page(ui_base(tracking_uri(root)), f"experiments/{experiment_id}/runs/{run_id}")


def model_link(root: Path, name: str, version: str | None = None) -> str:
    """A registered model's page, or one version's."""
    route = f"models/{urllib.parse.quote(name, safe='')}" + (f"/versions/{version}" if version else "")
    return ui_page(ui_base(tracking_uri(root)), route)


def experiment_link(root: Path, base: str | None = None) -> str:
    """Our experiment's runs table, read-only: the experiments list where the store has no experiment
    yet or does not answer (its links lose the view: MLflow's own, not ours to fix)."""
    base = base or ui_base(tracking_uri(root))
    found = _experiment_id(root)
    return ui_page(base, f"experiments/{found}" if found else "experiments")


def _experiment_id(root: Path) -> str | None:
    uri = tracking_uri(root)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None  # looking would create an empty store
    try:
        check_reachable(root)
        found = MlflowClient(uri).get_experiment_by_name(EXPERIMENT)
    except (RnnopsError, MlflowException):
        return None
    return found.experiment_id if found is not None else None


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
    tags = run.data.tags
    return {"url": run_link(root, run_id, run.info.experiment_id),
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


@contextmanager
def quiet_logger(logger: str):
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


def flat_metrics(metrics: dict, prefix: str = "eval", timestamp: int = 0, step: int = 0) -> list[Metric]:
    """Nested evaluation figures as MLflow metrics, e.g. eval/test/rmse; non-numbers and non-finite left out."""
    found = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            found += flat_metrics(value, f"{prefix}/{key}", timestamp, step)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            found.append(Metric(f"{prefix}/{key}", float(value), timestamp, step))
    return found


def log_curves(mlc: MlflowClient, run_id: str, curves: dict[str, list[tuple[int, float]]]) -> None:
    """Each curve as one metric's history, (step, value) pairs; non-finite values left out (MLflow rejects them)."""
    found = [Metric(name, float(v), 0, int(step)) for name, points in curves.items() for step, v in points
             if math.isfinite(float(v))]
    for start in range(0, len(found), 1000):  # log_batch takes at most 1000 metrics
        mlc.log_batch(run_id, metrics=found[start:start + 1000])
