"""The results page's table for benchmarks/covariates.py: per seed and covariate set, validation and test RMSE
of the same stocks cell, its Diebold-Mariano p-value against the strongest baseline and against the plain
cell of the same seed, and the set validation would keep (kept apart from results_page.py)."""
from __future__ import annotations

import statistics


def covariates(d: dict, g, table) -> str:
    """`g` and `table`: results_page's number format and Markdown table."""
    c, rows = d["config"], []
    for run in d["runs"]:
        val, test = run["val"], run["test"]
        rows.append([run["seed"], run["variant"], run["input_features"], run["epochs"], g(val["rmse"]),
                     g(test["rmse"]), g(test["persistence_rmse"]), test["strongest_baseline"],
                     g(test["dm_pvalue"], 2), g(test.get("vs_plain_dm_stat"), 3), g(test.get("vs_plain_dm_pvalue"), 2)])
    means = []
    for name in c["variants"]:
        mine = [r["test"] for r in d["runs"] if r["variant"] == name]
        apart = "-" if name == "plain" else sum(1 for t in mine if (t.get("vs_plain_dm_pvalue") or 1) < 0.05)
        means.append([name, g(statistics.fmean(t["rmse"] for t in mine)), apart])
    w = c["windows"]
    sets = "; ".join(f"{name}: {', '.join(n for names in v.values() for n in names) or 'none'}"
                     for name, v in c["variants"].items())
    kept = ", ".join(f"{seed} {name}" for seed, name in d["selected_on_val"].items())
    return (f"The stocks {c['cell']}({c['hidden_size']}) on the seed's Google CSVs with each covariate set ({sets}), "
            f"at most {c['epochs']} epochs (early stopping, best validation epoch kept), window {w['window']}, "
            f"target {w['target']}, test {w['test_start']} .. {w['test_end']}. Test RMSE in dollars; DM p against "
            f"the strongest baseline and against the plain cell of the same seed ({c['dm_lags']} lags of "
            f"dependence; a negative statistic: the covariates helped). Validation is too short for that "
            f"test.\n\n"
            + table(["seed", "covariates", "inputs", "epochs", "val RMSE", "test RMSE", "persistence", "strongest",
                     "DM p", "vs plain DM stat", "vs plain DM p"], rows)
            + "\n" + table(["covariates", "mean test RMSE", "seeds significantly apart from plain (p < 0.05)"], means)
            + f"\nKept on validation (seed: set): {kept}.\n")
