"""Covariates against none: the same stocks cell on the seed's Google CSVs with each `windows.covariates` set
and without any, per seed: validation and test RMSE on the price scale, the Diebold-Mariano test of each
against the strongest baseline, and of each covariate variant against the plain cell of the same seed (a
negative statistic: the covariates help). Which variant would be kept is read on validation.

The stocks plug-in's own stage functions make the snapshot and windows (the covariates' scaler fit on the
fit rows only), the train stage's fit trains, and the scoring is evaluate's. The split is global_vs_local's
(test: the last 13 months, window 20), not the seed's: its 20-session test month holds too few stretches
of the windows' dependence for a valid DM test. Prints JSON (--out also writes it).

    python benchmarks/covariates.py [--data ../shared/data] [--seeds 7 8 9] [--epochs 15] [--out FILE]
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import yaml
from emit import args_json, emit, load
from global_vs_local import REPO, SEED_CSVS, WINDOWS, cell_arguments

from flows.core.params import with_defaults

VARIANTS = {"plain": {}, "past": {"past": ["volume", "range"]},
            "calendar": {"future": ["day_of_week", "month", "days_to_holiday"]},
            "both": {"past": ["volume", "range"], "future": ["day_of_week", "month", "days_to_holiday"]}}
SPLITS = ("val", "test")


def seed_project(root: Path, args, seed: int, windows: dict, cell: dict, frame=None) -> dict:
    """`root` as a stocks project on the seed's Google CSVs (or `frame`, a price table), on WINDOWS' split with
    `windows` on top, one cell (args.cell, its training from args, `cell` on top), ingested and windowed;
    returns its params."""
    from flows.stages.ingest import ingest
    from flows.stages.windows import make_windows

    (root / "data/sources").mkdir(parents=True)
    names = SEED_CSVS if frame is None else ("generated.csv",)
    for name in names:
        if frame is None:
            shutil.copy(args.data / name, root / "data/sources" / name)
        else:
            frame.rename_axis("Date").to_csv(root / "data/sources" / name)
    params = with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))
    params["seed"] = seed
    stocks = params["stocks"]
    stocks["ingest"].update(source="csv", paths=[f"data/sources/{n}" for n in names])
    stocks["windows"].update(WINDOWS, **windows)
    stocks["cells"] = [args.cell]
    stocks["train"] = {args.cell: {"hidden_size": args.hidden_size, "num_layers": 1, "epochs": args.epochs,
                                   "batch_size": 32, "lr": args.lr, "clip": 1.0, "patience": 5, "keep_best": True,
                                   **cell}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    ingest(root, "stocks")
    make_windows(root, "stocks")
    return params


def run(seed: int, covariates: dict, args) -> tuple[dict, dict]:
    """One variant: its figures per split, and evaluate's per-day tables (for the head-to-head test)."""
    from flows.core.params import train_spec
    from flows.datasets import get
    from flows.datasets.stocks.many import score_part
    from flows.training.lightning_fit import fit
    from models.price_windows import PriceTransform
    from models.significance import overlap_lags

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        params = seed_project(root, args, seed, {"target": "log_return", "covariates": covariates}, {})
        plugin = get("stocks")
        spec = dataclasses.replace(train_spec(params, "stocks", args.cell), devices=1, num_nodes=1)
        splits = plugin.task_splits(plugin.load(root), spec.net)
        spec = plugin.budget(spec, splits)
        module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val,
                              progress_bar=False)
        net, figures, tables = module.net.eval(), {}, {"lags": overlap_lags(
            splits.info["window"] + PriceTransform(**splits.info["spec"]["transform"]).offset)}
        for split in SPLITS:
            metrics, tables[split] = score_part(splits, net, split, 500)
            figures[split] = {k: metrics[k] for k in ("rmse", "persistence_rmse", "drift_rmse", "strongest_baseline",
                                                      "skill", "dm_pvalue", "windows") if k in metrics}
        return {"input_features": spec.net.input_size, "epochs": trainer.current_epoch, **figures}, tables


def main() -> None:
    from flows.datasets.stocks.panel import head_to_head

    args = cell_arguments(__doc__, seeds=[7, 8, 9], hidden_size=32, epochs=15, lr=0.001)
    before = load()
    runs = []
    for seed in args.seeds:
        found = {name: run(seed, covariates, args) for name, covariates in VARIANTS.items()}
        plain = found["plain"][1]
        for name, (figures, tables) in found.items():
            if name != "plain":
                for split in SPLITS:
                    versus = head_to_head(tables[split], plain[split], tables["lags"])
                    figures[split].update(vs_plain_dm_stat=versus["dm_stat"], vs_plain_dm_pvalue=versus["dm_pvalue"])
            runs.append({"seed": seed, "variant": name, **figures})
    chosen = {seed: min((r for r in runs if r["seed"] == seed), key=lambda r: r["val"]["rmse"])["variant"]
              for seed in args.seeds}
    result = {"benchmark": "covariates", "config": {**args_json(args), "windows": {**WINDOWS, "target": "log_return"},
                                                    "variants": VARIANTS,
                                                    "dm_lags": found["plain"][1]["lags"]},
              "runs": runs, "selected_on_val": chosen}
    emit(result, before, args.out)


if __name__ == "__main__":
    main()
