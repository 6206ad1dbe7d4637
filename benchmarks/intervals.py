"""Nominal vs realised coverage and mean width of the Gaussian head's own intervals and of the same
forecasts with split-conformal calibration (flows/scoring/intervals.py), through the real stages in a temp copy
of the project. Prints JSON.

stocks: the tutorial's Google CSVs (../shared/data): params' Gaussian seq2seq cell (H = 20), the same cell
as a recursive forecaster, and a one-step Gaussian LSTM; validation (conformal calibrated on its first
half, both intervals scored on its second half) and the January 2017 test month (calibrated on all of
validation). cosine with noise: cos(x) + N(0, 0.1^2) (a plug-in this script adds to its temp copy), a
one-step and a seq2seq Gaussian GRU; validation only (the cosine layout has no test split).

    nice python benchmarks/intervals.py [--data ../shared/data] [--out benchmarks/results/intervals.json]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from emit import args_json, emit, load
from project import SHARED, repo_params, stage, temp_project, train_and_evaluate, write_params

CSVS = ["Google_Stock_Price_Train.csv", "Google_Stock_Price_Test.csv"]
NOISE = 0.1
NOISY_PLUGIN = f'''"""cos(x) + N(0, noise^2), seeded: a series whose forecast errors have a known floor."""
from dataclasses import dataclass

import numpy as np

from flows.datasets.generated import GeneratedSeries


@dataclass(frozen=True)
class IngestConfig:
    points: int = 1500
    start: float = 1.0
    stop: float = 50.0
    noise: float = {NOISE}
    seed: int = 0

    def series(self):
        x = np.linspace(self.start, self.stop, self.points)
        return np.cos(x) + np.random.default_rng(self.seed).normal(0, self.noise, self.points)

    def period(self):
        return round(2 * np.pi * (self.points - 1) / (self.stop - self.start))


DATASET = GeneratedSeries("noisy_cosine", IngestConfig, "cos(linspace(start, stop, points)) + N(0, noise^2)")
'''
SMALL = {"kind": "gru", "head": "gaussian", "hidden_size": 32, "num_layers": 1, "epochs": 5, "batch_size": 50,
         "lr": 0.003, "clip": 1.0}
NOISY = {"ingest": {"points": 1500, "start": 1.0, "stop": 50.0, "noise": NOISE, "seed": 0},
         "windows": {"window": 60, "train_windows": 800, "val_windows": 500},
         "cells": ["gaussian_one_step", "gaussian_seq2seq"],
         "train": {"gaussian_one_step": SMALL,
                   "gaussian_seq2seq": {**SMALL, "task": "seq2seq", "horizon": 20, "scheduled_sampling": 0.5}},
         "evaluate": {"batch_size": 500, "intervals": [0.8, 0.95]}}
SHOWN_STEPS = (1, 5, 10, 20)


def stocks_cells(section: dict) -> list[str]:
    """params' Gaussian seq2seq, the same as a recursive forecaster, and a one-step Gaussian LSTM."""
    s2s = section["train"]["seq2seq"]
    recursive = {k: v for k, v in s2s.items() if k not in ("bidirectional", "scheduled_sampling")}
    section["train"]["gaussian_recursive"] = {**recursive, "task": "recursive"}
    section["train"]["gaussian_one_step"] = {"kind": "lstm", "head": "gaussian", "hidden_size": 32, "num_layers": 1,
                                             "epochs": s2s["epochs"], "batch_size": 32, "lr": 0.001, "clip": 1.0}
    section["cells"] = ["seq2seq", "gaussian_recursive", "gaussian_one_step"]
    return section["cells"]


def split_figures(split: dict, levels) -> dict:
    """Both intervals on the windows the conformal one is scored on, per level, overall and at a few steps."""
    horizon = split["horizon"]
    width = max(2, len(str(horizon)))
    steps = [h for h in SHOWN_STEPS if h <= horizon]
    found = {"horizon": horizon, "windows": split["windows"],
             "calibration_windows": split["conformal_calibration_windows"],
             "scored_windows": split["conformal_windows"], "rmse": split["rmse"]}
    for level in levels:
        tag = f"{level * 100:g}"
        found[tag] = {
            "nominal": level,
            "gaussian_coverage": split[f"gaussian_coverage{tag}"], "gaussian_width": split[f"gaussian_width{tag}"],
            "conformal_coverage": split[f"conformal_coverage{tag}"],
            "conformal_width": split[f"conformal_width{tag}"],
            "gaussian_coverage_all_windows": split.get(f"coverage{tag}"),
            "by_h": {h: {"conformal_coverage": split[f"conformal_coverage{tag}_h{h:0{width}d}"],
                         "conformal_width": split[f"conformal_width{tag}_h{h:0{width}d}"],
                         "gaussian_width": split[f"gaussian_width{tag}_h{h:0{width}d}"]} for h in steps}}
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--datasets", nargs="+", default=["stocks", "noisy_cosine"])
    p.add_argument("--epochs", type=int, default=None, help="every cell's epochs (a smoke run; say so when quoting)")
    p.add_argument("--data", type=Path, default=SHARED, help="the folder holding the tutorial's Google CSVs")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    params, load_before = repo_params(), load()
    results = {"benchmark": "intervals", "config": args_json(args), "noise_sd": NOISE}
    with temp_project("rnnops-intervals-") as root:
        registry = root / "flows/datasets/__init__.py"
        registry.write_text(registry.read_text() + '\nREGISTRY["noisy_cosine"] = "flows.datasets.noisy_cosine"\n')
        (root / "flows/datasets/noisy_cosine.py").write_text(NOISY_PLUGIN)
        if "stocks" in args.datasets:
            if not all((args.data / f).exists() for f in CSVS):
                sys.exit(f"the tutorial's CSVs are not in {args.data}; pass --data")
            for f in CSVS:
                shutil.copy(args.data / f, root / "data/sources" / f)
            params["stocks"]["ingest"].update(source="csv", paths=[f"data/sources/{f}" for f in CSVS])
            stocks_cells(params["stocks"])
        params["noisy_cosine"] = NOISY
        params["datasets"] = list(args.datasets)
        for dataset in args.datasets:
            for cell in params[dataset]["cells"] if args.epochs else ():
                params[dataset]["train"][cell]["epochs"] = args.epochs
        write_params(root, params)
        for dataset in args.datasets:
            levels = params[dataset]["evaluate"]["intervals"]
            stage(root, "flows.stages.ingest", dataset)
            stage(root, "flows.stages.windows", dataset)
            for cell in params[dataset]["cells"]:
                seconds, metrics = train_and_evaluate(root, dataset, cell)
                task = params[dataset]["train"][cell]
                results.setdefault(dataset, {})[cell] = {
                    "task": task.get("task", "one_step"), "head": task["head"], "epochs": metrics["epochs"],
                    "train_stage_seconds": round(seconds, 1),
                    **{part: split_figures(metrics[part], levels) for part in ("val", "test") if part in metrics}}
                print(f"{dataset}/{cell}: done", file=sys.stderr)
    emit(results, load_before, args.out)


if __name__ == "__main__":
    main()
