"""Per-step figures of a multi-step cell (rmse_h01 .. rmse_h50, coverage95_h.., conformal_width80_h.. of each
split): curves against h, not hundreds of columns of `dvc metrics show`.

evaluate logs them to MLflow as metrics (val/rmse_h01 ...), keeps the aggregate figures in
metrics/<dataset>/<cell>.json and writes the curves to plots/<dataset>/<cell>.horizons.csv, one row per h,
which dvc.yaml draws (RMSE against h, the model beside its baselines). The headline split's figures keep
their names there (rmse, persistence_rmse ...); another scored split's are prefixed with it (val_rmse), so a
chart names the same columns whichever split a dataset reports. `read_metrics` puts them back together for
readers that want both (the results page, benchmarks).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from flows.core import paths
from flows.core.atomic import read_json
from models.metrics import horizon_key

PER_STEP = re.compile(r"^(?P<name>.+)_h(?P<h>\d+)$")  # rmse_h01, conformal_coverage80_h50 ...
SPLITS = ("val", "test")
STEP = "h"


def _column(split: str, shown: str, name: str) -> str:
    return name if split == shown else f"{split}_{name}"


def split_steps(metrics: dict) -> tuple[dict, dict[str, list]]:
    """(the metrics without their per-step keys, the per-step table: column -> values, `h` first; empty
    when there are none)."""
    shown = metrics["headline"]["split"]
    kept, rows = dict(metrics), {}
    for split in sorted((s for s in SPLITS if s in metrics), key=lambda s: s != shown):
        kept[split] = {}
        for key, value in metrics[split].items():
            step = PER_STEP.match(key)
            if step is None:
                kept[split][key] = value
            else:
                rows.setdefault(int(step["h"]), {})[_column(split, shown, step["name"])] = value
    steps = sorted(rows)
    prefixed = tuple(f"{s}_" for s in SPLITS if s != shown)
    # the headline split's columns first, each group sorted as the JSON is: a fresh file and a converted one agree
    columns = sorted({c for h in steps for c in rows[h]}, key=lambda c: (c.startswith(prefixed), c))
    table = {STEP: steps, **{c: ["" if rows[h].get(c) is None else rows[h][c] for h in steps] for c in columns}}
    return kept, (table if steps else {})


def with_steps(metrics: dict, table: dict[str, list]) -> dict:
    """The metrics with the table's figures back under their per-step keys (split_steps undone)."""
    if not table:
        return metrics
    shown = metrics["headline"]["split"]
    found = {**metrics, **{s: dict(metrics[s]) for s in SPLITS if s in metrics}}
    steps = [int(float(h)) for h in table[STEP]]
    others = tuple(f"{s}_" for s in SPLITS if s != shown)
    for split in (s for s in SPLITS if s in metrics):
        horizon = int(metrics[split].get("horizon", max(steps)))
        prefix = "" if split == shown else f"{split}_"
        for column, values in table.items():
            if column == STEP or not column.startswith(prefix) or (not prefix and column.startswith(others)):
                continue
            name = column[len(prefix):]
            found[split].update({f"{name}_{horizon_key(h, horizon)}": v for h, v in zip(steps, values) if v != ""})
    return found


def read_table(path: Path) -> dict[str, list]:
    """A table written by flows.scoring.regression_nets.table_csv, numbers as floats ("" where a figure is missing)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return {name: [float(row[i]) if row[i] else "" for row in rows[1:]] for i, name in enumerate(rows[0])}


def read_metrics(root: Path, dataset: str, cell: str) -> dict:
    """A cell's metrics file with its per-step figures, when it has them, read back in."""
    metrics = read_json(paths.metrics_file(root, dataset, cell))
    table = paths.horizons_file(root, dataset, cell)
    return with_steps(metrics, read_table(table)) if table.exists() and "headline" in metrics else metrics
