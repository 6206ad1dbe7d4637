"""report-<dataset>: PNG plots and one HTML page from the metrics and histories on disk."""
from __future__ import annotations

import csv
import html
import shutil
import sys
from pathlib import Path

from flows import datasets, paths, plotting
from flows.atomic import staged_outputs
from flows.params import cells_of, load_params
from flows.results import HEADER, cells_table, collect, fmt, row, summary_markdown
from flows.stagecli import stage_main


def read_history(root: Path, dataset: str, cell: str) -> list[dict]:
    with open(paths.model_dir(root, dataset, cell) / "history.csv", newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(fh)]


def report(root: Path, dataset: str) -> Path:
    plugin = datasets.get(dataset)
    metrics = collect(root, dataset, cells_of(load_params(root), dataset))
    out_dir = paths.report_dir(root, dataset)
    with staged_outputs(out_dir) as out:
        histories = {c: read_history(root, dataset, c) for c in metrics}
        images = [plotting.comparison([row(m) for m in metrics.values()], out.path("comparison.png")),
                  plotting.loss_curves(histories, out.path("loss_curves.png"))]
        for cell in metrics:
            for source in sorted(paths.figures_dir(root, dataset, cell).glob("*.png")):
                images.append(Path(shutil.copyfile(source, out.path(f"{cell}_{source.name}"))))
        out.write_text("index.html", page(plugin, root, metrics, images))
        out.write_text("summary.md", summary_markdown(metrics))
    return out_dir / "index.html"


def page(plugin, root: Path, metrics: dict[str, dict], images: list[Path]) -> str:
    extra_labels = sorted({label for m in metrics.values() for label in m.get("extra", {})})
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (*HEADER, *(lab for _, lab in plugin.columns), *extra_labels))
    body = ""
    for cells, m in zip(cells_table(metrics), metrics.values()):
        split = m[m["headline"]["split"]]
        more = [fmt(split.get(key, "")) for key, _ in plugin.columns]
        more += [fmt(m.get("extra", {}).get(label, "")) for label in extra_labels]
        body += "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in [*cells, *more]) + "</tr>"
    figures = "".join(f'<figure><img src="{p.name}" alt="{p.stem}"><figcaption>{p.stem}</figcaption></figure>'
                      for p in images)
    extras = plugin.report_overview(root) + "".join(plugin.report_html(root, cell) for cell in metrics)
    note = ("<p>value, baseline, skill and the Diebold-Mariano p-value come from the split named in each row; "
            "the champion is chosen on the validation figure (val), never on the test split.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>rnnops: {plugin.name}</title>"
            "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}pre{white-space:pre-wrap}</style>"
            f"</head><body><h1>rnnops report: {html.escape(plugin.name)}</h1>{note}"
            f"<table><tr>{head}</tr>{body}</table>{figures}{extras}</body></html>")


if __name__ == "__main__":
    sys.exit(stage_main(report, needs_cell=False))
