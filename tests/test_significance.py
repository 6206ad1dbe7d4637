"""The loss test behind every verdict holds its size on dependent errors (AR(1), overlapping windows),
refuses to test where a split is too short, and the verdict names the strongest baseline."""
import numpy as np
import pytest

from benchmarks.significance_size import ar1, overlapping_losses
from models.metrics import forecast_report, horizon_report
from models.significance import (
    MIN_STRETCHES,
    against_baselines,
    diebold_mariano,
    lag_one,
    overlap_lags,
    prewhitened_variance,
    verdict,
)

CASES = 1000  # the issue asks for 200; 1000 pins a 5% rate to +-1.4% (two standard errors)


def false_verdicts(pairs, dependence: int) -> float:
    """Share of equal-loss cases that a verdict calls 'beats' or 'LOSES to'; nearly all must be tested,
    or a low share would only say that the test declined."""
    called = tested = 0
    for model, base in pairs:
        found = against_baselines(model, {"persistence": base}, model.mean(), {"persistence": base.mean()},
                                  dependence)
        words = verdict(found["skill"], found["dm_pvalue"], "persistence", stretches=found["dm_stretches"])
        called += words.startswith(("beats", "LOSES"))
        tested += found["dm_pvalue"] is not None
    assert tested >= 0.9 * len(pairs)
    return called / len(pairs)


@pytest.mark.parametrize("n", [400, 1000])
def test_ar1_loss_differences_at_rho_095_are_rarely_called(n):
    rng = [np.random.default_rng(seed) for seed in range(CASES)]
    pairs = [(1 + ar1(r, n, 0.95), np.ones(n)) for r in rng]
    assert false_verdicts(pairs, dependence=1) <= 0.08


def test_short_strongly_autocorrelated_losses_are_not_tested():
    """150 AR(1) losses at rho 0.95 (about 4 independent stretches): the test's own estimate of the
    dependence declines them, where a test would call 1 in 10 (simulated)."""
    verdicts = []
    for seed in range(CASES):
        d = ar1(np.random.default_rng(seed), 150, 0.95)
        found = against_baselines(1 + d, {"drift": np.ones(150)}, 1 + d.mean(), {"drift": 1.0})
        verdicts.append(verdict(found["skill"], found["dm_pvalue"], "drift", stretches=found["dm_stretches"]))
    assert sum(v.startswith("untested") for v in verdicts) >= 0.75 * CASES  # 84% here
    assert sum(v.startswith(("beats", "LOSES")) for v in verdicts) <= 0.08 * CASES


@pytest.mark.parametrize(("window", "horizon", "n"), [(20, 10, 300), (50, 1, 400), (20, 50, 560)])
def test_overlapping_window_errors_are_rarely_called(window, horizon, n):
    pairs = [overlapping_losses(np.random.default_rng(1000 + seed), n, window, horizon) for seed in range(CASES)]
    assert false_verdicts(pairs, overlap_lags(window, horizon)) <= 0.08


def test_a_split_shorter_than_the_dependence_is_not_tested():
    """20 test days of 60-day windows (stocks' test month) hold a third of one independent stretch."""
    model, base = overlapping_losses(np.random.default_rng(5), 20, 60, 1)
    test = diebold_mariano(model - 0.5, base, overlap_lags(60))
    assert test.p_value is None and test.stretches < MIN_STRETCHES
    assert verdict(0.4, test.p_value, "drift", stretches=test.stretches).startswith("untested against drift")


def test_zero_statistic_with_zero_p_is_impossible():
    rng = np.random.default_rng(2)
    for n in (3, 10, 50, 400):
        for _ in range(50):
            test = diebold_mariano(rng.standard_normal(n), rng.standard_normal(n), int(rng.integers(1, 5)))
            assert not (test.statistic == 0 and test.p_value == 0)
    assert diebold_mariano(np.ones(30), np.ones(30)).p_value == 1.0
    constant = diebold_mariano(np.zeros(30), np.ones(30))  # always lower by the same: one number, no test
    assert constant.statistic == -np.inf and constant.p_value is None


def test_the_long_run_variance_equals_the_formula_by_hand():
    rng = np.random.default_rng(4)
    c = ar1(rng, 40, 0.6)
    c = c - c.mean()
    rho = float(lag_one(c))
    u = c[1:] - rho * c[:-1]
    u = u - u.mean()
    n = len(u)
    gamma = [u[k:] @ u[: n - k] / n for k in range(n)]
    by_hand = (gamma[0] + 2 * sum((1 - k / n) * gamma[k] for k in range(1, n))) / (1 - rho) ** 2
    assert prewhitened_variance(c[None])[0] == pytest.approx(by_hand, rel=1e-9)
    assert by_hand > 0


def cosine_windows(window: int, horizon: int, n: int, cycles: float = 15.8):
    """Cosine's generator (cos x, 3000 points on [1, 100] = 15.8 cycles; `cycles` stretches it at the same
    190 samples per cycle): the last n windows with H targets each, persistence and seasonal-naive."""
    points = round(3000 * cycles / 15.8)
    series = np.cos(np.linspace(1, 1 + 99 * points / 3000, points))
    starts = np.arange(points - window - horizon - n + 1, points - window - horizon + 1)
    rows = starts[:, None] + window + np.arange(horizon)
    return series[rows], np.repeat(series[starts + window - 1][:, None], horizon, 1), series[rows - 190]


def words_for(report: dict, others: int = 0) -> str:
    return verdict(report["skill"], report["dm_pvalue"], report["strongest_baseline"], others, report["dm_stretches"])


def test_a_model_worse_than_persistence_on_cosine_at_h50_is_never_called_better():
    """Cosine's own validation split (451 windows of 500, H = 50) holds less than one independent stretch:
    no verdict either way. On a long cosine the test has the power to call both sides."""
    real, persistence, _ = cosine_windows(500, 50, 451)
    for seed in range(20):  # persistence plus noise: truly worse at every step
        noisy = persistence + np.random.default_rng(seed).normal(0, 0.2, persistence.shape)
        report = horizon_report(real, noisy, {"persistence": persistence}, dependence=overlap_lags(500, 50))
        assert report["skill"] < 0 and not words_for(report).startswith("beats")
    assert words_for(report).startswith("untested against persistence")
    real, persistence, _ = cosine_windows(10, 50, 3000, cycles=60)
    dependence = overlap_lags(10, 50)
    for seed in range(20):
        noisy = persistence + np.random.default_rng(seed).normal(0, 0.2, persistence.shape)
        report = horizon_report(real, noisy, {"persistence": persistence}, dependence=dependence)
        assert report["skill"] < 0 and not words_for(report).startswith("beats")
    negated = horizon_report(real, -real, {"persistence": persistence}, dependence=dependence)
    assert words_for(negated).startswith("LOSES to persistence")
    near = horizon_report(real, real + np.random.default_rng(0).normal(0, 1e-3, real.shape),
                          {"persistence": persistence}, dependence=dependence)
    assert words_for(near).startswith("beats persistence")


def test_the_verdict_is_against_the_strongest_baseline():
    """Cosine at H = 50: seasonal-naive is far better than persistence; a model between the two loses."""
    real, persistence, seasonal = cosine_windows(10, 50, 3000, cycles=60)
    baselines = {"persistence": persistence, "seasonal_naive": seasonal}
    between = real + 0.5 * (persistence - real)
    report = horizon_report(real, between, baselines, dependence=overlap_lags(10, 50))
    assert report["seasonal_naive_rmse"] < report["rmse"] < report["persistence_rmse"]
    assert report["strongest_baseline"] == "seasonal_naive"
    assert report["persistence_skill"] > 0 > report["seasonal_naive_skill"] == report["skill"]
    assert words_for(report, others=1).startswith("LOSES to seasonal-naive")
    best = horizon_report(real, real, baselines, dependence=overlap_lags(10, 50))
    assert words_for(best, others=1).startswith("beats every baseline (strongest: seasonal-naive")


def test_one_step_reports_test_every_baseline():
    rng = np.random.default_rng(0)
    real = np.sin(np.arange(400) / 5)
    persistence = np.r_[0.0, real[:-1]]
    drift = real + rng.normal(0, 0.05, 400)
    report = forecast_report(real, real + rng.normal(0, 0.01, 400), persistence, {"drift": drift})
    assert report["strongest_baseline"] == "drift"
    assert {"persistence_skill", "persistence_dm_pvalue", "drift_skill", "drift_dm_pvalue"} <= set(report)
    assert report["dm_pvalue"] == report["drift_dm_pvalue"] < 0.05
