"""Per-horizon RMSE of every model type against persistence and seasonal-naive, from params.yaml's own
cells, through the real stages (subprocesses) in a temp copy of the project. Prints JSON.

cosine: the cells of params' `cosine.cells` (the reference recipes' one-step cells are skipped unless --one-step).
stocks: params' `stocks` model-type cells on the tutorial's Google CSVs (csv source, no network), when
../shared/data has them. `--all-types` adds the types a dataset's params do not list (recursive, synced
with a Gaussian head, attention), each a copy of the dataset's own multi-step cell (its size, horizon,
epochs, optimiser) with another task. `--epochs N` overrides every cell's epochs (a shorter run; say
so when quoting). Every cell reports its validation split and, where the dataset has one, its test split.

    python benchmarks/model_types.py [--datasets cosine stocks] [--all-types] [--epochs N] [--out F]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from emit import emit, load
from project import SHARED, repo_params, stage, temp_project, train_and_evaluate, write_params

CSVS = ["Google_Stock_Price_Train.csv", "Google_Stock_Price_Test.csv"]
REFERENCE_CELLS = ("rnn", "lstm", "gru")
TYPES = {"recursive": {"task": "recursive"}, "synced": {"task": "synced", "head": "gaussian"},
         "attention": {"task": "attention", "attention": "additive", "scheduled_sampling": 0.5}}
ONLY_SEQ2SEQ = ("task", "head", "bidirectional", "scheduled_sampling", "attention")


def add_types(section: dict) -> list[str]:
    """The type cells the section lacks, modelled on its first multi-step cell; their names."""
    cells = section["cells"]
    template = next((section["train"][c] for c in cells if section["train"][c].get("task", "one_step") != "one_step"),
                    None)
    if template is None:
        return []
    have = {section["train"][c].get("task") for c in cells}
    base = {k: v for k, v in template.items() if k not in ONLY_SEQ2SEQ}
    added = [name for name, more in TYPES.items() if more["task"] not in have]
    for name in added:
        section["train"][name] = {**base, **TYPES[name]}
    return added


def summary(split: dict) -> dict:
    horizon = split["horizon"]
    width = max(2, len(str(horizon)))
    shown = sorted({1, 2, 5, 10, 20, horizon} & set(range(1, horizon + 1)))
    found = {"rmse_mean_over_h": split["rmse"], "persistence": split["persistence_rmse"],
             "seasonal_naive": split["seasonal_naive_rmse"], "strongest_baseline": split["strongest_baseline"],
             "skill": split["skill"], "dm_pvalue": split["dm_pvalue"], "dm_stretches": split["dm_stretches"],
             "persistence_skill": split["persistence_skill"],
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
    p.add_argument("--one-step", action="store_true",
                   help="also the reference recipes' one-step cells (cosine: minutes each)")
    p.add_argument("--all-types", action="store_true", help="add the types a dataset's params do not list")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    params = repo_params()
    load_before = load()
    results = {"benchmark": "model_types", "epochs_override": args.epochs}
    with temp_project("rnnops-types-") as root:
        if "stocks" in args.datasets:
            if not all((SHARED / f).exists() for f in CSVS):
                sys.exit(f"the tutorial's CSVs are not in {SHARED}")
            for f in CSVS:
                shutil.copy(SHARED / f, root / "data/sources" / f)
            params["stocks"]["ingest"].update(source="csv", paths=[f"data/sources/{f}" for f in CSVS])
        for dataset in args.datasets:
            cells = [c for c in params[dataset].get("cells", params["cells"])
                     if args.one_step or c not in REFERENCE_CELLS]
            params[dataset]["cells"] = cells
            if args.all_types:
                cells += add_types(params[dataset])
            if args.epochs:
                for cell in cells:
                    params[dataset]["train"][cell]["epochs"] = args.epochs
        params["datasets"] = list(args.datasets)
        write_params(root, params)
        for dataset in args.datasets:
            stage(root, "flows.stages.ingest", dataset)
            stage(root, "flows.stages.windows", dataset)
            for cell in params[dataset]["cells"]:
                seconds, metrics = train_and_evaluate(root, dataset, cell)
                task = params[dataset]["train"][cell]
                split = metrics["headline"]["split"]
                results.setdefault(dataset, {})[cell] = {
                    "task": task.get("task", "one_step"), "head": task.get("head", "point"), "split": split,
                    "train_stage_seconds": round(seconds, 1), "epochs": metrics["epochs"],
                    **{part: summary(metrics[part]) if "horizon" in metrics[part] else {"rmse": metrics[part]["rmse"]}
                       for part in ("val", "test") if part in metrics}}
                print(f"{dataset}/{cell}: done", file=sys.stderr)
    emit(results, load_before, args.out)


if __name__ == "__main__":
    main()
