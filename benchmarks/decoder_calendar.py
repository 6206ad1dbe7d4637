"""The calendar at every decoder step: the same seq2seq stocks cell (H sessions ahead) without covariates
("plain"), with the calendar read by the encoder only, as before each decoder step read its own session's
("first_step": the window's last row carries the first forecast day's, the later days must be inferred),
and with each decoder step reading the calendar of the session it forecasts ("every_step"), per seed.
Validation and test RMSE (mean over h, price scale), the Diebold-Mariano test of each against the strongest
baseline, of each variant against plain, and of every_step against first_step, on the per-window mean
squared error over the H steps (a negative statistic: the first named is more accurate). Which variant
would be kept is read on validation.

The data is generated, on the exchange's sessions 2012-2017: an AR(1) price around 100 with a weekday
profile and a lift on the last session before each holiday, so that there is a calendar to find (the
covariates benchmark found none in GOOG's opens, and a level model on its long test year would mostly
measure MinMax extrapolation: a multi-step stocks cell forecasts levels). The stocks plug-in's stages make
the snapshot and windows, the train stage's fit trains, and the scoring is evaluate's (score_horizons). The
split is global_vs_local's (test: the last 13 months, window 20). Prints JSON (--out also writes it).

    python benchmarks/decoder_calendar.py [--seeds 7 8 9 10 11] [--epochs 30] [--lr 0.005] [--out FILE]
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from covariates import seed_project
from emit import args_json, emit, load
from global_vs_local import DATA_SEED, WINDOWS, cell_arguments

CALENDAR = {"future": ["day_of_week", "month", "days_to_holiday"]}
VARIANTS = {"plain": {}, "first_step": CALENDAR, "every_step": CALENDAR}
HORIZON = 5  # a trading week
SPLITS = ("val", "test")
FIGURES = ("rmse", "persistence_rmse", "seasonal_naive_rmse", "strongest_baseline", "skill", "dm_pvalue")


WEEKDAY = (1.5, -0.5, 0.0, -1.0, 0.5)  # Monday .. Friday, added to the price
BEFORE_HOLIDAY = 2.0  # added on the last session before an exchange holiday


def calendar_prices(seed: int = DATA_SEED) -> pd.DataFrame:
    """Open = 100 + the weekday's profile + the pre-holiday lift + AR(1) noise (0.9, sd 0.5), on the exchange's
    sessions; the other columns a snapshot has, so that ingest checks it as any source."""
    from flows.datasets.stocks.covariates import HOLIDAY_CAP, holidays, sessions_to_holiday

    hols = holidays("2012-01-01", "2018-12-31")
    days = pd.bdate_range("2012-01-03", "2017-01-31").difference(pd.DatetimeIndex(hols))
    rng, noise = np.random.default_rng(seed), np.zeros(len(days))
    for t in range(1, len(days)):
        noise[t] = 0.9 * noise[t - 1] + rng.normal(0, 0.5)
    lift = BEFORE_HOLIDAY * np.isclose(sessions_to_holiday(days, hols) * HOLIDAY_CAP, 1)
    price = 100 + np.asarray(WEEKDAY)[days.day_of_week] + lift + noise
    return pd.DataFrame({"Open": price, "High": price * 1.01, "Low": price * 0.99, "Close": price,
                         "Volume": 1e6}, index=days)


def run(seed: int, variant: str, args) -> tuple[dict, dict]:
    """One variant: its figures per split, and each split's per-window mean squared error over the H steps."""
    from flows.core.params import train_spec
    from flows.datasets import get
    from flows.datasets.base import horizon_splits
    from flows.training.lightning_fit import fit
    from models.significance import overlap_lags

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cell = {"task": "seq2seq", "horizon": HORIZON}
        params = seed_project(root, args, seed, {"target": "level", "covariates": VARIANTS[variant]}, cell,
                              calendar_prices())
        plugin = get("stocks")
        spec = dataclasses.replace(train_spec(params, "stocks", args.cell), devices=1, num_nodes=1)
        data = plugin.load(root)
        # first_step: the windows without the later sessions' rows, so the decoder reads the previous value alone
        splits = horizon_splits(data, HORIZON) if variant == "first_step" else plugin.task_splits(data, spec.net)
        spec = plugin.budget(spec, splits)
        module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val,
                              progress_bar=False)
        net, figures, losses = module.net.eval(), {}, {}
        for split in SPLITS:
            scored = plugin.score(root, params, net, splits, split)
            figures[split] = {k: scored.metrics[k] for k in FIGURES if k in scored.metrics}
            real, mean = (np.asarray(scored.forecast[k], dtype=np.float64) for k in ("real", "mean"))
            losses[split] = ((mean - real) ** 2).mean(1)
        losses["lags"] = overlap_lags(splits.test.window, HORIZON, splits.test.starts.step)
        return {"input_features": spec.net.input_size, "future_inputs": spec.net.future_inputs,
                "epochs": trainer.current_epoch, **figures}, losses


def versus(first: np.ndarray, second: np.ndarray, lags: int) -> dict:
    from models.significance import diebold_mariano

    test = diebold_mariano(first, second, lags)
    return {"dm_stat": test.statistic, "dm_pvalue": test.p_value}


def main() -> None:
    args = cell_arguments(__doc__, seeds=[7, 8, 9, 10, 11], hidden_size=32, epochs=30, lr=0.005)
    before = load()
    runs = []
    for seed in args.seeds:
        found = {name: run(seed, name, args) for name in VARIANTS}
        lags = found["plain"][1]["lags"]
        for name, (figures, losses) in found.items():
            for split in SPLITS:
                if name != "plain":
                    figures[split].update({f"vs_plain_{k}": v for k, v in
                                           versus(losses[split], found["plain"][1][split], lags).items()})
                if name == "every_step":
                    figures[split].update({f"vs_first_step_{k}": v for k, v in
                                           versus(losses[split], found["first_step"][1][split], lags).items()})
            runs.append({"seed": seed, "variant": name, **figures})
    chosen = {seed: min((r for r in runs if r["seed"] == seed), key=lambda r: r["val"]["rmse"])["variant"]
              for seed in args.seeds}
    result = {"benchmark": "decoder_calendar",
              "config": {**args_json(args), "windows": {**WINDOWS, "target": "level"}, "task": "seq2seq",
                         "horizon": HORIZON, "variants": VARIANTS, "dm_lags": lags,
                         "data": {"weekday": WEEKDAY, "before_holiday": BEFORE_HOLIDAY, "ar1": [0.9, 0.5],
                                  "data_seed": DATA_SEED}},
              "runs": runs, "selected_on_val": chosen}
    emit(result, before, args.out)


if __name__ == "__main__":
    main()
