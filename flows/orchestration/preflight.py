"""Validate every parameter a run will use before anything starts, so a typo fails in a second."""
from __future__ import annotations

from flows import datasets
from flows.core.params import cells_of, check_dataset, planned_datasets, train_spec
from flows.scoring.gradient_probe import gradient_config
from flows.training.launch import layout
from models.errors import InvalidParameter


def check_selected(params: dict, names: list[str]) -> None:
    """A run may select only datasets that params.yaml lists (in `datasets` or a schedule's): dvc.yaml
    is written from those lists."""
    planned = planned_datasets(params)
    for dataset in names:
        if dataset not in planned:
            raise InvalidParameter(f"dataset {dataset!r} is not in params.yaml's datasets {planned}; "
                                   f"add it there (dvc.yaml is written from that list).")


def check_all(params: dict, names: list[str]) -> None:
    for key in ("datasets", "cells"):
        if not isinstance(params.get(key), list) or not params[key]:
            raise InvalidParameter(f"params.yaml needs a non-empty list `{key}`.")
    check_selected(params, names)
    for dataset in planned_datasets(params):
        datasets.get(check_dataset(dataset)).check(params)
        gradient_config(params, dataset)
        for cell in cells_of(params, dataset):
            layout(train_spec(params, dataset, cell), f"{dataset}.train.{cell}")
