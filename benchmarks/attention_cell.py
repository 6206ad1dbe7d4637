"""The cosine attention cell as params.yaml declares it against variants of it, over several seeds, through the
real stages (ingest, windows, train, evaluate) in temp copies of the project: validation RMSE and training
seconds per run, and per variant their mean and range. Prints JSON.

Each run trains on one thread, two runs at a time (the default `make run`'s share on 2 cores), so the seconds
compare with the pipeline's own. A variant is a name and the cell keys it changes, e.g.
`size16='{"attention_size": 16}'`; `declared` (no change) is always run first.

    python benchmarks/attention_cell.py [--seeds 7 8 9] [--variant NAME=JSON ...] [--workers 2] [--out F]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emit import args_json, emit, load
from project import repo_params, stage, temp_project, write_params

from flows.core.perstep import read_metrics

CELL = "attention"


def variant(text: str) -> tuple[str, dict]:
    name, _, keys = text.partition("=")
    try:
        changes = json.loads(keys)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=JSON ({err})") from None
    if not name or not isinstance(changes, dict):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=JSON with a mapping of cell keys")
    return name, changes


def one_run(changes: dict, seed: int) -> dict:
    params = repo_params()
    params.update(seed=seed, datasets=["cosine"], runtime={"jobs": 1, "threads": 1})
    params["cosine"]["cells"] = [CELL]
    params["cosine"]["train"][CELL].update(changes)
    params["cosine"]["evaluate"]["gradients"] = False  # not what is compared; it costs an evaluate minutes
    with temp_project("rnnops-attention-") as root:
        write_params(root, params)
        for name in ("ingest", "windows"):
            stage(root, f"flows.stages.{name}", "cosine")
        seconds = stage(root, "flows.stages.train", "cosine", CELL)
        stage(root, "flows.stages.evaluate", "cosine", CELL)
        metrics = read_metrics(root, "cosine", CELL)
    return {"seed": seed, "val_rmse": metrics["val"]["rmse"], "train_seconds": metrics["train_seconds"],
            "train_stage_seconds": round(seconds, 1), "epochs": metrics["epochs"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    p.add_argument("--variant", type=variant, action="append", default=[], metavar="NAME=JSON")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    load_before = load()
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RNNOPS_THREADS="1")  # every stage: one thread
    variants = {"declared": {}, **dict(args.variant)}
    jobs = [(name, seed) for name in variants for seed in args.seeds]
    with ThreadPoolExecutor(args.workers) as pool:
        runs = list(pool.map(lambda job: (job[0], one_run(variants[job[0]], job[1])), jobs))
    result = {"benchmark": "attention_cell", "cell": repo_params()["cosine"]["train"][CELL], "config": args_json(args),
              "variants": {}}
    for name, changes in variants.items():
        mine = [r for n, r in runs if n == name]
        rmse = [r["val_rmse"] for r in mine]
        result["variants"][name] = {
            "changes": changes, "runs": mine, "val_rmse_mean": statistics.fmean(rmse),
            "val_rmse_range": [min(rmse), max(rmse)],
            "train_seconds_mean": round(statistics.fmean(r["train_seconds"] for r in mine), 1)}
        print(f"{name}: val RMSE {rmse}", file=sys.stderr)
    emit(result, load_before, args.out)


if __name__ == "__main__":
    main()
