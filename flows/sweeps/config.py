"""params.yaml's `sweeps:` section: per sweep a dataset, the cell it starts from, a search space over the
cell's train keys and the dataset's window keys, the trials, the sampler and the pruner.

    sweeps:
      cosine_lstm:
        dataset: cosine
        cell: lstm
        trials: 20
        space:
          hidden_size: {type: int, low: 16, high: 256}
          lr: {type: log_float, low: 1.0e-4, high: 1.0e-2}
          windows.window: {type: categorical, choices: [100, 250, 500]}

Every error is one sentence naming the key. No optuna here: `rnnops sweep` checks params in a second.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from flows import datasets
from flows.core.params import RUNTIME_KEYS, check_cell, planned_datasets, section, train_spec
from flows.training.launch import layout
from models.config import NetworkConfig, OptimConfig
from models.errors import InvalidParameter

KINDS = ("int", "float", "log_float", "categorical")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
WINDOWS = "windows."  # a space key with this prefix is one of the dataset's window keys
# Not hyperparameters: what the data fixes (input/output size), how a cell is run, and nested mappings.
NOT_SEARCHED = {"input_size", "output_size", "tbptt", *RUNTIME_KEYS}
KEYS = {"dataset", "cell", "trials", "space", "sampler", "pruner", "prune_after_trials", "prune_after_epochs",
        "seed", "start_trial", "storage", "heartbeat_s"}


@dataclass(frozen=True)
class Dim:
    """One searched key: int / float in [low, high] (optional step), log_float, or categorical choices."""

    key: str  # a train key of the cell, or windows.<key>
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    choices: tuple = ()

    @property
    def windows_key(self) -> str | None:
        return self.key.removeprefix(WINDOWS) if self.key.startswith(WINDOWS) else None

    def contains(self, value) -> bool:
        if self.kind == "categorical":
            return any(type(value) is type(c) and value == c for c in self.choices)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def corners(self) -> list:
        """The values that must each make a valid cell: the bounds, or every choice."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"categorical {list(self.choices)}"
        return f"{self.kind} [{self.low}, {self.high}]" + (f" step {self.step}" if self.step else "")


@dataclass(frozen=True)
class SweepConfig:
    name: str
    dataset: str
    cell: str  # the cell it starts from; trials change only the searched keys of its section
    space: tuple[Dim, ...]
    trials: int = 20  # finished trials (complete, pruned or failed in training) the study ends with
    sampler: str = "tpe"
    pruner: str = "median"  # median: stop a trial whose validation curve is above the median of finished ones
    prune_after_trials: int = 2  # trials finished before any is pruned
    prune_after_epochs: int = 1  # epochs every trial trains before it may be pruned
    seed: int = 0
    start_trial: bool = True  # trial 0 trains the starting cell as it is: the best is never worse than it
    storage: str | None = None  # RNNOPS_OPTUNA_STORAGE wins; neither: sqlite under the repository
    heartbeat_s: int = 10  # a worker silent for 2 x this is dead: its trial is failed and retried


def _where(name: str, *keys: str) -> str:
    return ".".join(("sweeps", name, *keys))


def _number(value, where: str, integer: bool = False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool):
        raise InvalidParameter(f"{where} must be {'an integer' if integer else 'a number'}, got {value!r}.")
    return value


def _dim(name: str, key: str, raw) -> Dim:
    where = _where(name, "space", key)
    if not isinstance(raw, dict) or raw.get("type") not in KINDS:
        raise InvalidParameter(f"{where} must be a mapping with type: {' | '.join(KINDS)}, got {raw!r}.")
    kind = raw["type"]
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high"} | (
        set() if kind == "log_float" else {"step"})
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidParameter(f"{where} has unknown key(s) {', '.join(unknown)}; a {kind} takes "
                               f"{', '.join(sorted(allowed))}.")
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise InvalidParameter(f"{where}.choices must be a non-empty list, got {choices!r}.")
        if any(not isinstance(c, (str, int, float, bool)) and c is not None for c in choices):
            raise InvalidParameter(f"{where}.choices must be numbers, strings, booleans or null, got {choices!r}.")
        if len({repr(c) for c in choices}) != len(choices):
            raise InvalidParameter(f"{where}.choices lists a value twice: {choices!r}.")
        return Dim(key, kind, choices=tuple(choices))
    integer = kind == "int"
    for bound in ("low", "high"):
        if bound not in raw:
            raise InvalidParameter(f"{where} needs {bound}.")
    low, high = (_number(raw[b], f"{where}.{b}", integer) for b in ("low", "high"))
    if not low < high:
        raise InvalidParameter(f"{where}: low ({low}) must be below high ({high}).")
    if kind == "log_float" and low <= 0:
        raise InvalidParameter(f"{where}: a log_float needs low > 0, got {low}.")
    step = raw.get("step")
    if step is not None:
        _number(step, f"{where}.step", integer)
        if not 0 < step <= high - low:
            raise InvalidParameter(f"{where}.step must be in (0, high - low = {high - low}], got {step}.")
    return Dim(key, kind, low, high, step)


def searchable_keys(dataset: str) -> set[str]:
    plugin = datasets.get(dataset)
    names = {f.name for f in dataclasses.fields(NetworkConfig)} | {f.name for f in dataclasses.fields(OptimConfig)}
    return (names | set(plugin.train_keys)) - NOT_SEARCHED


def with_values(params: dict, cfg: SweepConfig, values: dict[str, Any]) -> dict:
    """params as one trial trains: the searched values in the starting cell's section and the windows."""
    found = copy.deepcopy(params)
    cell = found[cfg.dataset]["train"][cfg.cell]
    for key, value in values.items():
        if key.startswith(WINDOWS):
            found[cfg.dataset]["windows"][key.removeprefix(WINDOWS)] = value
        else:
            cell[key] = value
    return found


def start_values(params: dict, cfg: SweepConfig) -> dict[str, Any]:
    """The starting cell's own value of every searched key (its section's, else the default it trains with)."""
    spec = train_spec(params, cfg.dataset, cfg.cell)
    extras = dict(spec.extras)
    found = {}
    for dim in cfg.space:
        if dim.windows_key:
            found[dim.key] = params[cfg.dataset]["windows"][dim.windows_key]
        elif dim.key in extras:
            found[dim.key] = extras[dim.key]
        else:
            found[dim.key] = getattr(spec.net if hasattr(spec.net, dim.key) else spec.optim, dim.key)
    return found


def _check_corners(params: dict, cfg: SweepConfig) -> None:
    """Each bound and choice, alone in the starting cell, must make a cell the train stage accepts."""
    plugin = datasets.get(cfg.dataset)
    for dim in cfg.space:
        for value in dim.corners():
            trial = with_values(params, cfg, {dim.key: value})
            try:
                if dim.windows_key:
                    plugin.check(trial)
                spec = train_spec(trial, cfg.dataset, cfg.cell)
                layout(spec, f"{cfg.dataset}.train.{cfg.cell}")
            except InvalidParameter as exc:
                raise InvalidParameter(f"{_where(cfg.name, 'space', dim.key)} at {value!r}: {exc}") from None


def sweep_config(params: dict, name: str) -> SweepConfig:
    sweeps = params.get("sweeps")
    if not isinstance(sweeps, dict) or not sweeps:
        raise InvalidParameter("params.yaml has no sweeps: section; declare one (docs/sweeps.md).")
    if name not in sweeps:
        raise InvalidParameter(f"params.yaml declares no sweep {name!r}; choose one of {', '.join(sweeps)}.")
    raw = sweeps[name]
    if not isinstance(raw, dict):
        raise InvalidParameter(f"{_where(name)} must be a mapping, got {raw!r}.")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise InvalidParameter(f"{_where(name)} has unknown key(s) {', '.join(unknown)}; allowed keys are "
                               f"{', '.join(sorted(KEYS))}.")
    for key in ("dataset", "cell", "space"):
        if key not in raw:
            raise InvalidParameter(f"{_where(name)} needs {key}.")
    dataset = raw["dataset"]
    datasets.get(dataset)
    if dataset not in planned_datasets(params):
        raise InvalidParameter(f"{_where(name, 'dataset')} is {dataset!r}, which params.yaml's datasets do not "
                               f"list; add it there (its windows come from the pipeline).")
    cell = check_cell(raw["cell"])
    section(params, dataset, "train", cell)
    space = raw["space"]
    if not isinstance(space, dict) or not space:
        raise InvalidParameter(f"{_where(name, 'space')} must map keys to ranges, e.g. lr: "
                               f"{{type: log_float, low: 1.0e-4, high: 1.0e-2}}.")
    allowed = searchable_keys(dataset)
    windows = section(params, dataset, "windows") or {}
    for key in space:
        bare = str(key).removeprefix(WINDOWS)
        if (str(key).startswith(WINDOWS) and bare not in windows) or (not str(key).startswith(WINDOWS)
                                                                      and key not in allowed):
            raise InvalidParameter(
                f"{_where(name, 'space', str(key))} is neither a train key of {dataset} cells "
                f"({', '.join(sorted(allowed))}) nor windows.<key> of {dataset}.windows "
                f"({', '.join(sorted(windows))}).")
    fields = {k: raw[k] for k in KEYS - {"dataset", "cell", "space"} if k in raw}
    for key in ("trials", "heartbeat_s"):
        if key in fields and (_number(fields[key], _where(name, key), integer=True) < 1):
            raise InvalidParameter(f"{_where(name, key)} must be at least 1, got {fields[key]}.")
    for key in ("prune_after_trials", "prune_after_epochs", "seed"):
        if key in fields and _number(fields[key], _where(name, key), integer=True) < 0:
            raise InvalidParameter(f"{_where(name, key)} must be 0 or more, got {fields[key]}.")
    for key, choices in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
        if key in fields and fields[key] not in choices:
            raise InvalidParameter(f"{_where(name, key)} must be one of {', '.join(choices)}, got {fields[key]!r}.")
    if "start_trial" in fields and not isinstance(fields["start_trial"], bool):
        raise InvalidParameter(f"{_where(name, 'start_trial')} must be true or false, got {fields['start_trial']!r}.")
    if "storage" in fields and fields["storage"] is not None and not isinstance(fields["storage"], str):
        raise InvalidParameter(f"{_where(name, 'storage')} must be a database URL or null.")
    fields.setdefault("seed", int(params.get("seed", 0)))
    cfg = SweepConfig(name, dataset, cell, tuple(_dim(name, str(k), v) for k, v in space.items()), **fields)
    _check_corners(params, cfg)
    if cfg.start_trial:
        for key, value in start_values(params, cfg).items():
            if not next(d for d in cfg.space if d.key == key).contains(value):
                raise InvalidParameter(f"{_where(name, 'space', key)} does not hold the starting cell's value "
                                       f"{value!r}, which trial 0 trains; widen it, or set start_trial: false.")
    if train_spec(params, dataset, cell).num_nodes != 1:
        raise InvalidParameter(f"{dataset}.train.{cell} asks for several nodes; a sweep trains each trial on its "
                               f"worker's machine (devices: N ranks there): set num_nodes: 1 there, or sweep a "
                               f"one-node copy of the cell.")
    return cfg
