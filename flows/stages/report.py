"""report: PNG plots and one HTML page per dataset, from the metrics and histories on disk."""
from __future__ import annotations

import csv
import html
import shutil
from pathlib import Path

from flows import paths, plotting
from flows.atomic import read_json, write_text

COLUMNS = [("cell", "cell"), ("rmse", "RMSE"), ("persistence_rmse", "persistence RMSE"),
           ("drift_rmse", "drift RMSE"), ("mae", "MAE"), ("mape", "MAPE %"),
           ("directional_accuracy", "direction hit rate"), ("skill_vs_persistence", "skill vs persistence"),
           ("backtest_skill", "backtest skill"), ("loss_nats", "val loss (nats)"), ("bpc", "bits/char"),
           ("perplexity", "perplexity"), ("unigram_nats", "unigram nats"), ("skill_vs_unigram", "skill vs unigram"),
           ("train_seconds", "train s")]


def read_history(root: Path, dataset: str, cell: str) -> list[dict]:
    with open(paths.model_dir(root, dataset, cell) / "history.csv", newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def headline(m: dict) -> tuple[str, float, str, float, float]:
    """(metric, value, baseline name, baseline value, skill) for any dataset: lower values are better."""
    if "loss_nats" in m:
        return "loss_nats", m["loss_nats"], "unigram", m["unigram_nats"], m["skill_vs_unigram"]
    return "rmse", m["rmse"], "persistence", m["persistence_rmse"], m["skill_vs_persistence"]


def collect(root: Path, dataset: str, cells: list[str]) -> dict[str, dict]:
    """Metrics of the cells that have been evaluated, in the order given, with their backtest's mean skill."""
    found = {}
    for cell in cells:
        path = paths.metrics_file(root, dataset, cell)
        if path.exists():
            found[cell] = read_json(path)
            backtest = paths.backtest_file(root, dataset, cell)
            if backtest.exists():
                found[cell]["backtest_skill"] = read_json(backtest)["mean_skill_vs_persistence"]
    return found


def columns(metrics: dict[str, dict]) -> list[tuple[str, str]]:
    return [(key, label) for key, label in COLUMNS if any(key in m for m in metrics.values())]


def fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def verdict(m: dict) -> str:
    _, value, baseline, base_value, _ = headline(m)
    if value < base_value:
        return f"beats {baseline}"
    return f"LOSES to {baseline} ({'next = last' if baseline == 'persistence' else 'the baseline'} is more accurate)"


def report(root: Path, dataset: str, cells: list[str]) -> Path:
    out = paths.report_dir(root, dataset)
    metrics = collect(root, dataset, cells)
    out.mkdir(parents=True, exist_ok=True)
    images = [plotting.comparison(metrics, out / "comparison.png"),
              plotting.loss_curves({c: read_history(root, dataset, c) for c in metrics}, out / "loss_curves.png")]
    samples = ""
    for cell in metrics:
        source = paths.predictions_file(root, dataset, cell).with_suffix(".png")
        if source.exists():
            images.append(Path(shutil.copyfile(source, out / f"predictions_{cell}.png")))
        generated = paths.predictions_file(root, dataset, cell).with_suffix(".samples.json")
        if generated.exists():
            found = read_json(generated)
            samples += f"<h2>{html.escape(cell)}: samples from seed {html.escape(repr(found['seed_text'][-60:]))}</h2>"
            samples += "".join(f"<h3>temperature {t}</h3><pre>{html.escape(text)}</pre>"
                               for t, text in found["samples"].items())
    shown = columns(metrics)
    head = "".join(f"<th>{label}</th>" for _, label in shown) + "<th>verdict</th>"
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(m.get(key, '')))}</td>" for key, _ in shown)
        + f"<td>{verdict(m)}</td></tr>" for m in metrics.values())
    figures = "".join(f'<figure><img src="{p.name}" alt="{p.stem}"><figcaption>{p.stem}</figcaption></figure>'
                      for p in images)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>rnnops: {dataset}</title>"
            "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}</style></head><body>"
            f"<h1>rnnops report: {html.escape(dataset)}</h1><table><tr>{head}</tr>{body}</table>"
            f"{figures}{samples}</body></html>")
    write_text(out / "index.html", page)
    write_text(out / "summary.md", summary_markdown(metrics))
    return out / "index.html"


def summary_markdown(metrics: dict[str, dict]) -> str:
    shown = columns(metrics)
    lines = ["| " + " | ".join(label for _, label in shown) + " | verdict |", "|" + "---|" * (len(shown) + 1)]
    lines += ["| " + " | ".join(fmt(m.get(key, "")) for key, _ in shown) + f" | {verdict(m)} |"
              for m in metrics.values()]
    return "\n".join(lines) + "\n"
