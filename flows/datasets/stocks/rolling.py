"""stocks_daily: the stocks task on dates that move with the calendar, for a daily scheduled run.

Each run fetches a new snapshot ending at the last close (a new DVC-versioned version of
data/raw/stocks_daily). Its last `test_sessions` trading days are the test period, the
`val_sessions` before them validate (early stopping, champion), everything earlier fits. After
evaluation the champion forecasts the next session; the forecast stage logs that forecast and, on
a later run, scores it against the realised price (forecasts/<dataset>/log.csv, a running scorecard).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from flows.core.params import config_of
from flows.datasets.base import ExtraStage
from flows.datasets.stocks import StockPrices
from flows.datasets.stocks.covariates import check_covariates
from flows.datasets.stocks.scorecard import scorecard_html
from models.errors import InvalidParameter
from models.price_windows import TARGETS


@dataclass(frozen=True)
class RollingWindowConfig:
    column: str = "Open"
    window: int = 60
    target: str = "log_return"  # a level model's MinMax range goes stale as the price drifts; returns do not
    val_sessions: int = 60
    test_sessions: int = 20
    covariates: dict = field(default_factory=dict)  # as stocks.windows.covariates

    def check(self, where: str) -> None:
        check_covariates(self.covariates, where)
        if self.target not in TARGETS:
            raise InvalidParameter(f"{where}.target must be one of {', '.join(TARGETS)}, got {self.target!r}.")
        for key in ("window", "val_sessions", "test_sessions"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InvalidParameter(f"{where}.{key} must be a positive integer, got {value!r}.")

    def splits(self, dates: pd.DatetimeIndex, dataset: str) -> dict[str, tuple]:
        """Fit / validate / test by counting trading days back from the snapshot's last one."""
        need = self.window + self.val_sessions + self.test_sessions + 2
        if len(dates) < need:
            raise InvalidParameter(f"the snapshot has {len(dates)} trading days; {dataset}.windows' window + "
                                   f"val_sessions + test_sessions needs at least {need}: raise "
                                   f"{dataset}.ingest.history_days.")
        days = [str(d.date()) for d in dates]
        test, val = len(days) - self.test_sessions, len(days) - self.test_sessions - self.val_sessions
        return {"train": (days[0], days[val - 1]), "val": (days[val], days[test - 1]), "test": (days[test], days[-1])}


class RollingStockPrices(StockPrices):
    extra_stages = (ExtraStage(
        name="forecast", module="flows.datasets.stocks.forecast", params=("{dataset}.ingest.ticker",),
        deps=("data/raw/{dataset}", "data/models/{dataset}"), metrics="forecasts/{dataset}/scorecard.json",
        summary_key="skill", label="live skill", per_cell=False, outs=("forecasts/{dataset}/log.csv",),
        after=("evaluate",)),)  # it forecasts with the champion, which the evaluate stages elect in MLflow

    def window_config(self, params: dict) -> RollingWindowConfig:
        return config_of(RollingWindowConfig, params, self.name, "windows")

    def always_changed(self, stage: str) -> bool:
        return stage == "ingest"  # every run asks Yahoo for the days since the last one

    def report_overview(self, root) -> str:
        return scorecard_html(root, self.name)


DATASET = RollingStockPrices("stocks_daily")
