"""The results page's tables for benchmarks/covariates.py and benchmarks/decoder_calendar.py: per seed and
variant, validation and test RMSE of the same stocks cell, its Diebold-Mariano p-value against the strongest
baseline and against the plain cell of the same seed, and the variant validation would keep (kept apart from
results_page.py)."""
from __future__ import annotations

import statistics

LABELS = {"input_features": "inputs", "future_inputs": "calendar per step", "vs_plain_dm_stat": "vs plain DM stat",
          "vs_plain_dm_pvalue": "vs plain DM p", "vs_first_step_dm_stat": "vs first_step DM stat",
          "vs_first_step_dm_pvalue": "vs first_step DM p"}


def significant(tests: list[dict], prefix: str, side: int) -> int:
    """How many of the runs' DM tests against `prefix`'s variant are significant (p < 0.05) on `side` (-1: the
    run's variant is more accurate, 1: less)."""
    return sum(1 for t in tests if (t.get(f"{prefix}_dm_pvalue") or 1) < 0.05 and side * t[f"{prefix}_dm_stat"] > 0)


def variant_tables(d: dict, g, table, first: list[str], extra: list[str], versus: dict[str, str]) -> str:
    """The per-run table (first: run keys shown before the figures; extra: test keys after them) and the
    per-variant means, counting the seeds significantly apart from each `versus` variant (key prefix ->
    its name)."""
    rows = []
    for run in d["runs"]:
        val, test = run["val"], run["test"]
        rows.append([run["seed"], run["variant"], *(run[k] for k in first), g(val["rmse"]), g(test["rmse"]),
                     g(test["persistence_rmse"]), test["strongest_baseline"], g(test["dm_pvalue"], 2),
                     *(g(test.get(k), 3 if k.endswith("_stat") else 2) for k in extra)])
    means = []
    for name in d["config"]["variants"]:
        mine = [r["test"] for r in d["runs"] if r["variant"] == name]
        apart = ["-" if f"{prefix}_dm_pvalue" not in mine[0] else
                 f"{significant(mine, prefix, -1)} / {significant(mine, prefix, 1)}" for prefix in versus]
        means.append([name, g(statistics.fmean(t["rmse"] for t in mine)), *apart])
    kept = ", ".join(f"{seed} {name}" for seed, name in d["selected_on_val"].items())
    return (table(["seed", "variant", *(LABELS.get(k, k) for k in first), "val RMSE", "test RMSE", "persistence",
                   "strongest", "DM p", *(LABELS[k] for k in extra)], rows)
            + "\n" + table(["variant", "mean test RMSE",
                            *(f"seeds better / worse than {v} (p < 0.05)" for v in versus.values())], means)
            + f"\nKept on validation (seed: variant): {kept}.\n")


def covariates(d: dict, g, table) -> str:
    """`g` and `table`: results_page's number format and Markdown table."""
    c, w = d["config"], d["config"]["windows"]
    sets = "; ".join(f"{name}: {', '.join(n for names in v.values() for n in names) or 'none'}"
                     for name, v in c["variants"].items())
    return (f"The stocks {c['cell']}({c['hidden_size']}) on the seed's Google CSVs with each covariate set ({sets}), "
            f"at most {c['epochs']} epochs (early stopping, best validation epoch kept), window {w['window']}, "
            f"target {w['target']}, test {w['test_start']} .. {w['test_end']}. Test RMSE in dollars; DM p against "
            f"the strongest baseline and against the plain cell of the same seed ({c['dm_lags']} lags of "
            f"dependence; a negative statistic: the covariates helped). Validation is too short for that "
            f"test.\n\n"
            + variant_tables(d, g, table, ["input_features", "epochs"], ["vs_plain_dm_stat", "vs_plain_dm_pvalue"],
                             {"vs_plain": "plain"}))


def decoder_calendar(d: dict, g, table) -> str:
    c, w, data = d["config"], d["config"]["windows"], d["config"]["data"]
    return (f"A {c['task']} {c['cell']}({c['hidden_size']}) forecasting {c['horizon']} sessions, on a generated "
            f"price (100 + a weekday profile {data['weekday']} + {data['before_holiday']} on the last session "
            f"before a holiday + AR(1) noise {data['ar1']}), at most {c['epochs']} epochs, window {w['window']}, "
            f"target {w['target']}, test {w['test_start']} .. {w['test_end']}: without covariates (plain), with "
            f"the calendar read by the encoder only (first_step: the decoder's later steps get none) and with each "
            f"decoder step reading its own session's (every_step). RMSE is the mean over the steps; DM p on the "
            f"per-window mean squared error over the steps ({c['dm_lags']} lags of dependence; a negative "
            f"statistic: the variant named first is more accurate).\n\n"
            + variant_tables(d, g, table, ["future_inputs", "epochs"],
                             ["vs_plain_dm_stat", "vs_plain_dm_pvalue", "vs_first_step_dm_stat",
                              "vs_first_step_dm_pvalue"], {"vs_plain": "plain", "vs_first_step": "first_step"}))
