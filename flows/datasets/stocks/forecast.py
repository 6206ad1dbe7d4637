"""forecast-<dataset>: the champion's next-session forecast, logged, and yesterday's scored.

forecasts/<dataset>/log.csv keeps one row per forecast (DVC keeps the file between runs and git
versions it). A row is scored on the first run whose snapshot holds the session after the one it
was made on: the realised price, the model's error and persistence's ("tomorrow = today"). The
scorecard is what a daily schedule earns: is the model better than persistence on days it had not
seen when it forecast them?
"""
from __future__ import annotations

import datetime as dt
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from flows import tracking
from flows.core.atomic import staged_outputs
from flows.core.params import load_params
from flows.datasets.stocks import adaptive, ticker_of
from flows.datasets.stocks.predict import forecast_next
from flows.datasets.stocks.scorecard import COLUMNS, card_path, log_path, read_log
from flows.datasets.stocks.series import load_snapshot, snapshot_path
from flows.orchestration.stage_command import stage_main
from flows.scoring.regression_nets import table_csv


def score_pending(log: pd.DataFrame, prices: pd.Series) -> pd.DataFrame:
    """Fill in the realised price of every forecast whose next session is now in the snapshot."""
    log = log.copy()
    for i in log.index[log["realised"].isna()]:
        later = prices[prices.index > pd.Timestamp(log.at[i, "last_date"])]
        if later.empty:
            continue
        realised = float(later.iloc[0])
        log.at[i, "realised_date"] = str(later.index[0].date())
        log.at[i, "realised"] = realised
        log.at[i, "error"] = float(log.at[i, "forecast"]) - realised
        log.at[i, "persistence_error"] = float(log.at[i, "last_price"]) - realised
    return log


def add_forecast(log: pd.DataFrame, made: dict, md5: str) -> pd.DataFrame:
    """Append today's forecast with its adaptive intervals (adaptive.py: updated by every forecast scored
    so far); a second run on the same snapshot replaces its still-unscored row."""
    row = {"made_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "last_date": made["last_date"],
           "last_price": made["last_price"], "forecast": made["forecast"], "cell": made["cell"],
           "version": str(made["version"]), "snapshot_md5": md5, **adaptive.next_interval(log, made)}
    keep = log[~((log["last_date"] == made["last_date"]) & log["realised"].isna())]
    found = pd.concat([keep, pd.DataFrame([row])], ignore_index=True)
    return found[[*COLUMNS, *adaptive.interval_columns(found)]]


def scorecard(log: pd.DataFrame) -> dict:
    scored = log.dropna(subset=["realised"])
    card = {"forecasts": int(len(log)), "scored": int(len(scored)), "pending": int(log["realised"].isna().sum())}
    if len(scored):
        err, base = scored["error"].to_numpy(float), scored["persistence_error"].to_numpy(float)
        moved = np.sign(scored["realised"].to_numpy(float) - scored["last_price"].to_numpy(float))
        called = np.sign(scored["forecast"].to_numpy(float) - scored["last_price"].to_numpy(float))
        rmse, base_rmse = float(np.sqrt(np.mean(err**2))), float(np.sqrt(np.mean(base**2)))
        card |= {"mae": float(np.mean(np.abs(err))), "persistence_mae": float(np.mean(np.abs(base))),
                 "rmse": rmse, "persistence_rmse": base_rmse,
                 "skill": 1 - rmse / base_rmse if base_rmse > 0 else None,
                 "direction_hit_rate": float(np.mean(moved == called))}
    card |= adaptive.card_figures(log)
    last = log.iloc[-1]
    card["next"] = {"after": str(last["last_date"]), "forecast": float(last["forecast"]),
                    "last_price": float(last["last_price"]), "cell": str(last["cell"]), "version": str(last["version"]),
                    "intervals": {c[3:]: [float(last[c]), float(last[f"high{c[3:]}"])]
                                  for c in adaptive.interval_columns(log) if c.startswith("low") and pd.notna(last[c])}}
    return card


def forecast(root: Path, dataset: str) -> dict:
    params = load_params(root)
    ticker = ticker_of(params, dataset)
    frame = load_snapshot(root, ticker, dataset)
    made = forecast_next(root, ticker, dataset=dataset)
    md5 = hashlib.md5(snapshot_path(root, ticker, dataset).read_bytes()).hexdigest()  # DVC's cache key of the file
    log = add_forecast(score_pending(read_log(log_path(root, dataset)), frame[made["column"]]), made, md5)
    card = scorecard(log)
    with staged_outputs(root) as out:
        columns = [*COLUMNS, *adaptive.interval_columns(log)]
        out.write_text(log_path(root, dataset).relative_to(root), table_csv({c: log[c].tolist() for c in columns}))
        out.write_json(card_path(root, dataset).relative_to(root), card)
        # one long-lived run (kind=scorecard); step = forecasts scored so far, so the UI draws the live
        # skill against persistence as it accumulates
        tracking.log_summary_run(root, dataset, "scorecard", {k: v for k, v in card.items() if k != "next"},
                                 step=card["scored"], curves={"next_forecast": [(card["forecasts"],
                                                                                 card["next"]["forecast"])]},
                                 one_run=True)
    so_far = (f"{card['scored']} scored, skill vs persistence {card['skill']:+.3f}" if card.get("skill") is not None
              else f"{card['scored']} scored so far")
    bands = "".join(f", {n}% {lo:.2f}..{hi:.2f}" for n, (lo, hi) in card["next"]["intervals"].items())
    print(f"forecast {dataset}: {ticker} after {made['last_date']}: {made['forecast']:.2f}{bands} "
          f"(last {made['last_price']:.2f}) from {made['cell']} v{made['version']}; {so_far}")
    return card


if __name__ == "__main__":
    sys.exit(stage_main(forecast, needs_cell=False))
