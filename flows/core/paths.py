"""Where each stage reads and writes, relative to the repository root (dvc.yaml names the same paths)."""
from __future__ import annotations

from pathlib import Path


def raw_dir(root: Path, dataset: str) -> Path:
    return Path(root) / "data" / "raw" / dataset


def windows_dir(root: Path, dataset: str) -> Path:
    return Path(root) / "data" / "windows" / dataset


def model_dir(root: Path, dataset: str, cell: str) -> Path:
    return Path(root) / "data" / "models" / dataset / cell


def metrics_file(root: Path, dataset: str, cell: str) -> Path:
    return Path(root) / "metrics" / dataset / f"{cell}.json"


def backtest_file(root: Path, dataset: str, cell: str) -> Path:
    return Path(root) / "metrics" / dataset / f"backtest_{cell}.json"


def predictions_file(root: Path, dataset: str, cell: str) -> Path:
    return Path(root) / "plots" / dataset / f"{cell}.csv"


def horizons_file(root: Path, dataset: str, cell: str) -> Path:
    """A multi-step cell's figures per forecast step h (flows/core/perstep.py), which dvc.yaml draws against h."""
    return Path(root) / "plots" / dataset / f"{cell}.horizons.csv"


def figures_dir(root: Path, dataset: str, cell: str) -> Path:
    """Every image evaluate makes for a cell (PNG and SVG); the report shows them all, MLflow gets them all."""
    return Path(root) / "plots" / dataset / cell


def report_dir(root: Path, dataset: str) -> Path:
    return Path(root) / "reports" / dataset


def stage_name(kind: str, dataset: str, cell: str | None = None) -> str:
    """A dvc.yaml stage: `train-cosine-lstm`, `report-cosine` (DVC keeps `@` for its own foreach names)."""
    return "-".join(part for part in (kind, dataset, cell) if part)
