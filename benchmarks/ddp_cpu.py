"""1 process vs N processes (torchrun, gloo) on CPU through the real train stage. Prints JSON.

Same data, seed and global batch; a temp copy of the project with MLflow on SQLite there. Reports
the fit's samples/s (rank 0's fit time, without process start-up), the whole stage's wall time (with
it: Lightning import, torchrun rendezvous) and the largest relative difference between the loss
curves. One process is timed twice, with torch's default threads (the cores) and with one thread,
because N ranks get cores / N threads each: on a busy 2-core machine a 2-thread process can collapse
(ENVIRONMENT.md), which is a thread effect, not a DDP one. Configurations alternate over --repeats;
medians are reported. On a shared 2-core machine timings move by 15% or more from run to run.

    python benchmarks/ddp_cpu.py [--processes 2] [--repeats 2] [--epochs 3] [--windows 1000] [--window 100]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from flows.core.params import with_defaults

REPO = Path(__file__).resolve().parents[1]


def stage(root: Path, *args: str, **extra: str) -> float:
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               PYTHONPATH=str(root), **extra)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def train(root: Path, params: dict, devices: int, threads: int | None = None) -> dict:
    params["cosine"]["train"]["lstm"]["devices"] = devices
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    wall = stage(root, "flows.stages.train", "cosine", "lstm", **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    folder = root / "data/models/cosine/lstm"
    summary = json.loads((folder / "run.json").read_text())
    with open(folder / "history.csv") as fh:
        curve = list(csv.DictReader(fh))
    samples = params["cosine"]["windows"]["train_windows"] * summary["epochs"]
    return {"processes": devices, "threads_per_process": threads or "default",
            "fit_seconds": summary["train_seconds"], "stage_wall_seconds": round(wall, 2),
            "samples_per_s": round(samples / summary["train_seconds"], 1),
            "train_loss": [float(r["train/loss"]) for r in curve], "val_loss": [float(r["val/loss"]) for r in curve]}


def worst(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(x) for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    params = with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))
    params.update(datasets=["cosine"], cells=["lstm"])
    points = args.windows + 200 + args.window + 1
    params["cosine"]["ingest"] = {"points": points, "start": 1.0, "stop": 1.0 + points * 0.033}
    params["cosine"]["windows"] = {"window": args.window, "train_windows": args.windows, "val_windows": 200}
    params["cosine"]["train"]["lstm"] = {"hidden_size": args.hidden, "num_layers": 1, "epochs": args.epochs,
                                         "batch_size": args.batch, "lr": 0.001, "clip": 1.0, "accelerator": "cpu"}
    with tempfile.TemporaryDirectory(prefix="rnnops-ddp-bench-") as tmp:
        root = Path(tmp)
        for name in ("flows", "models"):
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        for kind in ("ingest", "windows"):
            stage(root, f"flows.stages.{kind}", "cosine")
        runs = {"1": [], "1x1thread": [], "N": []}
        for _ in range(args.repeats):
            runs["1"].append(train(root, params, 1))
            runs["1x1thread"].append(train(root, params, 1, threads=1))
            runs["N"].append(train(root, params, args.processes))
    one, many = runs["1"][0], runs["N"][0]

    def median(name: str) -> float:
        return statistics.median(r["samples_per_s"] for r in runs[name])

    print(json.dumps({
        "machine": {"cores": len(os.sched_getaffinity(0)), "platform": platform.platform(), "gpu": False},
        "setup": {"model": f"LSTM({args.hidden})", "window": args.window, "train_windows": args.windows,
                  "global_batch": args.batch, "epochs": args.epochs},
        "median_samples_per_s": {"1 process": median("1"), "1 process, 1 thread": median("1x1thread"),
                                 f"{args.processes} processes": median("N")},
        "speedup_vs_1_process": round(median("N") / median("1"), 3),
        "speedup_vs_1_process_1_thread": round(median("N") / median("1x1thread"), 3),
        "runs": [r for name in runs for r in runs[name]],
        "loss_curve_max_rel_diff": {"train": worst(one["train_loss"], many["train_loss"]),
                                    "val": worst(one["val_loss"], many["val_loss"])},
    }, indent=2))


if __name__ == "__main__":
    main()
