"""A declared sweep of params.yaml run on the dataset's own data and starting cell (not a shrunk copy), with 2
workers: the best configuration found against the starting cell on validation. Trial 0 trains the starting cell
as params.yaml has it, so its score is the default cell's, retrained here. Prints JSON (the study's states, the
best trial's params and validation RMSE, the starting cell's, their ratio, and the wall time).

`--trials`, `--max-hidden` and `--layers` shrink the declared search to what fits a session on 2 cores (a
256-unit, 2-layer trial of the cosine LSTM trains about ten minutes there); the JSON records what was used.

    python benchmarks/sweep_default_cell.py [--sweep cosine_lstm] [--trials 8] [--max-hidden 96] [--layers 1]
        [--workers 2] [--out benchmarks/results/sweep_cosine_lstm.json]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.emit import args_json, emit, load  # noqa: E402
from benchmarks.project import repo_params, temp_project, write_params  # noqa: E402
from benchmarks.sweep_workers import run, summary  # noqa: E402


def shrunk(sweep: dict, trials: int, max_hidden: int | None, layers: int | None) -> dict:
    space = {key: dict(spec) for key, spec in sweep["space"].items()}
    if max_hidden and "hidden_size" in space:
        space["hidden_size"]["high"] = min(space["hidden_size"]["high"], max_hidden)
    if layers and "num_layers" in space:
        space["num_layers"] = {"type": "int", "low": 1, "high": layers} if layers > 1 else None
        space = {k: v for k, v in space.items() if v is not None}
    return {**sweep, "trials": trials, "space": space}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep", default="cosine_lstm")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--max-hidden", type=int, default=96)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    before = load()
    params = repo_params()
    sweep = shrunk(params["sweeps"][args.sweep], args.trials, args.max_hidden, args.layers)
    dataset, cell = sweep["dataset"], sweep["cell"]
    params.update(datasets=[dataset])
    params.pop("schedules", None)
    params[dataset] = {**params[dataset], "cells": [cell]}
    params["sweeps"] = {args.sweep: sweep}
    with temp_project("rnnops-sweep-default-") as root:
        write_params(root, params)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"]):
            subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        run(root, "dvc", "init", "-q")
        run(root, "flows.cli", "dvc-yaml")
        run(root, "dvc", "repro", "-q", f"windows-{dataset}")  # the data, once, untimed
        wall = run(root, "flows.cli", "sweep", args.sweep, "--workers", str(args.workers))
        found = summary(root, args.sweep, wall)
    emit({"benchmark": "sweep_default_cell", "config": args_json(args), "cores": len(os.sched_getaffinity(0)),
          "dataset": dataset, "cell": cell, "space": sweep["space"], "result": found}, before, args.out)


if __name__ == "__main__":
    main()
