"""Summary runs: what a plug-in's own stage concluded (a walk-forward backtest, a live forecast scorecard),
as an MLflow run of its own kind beside the trainings, so the UI can compare them across configurations.
The plug-in computes the figures; this module only knows how MLflow keeps them."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

from mlflow.entities import Metric, Param

from flows.tracking.runs import source_tags
from flows.tracking.store import PARENT_RUN_ID, client, experiment_id_of, flat_metrics, git_sha, is_rank_zero


def log_summary_run(root: Path, dataset: str, kind: str, figures: dict, *, cell: str | None = None,
                    params: dict | None = None, curves: dict[str, list[tuple[int, float]]] | None = None,
                    step: int = 0, entry_point: str = "", description: str = "", one_run: bool = False) -> str | None:
    """Log `figures` (nested, flattened as `<kind>/<key>`; non-numbers left out) at `step`, and each curve
    (name -> (step, value) pairs) as `<kind>/<name>`; the run is tagged dataset, kind (and cell).

    one_run=False: a new run per call (`<dataset>-<cell>-<kind>`), FINISHED at once, a child of the pipeline
    run like the trainings, with `params` and the Source/Version tags of `entry_point`.
    one_run=True: one long-lived run per dataset, kind (and cell), found again at each call, so that a
    figure's history, step by step, is the UI's chart of it as it accumulates; `params` only when created.
    Returns the run id (None on a rank other than 0)."""
    if not is_rank_zero():
        return None
    mlc = client(root)
    experiment = experiment_id_of(mlc, root)
    tags = {"dataset": dataset, "kind": kind, **({"cell": cell} if cell else {})}
    found = []
    if one_run:
        where = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        found = mlc.search_runs([experiment], filter_string=where, max_results=1)
    if found:
        run_id = found[0].info.run_id
    else:
        if not one_run:
            tags |= {"git_sha": git_sha(root),
                     **source_tags(root, entry_point, description, os.environ.get(PARENT_RUN_ID))}
        name = "-".join(part for part in (dataset, cell, kind) if part)
        run_id = mlc.create_run(experiment, run_name=name, tags=tags).info.run_id
        if params:
            mlc.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    now = int(time.time() * 1000)  # one long-lived run logs the same step again: the latest value is the newest
    metrics = flat_metrics(figures, kind, now, int(step))
    metrics += [Metric(f"{kind}/{name}", float(v), now, int(at)) for name, points in (curves or {}).items()
                for at, v in points if math.isfinite(float(v))]
    for start in range(0, len(metrics), 1000):  # log_batch takes at most 1000 metrics
        mlc.log_batch(run_id, metrics=metrics[start:start + 1000])
    mlc.set_terminated(run_id, "FINISHED")
    return run_id
