"""local-<dataset>-<cell>: the cell trained once per ticker (local models), against its one global model.

Each local model is the same cell (same shape, epochs, seed) fitted on one series' training windows,
with early stopping / kept epoch on that series' validation windows, as the global model's are on all
of them. Both are scored per series on validation and test, with the Diebold-Mariano test of their
squared errors (a negative statistic: the global model is more accurate). Which scope would be chosen
is decided on validation (pooled); the test figures are reported, never selected on.
Here rather than in the train stage: a one-series profile has no local models, and the global model
stays the one that is registered, elected and forecast with.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from flows import tracking
from flows.core import paths
from flows.core.atomic import staged_outputs
from flows.core.params import load_params, train_spec
from flows.datasets import get
from flows.datasets.stocks.many import LOCAL_METRICS, dependence, score_part
from flows.datasets.stocks.panel import head_to_head, pooled_head_to_head, pooled_report
from flows.orchestration.stage_command import stage_main
from flows.training.lightning_fit import fit
from models.runtime import flush_denormals

SCOPES = ("global", "local")


def local_nets(plugin, splits, spec) -> dict:
    """ticker -> the cell fitted on that series alone (in this process, one after another)."""
    nets = {}
    for ticker, part in splits.info["series"].items():
        module, _ = fit(spec, lambda part=part: plugin.build_module(spec, part), part.train, part.val,
                        progress_bar=False)
        nets[ticker] = module.net.eval()
    return nets


def compare_split(splits, global_net, nets: dict, split: str, batch: int) -> dict:
    """Per series and pooled: each scope's RMSE, its test against the strongest baseline, and global vs local."""
    lags = dependence(splits)
    tables, series = {scope: {} for scope in SCOPES}, {}
    for ticker, part in splits.info["series"].items():
        g, tables["global"][ticker] = score_part(part, global_net, split, batch)
        loc, tables["local"][ticker] = score_part(part, nets[ticker], split, batch)
        versus = head_to_head(tables["global"][ticker], tables["local"][ticker], lags)
        series[ticker] = side_by_side(g, loc, versus)
    pooled = {scope: pooled_report(tables[scope], lags) for scope in SCOPES}
    return {"series": series, "pooled": side_by_side(pooled["global"], pooled["local"],
                                                     pooled_head_to_head(tables["global"], tables["local"], lags))}


def side_by_side(g: dict, loc: dict, versus: dict) -> dict:
    """One row of the comparison: each scope's RMSE and test against the baselines, and their own DM test."""
    return {"global_rmse": g["rmse"], "local_rmse": loc["rmse"],
            **{f"{b}_rmse": g[f"{b}_rmse"] for b in ("persistence", "drift")},
            "strongest_baseline": g["strongest_baseline"], "global_dm_pvalue": g["dm_pvalue"],
            "local_dm_pvalue": loc["dm_pvalue"], "global_vs_local_dm_stat": versus["dm_stat"],
            "global_vs_local_dm_pvalue": versus["dm_pvalue"]}


def compare_scopes(plugin, splits, spec, global_net, batch: int = 500) -> dict:
    """Train the local models of `spec`'s cell and compare them with `global_net`, series by series."""
    nets = local_nets(plugin, splits, spec)
    found = {split: compare_split(splits, global_net, nets, split, batch) for split in ("val", "test")}
    val = found["val"]["pooled"]
    test = found["test"]["pooled"]
    return {"tickers": list(splits.info["series"]), "epochs": spec.optim.epochs,
            "selected_on_val": "global" if val["global_rmse"] <= val["local_rmse"] else "local",
            "global_skill_vs_local": 1.0 - test["global_rmse"] / test["local_rmse"], **found}


def local(root: Path, dataset: str, cell: str) -> dict:
    flush_denormals()
    params, plugin = load_params(root), get(dataset)
    spec = dataclasses.replace(train_spec(params, dataset, cell), devices=1, num_nodes=1)  # short fits, here
    splits = plugin.load(root)
    spec = plugin.budget(spec, splits)  # as many input features as the windows hold
    global_net = plugin.load_network(paths.model_dir(root, dataset, cell))
    summary = {"cell": cell, **compare_scopes(plugin, splits, spec, global_net, plugin.batch(params))}
    with staged_outputs(root) as out:
        out.write_json(Path(root) / LOCAL_METRICS.format(dataset=dataset, cell=cell), summary)
        tracking.log_summary_run(
            root, dataset, "local", {k: v for k, v in summary.items() if k not in ("tickers",)}, cell=cell,
            params={"tickers": ",".join(summary["tickers"]), "epochs": summary["epochs"]},
            entry_point=f"flows/datasets/stocks/local.py {dataset} {cell}",
            description=f"{dataset}/{cell}: one model per ticker ({', '.join(summary['tickers'])}) against the "
                        f"global model")
    test = summary["test"]["pooled"]
    print(f"local {dataset}/{cell}: pooled test RMSE (log price) global {test['global_rmse']:.4g}, local "
          f"{test['local_rmse']:.4g} (DM p {test['global_vs_local_dm_pvalue']}); chosen on validation: "
          f"{summary['selected_on_val']}")
    return summary


if __name__ == "__main__":
    sys.exit(stage_main(local, needs_cell=True))
