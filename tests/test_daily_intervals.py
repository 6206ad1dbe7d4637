"""The rolling profile's adaptive intervals, day by day through the forecast stage's own functions: each
scored forecast updates the next interval exactly as models.conformal.adaptive does, and the scorecard
reports the share of forecasts inside the interval they were made with."""
import numpy as np
import pandas as pd
import pytest

from flows.datasets.stocks.forecast import add_forecast, score_pending, scorecard
from flows.datasets.stocks.scorecard import read_log
from models.conformal import GAMMA, adaptive

DAYS = 200


def test_each_scored_forecast_drives_the_aci_update_and_the_scorecard_shows_its_coverage(tmp_path):
    rng = np.random.default_rng(11)
    steps = np.concatenate([rng.normal(0, 1, DAYS // 2), rng.normal(0, 3, DAYS // 2 + 1)])  # volatility triples
    prices = pd.Series(500 + np.cumsum(steps), index=pd.bdate_range("2025-01-01", periods=DAYS + 1))
    calibration = {"levels": [0.8, 0.95], "scores_h1": sorted(np.abs(rng.normal(0, 1, 60)).tolist()),
                   "quantiles": {"80": [1.3], "95": [2.0]}}
    log = read_log(tmp_path / "absent.csv")
    for day in range(DAYS):
        seen = prices.iloc[: day + 1]
        log = score_pending(log, seen)
        made = {"last_date": str(seen.index[-1].date()), "last_price": float(seen.iloc[-1]),
                "forecast": float(seen.iloc[-1]), "cell": "gru", "version": "1", "calibration": calibration, "sd": None}
        log = add_forecast(log, made, "md5")
    log = score_pending(log, prices)
    assert log["realised"].notna().all()
    scores = np.abs(log["error"].to_numpy(float))  # a point head's score: the absolute price error
    for level, name in ((0.8, "80"), (0.95, "95")):
        replay = adaptive(calibration["scores_h1"], scores, level, gamma=GAMMA)
        assert log[f"alpha{name}"].to_numpy(float) == pytest.approx(replay["alpha"])
        half = (log[f"high{name}"] - log[f"low{name}"]).to_numpy(float) / 2
        assert half == pytest.approx(replay["bound"])
        card = scorecard(log)
        assert card[f"aci_scored{name}"] == DAYS
        assert card[f"aci_coverage{name}"] == pytest.approx(np.mean(replay["covered"]))
        assert card[f"aci_width{name}"] == pytest.approx(2 * np.mean(replay["bound"]))
    # after the volatility tripled, the misses narrowed alpha: the last intervals are wider than the first
    assert log["high95"].iloc[-1] - log["low95"].iloc[-1] > log["high95"].iloc[DAYS // 2] - log["low95"].iloc[DAYS // 2]
    assert card["next"]["intervals"]["95"] == [log["low95"].iloc[-1], log["high95"].iloc[-1]]
