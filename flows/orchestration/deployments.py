"""`rnnops serve`: the pipeline flow as Prefect deployments on the cron schedules in params.yaml.

infra/prefect.yaml declares the same deployments for a process work pool (tests/test_schedules.py
keeps the two equal). Every scheduled run passes scheduled=True: the fetch is retried, and a
dataset that does not finish fails the flow run where Prefect shows it. One run at a time per
deployment (concurrency 1), and the run lock keeps any two runs of one repository apart.
"""
from __future__ import annotations

import os
from pathlib import Path

from prefect.schedules import validate_cron_string

from models.errors import InvalidParameter

KEYS = {"cron", "timezone", "datasets"}


def schedule_specs(params: dict) -> dict[str, dict]:
    """name -> {cron, timezone, datasets}, checked: a bad schedule fails before a server is asked."""
    found = params.get("schedules") or {}
    if not isinstance(found, dict):
        raise InvalidParameter("params.yaml's schedules must map a deployment name to {cron, timezone, datasets}.")
    specs = {}
    for name, spec in found.items():
        if not isinstance(spec, dict) or set(spec) - KEYS or "cron" not in spec:
            raise InvalidParameter(f"schedules.{name} needs cron (and may have timezone, datasets) and nothing else.")
        try:
            validate_cron_string(str(spec["cron"]))
        except ValueError:
            raise InvalidParameter(f"schedules.{name}.cron {spec['cron']!r} is not a cron expression "
                                   f"(minute hour day month weekday, e.g. \"30 17 * * 1-5\").") from None
        specs[name] = {"cron": str(spec["cron"]), "timezone": spec.get("timezone") or "UTC",
                       "datasets": spec.get("datasets")}
    return specs


def parameters(root: Path, spec: dict) -> dict:
    return {"root": str(Path(root).resolve()), "datasets": spec["datasets"], "scheduled": True}


def serve(root: Path, params: dict) -> None:
    """Blocks, running each schedule's flow runs in this process, until interrupted (Ctrl-C)."""
    if not os.environ.get("PREFECT_API_URL"):
        raise InvalidParameter("rnnops serve needs a Prefect server that outlives it: start one "
                               "(prefect server start --host 127.0.0.1) and export "
                               "PREFECT_API_URL=http://127.0.0.1:4200/api.")
    from prefect import serve as serve_all
    from prefect.schedules import Cron

    from flows.orchestration.pipeline import pipeline

    specs = schedule_specs(params)
    if not specs:
        raise InvalidParameter("params.yaml has no schedules to serve; add e.g. schedules: {nightly: {cron: "
                               "\"0 3 * * *\"}}.")
    deployments = [pipeline.to_deployment(name=name, schedules=[Cron(s["cron"], timezone=s["timezone"])],
                                          parameters=parameters(root, s), concurrency_limit=1,
                                          description=f"rnnops pipeline on {s['datasets'] or 'params datasets'}")
                   for name, s in specs.items()]
    for name, spec in specs.items():
        print(f"serving pipeline/{name}: {spec['cron']} ({spec['timezone']}) on {spec['datasets'] or 'datasets'}")
    serve_all(*deployments)
