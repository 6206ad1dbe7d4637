"""Per-horizon RMSE of every model type against persistence and seasonal-naive, from params.yaml's own
cells, through the real stages (subprocesses) in a temp copy of the project. Prints JSON.

cosine: the cells of params' `cosine.cells` (the seeds' one-step cells are skipped unless --one-step).
stocks: params' `stocks` model-type cells on the seed's Google CSVs (csv source, no network), when
../shared/data has them. `--epochs N` overrides every cell's epochs (a shorter run; say so when quoting).

    python benchmarks/model_types.py [--datasets cosine stocks] [--epochs N] [--out benchmarks/results/model_types.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CSVS = ["Google_Stock_Price_Train.csv", "Google_Stock_Price_Test.csv"]
SEEDS = ("rnn", "lstm", "gru")


def stage(root: Path, *args: str) -> float:
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               PYTHONPATH=str(root))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def summary(split: dict) -> dict:
    horizon = split["horizon"]
    width = max(2, len(str(horizon)))
    shown = sorted({1, 2, 5, 10, 20, horizon} & set(range(1, horizon + 1)))
    found = {"rmse_mean_over_h": split["rmse"], "persistence": split["persistence_rmse"],
             "seasonal_naive": split["seasonal_naive_rmse"], "skill": split["skill"], "dm_pvalue": split["dm_pvalue"],
             "rmse_h": {h: split[f"rmse_h{h:0{width}d}"] for h in shown},
             "persistence_h": {h: split[f"persistence_rmse_h{h:0{width}d}"] for h in shown},
             "seasonal_naive_h": {h: split[f"seasonal_naive_rmse_h{h:0{width}d}"] for h in shown},
             "windows": split["windows"]}
    for key in ("coverage80", "coverage95", "crps", "nll"):
        if key in split:
            found[key] = split[key]
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--datasets", nargs="+", default=["cosine", "stocks"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--one-step", action="store_true", help="also the seeds' one-step cells (cosine: minutes each)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    results = {"machine": platform.platform(), "cpus": os.cpu_count(), "epochs_override": args.epochs}
    with tempfile.TemporaryDirectory(prefix="rnnops-types-") as tmp:
        root = Path(tmp)
        for name in ("flows", "models"):
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "data/sources").mkdir(parents=True)
        if "stocks" in args.datasets:
            if not all((SHARED / f).exists() for f in CSVS):
                sys.exit(f"the seed's CSVs are not in {SHARED}")
            for f in CSVS:
                shutil.copy(SHARED / f, root / "data/sources" / f)
            params["stocks"]["ingest"].update(source="csv", paths=[f"data/sources/{f}" for f in CSVS])
        for dataset in args.datasets:
            cells = [c for c in params[dataset].get("cells", params["cells"]) if args.one_step or c not in SEEDS]
            params[dataset]["cells"] = cells
            if args.epochs:
                for cell in cells:
                    params[dataset]["train"][cell]["epochs"] = args.epochs
        params["datasets"] = list(args.datasets)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        for dataset in args.datasets:
            stage(root, "flows.stages.ingest", dataset)
            stage(root, "flows.stages.windows", dataset)
            for cell in params[dataset]["cells"]:
                seconds = stage(root, "flows.stages.train", dataset, cell)
                stage(root, "flows.stages.evaluate", dataset, cell)
                metrics = json.loads((root / f"metrics/{dataset}/{cell}.json").read_text())
                task = params[dataset]["train"][cell]
                split = metrics["headline"]["split"]
                results.setdefault(dataset, {})[cell] = {
                    "task": task.get("task", "one_step"), "head": task.get("head", "point"), "split": split,
                    "train_stage_seconds": round(seconds, 1), "epochs": metrics["epochs"],
                    **(summary(metrics[split]) if "horizon" in metrics[split] else {"rmse": metrics[split]["rmse"]})}
                print(f"{dataset}/{cell}: done", file=sys.stderr)
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
