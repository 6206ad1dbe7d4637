"""Gaussian forecasts: NLL, CRPS and interval coverage against their closed forms; per-horizon reports."""
import math

import numpy as np
import pytest
from scipy import integrate, stats

from models.metrics import coverage, gaussian_crps, gaussian_nll, horizon_key, horizon_report, interval


def test_nll_is_minus_the_normal_log_density():
    real, mean, variance = np.array([0.3, -1.0, 2.0]), np.array([0.0, 0.5, 2.5]), np.array([0.25, 1.0, 4.0])
    assert gaussian_nll(real, mean, variance) == pytest.approx(-stats.norm.logpdf(real, mean, np.sqrt(variance)))


@pytest.mark.parametrize("real,mean,sd", [(0.0, 0.0, 1.0), (1.3, -0.2, 0.7), (-4.0, 1.0, 2.5)])
def test_crps_closed_form_equals_the_integral_of_the_squared_cdf_difference(real, mean, sd):
    """CRPS(F, y) = integral of (F(x) - 1{x >= y})^2 dx."""
    cdf = stats.norm(mean, sd).cdf
    below = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, real)[0]
    above = integrate.quad(lambda x: (1 - cdf(x)) ** 2, real, np.inf)[0]
    assert gaussian_crps(real, mean, sd) == pytest.approx(below + above, rel=1e-6)


def test_crps_at_the_mean_is_sd_times_2phi0_minus_one_over_root_pi():
    assert gaussian_crps(0.0, 0.0, 3.0) == pytest.approx(3.0 * (2 * stats.norm.pdf(0) - 1 / math.sqrt(math.pi)))


def test_intervals_have_their_nominal_coverage_on_draws_from_the_forecast():
    rng = np.random.default_rng(0)
    real = rng.normal(2.0, 0.5, 200_000)
    for level, z in ((0.8, 1.2815516), (0.95, 1.9599640)):
        low, high = interval(2.0, 0.5, level)
        assert (low, high) == pytest.approx((2.0 - z * 0.5, 2.0 + z * 0.5))
        assert coverage(real, low, high) == pytest.approx(level, abs=0.005)
    assert coverage(real, *interval(2.0, 0.25, 0.95)) < 0.8  # too narrow an interval covers too little


def test_horizon_report_names_every_step_and_averages_the_per_step_rmse():
    real = np.zeros((4, 12))
    predicted = np.tile(np.arange(1, 13, dtype=float), (4, 1))  # error h at step h
    report = horizon_report(real, predicted, {"persistence": np.full((4, 12), 20.0)}, variance=np.ones((4, 12)))
    assert [k for k in report if k.startswith("rmse_h")] == [f"rmse_h{h:02d}" for h in range(1, 13)]
    assert report["rmse_h03"] == 3.0 and report["rmse"] == pytest.approx(6.5)
    assert report["persistence_rmse"] == 20.0 and report["skill"] == pytest.approx(1 - 6.5 / 20)
    assert report["coverage95_h01"] == 1.0 and report["coverage95_h02"] == 0.0 and report["coverage95"] == 1 / 12
    assert report["crps_h01"] == pytest.approx(gaussian_crps(0.0, 1.0, 1.0))
    assert horizon_key(7, 120) == "h007"
