"""PNG plots for the report and MLflow (matplotlib, headless)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from flows.atomic import atomic_path  # noqa: E402


def _save(fig, target: Path) -> Path:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return target


def predictions(real, predicted, persistence, title: str, target: Path) -> Path:
    """The seed's picture: real vs predicted over the validation windows, persistence for reference."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(real, label="real", color="black", linewidth=1.5)
    ax.plot(predicted, label="predicted", color="tab:red", linewidth=1)
    ax.plot(persistence, label="persistence (next = last)", color="tab:gray", linewidth=0.8, linestyle="--")
    ax.set(title=title, xlabel="validation window", ylabel="value")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, target)


def loss_curves(histories: dict[str, list[dict]], target: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for cell, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r.get("train/loss") for r in rows], marker="o", label=cell)
        axes[1].plot(epochs, [r.get("val/mse") for r in rows], marker="o", label=cell)
    for ax, name in zip(axes, ("train MSE", "validation MSE")):
        ax.set(title=name, xlabel="epoch", yscale="log")
        ax.legend(fontsize=8)
    return _save(fig, target)


def comparison(metrics: dict[str, dict], target: Path) -> Path:
    cells = list(metrics)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(cells))
    ax.bar([x - 0.2 for x in xs], [metrics[c]["rmse"] for c in cells], width=0.4, label="model")
    ax.bar([x + 0.2 for x in xs], [metrics[c]["persistence_rmse"] for c in cells], width=0.4,
           label="persistence", color="tab:gray")
    ax.set_xticks(list(xs), cells)
    ax.set(title="validation RMSE (lower is better)", yscale="log")
    ax.legend(fontsize=8)
    return _save(fig, target)
