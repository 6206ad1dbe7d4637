"""`rnnops sweep NAME --apply [--as CELL]`: the best trial's params written into params.yaml as an ordinary
cell, so `dvc repro` trains it through the train stage and reproduces the trial's validation score.

The file is edited round-trip (ruamel.yaml, which DVC itself uses): comments and layout stay, only the
searched keys change. Without --as the starting cell's section gets the values; with --as a new cell is
a copy of the starting cell's merged section (the dataset's train defaults written out in full) with them,
added to the dataset's cell list (dvc.yaml rewritten).
Searched window keys go to <dataset>.windows, which every cell of the dataset reads.
"""
from __future__ import annotations

import copy
import io
from pathlib import Path

import optuna
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from flows import datasets
from flows.core.atomic import write_text
from flows.core.params import PARAMS_FILE, cells_of, check_cell, train_spec, with_defaults
from flows.graph import dvc_yaml
from flows.sweeps import engine
from flows.sweeps.config import WINDOWS, SweepConfig
from models.config import KINDS
from models.errors import InvalidParameter, RnnopsError


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line
    y.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return y


def best_trial(root: Path, cfg: SweepConfig) -> tuple[dict, dict]:
    """(best, counts) of the sweep's study; one sentence when there is no study or no complete trial."""
    storage = engine.open_storage(root, cfg)
    try:
        study = optuna.load_study(study_name=engine.study_name(cfg), storage=storage)
    except KeyError:
        raise RnnopsError(f"sweep {cfg.name} has no study in {engine.storage_url(root, cfg)}; run "
                          f"`rnnops sweep {cfg.name}` first.") from None
    trials = study.get_trials(deepcopy=False)
    top = engine.best(trials)
    if top is None:
        raise RnnopsError(f"sweep {cfg.name} has no complete trial yet; run `rnnops sweep {cfg.name}`.")
    return top, engine.tally(trials)


def edited(text: str, params: dict, cfg: SweepConfig, values: dict, cell: str, note: str = "") -> str:
    y = _yaml()
    doc = y.load(text)
    section = doc[cfg.dataset]
    train = section["train"]
    if cell != cfg.cell:  # the starting cell's values, without its comments (they describe that cell)
        copied = CommentedMap(copy.deepcopy(params[cfg.dataset]["train"][cfg.cell]))
        if cfg.cell in KINDS and "kind" not in copied:  # a cell not named rnn/lstm/gru names its kind
            copied.insert(0, "kind", cfg.cell)
        train[cell] = copied
        if note:
            train.yaml_add_eol_comment(note, cell)
        if cell not in cells_of(params, cfg.dataset):
            if "cells" in section:
                section["cells"].append(cell)
            else:  # the shared list would give the new cell to every dataset: this one gets its own
                section.insert(0, "cells", [*params["cells"], cell])
    for key, value in values.items():
        if key.startswith(WINDOWS):
            section["windows"][key.removeprefix(WINDOWS)] = value
        else:
            train[cell][key] = value
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def apply_best(root: Path, params: dict, cfg: SweepConfig, as_cell: str | None = None) -> str:
    """Write the best trial into params.yaml (and dvc.yaml); returns what was done, for the terminal."""
    cell = check_cell(as_cell) if as_cell else cfg.cell
    if as_cell and as_cell != cfg.cell and as_cell in (params[cfg.dataset].get("train") or {}):
        raise InvalidParameter(f"{cfg.dataset}.train.{as_cell} exists already; choose another name for --as, or "
                               f"leave --as out to replace the starting cell {cfg.cell}.")
    top, counts = best_trial(root, cfg)
    path = Path(root) / PARAMS_FILE
    text = edited(path.read_text(encoding="utf-8"), params, cfg, top["params"], cell,
                  f"sweep {cfg.name}, trial {top['number']}")
    new = with_defaults(yaml.safe_load(text))
    train_spec(new, cfg.dataset, cell)  # what the train stage will read, checked before anything is written
    datasets.get(cfg.dataset).check(new)
    for key, value in top["params"].items():  # the file must say exactly what the trial trained
        got = new[cfg.dataset]["windows"][key.removeprefix(WINDOWS)] if key.startswith(WINDOWS) else \
            new[cfg.dataset]["train"][cell][key]
        if got != value or type(got) is not type(value):
            raise RnnopsError(f"params.yaml would say {key}: {got!r} where trial {top['number']} trained {value!r}.")
    write_text(path, text)
    _, rewritten = dvc_yaml.sync(Path(root), new)
    metric = datasets.get(cfg.dataset).headline.metric
    what = "replaced the searched keys of" if cell == cfg.cell else "written as the new cell"
    lines = [f"sweep {cfg.name}: trial {top['number']} (val {metric} {top['value']:.6g}) {what} "
             f"{cfg.dataset}.train.{cell}: " + ", ".join(f"{k}={v!r}" for k, v in top["params"].items())]
    if any(k.startswith(WINDOWS) for k in top["params"]):
        lines.append(f"{cfg.dataset}.windows changed too: every {cfg.dataset} cell retrains on the new windows")
    if counts["finished"] < cfg.trials:
        lines.append(f"the study has {counts['finished']} of its {cfg.trials} trials; this is the best so far")
    lines.append(("dvc.yaml rewritten; " if rewritten else "") + "`dvc repro` trains and evaluates it "
                 "(the trial's score bit for bit on CPU with the trial's thread count)")
    return "\n".join(lines)
