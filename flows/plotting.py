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


def predictions(table: dict, title: str, target: Path) -> Path:
    """The seed's picture: real vs predicted, with persistence ("next = last") for reference."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    x_name, *_ = table
    x = list(range(len(table[x_name])))
    styles = {"real": dict(color="black", linewidth=1.5), "predicted": dict(color="tab:red", linewidth=1),
              "persistence": dict(color="tab:gray", linewidth=0.8, linestyle="--"),
              "drift": dict(color="tab:green", linewidth=0.8, linestyle=":"),
              "unigram_nats": dict(color="tab:gray", linewidth=0.8, linestyle="--"),
              "model_nats": dict(color="tab:red", linewidth=1)}
    for name, style in styles.items():
        if name in table:
            ax.plot(x, table[name], label=name, **style)
    if x_name == "date":  # a few date labels instead of indices
        step = max(1, len(x) // 6)
        ax.set_xticks(x[::step], [str(d) for d in table[x_name][::step]], fontsize=8)
    ax.set(title=title, xlabel=x_name, ylabel="value")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, target)


def loss_curves(histories: dict[str, list[dict]], target: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for cell, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r.get("train/loss") for r in rows], marker="o", label=cell)
        axes[1].plot(epochs, [r.get("val/mse", r.get("val/loss")) for r in rows], marker="o", label=cell)
    for ax, name in zip(axes, ("train loss", "validation loss (MSE or nats)")):
        ax.set(title=name, xlabel="epoch", yscale="log")
        ax.legend(fontsize=8)
    return _save(fig, target)


def comparison(metrics: dict[str, dict], target: Path) -> Path:
    from flows.stages.report import headline

    cells = list(metrics)
    rows = [headline(metrics[c]) for c in cells]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(cells))
    ax.bar([x - 0.2 for x in xs], [r[1] for r in rows], width=0.4, label="model")
    ax.bar([x + 0.2 for x in xs], [r[3] for r in rows], width=0.4, label=rows[0][2] if rows else "", color="tab:gray")
    ax.set_xticks(list(xs), cells)
    ax.set(title=f"{rows[0][0] if rows else ''} on the evaluation split (lower is better)", yscale="log")
    ax.legend(fontsize=8)
    return _save(fig, target)
