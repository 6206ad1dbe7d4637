"""params.yaml keys under their names of the previous release, read for one more: each is mapped to its new
name, with one line on stderr per key per process, so a params.yaml written before the rename still runs.

The renames give one word one meaning: a *cell* is a named configuration (`cells: [..., seq2seq]`) and
its recurrent kind is `kind: rnn | lstm | gru` (it was `cell:`). A plug-in's own renamed keys are its
`renamed_keys`, applied where the plug-in reads them.
"""
from __future__ import annotations

import sys

import yaml

from models.errors import InvalidParameter

# <dataset>.train.<cell> (and a sweep's space): old key -> new key, for every dataset.
TRAIN_KEYS = {"cell": "kind"}
_warned: set[str] = set()  # what this process has said already


def _shown(key: str, value) -> str:
    """`key: value` as YAML on one line."""
    return yaml.safe_dump({key: value}, default_flow_style=True, sort_keys=False, width=10_000).strip()[1:-1]


def renamed(values: dict, keys: dict[str, str], where: str) -> dict:
    """values (the params.yaml mapping at `where`) with each old key of `keys` under its new name."""
    for old, new in keys.items():
        if old in values and new in values and values[new] != values[old]:
            raise InvalidParameter(f"params.yaml: {where} has both `{_shown(old, values[old])}` and "
                                   f"`{_shown(new, values[new])}`, and {old} is the old name of {new}; "
                                   f"keep only {new}.")
        if old in values:
            line = f"`{_shown(old, values[old])}` under {where} is deprecated, write `{_shown(new, values[old])}`"
            if line not in _warned:
                _warned.add(line)
                print(f"rnnops: params.yaml: {line}", file=sys.stderr)
    return {keys.get(key, key): value for key, value in values.items()}  # in place: a sweep's space keeps its order


def renamed_params(params: dict) -> dict:
    """params with the generic old keys under their new names: TRAIN_KEYS in every cell of every dataset's
    train section and in every sweep's space (params itself is left as it is). A plug-in's own keys are
    renamed where the plug-in reads them (Dataset.renamed_keys): this runs before any plug-in is imported."""
    out = dict(params)
    for name, part in params.items():
        train = part.get("train") if isinstance(part, dict) and name != "sweeps" else None
        if isinstance(train, dict):
            out[name] = {**part, "train": {cell: renamed(values, TRAIN_KEYS, f"{name}.train.{cell}")
                                           if isinstance(values, dict) else values for cell, values in train.items()}}
    sweeps = params.get("sweeps")
    if isinstance(sweeps, dict):
        out["sweeps"] = {name: {**sweep, "space": renamed(sweep["space"], TRAIN_KEYS, f"sweeps.{name}.space")}
                         if isinstance(sweep, dict) and isinstance(sweep.get("space"), dict) else sweep
                         for name, sweep in sweeps.items()}
    return out
