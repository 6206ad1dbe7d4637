"""The only package that imports mlflow: the store and its one experiment (store), run lifecycle (runs),
the plug-ins' summary runs of their own stages (summaries: a backtest, a scorecard),
evaluation and the model registry (registry) with its champion alias, elected on one data version (election);
a sweep's parent and trial runs (sweeps: imported by flows.sweeps only, so no stage depends on it)."""
from flows.core.env import redact
from flows.tracking.election import best_version, champion_version, elect_champion, score_on, score_tag
from flows.tracking.registry import champion_weights, evaluation_metrics, finish_evaluation
from flows.tracking.runs import (
    DataInput,
    TrainingRun,
    attach_training_run,
    close_ghosts,
    finish_pipeline_run,
    source_tags,
    start_pipeline_run,
    start_training_run,
)
from flows.tracking.store import (
    CHAMPION,
    EXPERIMENT,
    OWNER,
    PARENT_RUN_ID,
    PHASE,
    RESUMES,
    check_reachable,
    client,
    experiment_id_of,
    experiment_link,
    flat_metrics,
    git_sha,
    is_rank_zero,
    log_curves,
    model_link,
    registered_name,
    run_lineage,
    run_link,
    tracking_uri,
    warm_up,
)
from flows.tracking.summaries import log_summary_run

__all__ = ["CHAMPION", "EXPERIMENT", "OWNER", "PARENT_RUN_ID", "PHASE", "RESUMES", "DataInput", "TrainingRun",
           "attach_training_run", "best_version", "champion_version", "champion_weights", "check_reachable", "client",
           "close_ghosts", "elect_champion", "evaluation_metrics", "experiment_id_of", "finish_evaluation",
           "finish_pipeline_run", "flat_metrics", "git_sha", "is_rank_zero", "log_curves", "log_summary_run",
           "redact", "registered_name", "run_lineage", "run_link", "score_on", "score_tag",
           "source_tags", "start_pipeline_run", "start_training_run", "tracking_uri", "warm_up",
           "experiment_link", "model_link"]  # the UI's addresses, in its model-training view
