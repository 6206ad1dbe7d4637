"""Figures a plug-in's Scored asks for by name (Scored.figures: file -> (function here, data)); the
evaluate stage draws them, so training never imports matplotlib. Today: the multi-step cells' error by
horizon step, forecast paths with intervals, attention weights (flows/scoring/horizons.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flows.reporting.plotting import BASELINE_STYLES, Place, _save, plt


def rmse_by_horizon(steps: dict, title: str, place: Place, stem: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps["h"], steps["rmse"], color="tab:red", marker=".", label="model")
    for name, style in zip(("persistence_rmse", "seasonal_naive_rmse"), BASELINE_STYLES):
        ax.plot(steps["h"], steps[name], color="tab:gray", label=name.removesuffix("_rmse"), **style)
    ax.set(title=f"{title}: RMSE by horizon step", xlabel="h (steps ahead)", ylabel="RMSE", yscale="log")
    ax.legend(fontsize=8)
    return _save(fig, place, stem)


def forecast_paths(history: np.ndarray, real: np.ndarray, mean: np.ndarray, bands: dict | None,
                   labels: list[str], title: str, ylabel: str, place: Place, stem: str) -> list[Path]:
    """A few windows: the input's tail, the truth after it, the forecast and its 80% / 95% intervals."""
    fig, axes = plt.subplots(1, len(real), figsize=(4 * len(real), 3.2), squeeze=False)
    horizon = real.shape[1]
    tail = min(history.shape[1], 3 * horizon)
    before, after = np.arange(-tail + 1, 1), np.arange(1, horizon + 1)
    for i, ax in enumerate(axes[0]):
        ax.plot(before, history[i, -tail:], color="black", linewidth=1, label="input")
        ax.plot(after, real[i], color="black", linestyle="--", linewidth=1, label="real")
        for level, alpha in zip(sorted(bands or {}, reverse=True), (0.15, 0.3)):
            low, high = bands[level]
            ax.fill_between(after, low[i], high[i], color="tab:red", alpha=alpha, label=f"{round(level * 100)}%")
        ax.plot(after, mean[i], color="tab:red", linewidth=1, label="forecast")
        ax.set(title=f"window {labels[i]}", xlabel="step", ylabel=ylabel if i == 0 else None)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{title}: forecasts" + (" with 80% / 95% intervals" if bands else ""), fontsize=10)
    return _save(fig, place, stem)


def attention_maps(weights: np.ndarray, labels: list[str], title: str, place: Place, stem: str) -> list[Path]:
    """(windows, H, time) attention weights: which input steps each forecast step reads."""
    fig, axes = plt.subplots(1, len(weights), figsize=(4.5 * len(weights), 3.2), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes[0]):
        image = ax.imshow(weights[i], aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set(title=f"window {labels[i]}", xlabel="input step", ylabel="forecast step h" if i == 0 else None)
        fig.colorbar(image, ax=ax, fraction=0.05)
    fig.suptitle(f"{title}: attention weights", fontsize=10)
    return _save(fig, place, stem)
