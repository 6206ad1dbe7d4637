"""Read params.yaml (safe_load) into validated, frozen configurations."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flows import datasets
from flows.core.deprecated import renamed, renamed_params
from models.config import KINDS, NetworkConfig, OptimConfig, from_mapping
from models.errors import InvalidParameter

PARAMS_FILE = "params.yaml"
DEFAULTS = "defaults"  # <dataset>.train.defaults: what every cell of the dataset starts from
# How a cell is run, not what it learns: resolved and checked by flows.training.launch.layout.
RUNTIME_KEYS = ("accelerator", "devices", "num_nodes", "strategy", "precision", "keep_checkpoint")


def load_params(root: Path | str = ".") -> dict[str, Any]:
    path = Path(root) / PARAMS_FILE
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameter(f"no {PARAMS_FILE} in {Path(root).resolve()}; run from the repository root.") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" near line {line + 1}" if line is not None else ""
        raise InvalidParameter(f"{path} is not valid YAML{where}; fix its syntax.") from None
    if not isinstance(params, dict):
        raise InvalidParameter(f"{path} must hold a mapping of sections, not {type(params).__name__}.")
    return with_defaults(params)


def merged(base: dict, over: dict) -> dict:
    """over on top of base, nested mappings merged key by key (a cell's tbptt: {k1: 50} keeps the defaults'
    reset), anything else replaced whole."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        both = isinstance(out.get(key), dict) and isinstance(value, dict)
        out[key] = merged(out[key], value) if both else copy.deepcopy(value)
    return out


def with_defaults(params: dict) -> dict:
    """params with every cell of a dataset that has `train.defaults` written out in full (defaults, then the
    cell's own keys on top), so each reader sees a cell's merged values; `defaults` itself stays, as the
    stage graph makes a dataset's train stages depend on it. Expanding an expanded dict changes nothing.
    Keys under their old names are read under the new ones (flows/core/deprecated.py)."""
    params = renamed_params(params)
    out = dict(params)
    for dataset, part in params.items():
        train = part.get("train") if isinstance(part, dict) else None
        if not isinstance(train, dict) or DEFAULTS not in train:
            continue
        base = train[DEFAULTS]
        if not isinstance(base, dict):
            raise InvalidParameter(f"{dataset}.train.{DEFAULTS} must be a mapping of train keys that every "
                                   f"{dataset} cell starts from, not {type(base).__name__}.")
        cells = {}
        for cell, values in train.items():
            if cell != DEFAULTS and values is not None and not isinstance(values, dict):
                raise InvalidParameter(f"{dataset}.train.{cell} must be a mapping of train keys (what differs from "
                                       f"{dataset}.train.{DEFAULTS}), not {type(values).__name__}.")
            cells[cell] = base if cell == DEFAULTS else merged(base, values or {})
        out[dataset] = {**part, "train": cells}
    return out


def train_cells(params: dict, dataset: str) -> dict[str, dict]:
    """cell -> its section of <dataset>.train, without the defaults every cell starts from."""
    return {c: v for c, v in (section(params, dataset, "train") or {}).items() if c != DEFAULTS}


def has_defaults(params: dict, dataset: str) -> bool:
    train = (params.get(dataset) or {}).get("train") if isinstance(params.get(dataset), dict) else None
    return isinstance(train, dict) and DEFAULTS in train


def planned_datasets(params: dict) -> list[str]:
    """What dvc.yaml holds: params' `datasets` (what `rnnops run` drives) and those only schedules run."""
    scheduled = [d for s in (params.get("schedules") or {}).values() if isinstance(s, dict)
                 for d in (s.get("datasets") or [])]
    return list(dict.fromkeys([*params["datasets"], *scheduled]))


def section(params: dict, *keys: str) -> Any:
    node: Any = params
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise InvalidParameter(f"params.yaml has no key {'.'.join(keys[: depth + 1])}; add it.")
        node = node[key]
    return node


def config_of(cls, params: dict, dataset: str, part: str):
    """<dataset>.<part> as the config dataclass cls, then its `check(where)`: one class can serve several
    datasets (stocks and stocks_daily), so its errors name the section the values came from."""
    where = f"{dataset}.{part}"
    cfg = from_mapping(cls, section(params, dataset, part), where)
    cfg.check(where)
    return cfg


def check_dataset(name: str) -> str:
    if name not in datasets.names():
        raise InvalidParameter(f"unknown dataset {name!r}; choose one of {', '.join(datasets.names())}.")
    return name


CELL_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # becomes stage names, folders and files


def check_cell(name: str) -> str:
    """A cell is named freely (rnn, lstm, gru or e.g. lstm_seq2seq); its `kind:` key picks the recurrent kind."""
    if name == DEFAULTS:
        raise InvalidParameter(f"a cell cannot be named {DEFAULTS!r}: <dataset>.train.{DEFAULTS} holds what every "
                               f"cell of the dataset starts from; choose another name.")
    if not isinstance(name, str) or not CELL_NAME.fullmatch(name):
        raise InvalidParameter(f"cell name {name!r} must be lower-case letters, digits and _ (starting with a "
                               f"letter, at most 40); the recurrent kinds are {', '.join(KINDS)}.")
    return name


def cells_of(params: dict, dataset: str) -> list[str]:
    """The cells a dataset trains: its own `<dataset>.cells` when given (model types that only a forecasting
    dataset has), else params' `cells`."""
    # Whether the dataset has its own list is not a value the report stage depends on: dvc.yaml names the
    # list that applies (dvcgraph), and is rewritten when that changes; so only the list itself is read.
    section_ = params.get(dataset)
    own = section_["cells"] if isinstance(section_, dict) and dict.__contains__(section_, "cells") else None
    cells = own if own is not None else params.get("cells")
    where = f"{dataset}.cells" if own is not None else "cells"
    if not isinstance(cells, list) or not cells:
        raise InvalidParameter(f"params.yaml needs a non-empty list `{where}`.")
    return [check_cell(c) for c in cells]


@dataclass(frozen=True)
class TrainSpec:
    """Everything the train stage reads for one (dataset, cell)."""

    net: NetworkConfig
    optim: OptimConfig
    seed: int
    accelerator: str = "auto"  # auto: the GPUs when there are any, else the CPU
    devices: int | str = 1  # processes per node; params.yaml's default is auto (every GPU), see train_spec
    num_nodes: int = 1
    strategy: str = "auto"  # ddp whenever there is more than one process
    precision: str = "auto"  # Lightning's default, 32-true
    keep_checkpoint: bool = False  # keep the last epoch checkpoint of a finished training (never resumed)
    extras: tuple = ()  # (key, value) pairs of the dataset's own train keys (e.g. text's embedding_dim)


def train_spec(params: dict, dataset: str, cell: str, input_size: int = 1) -> TrainSpec:
    values, where = section(params, dataset, "train", check_cell(cell)), f"{dataset}.train.{cell}"
    plugin = datasets.get(dataset)
    raw = dict(renamed(values, plugin.renamed_keys.get("train", {}), where))
    optim_keys = set(OptimConfig.__dataclass_fields__)
    optim = from_mapping(OptimConfig, {k: v for k, v in raw.items() if k in optim_keys}, where)
    runtime = {"devices": "auto", **{k: raw.pop(k) for k in RUNTIME_KEYS if k in raw}}
    runtime["extras"] = tuple((k, raw.pop(k)) for k in plugin.train_keys if k in raw)
    net_values = {k: v for k, v in raw.items() if k not in optim_keys}
    if cell in KINDS:
        net_values.setdefault("kind", cell)
    elif "kind" not in net_values:
        raise InvalidParameter(f"{where} needs a key kind: {' | '.join(KINDS)} (the recurrent kind of a cell "
                               f"named {cell!r}).")
    net_values.setdefault("input_size", input_size)
    net = from_mapping(NetworkConfig, net_values, where)
    if cell in KINDS and net.kind != cell:
        raise InvalidParameter(f"{where}.kind is {net.kind!r} but the section is for {cell!r}; make them agree.")
    if net.task not in plugin.tasks or net.head not in plugin.heads:
        raise InvalidParameter(f"{where}: {dataset} offers task {' | '.join(plugin.tasks)} with head "
                               f"{' | '.join(plugin.heads)} only; remove or change task / head there.")
    return TrainSpec(net=net, optim=optim, seed=int(params.get("seed", 0)), **runtime)
