"""Date-based splits and scaling: statistics from the training rows only, test windows reaching back."""
import numpy as np
import pandas as pd
import pytest

from flows.stages.stocks import build_windows, score
from models.price_windows import PriceTransform
from models.windows import WindowDataset

DATES = pd.bdate_range("2016-10-03", "2017-01-31")
PRICES = np.linspace(100, 200, len(DATES)) * (1 + 0.01 * np.sin(np.arange(len(DATES))))
CFG = {"window": 15, "train_start": "2016-10-01", "train_end": "2016-12-31",
       "test_start": "2017-01-01", "test_end": "2017-01-31"}


@pytest.mark.parametrize("target", ["level", "log_return"])
def test_scaler_fit_on_train_rows_only_and_test_windows_reach_into_december(target):
    series, spec = build_windows(PRICES, DATES, {**CFG, "target": target})
    train_rows = np.flatnonzero(DATES <= "2016-12-31")
    expected = PriceTransform.fit(PRICES[train_rows], target)
    assert spec["transform"] == expected.to_dict()
    if target == "level":
        assert spec["transform"]["shift"] == PRICES[train_rows].min()
        assert series[train_rows].max() == pytest.approx(1.0) and series.max() > 1.0  # January is above it
    test = WindowDataset(series, spec["window"], range(*spec["val"]))
    assert len(test) == int((DATES >= "2017-01-01").sum())
    offset = expected.offset
    first_target_row = test.starts[0] + spec["window"] + offset
    assert DATES[first_target_row] == pd.Timestamp("2017-01-02")
    assert DATES[test.starts[0] + offset] < pd.Timestamp("2017-01-01")  # inputs come from December


@pytest.mark.parametrize("target", ["level", "log_return"])
def test_a_perfect_model_scores_zero_error_on_the_price_scale(target):
    series, spec = build_windows(PRICES, DATES, {**CFG, "target": target})
    test = WindowDataset(series, spec["window"], range(*spec["val"]))
    metrics, table = score(spec, test.targets().numpy(), np.asarray(test.starts) + test.window)
    assert metrics["rmse"] == pytest.approx(0.0, abs=1e-3)
    assert metrics["directional_accuracy"] == 1.0
    np.testing.assert_allclose(table["real"], PRICES[DATES >= "2017-01-01"])
    np.testing.assert_allclose(table["persistence"], PRICES[np.flatnonzero(DATES >= "2017-01-01") - 1])
    assert metrics["skill_vs_persistence"] == pytest.approx(1.0, abs=1e-4)
