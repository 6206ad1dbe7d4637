"""Conformal intervals (models/conformal.py): split conformal reaches its nominal coverage per horizon step
on a series of known distribution whatever the model claims, and ACI keeps it through a variance change."""
import math

import numpy as np
import pytest

from models.conformal import aci_alpha, adaptive, calibrate, check_levels, interval_report, quantile
from models.errors import InvalidParameter

LEVELS = (0.8, 0.95)
H = 4
PHI = 0.8


def ar1_windows(rng, n: int):
    """n independent AR(1) paths x_t = 0.8 x_{t-1} + e_t, e ~ N(0, 1), each from its stationary law: the last
    observed value and the H values after it. The h-step forecast 0.8^h x_0 is the true mean; its error sd,
    sqrt(sum_{j<h} 0.64^j), grows from 1 to 1.6 over the steps."""
    x = rng.normal(0, 1 / math.sqrt(1 - PHI**2), n)
    path, last = np.empty((n, H)), x
    for h in range(H):
        last = PHI * last + rng.normal(0, 1, n)
        path[:, h] = last
    return path, x[:, None] * PHI ** np.arange(1, H + 1)


def tolerance(level: float, n_cal: int, n_test: int) -> float:
    """4 standard deviations of the realised coverage: a split-conformal coverage given its calibration set
    is Beta(k, n + 1 - k) with k = ceil((n + 1) level) (variance ~ level (1 - level) / (n + 2)), and the test
    windows, drawn independently here, add a binomial level (1 - level) / n_test. 16 checks at 4 sd each:
    a false alarm about once in a thousand seeds."""
    return 4 * math.sqrt(level * (1 - level) * (1 / (n_cal + 2) + 1 / n_test))


@pytest.mark.parametrize("head", ["point", "gaussian"])
def test_split_conformal_covers_at_nominal_per_step_where_the_gaussian_head_does_not(head):
    rng = np.random.default_rng(22)
    n = 5000  # windows to calibrate on and as many to score: +-1.7 points at 95%, +-3.2 at 80%
    cal_real, cal_mean = ar1_windows(rng, n)
    real, mean = ar1_windows(rng, n)
    sd = None if head == "point" else np.full_like(mean, 1.0)  # the head claims sd 1 at every step: too narrow
    report = interval_report(real, mean, sd, calibrate(cal_real, cal_mean, sd, LEVELS),
                             gaussian_sd=sd)
    for level in LEVELS:
        tag = f"{level * 100:g}"
        for h in range(1, H + 1):
            assert report[f"conformal_coverage{tag}_h{h:02d}"] == pytest.approx(level, abs=tolerance(level, n, n))
        # the true error sd at h is known, so the narrowest calibrated width is too: 2 z sd_h
        true_sd = math.sqrt(sum(PHI ** (2 * j) for j in range(H)))
        z = {0.8: 1.2815516, 0.95: 1.9599640}[level]
        assert report[f"conformal_width{tag}_h{H:02d}"] == pytest.approx(2 * z * true_sd, rel=0.05)
    if head == "gaussian":  # what the calibration repairs: the head's own 95% interval at h = 4 covers ~78%
        assert report["gaussian_coverage95"] < 0.9 and report["gaussian_width95_h04"] == pytest.approx(2 * 1.959964)


def test_the_quantile_is_the_finite_sample_one_and_unbounded_when_too_few_scores():
    scores = np.arange(1, 20, dtype=float)  # 19 scores: (19 + 1) * 0.95 = 19 -> the largest
    assert quantile(scores, 0.95) == 19.0 and quantile(scores[:18], 0.95) == math.inf
    assert quantile(scores, 0.8) == 16.0  # ceil(20 * 0.8) = 16


def test_aci_keeps_coverage_through_a_variance_change_where_split_conformal_does_not():
    rng = np.random.default_rng(3)
    calm, stormy = 300, 1500
    calibration = np.abs(rng.normal(0, 1, 500))
    stream = np.abs(np.concatenate([rng.normal(0, 1, calm), rng.normal(0, 2, stormy)]))  # volatility doubles
    gamma = 0.05
    for level in LEVELS:
        fixed = quantile(calibration, level)
        split_storm = np.mean(stream[calm:] <= fixed)
        # doubled sd: P(|Z| <= z / 2) = 0.51 at 80%, 0.67 at 95%; 1500 draws give +-0.013
        assert split_storm < level - 0.15
        found = adaptive(calibration, stream, level, gamma=gamma, window=500)
        # Gibbs & Candes: over any T consecutive steps |miss rate - alpha| <= (1 + 2 gamma) / (gamma T),
        # a deterministic bound (1.5 points here), whatever the scores do
        storm_miss = 1 - np.mean(found["covered"][calm:])
        assert abs(storm_miss - (1 - level)) <= (1 + 2 * gamma) / (gamma * stormy)
        assert np.median(found["bound"][-500:]) > 1.5 * fixed  # it got there by widening, not by luck
        misses = 1 - found["covered"].astype(float)
        assert found["next_alpha"] == pytest.approx(aci_alpha(misses, level, gamma))


def test_levels_outside_zero_one_are_refused_in_one_sentence():
    assert check_levels([0.8, 0.95], "cosine.evaluate.intervals") == (0.8, 0.95)
    for bad in ([0.8, 95], [], "0.9", [0.9, 0.9]):
        with pytest.raises(InvalidParameter, match=r"cosine.evaluate.intervals must be a list of distinct"):
            check_levels(bad, "cosine.evaluate.intervals")


def test_many_series_are_calibrated_each_on_its_own_errors_where_one_pooled_quantile_is_not():
    """Two series of iid Gaussian errors (exchangeable within each series, so split conformal's guarantee
    holds per series), one a hundred times noisier: each series' own interval covers at nominal, a
    quantile of both series' errors pooled over-covers the calm one and under-covers the noisy one."""
    from flows.datasets.base import Scored
    from flows.scoring.intervals import add_intervals, point_forecast

    rng, n = np.random.default_rng(11), 4000
    series = {"CALM": 1.0, "WILD": 100.0}

    def split(offset):
        found = {}
        for name, sd in series.items():
            found[name] = point_forecast(offset + rng.normal(0, sd, n), np.full(n, offset))  # (real, forecast)
        return found

    val, test = split(50.0), split(50.0)
    scored = {name: Scored({"series": {t: {} for t in series}}, {}, {}, forecast={"series": forecast})
              for name, forecast in (("val", val), ("test", test))}
    calibration = add_intervals(scored, (0.8, 0.95))
    for level in ("80", "95"):
        nominal = int(level) / 100
        for name in series:
            got = scored["test"].metrics["series"][name][f"conformal_coverage{level}"]
            assert abs(got - nominal) < 0.02, (name, level, got)  # 4000 windows: sd of coverage <= 0.0063
        assert abs(scored["test"].metrics[f"conformal_coverage{level}"] - nominal) < 0.02
        quantiles = {t: calibration["series"][t]["quantiles"][level][0] for t in series}
        assert quantiles["WILD"] > 50 * quantiles["CALM"]
    pooled = calibrate(*(np.concatenate([val[t][k] for t in series]) for k in ("real", "mean")), None, (0.95,))[0.95]
    calm, wild = (np.mean(np.abs(test[t]["real"] - test[t]["mean"]) <= pooled[0]) for t in series)
    assert calm > 0.99 and wild < 0.93  # one quantile for both: neither series gets 95%
