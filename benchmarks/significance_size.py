"""How often the verdicts' loss test calls 'beats' or 'LOSES to' when the two forecasts are equally good:
simulated loss differences with strong dependence (AR(1) at rho 0.95; forecasts on overlapping windows),
1000 seeded cases per design, side by side with the same test run regardless of the split's length
(min_stretches 0). A 5% level should call about 5%; models/significance.py declines the short ones.

    python benchmarks/significance_size.py [--cases 1000] [--out benchmarks/results/significance_size.json]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.emit import emit, load  # noqa: E402
from models.significance import MIN_STRETCHES, SIGNIFICANCE, diebold_mariano, overlap_lags  # noqa: E402


def ar1(rng, n: int, rho: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -rho], rng.standard_normal(n + 200))[200:]  # past its start: stationary


def overlapping_losses(rng, n: int, window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Two forecasters of equal expected loss on overlapping windows: each forecasts every step of the
    horizon by a moving average of its own noise over the window, so neighbouring windows share inputs
    (window lags) and targets (horizon lags), as evaluation windows at stride 1 do."""
    mine, theirs = rng.standard_normal(n + window), rng.standard_normal(n + window)
    target = rng.standard_normal(n + window + horizon)
    kernel = np.ones(window) / np.sqrt(window)
    f_a, f_b = (np.convolve(u, kernel, "valid")[:n] for u in (mine, theirs))
    targets = np.stack([target[window + h: window + h + n] for h in range(horizon)], 1)
    return ((f_a[:, None] - targets) ** 2).mean(1), ((f_b[:, None] - targets) ** 2).mean(1)


def rates(pairs, dependence: int) -> dict:
    """Share tested, and false calls (p < level) by the guarded test and by the same test always run."""
    guarded = [diebold_mariano(a, b, dependence) for a, b in pairs]
    always = [diebold_mariano(a, b, dependence, min_stretches=0) for a, b in pairs]
    return {"tested": float(np.mean([t.p_value is not None for t in guarded])),
            "false_calls": float(np.mean([t.p_value is not None and t.p_value < SIGNIFICANCE for t in guarded])),
            "false_calls_if_always_tested": float(np.mean([t.p_value < SIGNIFICANCE for t in always])),
            "median_stretches": float(np.median([t.stretches for t in guarded]))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    before = load()
    designs = []
    for n in (100, 150, 300, 1000):
        pairs = [(ar1(np.random.default_rng(s), n, 0.95), np.zeros(n)) for s in range(args.cases)]
        designs.append({"design": "AR(1) rho 0.95", "n": n, "declared_lags": 1, **rates(pairs, 1)})
    for window, horizon in ((50, 1), (20, 50)):
        lags = overlap_lags(window, horizon)
        for ratio in (1, 3, 8, 12):
            n = ratio * lags
            pairs = [overlapping_losses(np.random.default_rng(10_000 + s), n, window, horizon)
                     for s in range(args.cases)]
            designs.append({"design": f"overlapping windows {window}, H {horizon}", "n": n,
                            "declared_lags": lags, **rates(pairs, lags)})
    emit({"benchmark": "significance_size", "cases": args.cases, "level": SIGNIFICANCE,
          "min_stretches": MIN_STRETCHES, "designs": designs}, before, args.out)


if __name__ == "__main__":
    main()
