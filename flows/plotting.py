"""PNG plots for the report and MLflow (matplotlib, headless), drawn from roles, never from column names."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from flows.atomic import atomic_path  # noqa: E402
from flows.results import Row  # noqa: E402

BASELINE_STYLES = ({"linestyle": "--"}, {"linestyle": ":"}, {"linestyle": "-."})


def _save_all(fig, targets: list[Path]) -> list[Path]:
    """One figure in each target's format (its suffix: png for the report and MLflow's preview, svg for print)."""
    for target in targets:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=Path(target).suffix.lstrip("."), dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [Path(t) for t in targets]


def _save(fig, target: Path) -> Path:
    return _save_all(fig, [target])[0]


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
    for cell, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r.get("train/loss") for r in rows], marker="o", label=cell)
        axes[1].plot(epochs, [r.get("val/loss") for r in rows], marker="o", label=cell)
    for ax, name in zip(axes, ("train loss", "validation loss")):
        ax.set(title=name, xlabel="epoch", yscale="log")
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


def png_and_svg(place, stem: str) -> list[Path]:
    """`place(name)` -> where to write it (e.g. a Staged folder's `path`)."""
    return [place(f"{stem}.png"), place(f"{stem}.svg")]


def gradients_through_time(curves: dict, title: str, targets: list[Path], bands: dict | None = None) -> list[Path]:
    """||dL/dh_t|| against t (log y), one line per network: the vanishing / exploding-gradient picture.
    curves: label -> (T,) mean norms; bands: label -> ((T,) least, (T,) largest) over the windows."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, values in curves.items():
        steps = range(1, len(values) + 1)
        (line,) = ax.plot(steps, values, label=label, linewidth=1.2)
        if bands and label in bands:
            ax.fill_between(steps, *bands[label], color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set(title=title, xlabel="step t of the window (the loss is read at the last step)",
           ylabel="||dL/dh_t||", yscale="log")
    ax.legend(fontsize=8)
    return _save_all(fig, targets)


def training_grad_norms(columns: dict, title: str, targets: list[Path]) -> list[Path]:
    """Gradient norm of every optimiser step, before and after clipping (log y)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(columns["step"], columns["pre_clip"], label="before clipping", color="tab:red", linewidth=0.8)
    ax.plot(columns["step"], columns["post_clip"], label="after clipping", color="tab:blue", linewidth=0.8,
            linestyle="--")
    ax.set(title=title, xlabel="optimiser step", ylabel="gradient norm", yscale="log")
    ax.legend(fontsize=8)
    return _save_all(fig, targets)
