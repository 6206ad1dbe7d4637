"""PNG plots for the report and MLflow (matplotlib, headless), drawn from roles, never from column names."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from flows.atomic import atomic_path  # noqa: E402
from flows.results import Row  # noqa: E402

BASELINE_STYLES = ({"linestyle": "--"}, {"linestyle": ":"}, {"linestyle": "-."})


def _save(fig, target: Path) -> Path:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(target)


def predictions(scored, title: str, target: Path) -> Path:
    """The seed's picture: real vs predicted, with the baselines for reference (a Scored's table and roles)."""
    table, roles = scored.table, scored.plot
    fig, ax = plt.subplots(figsize=(9, 3.5))
    labels = table[roles["x"]]
    x = list(range(len(labels)))
    if roles.get("real"):
        ax.plot(x, table[roles["real"]], label=roles["real"], color="black", linewidth=1.5)
    for name, style in zip(roles.get("baselines", []), BASELINE_STYLES * 3):
        ax.plot(x, table[name], label=name, color="tab:gray", linewidth=0.8, **style)
    ax.plot(x, table[roles["model"]], label=roles["model"], color="tab:red", linewidth=1)
    if isinstance(labels[0], str):  # dates: a few labels instead of indices
        step = max(1, len(x) // 6)
        ax.set_xticks(x[::step], [str(d) for d in labels[::step]], fontsize=8)
    ax.set(title=title, xlabel=roles["x"], ylabel=roles.get("ylabel", "value"))
    ax.legend(loc="best", fontsize=8)
    return _save(fig, target)


def loss_curves(histories: dict[str, list[dict]], target: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    # Text logs characters seen: an x axis that does not depend on the machine or the corpus size.
    seen = all("train/chars_seen" in r for rows in histories.values() for r in rows)
    x_key, x_label = ("train/chars_seen", "characters seen") if seen else ("epoch", "epoch")
    for cell, rows in histories.items():
        xs = [r[x_key] for r in rows]
        axes[0].plot(xs, [r.get("train/loss") for r in rows], marker="o", label=cell)
        axes[1].plot(xs, [r.get("val/loss") for r in rows], marker="o", label=cell)
    for ax, name in zip(axes, ("train loss", "validation loss")):
        ax.set(title=name, xlabel=x_label, yscale="log")
        ax.legend(fontsize=8)
    return _save(fig, target)


def comparison(rows: list[Row], target: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r.value for r in rows], width=0.4, label="model")
    ax.bar([x + 0.2 for x in xs], [r.baseline_value for r in rows], width=0.4,
           label=rows[0].baseline if rows else "", color="tab:gray")
    ax.set_xticks(list(xs), [r.cell for r in rows])
    title = f"{rows[0].metric} on the {rows[0].split} split (lower is better)" if rows else ""
    ax.set(title=title, yscale="log")
    ax.legend(fontsize=8)
    return _save(fig, target)
