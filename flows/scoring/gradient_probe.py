"""Gradients through time for the pipeline: the params switch, the probe on validation windows and the
CSV of the per-step norms (evaluate writes it, the report compares the cells)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flows.scoring.regression_nets import table_csv
from models.errors import InvalidParameter

NORMS_FILE = "gradients.csv"  # in plots/<dataset>/<cell>/: ||dL/dh_t|| per step t over the probed windows


@dataclass(frozen=True)
class GradientConfig:
    gradients: bool = False  # <dataset>.evaluate.gradients
    gradient_windows: int = 8  # <dataset>.evaluate.gradient_windows: validation windows probed


def gradient_config(params: dict, dataset: str) -> GradientConfig:
    found = (params.get(dataset) or {}).get("evaluate") or {}
    cfg = GradientConfig(found.get("gradients", False), found.get("gradient_windows", 8))
    if not isinstance(cfg.gradients, bool):
        raise InvalidParameter(f"{dataset}.evaluate.gradients must be true or false, got {cfg.gradients!r}.")
    windows = cfg.gradient_windows
    if isinstance(windows, bool) or not isinstance(windows, int) or windows <= 0:
        raise InvalidParameter(f"{dataset}.evaluate.gradient_windows must be a positive integer, got {windows!r}; "
                               f"e.g. 8.")
    return cfg


def probe(net: torch.nn.Module, windows, count: int) -> np.ndarray | None:
    """||dL/dh_t|| on `count` validation windows spread evenly over the split, (windows, T); None for a
    stateful split, which has one long stream instead of windows (its picture is the windowed cell's)."""
    from models.gradients import state_gradient_norms
    from models.streams import StreamBlocks

    if isinstance(windows, StreamBlocks):
        print("gradients through time: skipped, a stateful formulation has no windows to probe")
        return None
    # the probe follows the one-step networks' recurrence (RecurrentNet, CharNet), not a forecaster's
    if getattr(getattr(net, "cfg", None), "multi_step", False):
        print(f"gradients through time: skipped for task {net.cfg.task} (the probe covers one-step cells)")
        return None

    picked = np.unique(np.linspace(0, len(windows) - 1, min(count, len(windows))).round().astype(int))
    x, y = torch.utils.data.default_collate([windows[int(i)] for i in picked])
    return state_gradient_norms(net, x, y)


def norms_table(norms: np.ndarray) -> dict:
    """Per step t = 1 .. T (the loss is read at T): the mean, least and largest norm over the windows."""
    return {"step": np.arange(1, norms.shape[1] + 1), "mean": norms.mean(0), "min": norms.min(0),
            "max": norms.max(0)}


def norms_csv(norms: np.ndarray) -> str:
    return table_csv(norms_table(norms))


def summary(norms: np.ndarray) -> dict:
    """The vanishing (first_over_last << 1) or exploding (>> 1) verdict in three numbers, for metrics."""
    mean = norms.mean(0)
    last = float(mean[-1])
    return {"norm_last_step": last, "norm_first_step": float(mean[0]),
            "first_over_last": float(mean[0] / last) if last > 0 else float("inf"), "windows": int(len(norms))}


def read_columns(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {key: np.array([float(r[key]) for r in rows]) for key in (rows[0] if rows else {})}
