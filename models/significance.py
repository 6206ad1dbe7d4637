"""Is a forecast's lower loss evidence, or noise? The Diebold-Mariano test for dependent losses, and the
verdict words it earns against a dataset's baselines (README "How verdicts are earned")."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtr  # not scipy.stats: its import alone costs each stage seconds

SIGNIFICANCE = 0.05  # a verdict against a baseline needs p below this
# Fewer stretches than this, each as long as the losses' dependence, and the test does not hold its size
# (benchmarks/results/significance_size.json: at one stretch up to 1 false call in 7 at a 5% level).
MIN_STRETCHES = 8
REFERENCE_DRAWS = 4000  # Monte Carlo draws of the fixed-b null distribution: p-values to about +-0.007
REFERENCE_LENGTH = 1000  # longer samples use the reference of this length (the fixed-b limit is reached)


def overlap_lags(window: int, horizon: int = 1, stride: int = 1) -> int:
    """Lags over which the losses of overlapping windows share inputs or targets: window + horizon - 1
    (in windows, stride apart). Independent forecasts (disjoint stretches) have 1."""
    return max(1, math.ceil((window + horizon - 1) / max(1, stride)))


@dataclass(frozen=True)
class LossTest:
    """A Diebold-Mariano test of equal expected loss. p_value is None where the split holds fewer than
    MIN_STRETCHES stretches as long as the losses' dependence: no test is valid there (simulated)."""

    statistic: float
    p_value: float | None
    dependence: int  # lags over which the losses may be correlated: by construction or estimated
    stretches: float  # n / dependence: independent pieces of evidence, roughly


def diebold_mariano(loss_model: np.ndarray, loss_baseline: np.ndarray, dependence: int = 1,
                    min_stretches: int = MIN_STRETCHES) -> LossTest:
    """Equal expected loss of two forecasts whose loss differences d_t are autocorrelated.

    Long-run variance: Bartlett kernel over all n lags (b = 1), after AR(1) prewhitening; it cannot be
    negative. p-values from the fixed-b distribution (Kiefer & Vogelsang 2005) of that statistic,
    simulated on Gaussian noise of the same length. `dependence` is what the caller knows: overlap_lags
    for overlapping windows; the integrated autocorrelation time that d's lag-1 autocorrelation implies,
    (1 + rho) / (1 - rho), can only raise it. A negative statistic: the model's loss is lower.
    `min_stretches` is there for benchmarks/significance_size.py, which measures what it protects from.
    """
    d = np.asarray(loss_model, dtype=np.float64) - np.asarray(loss_baseline, dtype=np.float64)
    n = len(d)
    if n < 3 or not d.any():
        return LossTest(0.0, 1.0 if not d.any() else None, dependence, n / max(1, dependence))
    centred = d - d.mean()
    rho = lag_one(centred)
    dependence = max(dependence, math.ceil((1 + max(rho, 0.0)) / (1 - max(rho, 0.0))))
    stretches = n / dependence
    variance = float(prewhitened_variance(centred[None], rho=np.array([rho]))[0])
    if not variance > 0:  # every d_t equal and not zero: a sure difference, but only one number of evidence
        return LossTest(math.copysign(math.inf, d.mean()), None, dependence, stretches)
    statistic = d.mean() / math.sqrt(variance / n)
    if stretches < min_stretches:
        return LossTest(float(statistic), None, dependence, stretches)
    scale = fixed_b_scale(min(n, REFERENCE_LENGTH))
    return LossTest(float(statistic), float(np.mean(2 * ndtr(-abs(statistic) * scale))), dependence, stretches)


def lag_one(centred: np.ndarray) -> np.ndarray | float:
    """First-order autocorrelation along the last axis, clipped to +-0.97 (Andrews & Monahan 1992)."""
    num = np.sum(centred[..., 1:] * centred[..., :-1], -1)
    den = np.sum(centred[..., :-1] ** 2, -1)
    return np.clip(num / np.where(den > 0, den, 1.0), -0.97, 0.97)


def prewhitened_variance(centred: np.ndarray, rho: np.ndarray | None = None) -> np.ndarray:
    """Long-run variance of each row: AR(1) residuals, their Bartlett estimate over all lags, recoloured."""
    rho = lag_one(centred) if rho is None else rho
    resid = centred[..., 1:] - rho[..., None] * centred[..., :-1]
    resid = resid - resid.mean(-1, keepdims=True)
    n = resid.shape[-1]
    size = 1 << (2 * n - 1).bit_length()  # zero-padded: the FFT's products are the linear autocovariances
    spectrum = np.fft.rfft(resid, size, axis=-1)
    gamma = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=-1)[..., :n] / n
    weights = 1 - np.arange(1, n) / n
    return (gamma[..., 0] + 2 * gamma[..., 1:] @ weights) / (1 - rho) ** 2


@lru_cache(maxsize=32)
def fixed_b_scale(n: int) -> np.ndarray:
    """sqrt of the variance estimate on Gaussian noise of length n (true value 1): under equal loss the
    statistic is Z / that, Z independent of it (the mean of Gaussian noise is independent of its
    deviations). Seeded, so every p-value is reproducible."""
    rng = np.random.default_rng(20261201)
    draws = []
    for _ in range(REFERENCE_DRAWS // 500):
        noise = rng.standard_normal((500, n))
        draws.append(prewhitened_variance(noise - noise.mean(1, keepdims=True)))
    return np.sqrt(np.concatenate(draws))


def against_baselines(model_loss: np.ndarray, baseline_losses: dict[str, np.ndarray], model_score: float,
                      baseline_scores: dict[str, float], dependence: int = 1) -> dict:
    """Skill (1 - model_score / baseline_score) and the loss test against each baseline (<name>_skill,
    <name>_dm_stat, <name>_dm_pvalue), and the verdict's figures against the STRONGEST one, the baseline
    with the lowest score: strongest_baseline, skill, dm_stat, dm_pvalue, dm_dependence, dm_stretches.
    Scores and losses are lower-is-better; a p-value of None means the split is too short for a test."""
    found: dict = {}
    tests = {}
    for name, loss in baseline_losses.items():
        base = baseline_scores[name]
        found[f"{name}_skill"] = 1.0 - model_score / base if base > 0 else float("nan")
        tests[name] = diebold_mariano(model_loss, loss, dependence)
        found[f"{name}_dm_stat"], found[f"{name}_dm_pvalue"] = tests[name].statistic, tests[name].p_value
    strongest = min(baseline_losses, key=lambda name: baseline_scores[name])
    test = tests[strongest]
    found.update(strongest_baseline=strongest, skill=found[f"{strongest}_skill"], dm_stat=test.statistic,
                 dm_pvalue=test.p_value, dm_dependence=test.dependence, dm_stretches=test.stretches)
    return found


def verdict(skill: float, p_value: float | None, baseline: str, others: int = 0,
            stretches: float | None = None) -> str:
    """Earned words only, against the strongest baseline (`others`: how many weaker ones there are).

    'beats' / 'LOSES to' need p below SIGNIFICANCE; otherwise 'no better than'; with no valid test
    (p None) 'untested against', with the evidence the split holds."""
    shown = baseline.replace("_", "-")
    if p_value is None:
        held = "too few" if stretches is None else f"{stretches:.1f}"
        return (f"untested against {shown} (skill {skill:+.3f}; {held} independent stretches, "
                f"a test needs {MIN_STRETCHES})")
    if p_value < SIGNIFICANCE and skill > 0:
        return f"beats every baseline (strongest: {shown}, p={p_value:.2g})" if others else \
            f"beats {shown} (p={p_value:.2g})"
    if p_value < SIGNIFICANCE and skill < 0:
        return f"LOSES to {shown} (p={p_value:.2g}; the baseline is more accurate)"
    return f"no better than {shown} (p={p_value:.2g}, not significant)"
