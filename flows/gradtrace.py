"""The gradient norm of every optimiser step, before and after clipping: a CSV in the model folder (train
writes it, evaluate plots it) and MLflow metric histories."""
from __future__ import annotations

from flows.scoring import table_csv

GRAD_TRACE = "grad_norms.csv"  # in the model folder


def grad_trace_csv(trace: list[tuple[int, int, float, float]]) -> str:
    columns = list(zip(*trace)) if trace else [[], [], [], []]
    return table_csv(dict(zip(("step", "epoch", "pre_clip", "post_clip"), columns)))


def grad_curves(trace: list[tuple[int, int, float, float]]) -> dict[str, list[tuple[int, float]]]:
    """The trace as MLflow metric histories, step = optimiser step."""
    return {"train_step/grad_norm": [(s, pre) for s, _, pre, _ in trace],
            "train_step/grad_norm_clipped": [(s, post) for s, _, _, post in trace]}
