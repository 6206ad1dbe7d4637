"""Stocks covariates: no input ever holds a later target or past covariate; the calendar of the forecast day does."""
import numpy as np
import pandas as pd
import pytest

from flows.datasets.stocks import WindowConfig
from flows.datasets.stocks.covariates import (
    FUTURE,
    ExchangeHolidays,
    build_inputs,
    check_cells,
    check_covariates,
    future_values,
    holidays,
    next_sessions,
)
from flows.datasets.stocks.predict import next_inputs
from models.covariates import stack_inputs
from models.errors import InvalidParameter

ALL = {"past": ["volume", "range"], "future": ["day_of_week", "month", "days_to_holiday"]}
COLUMNS = ("Open", "High", "Low", "Close", "Volume")


def market(first="2016-06-01", last="2017-01-31", seed=0) -> pd.DataFrame:
    """A random walk on the exchange's sessions (weekdays without its holidays), every column of a snapshot."""
    hols = ExchangeHolidays().holidays(pd.Timestamp(first), pd.Timestamp(last))
    dates = pd.bdate_range(first, last).difference(hols)
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    open_ = close * np.exp(rng.normal(0, 0.005, len(dates)))
    high, low = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, len(dates))), \
        np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, len(dates)))
    volume = rng.integers(1_000_000, 3_000_000, len(dates)).astype(float)
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=dates)


def config(target="log_return", covariates=ALL) -> WindowConfig:
    return WindowConfig(window=10, target=target, train_start="2016-06-01", val_start="2016-11-01",
                        train_end="2016-12-31", test_start="2017-01-01", test_end="2017-01-31", covariates=covariates)


def build(frame, cfg, fitted=None):
    return build_inputs(frame, "Open", cfg, cfg.splits(), "GOOG", fitted=fitted)


def windows(spec):
    """(split, first series row, last input price row) of every window."""
    offset = 1 if spec["transform"]["target"] == "log_return" else 0
    return [(name, start, start + spec["window"] - 1 + offset)
            for name in ("train", "val", "test") for start in range(*spec[name])]


def perturbed_after(frame, day: int, seed: int) -> pd.DataFrame:
    """Every value of every column (the target's and the past covariates') after row `day` changed."""
    out = frame.copy()
    rng = np.random.default_rng(seed)
    out.iloc[day + 1 :] = out.iloc[day + 1 :].to_numpy() * rng.uniform(0.5, 1.5, (len(out) - day - 1, len(COLUMNS)))
    out["High"] = out[["High", "Open", "Close", "Low"]].max(axis=1)  # still a valid day
    return out


@pytest.mark.parametrize("target", ["level", "log_return"])
def test_no_later_target_or_past_covariate_enters_a_window(target):
    frame, cfg = market(), config(target)
    series, spec = build(frame, cfg)
    assert series.shape[1] == 1 + len(spec["covariates"]["features"]) == 8
    for k, (name, start, last_day) in enumerate(windows(spec)[::3]):
        # The fitted transform and scaler held fixed: for train windows the future rows are fit rows, whose
        # statistics legitimately move (test_covariate_scaling_is_fit_on_the_fit_rows_only).
        changed, _ = build(perturbed_after(frame, last_day, k), cfg, fitted=spec)
        end = start + spec["window"]
        assert np.array_equal(changed[start:end], series[start:end]), (name, start)
        assert changed[end, 0] != series[end, 0]  # the perturbation reached the target the window forecasts
        if name != "train":  # a fresh fit never sees rows after the fit period either
            refit, _ = build(perturbed_after(frame, last_day, k), cfg)
            assert np.array_equal(refit[start:end], series[start:end]), (name, start)


def test_covariate_scaling_is_fit_on_the_fit_rows_only():
    frame, cfg = market(), config("level")
    series, spec = build(frame, cfg)
    fit_end = frame.index.get_loc(frame.index[frame.index < "2016-11-01"][-1])
    changed = frame.copy()
    changed.iloc[fit_end + 1 :, [COLUMNS.index("Volume"), COLUMNS.index("Low")]] *= 0.5  # volume, range after the fit
    again, spec2 = build(changed, cfg)
    assert spec2["covariates"]["scaler"] == spec["covariates"]["scaler"]
    last_train = spec["train"][1] - 1 + spec["window"]  # the last train window's target row
    assert np.array_equal(again[: last_train + 1], series[: last_train + 1])
    assert not np.array_equal(again[last_train + 1 :, 1:3], series[last_train + 1 :, 1:3])  # val/test rows moved
    inside = frame.copy()
    inside.iloc[: fit_end + 1, COLUMNS.index("Volume")] *= 3.0  # a fit row: the scaler follows it
    assert build(inside, cfg)[1]["covariates"]["scaler"] != spec["covariates"]["scaler"]


def test_the_last_input_row_carries_the_forecast_days_calendar():
    names = ["day_of_week", "month", "days_to_holiday"]
    frame, cfg = market(), config("log_return", {"past": [], "future": names})
    series, spec = build(frame, cfg)
    hols = holidays(frame.index[0], frame.index[-1] + pd.Timedelta(days=400))

    def calendar_of(day):  # the features of that day itself, not of the session after it
        return np.float32(np.column_stack([FUTURE[n][1](pd.DatetimeIndex([day]), hols) for n in names])[0])

    for _, start, last_day in windows(spec):
        last_row = series[start + spec["window"] - 1, 1:]
        assert np.array_equal(last_row, calendar_of(frame.index[last_day + 1]))  # the day the window forecasts
        assert not np.array_equal(last_row, calendar_of(frame.index[last_day]))  # not the last input day's own


def test_perturbing_the_forecast_days_calendar_changes_the_input_and_only_that():
    rng = np.random.default_rng(3)
    days, window = 40, 10
    target, past, future = rng.normal(size=days - 1), rng.normal(size=(days, 2)), rng.normal(size=(days, 5))
    base = stack_inputs(target, past, future, offset=1)
    start, last_day = 5, 5 + window - 1 + 1  # a window of series rows 5..14 ends on day 15, forecasts day 16
    moved = future.copy()
    moved[last_day] += 1.0  # the calendar of the session after day 15: day 16's, the forecast day's
    inputs = stack_inputs(target, past, moved, 1)[start : start + window]
    assert not np.array_equal(inputs, base[start : start + window])
    later = future.copy()
    later[last_day + 1 :] += 1.0  # the calendars of the sessions after the forecast day
    later_past = past.copy()
    later_past[last_day + 1 :] += 1.0  # the past covariates of the forecast day and later
    assert np.array_equal(stack_inputs(target, later_past, later, 1)[start : start + window],
                          base[start : start + window])


def test_calendar_knows_the_exchange_holidays():
    days, _ = next_sessions(pd.DatetimeIndex(["2016-03-24", "2016-12-23", "2017-01-13", "2022-06-17", "2016-12-22"]))
    # Good Friday, Christmas observed on Monday, Martin Luther King Day, Juneteenth observed on Monday
    assert [str(d.date()) for d in days] == ["2016-03-28", "2016-12-27", "2017-01-17", "2022-06-21", "2016-12-23"]
    # the session after 2016-12-22 is 2016-12-23, the last before Christmas; after 2016-12-23 it is 12-27,
    # four sessions before New Year's Day (observed on Monday 2017-01-02)
    near = future_values(pd.DatetimeIndex(["2016-12-22", "2016-12-23", "2016-08-01"]), ["days_to_holiday"])
    assert near.ravel().tolist() == pytest.approx([0.1, 0.4, 1.0])


def test_predict_builds_the_inputs_the_windows_stage_built():
    frame, cfg = market(), config("log_return")
    series, spec = build(frame, cfg)
    fitted = {"transform": spec["transform"], "covariates": spec["covariates"]}
    need = spec["window"] + 1
    last = spec["test"][1] - 1  # the last test window forecasts the snapshot's last day
    snapshot = frame.iloc[:-1]  # the day before it: predict forecasts that same day
    target_series = series[last : last + spec["window"], 0]
    inputs = next_inputs(target_series, snapshot.iloc[-need:], fitted, "GOOG", "stocks")
    assert np.array_equal(inputs, series[last : last + spec["window"]])


def test_bad_covariates_are_refused_in_one_sentence():
    with pytest.raises(InvalidParameter, match=r"stocks.windows.covariates.past lists \['volum'\]; choose each of "
                                               r"volume, range"):
        check_covariates({"past": ["volum"]}, "stocks.windows")
    with pytest.raises(InvalidParameter, match="must be a mapping with past, others and/or future"):
        check_covariates({"known": ["month"]}, "stocks.windows")
    frame = market().drop(columns=["Volume"])
    with pytest.raises(InvalidParameter, match="covariates.past lists volume, but the GOOG snapshot has no Volume "
                                               "column; remove it or ingest"):
        build(frame, config())
    params = {"cells": ["lstm", "recursive"], "stocks": {"windows": {"covariates": ALL}, "train": {
        "lstm": {}, "recursive": {"kind": "gru", "task": "recursive", "horizon": 5}}}}
    with pytest.raises(InvalidParameter, match=r"stocks.train.recursive is task recursive, which feeds its forecasts "
                                               r"back as inputs, so it cannot read stocks.windows.covariates"):
        check_cells(params, "stocks", config())
    check_cells(params, "stocks", config(covariates={}))  # no covariates: every type is fine


def test_without_covariates_the_windows_are_the_single_feature_ones():
    frame, cfg = market(), config("level", {})
    series, spec = build(frame, cfg)
    assert series.ndim == 1 and "covariates" not in spec
