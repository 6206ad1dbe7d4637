"""Verdicts must be earned: the Diebold-Mariano test behind 'beats', 'LOSES to' and 'no better than'
(its size on dependent errors: tests/test_significance.py)."""
import numpy as np

from models.metrics import forecast_report
from models.significance import diebold_mariano, verdict


def test_identical_forecasts_are_no_evidence():
    assert diebold_mariano(np.ones(30), np.ones(30)).p_value == 1.0


def test_a_small_skill_over_twenty_days_is_noise():
    """The issue's S&P 500 case: RMSE 7.17 against persistence's 7.29 over 20 days, skill +0.016."""
    rng = np.random.default_rng(3)
    real = 4000 + np.cumsum(rng.normal(0, 7.29, 21))
    persistence = real[:-1]
    real = real[1:]
    predicted = persistence + 0.12 * (real - persistence) + rng.normal(0, 1.5, 20)
    report = forecast_report(real, predicted, persistence)
    assert 0 < report["skill"] < 0.1
    assert report["dm_pvalue"] is None or report["dm_pvalue"] > 0.05
    assert verdict(report["skill"], report["dm_pvalue"], "persistence").startswith(
        ("no better than persistence", "untested against persistence"))


def test_a_clear_win_and_a_clear_loss_are_called():
    rng = np.random.default_rng(0)
    real = np.sin(np.arange(300) / 5)
    persistence = np.r_[0.0, real[:-1]]
    good = real + rng.normal(0, 0.01, 300)
    bad = real + rng.normal(0, 1.0, 300)
    win, loss = forecast_report(real, good, persistence), forecast_report(real, bad, persistence)
    assert verdict(win["skill"], win["dm_pvalue"], "persistence").startswith("beats persistence")
    assert verdict(loss["skill"], loss["dm_pvalue"], "persistence").startswith("LOSES to persistence")
