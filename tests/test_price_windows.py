"""Date-based splits and scaling: statistics from the fit rows only, later windows reaching back."""
import numpy as np
import pandas as pd
import pytest

from flows.datasets.stocks.series import build_windows, score_prices
from models.price_windows import PriceTransform
from models.windows import WindowDataset

DATES = pd.bdate_range("2016-08-01", "2017-01-31")
PRICES = np.linspace(100, 200, len(DATES)) * (1 + 0.01 * np.sin(np.arange(len(DATES))))
SPLITS = {"train": ("2016-08-01", "2016-10-31"), "val": ("2016-11-01", "2016-12-31"),
          "test": ("2017-01-01", "2017-01-31")}


@pytest.mark.parametrize("target", ["level", "log_return"])
def test_scaler_fit_on_the_fit_rows_only_and_later_windows_reach_back(target):
    series, spec = build_windows(PRICES, DATES, 15, target, SPLITS)
    fit_rows = np.flatnonzero(DATES <= "2016-10-31")
    expected = PriceTransform.fit(PRICES[fit_rows], target)
    assert spec["transform"] == expected.to_dict()  # neither validation nor test rows leak into the scaler
    if target == "level":
        assert spec["transform"]["shift"] == PRICES[fit_rows].min()
        assert series[fit_rows].max() == pytest.approx(1.0) and series.max() > 1.0  # later prices lie above it
    offset = expected.offset
    for split, first_day, inputs_before in (("val", "2016-11-01", "2016-11-01"), ("test", "2017-01-02", "2017-01-01")):
        windows = WindowDataset(series, spec["window"], range(*spec[split]))
        assert len(windows) == int(((DATES >= SPLITS[split][0]) & (DATES <= SPLITS[split][1])).sum())
        assert DATES[windows.starts[0] + spec["window"] + offset] == pd.Timestamp(first_day)
        assert DATES[windows.starts[0] + offset] < pd.Timestamp(inputs_before)  # inputs from the split before
    train = WindowDataset(series, spec["window"], range(*spec["train"]))
    assert DATES[train.starts[-1] + spec["window"] + offset] == pd.Timestamp("2016-10-31")


def test_splits_out_of_order_are_refused():
    from models.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="the test split must start after the val split ends"):
        build_windows(PRICES, DATES, 15, "level", {**SPLITS, "test": ("2016-12-01", "2017-01-31")})


@pytest.mark.parametrize("target", ["level", "log_return"])
def test_a_perfect_model_scores_zero_error_on_the_price_scale(target):
    series, spec = build_windows(PRICES, DATES, 15, target, SPLITS)
    test = WindowDataset(series, spec["window"], range(*spec["test"]))
    metrics, table = score_prices(spec, test.targets().numpy(), np.asarray(test.starts) + test.window)
    assert metrics["rmse"] == pytest.approx(0.0, abs=1e-3)
    assert metrics["directional_accuracy"] == 1.0
    np.testing.assert_allclose(table["real"], PRICES[DATES >= "2017-01-01"])
    np.testing.assert_allclose(table["persistence"], PRICES[np.flatnonzero(DATES >= "2017-01-01") - 1])
    assert metrics["skill"] == pytest.approx(1.0, abs=1e-4)
    # even a perfect forecast earns no significance from one month of 15-day windows: too few stretches
    assert metrics["dm_pvalue"] is None and metrics["dm_stretches"] < 8
