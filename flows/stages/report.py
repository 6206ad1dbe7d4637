"""report-<dataset>: plots and the dataset's page of the report site from the metrics, histories and
figures on disk; then reports/index.html, rewritten from every dataset that has a report."""
from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

from flows import datasets, tracking
from flows.core import paths
from flows.core.atomic import read_json, staged_outputs
from flows.core.params import cells_of, load_params, section
from flows.graph import lineage
from flows.orchestration.stage_command import stage_main
from flows.reporting import plotting, site
from flows.reporting.results import HEADER, cells_table, collect, fmt, row, summary_markdown
from flows.scoring import gradient_probe as gradients


def read_history(root: Path, dataset: str, cell: str) -> list[dict]:
    with open(paths.model_dir(root, dataset, cell) / "history.csv", newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(fh)]


def report(root: Path, dataset: str) -> Path:
    plugin, params = datasets.get(dataset), load_params(root)
    metrics = collect(root, dataset, cells_of(params, dataset))
    out_dir, commit = paths.report_dir(root, dataset), tracking.git_sha(root)
    header, rows = table(plugin, metrics)
    with staged_outputs(out_dir) as out:
        histories = {c: read_history(root, dataset, c) for c in metrics}
        made = [*plotting.comparison([row(m) for m in metrics.values()], out.path),
                *plotting.loss_curves(histories, out.path),
                *gradients_comparison(root, dataset, list(metrics), out)]
        cells = []
        for cell in metrics:
            copied = [Path(shutil.copyfile(source, out.path(f"{cell}_{source.name}")))
                      for source in sorted(paths.figures_dir(root, dataset, cell).glob("*")) if source.is_file()]
            cells.append({**cell_lineage(root, dataset, cell, plugin, params, commit),
                          "figures": site.figures(copied), "extra": site.markup(plugin.report_html(root, cell))})
        context = {"dataset": plugin.name, "header": header, "rows": rows, "verdict_at": HEADER.index("verdict"),
                   "cells": cells, "figures": site.figures(made), "overview": site.markup(plugin.report_overview(root)),
                   "built": site.now(), "commit": commit}
        out.write_text("index.html", site.dataset_page(context))
        out.write_text("summary.md", summary_markdown(metrics))
        out.write_json(site.SUMMARY, {"header": header, "rows": rows, "built": context["built"], "commit": commit})
    site.write_index(root, commit)
    return out_dir / "index.html"


def gradients_comparison(root: Path, dataset: str, cells: list[str], out) -> list[Path]:
    """Every probed cell's ||dL/dh_t|| in one plot."""
    found = {cell: gradients.read_columns(path)["mean"] for cell in cells
             if (path := paths.figures_dir(root, dataset, cell) / gradients.NORMS_FILE).exists()}
    if not found:
        return []
    return plotting.gradients_through_time(found, f"{dataset}: gradients through time, every cell", out.path)


def table(plugin, metrics: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """The summary table: the common columns (verdict included), the plug-in's, then extra stages' figures."""
    extra_labels = sorted({label for m in metrics.values() for label in m.get("extra", {})})
    header = [*HEADER, *(label for _, label in plugin.columns), *extra_labels]
    rows = []
    for cells, m in zip(cells_table(metrics), metrics.values()):
        split = m[m["headline"]["split"]]
        rows.append([*cells, *(fmt(split.get(key, "")) for key, _ in plugin.columns),
                     *(fmt(m.get("extra", {}).get(label, "")) for label in extra_labels)])
    return header, rows


def cell_lineage(root: Path, dataset: str, cell: str, plugin, params: dict, commit: str) -> dict:
    """Where a cell's result comes from: the commit and data hash its training run was tagged with (this
    checkout's, where the tracking store does not hold the run), what it changed from the reference recipe, its run."""
    run_id = read_json(paths.model_dir(root, dataset, cell) / "run.json")["run_id"]
    found = tracking.run_lineage(root, run_id) or {}
    recipe = plugin.reference_recipe.get(cell)
    return {"cell": cell, "run_id": run_id, "run_url": found.get("url"),
            "commit": found.get("commit") or f"{commit} (this checkout)",
            "data_hash": found.get("data_hash") or lineage.data_hash(root, dataset),
            "reference": recipe,
            "differs": site.recipe_differences(recipe, dict(section(params, dataset, "train", cell)))}


if __name__ == "__main__":
    sys.exit(stage_main(report, needs_cell=False))
