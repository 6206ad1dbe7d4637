"""The report's per-series table of a stocks_many cell: its test figures per ticker, beside the local
models' where its local stage has run (read from the metrics files, never recomputed)."""
from __future__ import annotations

import html
from pathlib import Path

from flows.core import paths
from flows.core.atomic import read_json


def _cell(value) -> str:
    if value is None:
        return "<td>n/a</td>"
    return f"<td>{value:.4g}</td>" if isinstance(value, float) else f"<td>{html.escape(str(value))}</td>"


def series_html(root: Path, dataset: str, cell: str, local_metrics: str) -> str:
    path = paths.metrics_file(root, dataset, cell)
    if not path.exists():
        return ""
    test = read_json(path)["test"]
    local_path = Path(root) / local_metrics.format(dataset=dataset, cell=cell)
    local = read_json(local_path) if local_path.exists() else None
    header = ["ticker", "RMSE", "persistence RMSE", "drift RMSE", "strongest baseline", "DM p",
              "95% conformal coverage", "95% conformal width"]
    if local:
        header += ["local RMSE", "local DM p", "global vs local DM p"]
    rows = []
    for ticker, s in test["series"].items():
        row = [ticker, s["rmse"], s["persistence_rmse"], s["drift_rmse"], s["strongest_baseline"], s["dm_pvalue"],
               s.get("conformal_coverage95"), s.get("conformal_width95")]  # none in files made before them
        if local:
            versus = local["test"]["series"][ticker]
            row += [versus["local_rmse"], versus["local_dm_pvalue"], versus["global_vs_local_dm_pvalue"]]
        rows.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
    words = {"global": "the global model", "local": "one model per series"}
    chosen = f" Validation prefers {words[local['selected_on_val']]} of this cell." if local else ""
    return (f"<p>Test split per series, each on its own price scale (DM p: against the strongest baseline; "
            f"global vs local: the two models' squared errors).{chosen}</p><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" + "".join(rows) + "</table>")
