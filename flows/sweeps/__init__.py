"""Sweeps: hyperparameter searches declared in params.yaml's `sweeps:` section, run by Optuna on an RDB
storage that workers on one or many machines share (the only package that imports optuna).

config   the declared search, validated in one sentence (no optuna: `rnnops sweep` checks fast)
engine   storage, study, the claim of a trial under a lock, the worker loop, heartbeats and retries
trial    one trial: the train stage's plug-in, Lightning module and fit, pruned on the validation curve
flow     the Prefect flows: `sweep` (K local workers) and `sweep-worker` (one worker, for a work pool)
apply    the best trial written back into params.yaml as a cell
"""
