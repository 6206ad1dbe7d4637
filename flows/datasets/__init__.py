"""The dataset registry (the interface is flows/datasets/base.py).

Generic stages, checks, report and the dvc.yaml writer look a dataset up here and call its
methods; none of them branches on a dataset's name or sniffs its keys. Adding a dataset is one
module that defines `DATASET` (an instance of a `Dataset` subclass), one params.yaml section and
one line in REGISTRY. Plug-ins are imported by name, one at a time, so a stage of one dataset
never loads another's code (dvc.yaml's deps rely on that).
"""
from __future__ import annotations

import importlib

from models.errors import InvalidParameter

REGISTRY = {
    "cosine": "flows.datasets.cosine",
    "stocks": "flows.datasets.stocks",
    "stocks_daily": "flows.datasets.stocks.rolling",  # the same task on dates that move with the calendar
    "text": "flows.datasets.text",
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str):
    """The plug-in object (a flows.datasets.base.Dataset) registered under `name`."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise InvalidParameter(f"unknown dataset {name!r}; choose one of {', '.join(REGISTRY)} "
                               f"(or register a plug-in in flows/datasets/__init__.py).")
    return importlib.import_module(REGISTRY[name]).DATASET
