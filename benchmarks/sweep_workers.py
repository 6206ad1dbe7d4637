"""The same sweep (8 trials by default) run by `rnnops sweep` with 1 worker and with 2 workers on this
machine, in one invocation; the space (lr, clip) leaves every trial the same cost. Prints JSON: each run's
wall time (the whole command: Prefect's temporary server, worker start-up, trials, the parent run's
summary) and its trial phase (first trial's start to the last one's end, from Optuna's own timestamps),
the ratios 2 workers / 1 worker, and per run the best validation score found against the starting
cell's (trial 0 trains the cell as params.yaml has it).

A temporary copy of the project (git + DVC, MLflow and the Optuna study in SQLite there), the cosine
task shrunk by the options; the data is made once, before anything is timed. Each worker gets
cores / workers threads, as `rnnops sweep` gives them.

    python benchmarks/sweep_workers.py [--trials 8] [--epochs 4] [--windows 600] [--window 50] [--hidden 32]
        [--out benchmarks/results/sweep_workers.json]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.emit import args_json, emit, load  # noqa: E402
from benchmarks.project import repo_params, temp_project, write_params  # noqa: E402


def run(root: Path, *args: str) -> float:
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", RNNOPS_SYSTEM_METRICS_S="0", PYTHONPATH=str(root),
               MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("RNNOPS_OPTUNA_STORAGE", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def summary(root: Path, name: str, wall: float) -> dict:
    trials = optuna.load_study(study_name=f"rnnops-{name}", storage=f"sqlite:///{root / 'optuna.db'}").get_trials()
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(done, key=lambda t: t.value)
    start = next(t for t in trials if t.user_attrs.get("start"))
    phase = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return {"wall_seconds": round(wall, 1), "trial_phase_seconds": round(phase.total_seconds(), 1),
            "states": {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")},
            "workers_seen": len({t.user_attrs.get("worker") for t in trials}),
            "best_val_rmse": best.value, "best_trial": best.number, "best_params": best.params,
            "start_cell_val_rmse": start.value, "best_vs_start": round(best.value / start.value, 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--windows", type=int, default=600)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    before = load()
    params = repo_params()
    params.update(datasets=["cosine"], cells=["lstm"])
    params.pop("schedules", None)
    points = args.windows + 150 + args.window + 1
    params["cosine"] = {**params["cosine"], "cells": ["lstm"],
                        "ingest": {"points": points, "start": 1.0, "stop": 1.0 + points * 0.033},
                        "windows": {"window": args.window, "train_windows": args.windows, "val_windows": 150},
                        "train": {"lstm": {"hidden_size": args.hidden, "num_layers": 1, "epochs": args.epochs,
                                           "batch_size": 50, "lr": 0.001, "clip": 1.0, "accelerator": "cpu"}}}
    # keys that leave a trial's cost alone, so both runs do the same work whatever their samplers draw
    space = {"lr": {"type": "log_float", "low": 3.0e-4, "high": 3.0e-2},
             "clip": {"type": "categorical", "choices": [0.5, 1.0, 5.0]}}
    sweep = {"dataset": "cosine", "cell": "lstm", "trials": args.trials, "space": space, "pruner": "none"}
    params["sweeps"] = {f"bench{k}": sweep for k in (1, 2)}  # one declaration, a study per worker count
    results = {}
    with temp_project("rnnops-sweep-bench-") as root:
        write_params(root, params)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"]):
            subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        run(root, "dvc", "init", "-q")
        run(root, "flows.cli", "dvc-yaml")
        run(root, "dvc", "repro", "-q", "windows-cosine")  # the data, once, untimed
        for workers in (1, 2):
            wall = run(root, "flows.cli", "sweep", f"bench{workers}", "--workers", str(workers))
            results[f"{workers} worker{'s' if workers > 1 else ''}"] = summary(root, f"bench{workers}", wall)
    one, two = results["1 worker"], results["2 workers"]
    emit({"benchmark": "sweep_workers", "config": args_json(args), "cores": len(os.sched_getaffinity(0)),
          "runs": results,
          "ratio_2_over_1": {"wall": round(two["wall_seconds"] / one["wall_seconds"], 3),
                             "trial_phase": round(two["trial_phase_seconds"] / one["trial_phase_seconds"], 3)},
          "target": "2 workers at most 0.7 of 1 worker's wall time on 2 cores"}, before, args.out)


if __name__ == "__main__":
    main()
