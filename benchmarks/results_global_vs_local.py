"""The results page's table for benchmarks/global_vs_local.py: per series, the test RMSE of one global model
and of per-series (local) models of the same cell, their Diebold-Mariano p-values against the strongest
baseline and against each other, and the scope validation would choose (kept apart from results_page.py)."""
from __future__ import annotations


def global_vs_local(d: dict, g, table) -> str:
    """`g` and `table`: results_page's number format and Markdown table."""
    c, rows = d["config"], []
    for run in d["runs"]:
        test = run["test"]
        for name, s in [*test["series"].items(), ("pooled (log price)", test["pooled"])]:
            rows.append([run["seed"], name, g(s["global_rmse"]), g(s["local_rmse"]), g(s["persistence_rmse"]),
                         g(s["drift_rmse"]), s["strongest_baseline"], g(s["global_dm_pvalue"], 2),
                         g(s["local_dm_pvalue"], 2), g(s["global_vs_local_dm_pvalue"], 2),
                         run["selected_on_val"] if name.startswith("pooled") else ""])
    w = c["windows"]
    return (f"One global {c['cell']}({c['hidden_size']}) trained on every series' windows against one model "
            f"of the same cell per series; at most {c['epochs']} epochs each (early stopping, best validation "
            f"epoch kept), window {w['window']}, target {w['target']} standardised per series on its own fit "
            f"rows. Test {w['test_start']}..{w['test_end']} (scored once; validation "
            f"{w['val_start']}..{w['train_end']} chose the scope). GOOG is the seed's Open; the others are "
            f"generated on its trading days ({', '.join(c['generated'])}: random walks and one AR(1) in "
            f"returns). RMSE on each series' price scale; the pooled row is on the log price, tested on the "
            f"per-date average loss. DM p: the model against the strongest baseline; global vs local: the two "
            f"models' squared errors.\n\n"
            + table(["seed", "series", "global RMSE", "local RMSE", "persistence", "drift", "strongest baseline",
                     "global DM p", "local DM p", "global vs local DM p", "chosen on val"], rows))
