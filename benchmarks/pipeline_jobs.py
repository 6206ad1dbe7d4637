"""The same pipeline run by `rnnops run --force` with --jobs 1 and with --jobs 2, alternating, in one
invocation on this machine. Prints JSON: each run's wall time (the whole command: Prefect's temporary
server, every stage's process, DVC's bookkeeping), the mean per jobs setting and the ratio jobs=2 / jobs=1.

The profile is params.yaml's own cells (cosine's seven, text's three, and stocks' four with their
backtests, on the tutorial's Google CSVs when ../shared/data has them), with fewer epochs and a shorter cosine
window, so every dataset trains several cells in minutes. Both settings get the same threads per stage
(runtime.threads: 1), so they compute the same results and differ only in how many stages run at once.

    python benchmarks/pipeline_jobs.py [--rounds 1] [--epochs 1] [--window 100]
        [--out benchmarks/results/pipeline_jobs.json]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.emit import args_json, emit, load  # noqa: E402
from benchmarks.project import REPO, SHARED, repo_params, temp_project, write_params  # noqa: E402

SEED_CSVS = ("Google_Stock_Price_Train.csv", "Google_Stock_Price_Test.csv")


def profile(args) -> dict:
    params = repo_params()
    params.pop("schedules", None)
    params.pop("sweeps", None)
    params["runtime"] = {"threads": 1}
    stocks = all((SHARED / name).exists() for name in SEED_CSVS)
    params["datasets"] = ["cosine", "stocks", "text"] if stocks else ["cosine", "text"]
    cosine = params["cosine"]
    cosine["windows"].update(window=args.window, train_windows=1000, val_windows=250)
    cosine["ingest"].update(points=1000 + 250 + args.window + 60)
    for dataset in ("cosine", "text", "stocks"):
        for cell in params[dataset]["train"].values():
            cell["epochs"] = args.epochs
            cell.pop("min_chars", None)  # it would raise the text cells' passes back to params' budget
    if stocks:
        params["stocks"]["ingest"].update(source="csv", paths=[f"data/sources/{n}" for n in SEED_CSVS])
        params["stocks"]["backtest"].update(epochs=1)
    return params


def run(root: Path, *args: str) -> float:
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", RNNOPS_SYSTEM_METRICS_S="0", PYTHONPATH=str(root),
               MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1, help="jobs=1 then jobs=2, this many times")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    before = load()
    params = profile(args)
    walls: dict[int, list[float]] = {1: [], 2: []}
    with temp_project("rnnops-jobs-bench-") as root:
        write_params(root, params)
        for name in SEED_CSVS if "stocks" in params["datasets"] else ():
            shutil.copy(SHARED / name, root / "data/sources" / name)
        shutil.copy(REPO / ".dvcignore", root / ".dvcignore")
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"]):
            subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        run(root, "dvc", "init", "-q")
        run(root, "flows.cli", "dvc-yaml")
        run(root, "dvc", "repro", "-q", *(f"windows-{d}" for d in params["datasets"]))  # data made, imports warm
        for _ in range(args.rounds):
            for jobs in (1, 2):
                walls[jobs].append(round(run(root, "flows.cli", "run", "--force", "--jobs", str(jobs)), 1))
        stages = len(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])
    mean = {jobs: round(sum(w) / len(w), 1) for jobs, w in walls.items()}
    emit({"benchmark": "pipeline_jobs", "config": args_json(args), "cores": len(os.sched_getaffinity(0)),
          "datasets": params["datasets"], "stages": stages,
          "cells": {d: params[d].get("cells", params["cells"]) for d in params["datasets"]},
          "wall_seconds": {f"jobs={jobs}": w for jobs, w in walls.items()},
          "mean_wall_seconds": {f"jobs={jobs}": m for jobs, m in mean.items()},
          "ratio_jobs2_over_jobs1": round(mean[2] / mean[1], 3),
          "target": "jobs=2 at most 0.7 of jobs=1's wall time on 2 cores"}, before, args.out)


if __name__ == "__main__":
    main()
