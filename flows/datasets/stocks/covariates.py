"""stocks covariates: other columns of the snapshot (past) and the exchange calendar (known in advance).

`<dataset>.windows.covariates: {past: [volume, range], others: [^GSPC], future: [day_of_week, month,
days_to_holiday]}`.
- past, from the same day's row of the snapshot, known once that day has closed: volume = log(1 + Volume),
  range = log(High / Low). Each is standardised on the fit rows only, as the target is.
- others, other series ingested beside the ticker (`<dataset>.ingest.others`, e.g. an index): each one's
  daily log return of Close, known once the day has closed, on the ticker's dates (a day the other series
  lacks carries its last close forward: a zero return). Standardised on the fit rows, as past ones are.
- future, of the session a row's window would forecast (the next one): day_of_week and month as
  (sin, cos) pairs, days_to_holiday = sessions until the next exchange holiday, capped at 10, over 10.
  Fixed scales: nothing is fitted, so nothing can leak. The next session comes from the calendar alone
  (weekends and the regular NYSE holidays from pandas' holiday rules), never from the next row of the
  data: an unannounced closure (Hurricane Sandy, 2012-10-29/30) is not known in advance either.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries import holiday as cal

from flows.datasets.base import Unscorable
from flows.datasets.stocks.prices import check_ticker
from flows.datasets.stocks.series import build_windows, load_snapshot, rows_between
from models.covariates import FeatureScaler, stack_inputs
from models.errors import InvalidParameter
from models.model_types import model_type, names_where
from models.price_windows import PriceTransform

# past covariate -> (snapshot columns it reads, its value per day)
PAST = {"volume": (("Volume",), lambda f: np.log1p(f["Volume"].to_numpy())),
        "range": (("High", "Low"), lambda f: np.log(f["High"].to_numpy() / f["Low"].to_numpy()))}
HOLIDAY_CAP = 10  # sessions: further than two weeks from a holiday is "not near one"


class ExchangeHolidays(cal.AbstractHolidayCalendar):
    """The NYSE's regular full-day closures (a Saturday holiday is taken the Friday before, a Sunday one the
    Monday after; New Year's Day is never moved back into December)."""

    rules = [cal.Holiday("New Year's Day", month=1, day=1, observance=cal.sunday_to_monday),
             cal.USMartinLutherKingJr, cal.USPresidentsDay, cal.GoodFriday, cal.USMemorialDay,
             cal.Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01", observance=cal.nearest_workday),
             cal.Holiday("Independence Day", month=7, day=4, observance=cal.nearest_workday), cal.USLaborDay,
             cal.USThanksgivingDay, cal.Holiday("Christmas", month=12, day=25, observance=cal.nearest_workday)]


def _cyclic(values: np.ndarray, period: int) -> np.ndarray:
    angle = 2 * np.pi * values / period
    return np.column_stack([np.sin(angle), np.cos(angle)])


FUTURE = {  # known-future covariate -> (its feature columns, their values for the given sessions)
    "day_of_week": (("day_of_week_sin", "day_of_week_cos"), lambda days, _: _cyclic(days.day_of_week.to_numpy(), 5)),
    "month": (("month_sin", "month_cos"), lambda days, _: _cyclic(days.month.to_numpy() - 1, 12)),
    "days_to_holiday": (("days_to_holiday",), lambda days, hols: sessions_to_holiday(days, hols)[:, None]),
}


def holidays(first, last) -> np.ndarray:
    return ExchangeHolidays().holidays(pd.Timestamp(first), pd.Timestamp(last)).values.astype("datetime64[D]")


def next_sessions(dates: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The session after each date by the calendar, and the holidays from the first date to a year past the last."""
    hols = holidays(dates.min(), dates.max() + pd.Timedelta(days=400))
    days = np.busday_offset(dates.values.astype("datetime64[D]"), 1, roll="backward", holidays=hols)
    return pd.DatetimeIndex(days), hols


def sessions_to_holiday(days: pd.DatetimeIndex, hols: np.ndarray) -> np.ndarray:
    """Sessions from each day up to the next holiday (1: the last session before it), capped, over the cap."""
    start = days.values.astype("datetime64[D]")
    ahead = hols[np.minimum(np.searchsorted(hols, start), len(hols) - 1)]
    count = np.busday_count(start, ahead, holidays=hols)
    return np.minimum(np.where(ahead >= start, count, HOLIDAY_CAP), HOLIDAY_CAP) / HOLIDAY_CAP


def check_covariates(value, where: str) -> dict:
    """The `covariates` mapping of a windows section, as {"past": [...], "others": [...], "future": [...]}."""
    if value in (None, {}):
        return {"past": [], "others": [], "future": []}
    if not isinstance(value, dict) or set(value) - {"past", "others", "future"}:
        raise InvalidParameter(f"{where}.covariates must be a mapping with past, others and/or future lists, got "
                               f"{value!r}.")
    found = {}
    for kind, known in (("past", PAST), ("future", FUTURE)):
        names = value.get(kind) or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidParameter(f"{where}.covariates.{kind} must be a list of names, got {names!r}.")
        unknown = [n for n in names if n not in known]
        if unknown or len(set(names)) != len(names):
            raise InvalidParameter(f"{where}.covariates.{kind} lists {unknown or names}; choose each of "
                                   f"{', '.join(known)} at most once.")
        found[kind] = names
    others = value.get("others") or []
    if not isinstance(others, list) or not all(isinstance(n, str) for n in others) or len(set(others)) < len(others):
        raise InvalidParameter(f"{where}.covariates.others must be a list of distinct tickers (e.g. [^GSPC]), got "
                               f"{others!r}.")
    found["others"] = [check_ticker(n) for n in others]
    return found


def raw_names(chosen: dict) -> list[str]:
    """The covariates read from the data (scaled on the fit rows): the past columns, then the other series."""
    return [*chosen["past"], *chosen.get("others", [])]  # a model saved before `others` has none


def check_windows(params: dict, dataset: str, cfg, fetched: list[str]) -> None:
    """The windows' covariates against what ingest fetches (`fetched`: its other series) and every cell."""
    missing = [t for t in check_covariates(cfg.covariates, f"{dataset}.windows")["others"] if t not in fetched]
    if missing:
        raise InvalidParameter(f"{dataset}.windows.covariates.others lists {', '.join(missing)}, which "
                               f"{dataset}.ingest.others does not fetch; add it there.")
    check_cells(params, dataset, cfg)


def check_cells(params: dict, dataset: str, cfg) -> None:
    """A model type whose series must be its only input feature (it feeds its forecasts back) refuses covariates."""
    from flows.core.params import cells_of, train_spec  # params imports the plug-ins

    if not feature_names(check_covariates(getattr(cfg, "covariates", None), f"{dataset}.windows")):
        return
    for cell in cells_of(params, dataset):
        kind = model_type(train_spec(params, dataset, cell).net.task)
        if kind.single_feature:
            others = names_where(lambda k: not k.single_feature)
            raise InvalidParameter(f"{dataset}.train.{cell} is task {kind.name}, which {kind.single_feature}, so it "
                                   f"cannot read {dataset}.windows.covariates; remove the covariates or choose task "
                                   f"{' | '.join(others)}.")


def feature_names(chosen: dict) -> list[str]:
    return [*raw_names(chosen), *(c for name in chosen["future"] for c in FUTURE[name][0])]


def decoder_ahead(spec: dict, net_cfg) -> int:
    """Known-future columns a multi-step decoder's windows carry on past their end, so that every decoder step
    reads the calendar of the session it forecasts (models.windows.WindowDataset `ahead`); 0 for other nets."""
    if getattr(net_cfg, "horizon", 1) == 1 or not model_type(net_cfg.task).decoder or "covariates" not in spec:
        return 0
    return sum(len(FUTURE[name][0]) for name in spec["covariates"]["future"])


def snapshot_with_others(root, ticker: str, value, dataset: str) -> pd.DataFrame:
    """The ticker's snapshot joined with the other series its windows' `covariates` value lists."""
    return with_others(root, load_snapshot(root, ticker, dataset), check_covariates(value, f"{dataset}.windows"),
                       ticker, dataset)


def with_others(root, frame: pd.DataFrame, chosen: dict, ticker: str, dataset: str) -> pd.DataFrame:
    """`frame` plus a column per other series: its daily log return of Close on `frame`'s dates, from its own
    snapshot. Only closes on or before each date enter (a carried-forward close is a zero return)."""
    if not chosen.get("others"):
        return frame
    out = frame.copy()
    for name in chosen["others"]:
        other = load_snapshot(root, name, dataset)
        close = other["Close"] if "Close" in other.columns else other.iloc[:, 0]
        if other.index[0] > frame.index[0] or other.index[-1] < frame.index[-1]:
            raise InvalidParameter(f"the {name} snapshot runs {other.index[0].date()} to {other.index[-1].date()} but "
                                   f"{ticker}'s {frame.index[0].date()} to {frame.index[-1].date()}; ingest both over "
                                   f"the same dates (re-run ingest-{dataset}).")
        level = np.log(close.to_numpy(dtype=np.float64))
        before = np.searchsorted(other.index.values, frame.index.values, side="right") - 1  # the last close <= day
        first = before[0] - 1  # the close before the ticker's first day, if the other series has one
        previous = np.concatenate([[level[first] if first >= 0 else level[before[0]]], level[before[:-1]]])
        out[name] = level[before] - previous
    return out


def past_values(frame: pd.DataFrame, names: list[str], ticker: str, dataset: str) -> np.ndarray:
    """(days, len(names)) raw past covariates, one row per snapshot row."""
    columns = []
    for name in names:
        if name not in PAST:  # another series, joined by with_others
            if name not in frame.columns:
                raise InvalidParameter(f"{dataset}.windows.covariates.others lists {name}, but its returns were not "
                                       f"read beside {ticker}; add it to {dataset}.ingest.others and re-run ingest.")
            columns.append(frame[name].to_numpy(dtype=np.float64))
            continue
        needs, value = PAST[name]
        missing = [c for c in needs if c not in frame.columns]
        if missing:
            raise InvalidParameter(f"{dataset}.windows.covariates.past lists {name}, but the {ticker} snapshot has no "
                                   f"{', '.join(missing)} column; remove it or ingest a source that has it.")
        values = value(frame)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise InvalidParameter(f"the {ticker} {name} covariate is missing or invalid on "
                                   f"{frame.index[bad[0]].date()}; fix {', '.join(needs)} there or drop {name}.")
        columns.append(values)
    return np.column_stack(columns) if columns else np.zeros((len(frame), 0))


def future_values(dates: pd.DatetimeIndex, names: list[str]) -> np.ndarray:
    """(days, features) known-future covariates of the session after each date."""
    days, hols = next_sessions(dates)
    parts = [FUTURE[name][1](days, hols) for name in names]
    return np.column_stack(parts) if parts else np.zeros((len(dates), 0))


def later_rows(last_day, names: list[str], steps: int, width: int) -> np.ndarray:
    """(steps, width) rows after a window ending on `last_day`, zero but for the calendar columns (the last
    ones): what WindowDataset's `ahead` rows hold, here from the calendar alone (predict's next sessions)."""
    rows = np.zeros((steps, width))
    if steps:
        hols = holidays(last_day, pd.Timestamp(last_day) + pd.Timedelta(days=400 + 2 * steps))
        start = np.datetime64(pd.Timestamp(last_day).date(), "D")
        sessions = [np.busday_offset(start, k, roll="backward", holidays=hols) for k in range(1, steps + 1)]
        known = future_values(pd.DatetimeIndex(sessions), names)
        rows[:, width - known.shape[1] :] = known
    return rows


def with_covariates(series: np.ndarray, frame: pd.DataFrame, chosen: dict, scaler: FeatureScaler, offset: int,
                    ticker: str, dataset: str) -> np.ndarray:
    """The model series of `frame`'s rows (series[s] is day s + offset), covariates stacked after the target."""
    past = scaler.apply(past_values(frame, raw_names(chosen), ticker, dataset))
    return stack_inputs(series, past, future_values(frame.index, chosen["future"]), offset)


def build_inputs(frame: pd.DataFrame, column: str, cfg, splits: dict, ticker: str, dataset: str = "stocks",
                 fitted: dict | None = None) -> tuple[np.ndarray, dict]:
    """series.build_windows, plus the configured covariates: (time,) without any, (time, 1 + features) with.
    `fitted`: an earlier spec whose transform and covariate scaler are applied instead of fitting new ones."""
    chosen = check_covariates(getattr(cfg, "covariates", None), f"{dataset}.windows")
    transform = PriceTransform(**fitted["transform"]) if fitted else None
    series, spec = build_windows(frame[column].to_numpy(), frame.index, cfg.window, cfg.target, splits, transform,
                                 dataset)
    if not feature_names(chosen):
        return series, spec
    used = frame.iloc[: len(spec["prices"])]
    raw = past_values(used, raw_names(chosen), ticker, dataset)
    if fitted:
        scaler = FeatureScaler.from_dict(fitted["covariates"]["scaler"])
    else:
        train = rows_between(frame.index, *splits["train"], "train", dataset)
        scaler = FeatureScaler.fit(raw[train[0] : train[-1] + 1], raw_names(chosen))
    offset = PriceTransform(**spec["transform"]).offset
    inputs = stack_inputs(series, scaler.apply(raw), future_values(used.index, chosen["future"]), offset)
    spec["covariates"] = {**chosen, "features": feature_names(chosen), "scaler": scaler.to_dict(),
                          "raw": {name: raw[:, j].tolist() for j, name in enumerate(raw_names(chosen))}}
    return inputs, spec


def saved_series(spec: dict, saved: dict) -> np.ndarray:
    """The windows' days through a saved model's own transform and covariate scaler (what it would read)."""
    series = PriceTransform(**saved["transform"]).to_series(np.asarray(spec["prices"]))
    if "covariates" not in spec:
        return series
    chosen, scaler = spec["covariates"], FeatureScaler.from_dict(saved["covariates"]["scaler"])
    raw = np.column_stack([spec["covariates"]["raw"][n] for n in raw_names(chosen)]) if raw_names(chosen) else \
        np.zeros((len(spec["dates"]), 0))
    future = future_values(pd.DatetimeIndex(spec["dates"]), chosen["future"])
    return stack_inputs(series, scaler.apply(raw), future, PriceTransform(**saved["transform"]).offset)


def through_saved(spec: dict, saved: dict) -> tuple[np.ndarray, dict] | None:
    """(the series as a saved model reads it, the spec with its fitted transform and scaler); None when the
    model was fitted as the windows are. A model of other covariates is no candidate for these windows."""
    features, reads = spec.get("covariates", {}).get("features", []), saved.get("covariates", {}).get("features", [])
    if reads != features:
        raise Unscorable(f"it reads the covariates {reads}, the data has {features}")
    if saved["transform"] == spec["transform"] and saved.get("covariates", {}) == model_covariates(spec):
        return None
    fitted = {"transform": saved["transform"]} | ({"covariates": {**spec["covariates"], **saved["covariates"]}}
                                                  if "covariates" in spec else {})
    return saved_series(spec, saved), {**spec, **fitted}


def model_covariates(spec: dict) -> dict:
    """What a saved model keeps of the covariates: their names and fitted scaler, not the raw days."""
    return {k: v for k, v in spec["covariates"].items() if k != "raw"} if "covariates" in spec else {}
