"""A temporary copy of the project (flows/, models/, a params.yaml of the benchmark's) run through the real
stages as subprocesses, the way `dvc repro` runs them, with its own SQLite MLflow."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from flows.core.params import with_defaults
from flows.core.perstep import read_metrics

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def repo_params() -> dict:
    return with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))


@contextlib.contextmanager
def temp_project(prefix: str):
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        for name in ("flows", "models"):
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "data/sources").mkdir(parents=True)
        yield root


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage(root: Path, *args: str) -> float:
    """Run `python -m <args>` in the project; its wall seconds. A failing stage ends the benchmark."""
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               PYTHONPATH=str(root))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def train_and_evaluate(root: Path, dataset: str, cell: str) -> tuple[float, dict]:
    """The cell's train stage seconds and evaluate's metrics, per-step figures included."""
    seconds = stage(root, "flows.stages.train", dataset, cell)
    stage(root, "flows.stages.evaluate", dataset, cell)
    return seconds, read_metrics(root, dataset, cell)
