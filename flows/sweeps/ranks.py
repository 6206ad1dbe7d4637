"""`python -m flows.sweeps.ranks`: one rank of a trial whose cell asks for several devices, started under
torchrun by the trial's worker (flows.sweeps.trial.launch_trial), as the train stage starts its own ranks.

Each rank rebuilds the trial's params from the order in RNNOPS_TRIAL_ORDER and fits as a worker would
(fit_trial: the same callbacks, loaders, seeding). Rank 0 alone holds the Optuna trial (it reports each
epoch and decides pruning for all), logs to the trial's MLflow run, scores validation and writes the
outcome for the worker, which tells the study: the worker keeps the heartbeat, so a killed launch is a
stale trial like a killed worker.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from flows.core.env import apply_defaults
from flows.orchestration.stage_command import report_error
from models.errors import RnnopsError


def rank_main() -> int:
    import torch

    from flows import datasets, tracking
    from flows.core.atomic import write_json
    from flows.core.params import load_params, train_spec
    from flows.sweeps import engine
    from flows.sweeps.config import WINDOWS, sweep_config, with_values
    from flows.sweeps.trial import ORDER, fit_trial, trial_data
    from flows.training import launch
    from models.runtime import flush_denormals

    order = json.loads(os.environ[ORDER])
    launch.die_with_parent()
    torch.set_num_threads(launch.threads_per_rank(launch.ranks_per_node()))
    flush_denormals()
    root = Path(".").resolve()
    params = load_params(root)
    cfg = sweep_config(params, order["sweep"])
    params = with_values(params, cfg, order["values"])
    spec = train_spec(params, cfg.dataset, cfg.cell)
    plugin = datasets.get(cfg.dataset)
    trial = None
    if launch.rank_and_world()[0] == 0:
        trial = engine.reopen_trial(cfg, order["storage"], order["trial_id"])
    with trial_data(root, params, cfg.dataset, any(k.startswith(WINDOWS) for k in order["values"])) as (data, _):
        splits = plugin.task_splits(data, spec.net)
        spec = plugin.budget(spec, splits)
        run = tracking.attach_training_run(root, order["run_id"])
        outcome = fit_trial(root, params, spec, plugin, splits, trial, run)
    if trial is not None:
        write_json(order["outcome"], dataclasses.asdict(outcome))
    return 0


def main() -> int:
    apply_defaults()
    try:
        return rank_main()
    except RnnopsError as exc:
        return report_error(exc)


if __name__ == "__main__":
    sys.exit(main())
