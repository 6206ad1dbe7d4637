"""Reading the live forecast log back: its paths, the table, and the report's scorecard section.

Kept apart from the forecast stage so the plug-in's report hook loads neither MLflow nor a model.
"""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from flows.core.atomic import read_json

COLUMNS = ("made_at", "last_date", "last_price", "forecast", "cell", "version", "snapshot_md5",
           "realised_date", "realised", "error", "persistence_error")


def log_path(root: Path, dataset: str) -> Path:
    return Path(root) / "forecasts" / dataset / "log.csv"


def card_path(root: Path, dataset: str) -> Path:
    return log_path(root, dataset).with_name("scorecard.json")


def read_log(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.read_csv(path, dtype={"last_date": str, "realised_date": str, "version": str},
                       float_precision="round_trip")


def scorecard_html(root: Path, dataset: str) -> str:
    path = card_path(root, dataset)
    if not path.exists():
        return ""
    card = read_json(path)
    nums = {k: v for k, v in card.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    head = "".join(f"<th>{html.escape(k)}</th>" for k in nums)
    cells = "".join(f"<td>{v:.4g}</td>" if isinstance(v, float) else f"<td>{v}</td>" for v in nums.values())
    recent = read_log(log_path(root, dataset)).tail(10).to_html(index=False, na_rep="", float_format="%.4g")
    nxt = card["next"]
    bands = "".join(f", {html.escape(n)}% interval {lo:.2f}..{hi:.2f}"
                    for n, (lo, hi) in nxt.get("intervals", {}).items())
    return (f"<h2>Live forecasts</h2><p>Next session after {html.escape(nxt['after'])}: "
            f"{nxt['forecast']:.2f}{bands} (last {nxt['last_price']:.2f}, {html.escape(nxt['cell'])} "
            f"v{html.escape(nxt['version'])}). Each forecast is scored on the next run that sees the realised price, "
            f"against persistence; aci_coverage is the share of scored forecasts inside the interval they were made "
            f"with (adaptive conformal: each miss widens the next ones).</p>"
            f"<table><tr>{head}</tr><tr>{cells}</tr></table>{recent}")
