"""Real components on temp dirs: Prefect's test harness, MLflow on SQLite, DVC in a temp git repo."""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from flows.graph import dvc_yaml


def _pin_xdist_worker() -> None:
    """Under `pytest -n K` give each worker its own share of the CPUs, before anything imports torch
    (flows.graph.dvc_yaml does not): K workers that each let torch (and every stage they start) use all
    cores would oversubscribe the machine, the OpenMP trap in ENVIRONMENT.md, and run slower."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not worker.startswith("gw") or not count or not hasattr(os, "sched_setaffinity"):
        return
    cpus, index, workers = sorted(os.sched_getaffinity(0)), int(worker[2:]), int(count)
    if workers <= len(cpus):
        os.sched_setaffinity(0, set(cpus[index::workers]))


_pin_xdist_worker()

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

for key, value in {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                   "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1",
                   "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                   "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}.items():
    os.environ.setdefault(key, value)
# Before anything imports prefect: its state lives in a temp dir, never in ~/.prefect.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="rnnops-prefect-")

# The smallest profile that still exercises every stage: seconds per training, not minutes.
TINY = {
    "cosine": {
        "ingest": {"points": 300, "start": 1.0, "stop": 30.0},
        "windows": {"window": 20, "train_windows": 200, "val_windows": 60},
        "train": {
            cell: {"hidden_size": 16, "num_layers": 1, "epochs": 10, "batch_size": 20, "lr": 0.01, "clip": 1.0,
                   **({"activation": "linear", "recurrent_max_norm": 1.0} if cell == "rnn" else {})}
            for cell in ("rnn", "lstm", "gru")
        },
        "evaluate": {"batch_size": 100, "gradients": True, "gradient_windows": 4},
    }
}


SEED_CSVS = ["data/sources/Google_Stock_Price_Train.csv", "data/sources/Google_Stock_Price_Test.csv"]
TINY_STOCKS = {
    "ingest": {"source": "csv", "ticker": "GOOG", "start": "2012-01-01", "end": "2017-02-01", "interval": "1d",
               "paths": SEED_CSVS, "column": "Open", "max_gap_days": 10, "retries": 3},
    "windows": {"column": "Open", "window": 10, "target": "level", "train_start": "2016-01-01",
                "val_start": "2016-11-01", "train_end": "2016-12-31", "test_start": "2017-01-01",
                "test_end": "2017-01-31"},
    "train": {cell: {"hidden_size": 4, "num_layers": 2, "dropout": 0.2, "epochs": 2, "batch_size": 64, "lr": 0.01,
                     "clip": 1.0, **({"activation": "tanh"} if cell == "rnn" else {})}
              for cell in ("rnn", "lstm", "gru")},
    "evaluate": {"batch_size": 100},
    "backtest": {"folds": 2, "horizon": 10, "refit": False, "epochs": 1},
}
TINY_DAILY = {
    "ingest": {"source": "yfinance", "ticker": "GOOG", "end": None, "history_days": 3650, "interval": "1d",
               "column": "Open", "max_gap_days": 10, "retries": 1},
    "windows": {"column": "Open", "window": 10, "target": "log_return", "val_sessions": 20, "test_sessions": 10},
    "train": copy.deepcopy(TINY_STOCKS["train"]),
    "evaluate": {"batch_size": 100},
}
TINY_CORPUS = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40
TINY_TEXT = {
    "ingest": {"source": "files", "name": "tiny", "paths": ["data/sources/tiny.txt"], "url": None, "sha256": None,
               "max_bytes": 1_000_000, "errors": "strict", "lowercase": True},
    "windows": {"seq_len": 16, "stride": 8, "val_fraction": 0.2, "mode": "many_to_many"},
    "train": {cell: {"hidden_size": 16, "num_layers": 1, "embedding_dim": 8, "epochs": 2, "batch_size": 32,
                     "lr": 0.01, "clip": 1.0} for cell in ("rnn", "lstm", "gru")},
    "evaluate": {"prompt": None, "length": 40, "temperatures": [0.5, 1.0], "top_k": 0, "rng_seed": 1},
}


def tiny_params(datasets=("cosine",)) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(datasets=list(datasets), cells=["rnn", "lstm", "gru"])
    params["cosine"] = copy.deepcopy(TINY["cosine"])
    params["stocks"] = copy.deepcopy(TINY_STOCKS)
    params["text"] = copy.deepcopy(TINY_TEXT)
    params["stocks_daily"] = copy.deepcopy(TINY_DAILY)
    params.pop("schedules", None)  # a test that serves schedules sets its own
    return params


def write_tiny_corpus(root: Path) -> None:
    (root / "data/sources").mkdir(parents=True, exist_ok=True)
    (root / "data/sources/tiny.txt").write_text(TINY_CORPUS, encoding="utf-8")


def needs_seed_csvs():
    """In CI the tutorial's CSVs must be there: a missing ../shared/data fails, it does not skip quietly."""
    if not (SHARED_DATA / "Google_Stock_Price_Train.csv").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the tutorial's Google CSVs are not in {SHARED_DATA}")
        pytest.skip(f"the tutorial's Google CSVs are not in {SHARED_DATA}")


def copy_seed_csvs(root: Path) -> None:
    needs_seed_csvs()
    (root / "data/sources").mkdir(parents=True, exist_ok=True)
    for name in SEED_CSVS:
        shutil.copy(SHARED_DATA / Path(name).name, root / name)


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True)


@pytest.fixture(autouse=True)
def _no_process_wide_tracking_uri(monkeypatch):
    """mlflow.set_tracking_uri (flows.tracking's, or a test's) sets a process-wide URI that outlives the
    test; reset it, so each test's in-process MLflow calls follow the MLFLOW_TRACKING_URI it set."""
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def project(tmp_path, mlflow_uri) -> Path:
    """A copy of the repository's pipeline in a fresh git + DVC repo, on the tiny profile."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("flows", "models"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in (".dvcignore", "data/sources/README.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    write_params(root, tiny_params())
    dvc_yaml.sync(root, tiny_params())
    git(root, "init", "-q")
    git(root, "config", "user.email", "ci@example.invalid")
    git(root, "config", "user.name", "ci")
    assert dvc(root, "init", "-q").returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tiny project")
    return root


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def team_mlflow():
    """One `mlflow server` per session on PostgreSQL with artifacts proxied to moto's S3, as a team runs it
    (tests/servers.py); yields (url, s3, postgres). Stopped at the end of the session, also on failure."""
    from tests.servers import STARTUP, mlflow_server, moto_s3, postgres

    with postgres(databases=("mlflow",)) as pg, moto_s3() as s3, mlflow_server(pg.url("mlflow"), s3) as url:
        print(f"\nserver start-up seconds: {STARTUP}")
        yield url, s3, pg


# The longest files in `make test --durations` (each a few minutes on one core), longest first.
LONGEST = ("test_concurrent.py", "test_faults.py", "test_pipeline.py", "test_model_types.py", "test_text_pipeline.py")


def pytest_collection_modifyitems(config, items):
    """The longest files first, then the other files with slow tests: `-n K --dist loadfile` hands whole
    files out in this order, so the long end-to-end files start at once instead of leaving one worker
    busy alone at the end (longest processing time first)."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item) -> tuple[int, int]:
        name = item.path.name
        return (LONGEST.index(name) if name in LONGEST else len(LONGEST), item.path not in slow)

    items.sort(key=rank)  # stable: each file's own order stays
