"""The dataset registry (the interface is flows/datasets/base.py).

Generic stages, checks, report and the dvc.yaml writer look a dataset up here and call its
methods; none of them branches on a dataset's name or sniffs its keys. Adding a dataset is one
module that defines `DATASET` (an instance of a `Dataset` subclass), one params.yaml section and
one line in REGISTRY. Plug-ins are imported by name, one at a time, so a stage of one dataset
never loads another's code (dvc.yaml's deps rely on that). The CLI's own verbs (`rnnops predict`)
come from the plug-ins' declarations too (verbs()).
"""
from __future__ import annotations

import importlib

from models.errors import InvalidParameter

REGISTRY = {
    "cosine": "flows.datasets.cosine",
    "stocks": "flows.datasets.stocks",
    "stocks_daily": "flows.datasets.stocks.rolling",  # the same task on dates that move with the calendar
    "stocks_many": "flows.datasets.stocks.many",  # many tickers, one global model (and per-ticker ones to compare)
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


def verbs() -> dict[str, tuple]:
    """The commands the plug-ins add to `rnnops`: verb name -> (its flows.datasets.base.Verb, the datasets
    that declare it, in registry order), by name. Imports every plug-in (torch): only for a plug-in's verb
    or the full help, never for the generic commands."""
    found: dict[str, tuple] = {}
    for name in REGISTRY:
        for verb in get(name).verbs:
            first = found.setdefault(verb.name, (verb, []))
            if first[0] != verb or (first[1] and not verb.per_dataset):
                raise InvalidParameter(f"the plug-ins {first[1][0]} and {name} both declare the verb {verb.name!r}; "
                                       f"rename one, or share one per-dataset Verb declaration.")
            first[1].append(name)
    return dict(sorted(found.items()))
