"""Plots for the report and MLflow (matplotlib, headless), drawn from roles, never from column names.

Every figure is saved twice: PNG (MLflow's preview, anywhere) and SVG (crisp in the report, small)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flows.core.atomic import atomic_path  # noqa: E402
from flows.reporting.results import Row  # noqa: E402

BASELINE_STYLES = ({"linestyle": "--"}, {"linestyle": ":"}, {"linestyle": "-."})
FORMATS = ("png", "svg")
Place = Callable[[str], Path]  # file name -> the path to write it at
plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller files, selectable labels


def _save(fig, place: Place, stem: str) -> list[Path]:
    """<stem>.png and <stem>.svg, each where `place` puts a file of that name (e.g. a Staged's `path`)."""
    saved = []
    for fmt in FORMATS:
        path = Path(place(f"{stem}.{fmt}"))
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight")
        saved.append(path)
    plt.close(fig)
    return saved


def _x_axis(labels) -> tuple[np.ndarray, bool]:
    """ISO date strings become real dates (a date axis); anything else is plotted as it is."""
    values = np.asarray(labels)
    if values.dtype.kind in "US":
        try:
            return values.astype("datetime64[D]"), True
        except ValueError:
            return np.arange(len(values)), False
    return values, False


def predictions(scored, title: str, place: Place, stem: str = "predictions") -> list[Path]:
    """The reference recipe's picture (real, model, baselines) and, where there is a real series, the model's error
    under it: for cosine the curves overlap to the eye, errors of 1e-6..1e-3 only show on their own axis."""
    table, roles = scored.table, scored.plot
    x, dates = _x_axis(table[roles["x"]])
    real = roles.get("real")
    if real:
        fig, (ax, err) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, height_ratios=(3, 2))
    else:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        err = None
    if real:
        ax.plot(x, table[real], label=real, color="black", linewidth=1.5)
    for name, style in zip(roles.get("baselines", []), BASELINE_STYLES * 3):
        ax.plot(x, table[name], label=name, color="tab:gray", linewidth=0.8, **style)
    ax.plot(x, table[roles["model"]], label=roles["model"], color="tab:red", linewidth=1)
    ax.set(title=title, ylabel=roles.get("ylabel", "value"))
    ax.legend(loc="best", fontsize=8)
    bottom = ax
    if err is not None:
        error = np.asarray(table[roles["model"]], dtype=float) - np.asarray(table[real], dtype=float)
        rmse = float(np.sqrt(np.mean(error ** 2)))
        err.plot(x, error, color="tab:red", linewidth=0.8, label=f"{roles['model']} - {real} (RMSE {rmse:.3g})")
        err.axhline(0, color="black", linewidth=0.5)
        err.set(ylabel="error")
        err.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        err.legend(loc="best", fontsize=8)
        bottom = err
    if dates:
        locator = mdates.AutoDateLocator()
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    bottom.set(xlabel=roles["x"])
    return _save(fig, place, stem)


def loss_curves(histories: dict[str, list[dict]], place: Place, stem: str = "loss_curves") -> list[Path]:
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
        if histories:
            ax.legend(fontsize=8)
    return _save(fig, place, stem)


def comparison(rows: list[Row], place: Place, stem: str = "comparison") -> list[Path]:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r.value for r in rows], width=0.4, label="model")
    ax.bar([x + 0.2 for x in xs], [r.baseline_value for r in rows], width=0.4,
           label=rows[0].baseline if rows else "", color="tab:gray")
    ax.set_xticks(list(xs), [r.cell for r in rows])
    title = f"{rows[0].metric} on the {rows[0].split} split (lower is better)" if rows else "no evaluated cells"
    ax.set(title=title, yscale="log" if rows else "linear")
    if rows:
        ax.legend(fontsize=8)
    return _save(fig, place, stem)


def gradients_through_time(curves: dict, title: str, place: Place, stem: str = "gradients_through_time",
                           bands: dict | None = None) -> list[Path]:
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
    return _save(fig, place, stem)


def training_grad_norms(columns: dict, title: str, place: Place, stem: str = "grad_norms_training") -> list[Path]:
    """Gradient norm of every optimiser step, before and after clipping (log y)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(columns["step"], columns["pre_clip"], label="before clipping", color="tab:red", linewidth=0.8)
    ax.plot(columns["step"], columns["post_clip"], label="after clipping", color="tab:blue", linewidth=0.8,
            linestyle="--")
    ax.set(title=title, xlabel="optimiser step", ylabel="gradient norm", yscale="log")
    ax.legend(fontsize=8)
    return _save(fig, place, stem)
