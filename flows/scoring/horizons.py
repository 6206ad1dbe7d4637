"""Multi-step cells in the generic stages: windows with H targets, scores per horizon step against
persistence and seasonal-naive, and their figures (README "Model types")."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from flows.datasets.base import Scored, horizon_plot_roles
from models.errors import InvalidParameter
from models.metrics import INTERVALS, horizon_key, horizon_report, interval
from models.model_types import model_type
from models.significance import overlap_lags


@torch.no_grad()
def forecast(net, windows, batch_size: int = 500, weights: bool = False):
    """(n, H, P) forecasts for every window, and with `weights` the attention weights (n, H, time) or None."""
    net.eval()
    loader = torch.utils.data.DataLoader(windows, batch_size=batch_size)
    outs, maps = [], []
    for x, _ in loader:
        if weights and model_type(net.cfg.task).weights:
            out, w = net(x, return_weights=True)
            maps.append(w)
        else:
            out = net(x)
        outs.append(out)
    return torch.cat(outs).numpy(), (torch.cat(maps).numpy() if maps else None)


def seasonal_naive(windows, period: int) -> np.ndarray:
    """(n, H): the value one period before each target, the last observed season repeated for h > period."""
    steps = np.arange(windows.horizon)
    ends = np.asarray(windows.starts)[:, None] + windows.window
    rows = ends + steps % period - period
    if rows.min() < 0:
        raise InvalidParameter(f"the seasonal-naive baseline needs {period} values before the first forecast; "
                               f"the series starts too late for that.")
    return windows.series[:, windows.target_column].numpy()[rows]


def score(net, windows, batch_size: int, period: int, x_labels, title: str,
          to_values: Callable | None = None, prices: bool = False, ylabel: str = "value",
          dates: bool = False) -> Scored:
    """Per-horizon metrics (models.metrics.horizon_report; evaluate writes the per-step ones to a CSV,
    flows/core/perstep.py), the h=1 table for DVC's plot, and figures (drawn by
    flows/reporting/named_figures.py): RMSE by horizon vs the baselines, forecast paths with 80%/95%
    intervals, and the attention weights of a few windows. `to_values(matrix, sd=False)` maps model units
    to reported ones (an affine map: a Gaussian stays Gaussian); `dates`: x_labels are ISO dates."""
    to_values = to_values or (lambda m, sd=False: m)
    out, weights = forecast(net, windows, batch_size, weights=True)
    mean = to_values(out[..., 0])
    sd = to_values(np.sqrt(out[..., 1]), sd=True) if out.shape[-1] == 2 else None
    real = to_values(windows.target_matrix().numpy())
    last = to_values(windows.last_inputs().numpy())
    baselines = {"persistence": np.repeat(last[:, None], windows.horizon, 1),
                 "seasonal_naive": to_values(seasonal_naive(windows, period))}
    metrics = horizon_report(real, mean, baselines, None if sd is None else sd**2, prices=prices,
                             dependence=overlap_lags(windows.window, windows.horizon, windows.starts.step))
    metrics["seasonal_period"] = period
    table = {"window": np.asarray(x_labels), "real": real[:, 0], "persistence": baselines["persistence"][:, 0],
             "seasonal_naive": baselines["seasonal_naive"][:, 0], "predicted": mean[:, 0]}
    steps = {"h": np.arange(1, windows.horizon + 1)}
    for name in ("rmse", "persistence_rmse", "seasonal_naive_rmse", "crps", "coverage80", "coverage95"):
        if f"{name}_{horizon_key(1, windows.horizon)}" in metrics:
            steps[name] = [metrics[f"{name}_{horizon_key(h, windows.horizon)}"] for h in steps["h"]]
    shown = pick_windows(len(real))
    history = to_values(windows.series[np.asarray(windows.starts)[shown][:, None] + np.arange(windows.window),
                                       windows.target_column].numpy())
    labels = [str(x_labels[i]) for i in shown]
    figures = {"rmse_by_horizon": ("rmse_by_horizon", {"steps": steps, "title": title}),
               "forecasts": ("forecast_paths", {
                   "history": history, "real": real[shown], "mean": mean[shown], "labels": labels, "title": title,
                   "bands": None if sd is None else bands(mean[shown], sd[shown]), "ylabel": ylabel})}
    if weights is not None:
        figures["attention"] = ("attention_maps", {"weights": weights[shown], "labels": labels, "title": title})
    return Scored(metrics, table, horizon_plot_roles(ylabel, dates), figures=figures,
                  forecast={"real": real, "mean": mean, "sd": sd})


def pick_windows(count: int, most: int = 3) -> list[int]:
    """A few windows spread over the split (first, middle, last)."""
    return sorted(set(np.linspace(0, count - 1, min(most, count)).round().astype(int).tolist()))


def bands(mean: np.ndarray, sd: np.ndarray) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    return {level: interval(mean, sd, level) for level in INTERVALS}

