"""The gradient norm of every optimiser step, before and after clipping: a CSV in the model folder (train
writes it, evaluate plots it) and MLflow metric histories."""
from __future__ import annotations

import math

from flows.scoring.regression_nets import table_csv

GRAD_TRACE = "grad_norms.csv"  # in the model folder


def grad_trace_csv(trace: list[tuple[int, int, float, float]]) -> str:
    columns = list(zip(*trace)) if trace else [[], [], [], []]
    return table_csv(dict(zip(("step", "epoch", "pre_clip", "post_clip"), columns)))


def grad_curves(trace: list[tuple[int, int, float, float]], points: int = 1000) -> dict[str, list[tuple[int, float]]]:
    """The trace as MLflow metric histories (step = optimiser step), at most `points` per curve: each point
    the largest norm of a block of consecutive steps, so a spike is never averaged or sampled away."""
    every = max(1, math.ceil(len(trace) / points))
    blocks = [trace[i:i + every] for i in range(0, len(trace), every)]
    return {"train_step/grad_norm": [(b[-1][0], max(r[2] for r in b)) for b in blocks],
            "train_step/grad_norm_clipped": [(b[-1][0], max(r[3] for r in b)) for b in blocks]}
