"""The stocks figures: the reference recipe and the log-return formulation on the tutorial's Google CSVs.

Runs the real stage functions (ingest -> windows -> train -> evaluate -> backtest) in a temp
directory with MLflow on SQLite there, and prints JSON: validation (Oct-Dec 2016, what selection
sees) and test (January 2017, scored once) RMSE/MAE/MAPE next to persistence and drift, with the
Diebold-Mariano p-value, and the walk-forward skill score.

    python benchmarks/stocks_reference.py [--data ../shared/data] [--configs reference returns] [--seeds 7]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from flows.core.params import with_defaults

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    # The reference recipe: MinMax-scaled Open, 4 x LSTM(50) + Dropout(0.2), Adam, MSE, 100 epochs, batch 32.
    "reference": {"windows": {"target": "level"},
                  "train": {"hidden_size": 50, "num_layers": 4, "dropout": 0.2, "epochs": 100, "batch_size": 32,
                            "lr": 0.001, "clip": 1.0}},
    # Standardised next-day log return from the last 60 returns, one small LSTM.
    "returns": {"windows": {"target": "log_return"},
                "train": {"hidden_size": 32, "num_layers": 1, "dropout": 0.0, "epochs": 30, "batch_size": 32,
                          "lr": 0.001, "clip": 1.0, "weight_decay": 0.0}},
}


def run(config: str, seed: int, data_dir: Path, folds: int) -> dict:
    from flows.datasets.stocks.backtest import backtest
    from flows.stages.evaluate import evaluate
    from flows.stages.ingest import ingest
    from flows.stages.train import train
    from flows.stages.windows import make_windows

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        os.environ["RNNOPS_PROGRESS_BAR"] = "0"  # stdout carries the JSON
        (root / "data/sources").mkdir(parents=True)
        names = ["Google_Stock_Price_Train.csv", "Google_Stock_Price_Test.csv"]
        for name in names:
            shutil.copy(data_dir / name, root / "data/sources" / name)
        params = with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))
        params["seed"] = seed
        stocks = params["stocks"]
        stocks["ingest"].update(source="csv", paths=[f"data/sources/{n}" for n in names])
        stocks["windows"].update(CONFIGS[config]["windows"])
        stocks["train"]["lstm"] = copy.deepcopy(CONFIGS[config]["train"])
        stocks["backtest"].update(folds=folds, horizon=20, refit=False)
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        ingest(root, "stocks")
        make_windows(root, "stocks")
        started = time.perf_counter()
        train(root, "stocks", "lstm")
        metrics = evaluate(root, "stocks", "lstm")
        bt = backtest(root, "stocks", "lstm")
        keys = ("rmse", "mae", "mape", "directional_accuracy", "persistence_rmse", "persistence_mae",
                "persistence_mape", "drift_rmse", "skill", "dm_pvalue")
        return {"config": config, "seed": seed, "train_seconds": metrics["train_seconds"],
                **{f"{split}_{k}": round(metrics[split][k], 4) for split in ("val", "test") for k in keys},
                "backtest_mean_skill": round(bt["mean_skill"], 4),
                "backtest_folds_beating_persistence": f"{bt['folds_beating_persistence']}/{bt['folds']}",
                "wall_seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    parser.add_argument("--folds", type=int, default=4)
    args = parser.parse_args()
    results = [run(c, s, args.data, args.folds) for c in args.configs for s in args.seeds]
    report = {"benchmark": "stocks_reference", "val": "GOOG Open, Oct-Dec 2016", "test": "GOOG Open, January 2017",
              "results": results}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
