"""The interface every dataset plug-in implements, and the records it hands to the generic stages."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection

import numpy as np

from flows.core.atomic import read_json
from flows.scoring.regression_nets import load_regression_net
from models.errors import InvalidParameter, RnnopsError
from models.model_types import DEFAULT


def check_tbptt_needs_streams(params: dict, dataset: str, switch: str, stateful: bool) -> None:
    """Whether a dataset trains on carried streams is one fact, its windows switch (`switch`: formulation,
    mode); a cell's tbptt only says how, so on windows, where it would do nothing, it is an error."""
    from flows.core.params import train_cells

    if stateful:
        return
    for cell, values in train_cells(params, dataset).items():
        if (values or {}).get("tbptt") is not None:
            raise InvalidParameter(f"{dataset}.train.{cell}.tbptt needs {dataset}.windows.{switch}: stateful; remove "
                                   f"tbptt or switch the {switch}.")


def truncated_on_streams(spec, splits: "Splits", k1: int):
    """Data that carries state (the windows switch said so) trains by truncated BPTT: the cell's tbptt, or
    where it sets none an update every `k1` steps; so `optim.tbptt` follows the data, never stands beside it."""
    from models.config import Tbptt
    from models.streams import carries_state

    if spec.optim.tbptt is not None or not carries_state(splits.train):
        return spec
    return dataclasses.replace(spec, optim=dataclasses.replace(spec.optim, tbptt=Tbptt(k1=k1)))


def check_finite(series: np.ndarray, dataset: str) -> None:
    if not np.isfinite(series).all():
        bad = int(np.flatnonzero(~np.isfinite(series))[0])
        raise InvalidParameter(f"the {dataset} series has a NaN or infinite value at row {bad}; clean the source data.")


class Unscorable(RnnopsError):
    """A saved model cannot be scored on the current data (another window, transform or vocabulary)."""


@dataclass
class Splits:
    """What training and evaluation read: torch datasets per split, and facts about them."""

    train: Any
    val: Any  # drives early stopping and champion selection
    test: Any = None  # scored once, by evaluate, where the dataset has one
    info: dict = field(default_factory=dict)  # e.g. window, vocabulary, price transform


@dataclass
class Scored:
    """One split's evaluation: metrics with the headline keys, and the per-item table for DVC's plots."""

    metrics: dict
    table: dict  # column -> values; the first column is the x axis
    plot: dict  # roles for the picture: x, real (or None), model, baselines, ylabel
    files: dict = field(default_factory=dict)  # extra outputs beside the table: suffix -> text
    figures: dict = field(default_factory=dict)  # more images: stem -> (function of flows.reporting.named_figures, its
    # data); PNG + SVG
    # what the conformal intervals calibrate on and are scored on (flows/scoring/intervals.py), on the reported scale:
    # {"real": (n, H), "mean": (n, H), "sd": (n, H) or None}; None where the dataset is no forecaster (text)
    forecast: dict | None = None


def horizon_splits(splits: Splits, horizon: int, ahead: int = 0) -> Splits:
    """The same windows with `horizon` targets each. A split's last windows are dropped where their
    targets would reach the next split's first target (no training target is a validation target),
    and the last split keeps only windows whose H targets exist. ahead: known-future columns that
    each window's input carries on for its later steps (models.windows.WindowDataset)."""
    if horizon == 1:
        return splits
    names = [n for n in ("train", "val", "test") if getattr(splits, n) is not None]
    found = {}
    for name, after in zip(names, [*names[1:], None]):
        windows = getattr(splits, name)
        # the row before which every target must lie: the next split's first target, or the series' end
        end = getattr(splits, after).starts.start + windows.window if after else len(windows.series)
        starts = range(windows.starts.start, min(windows.starts.stop, end - windows.window - horizon + 1))
        if len(starts) == 0:
            raise InvalidParameter(f"no {name} window has {horizon} targets before the next split; "
                                   f"shorten horizon or lengthen the {name} split.")
        found[name] = windows.with_horizon(horizon, starts, ahead)
    return dataclasses.replace(splits, **found, info={**splits.info, "horizon": horizon})


@dataclass(frozen=True)
class Headline:
    """The number a dataset is judged by (lower is better) and its first baseline.

    Every split's metrics hold `metric`, f"{b}_{metric}" for each baseline b, and the verdict's figures
    against the strongest (models.significance.against_baselines: strongest_baseline, skill, dm_pvalue).
    """

    metric: str
    baseline: str
    label: str


@dataclass(frozen=True)
class ExtraStage:
    """A per-cell stage beyond the common five (stocks' walk-forward backtest)."""

    name: str
    module: str  # run as `python -m <module> <dataset> <cell>`
    params: tuple[str, ...]  # keys it reads; {dataset} and {cell} are filled in
    deps: tuple[str, ...]  # data paths it reads
    metrics: str  # its metrics file
    summary_key: str  # the figure the report shows from that file
    label: str
    per_cell: bool = True  # False: one stage for the dataset, `python -m <module> <dataset>`
    outs: tuple[str, ...] = ()  # files it keeps and extends from run to run (persisted, in git, not DVC's cache)
    trains: bool = False  # it fits models: the scheduler gives it a device, as it does a train stage
    after: tuple[str, ...] = ()  # stage kinds it waits for beyond its files (the champion evaluate elects)


@dataclass(frozen=True, init=False)
class Option:
    """One argument of a plug-in's verb, as argparse's add_argument takes it: Option("--force", action="store_true")."""

    flags: tuple[str, ...]
    settings: tuple[tuple[str, Any], ...]

    def __init__(self, *flags: str, **settings: Any):
        object.__setattr__(self, "flags", flags)
        object.__setattr__(self, "settings", tuple(settings.items()))


@dataclass(frozen=True)
class Verb:
    """A command a plug-in adds to `rnnops` (stocks' predict, text's generate). The CLI builds its verbs from
    the registry, as the dvc.yaml writer builds the stages from ExtraStage."""

    name: str
    help: str
    module: str  # its `main(root, dataset, args) -> exit code`, imported only when the verb runs
    options: tuple[Option, ...] = ()
    # True: `rnnops <verb> <dataset>`, among the plug-ins that declare this same verb; False: one plug-in's own
    per_dataset: bool = True


def horizon_plot_roles(ylabel: str = "value", dates: bool = False) -> dict:
    """The roles of a multi-step cell's table (flows.scoring.horizons.score's): its h=1 forecasts beside both
    baselines, x the window's label (`dates`: the first forecast day, an ISO date). Here, not in horizons,
    so that dvc.yaml's charts are known without making every stage depend on the multi-step code."""
    return {"x": "window", **({"x_dates": True} if dates else {}), "real": "real", "model": "predicted",
            "baselines": ["persistence", "seasonal_naive"], "ylabel": f"{ylabel} (h=1)"}


class Dataset:
    """Defaults cover the common case; a plug-in overrides what differs."""

    name = ""
    headline = Headline("rmse", "persistence", "RMSE")
    columns: tuple[tuple[str, str], ...] = ()  # extra (metric key, label) pairs in the report table
    train_keys: tuple[str, ...] = ()  # extra keys allowed in <name>.train.<cell>
    extra_stages: tuple[ExtraStage, ...] = ()
    verbs: tuple[Verb, ...] = ()  # commands it adds to `rnnops`
    # What its Scored.plot roles are (x, real or None, model, baselines, ylabel; x_dates: x holds ISO dates):
    # dvc.yaml declares the same axes.
    plot_roles: dict = {}
    # The reference recipe (the tutorial's original configuration) per cell, as params.yaml keys of
    # <name>.train.<cell>: the report lists only what a cell changes from it. A cell missing here has none.
    reference_recipe: dict[str, dict] = {}
    # Keys of its own it renamed, read for one more release: part of its section (train, evaluate ...) ->
    # old key -> new key. flows/core/params.py renames the train keys; the plug-in those of the parts it reads.
    renamed_keys: dict[str, dict[str, str]] = {}
    # The model types (models.model_types) its cells may choose: a forecasting plug-in says MODEL_TYPES, the
    # live registry, so that a type registered later is offered too; and the output heads (model_types.HEADS).
    tasks: Collection[str] = (DEFAULT,)
    heads: tuple[str, ...] = ("point",)

    # configuration -------------------------------------------------------------------------------
    def check(self, params: dict) -> None:
        """Validate this dataset's params section; one sentence naming the key on error."""

    def stage_params(self, stage: str) -> list[str]:
        """params.yaml keys a stage reads (besides the generic `seed` and `<name>.train.<cell>`)."""
        return {"ingest": [f"{self.name}.ingest"], "windows": [f"{self.name}.windows"],
                "evaluate": [f"{self.name}.evaluate"]}.get(stage, [])

    def source_files(self, params: dict) -> list[str]:
        """Files under the repository that ingest reads (become its DVC deps)."""
        return []

    # data ----------------------------------------------------------------------------------------
    def ingest(self, root: Path, params: dict, out) -> None:
        """Write the raw data through `out` (a flows.core.atomic.Staged folder)."""
        raise NotImplementedError

    def windows(self, root: Path, params: dict, out) -> None:
        raise NotImplementedError

    def load(self, root: Path) -> Splits:
        raise NotImplementedError

    # model ---------------------------------------------------------------------------------------
    def task_splits(self, splits: Splits, net_cfg) -> Splits:
        """The splits a cell trains and is scored on: windows with `horizon` targets for a multi-step cell."""
        if getattr(net_cfg, "horizon", 1) == 1:  # text's nets have no horizon
            return splits
        return horizon_splits(splits, net_cfg.horizon, self.known_ahead(splits, net_cfg))

    def known_ahead(self, splits: Splits, net_cfg) -> int:
        """Known-future input columns (the last ones) a multi-step net's windows carry on for its later steps."""
        return 0

    stream_k1: int = 50  # stateful data: steps per truncated-BPTT update when a cell sets no tbptt

    def budget(self, spec, splits: Splits):
        """The TrainSpec as trained on this data: truncated BPTT on carried streams; a plug-in may also raise
        the epochs for a small data set."""
        return truncated_on_streams(spec, splits, self.stream_k1)

    def build_module(self, spec, splits: Splits):
        """A LightningModule (imports Lightning: call it from training stages only): the model type's."""
        from models.forecasters import build_network
        from models.model_types import build_module

        return build_module(build_network(spec.net), spec.optim)

    def model_files(self, splits: Splits) -> dict[str, Any]:
        """JSON documents saved beside the weights (name -> data): what loading the model needs."""
        return {}

    def load_network(self, folder: Path):
        return load_regression_net(folder)

    def input_example(self, splits: Splits):
        return splits.val[0][0][None]

    def splits_for_saved(self, splits: Splits, folder: Path) -> Splits:
        """The current data as the model saved in `folder` reads it (what a champion is re-scored on):
        the same windows when it was fitted on windows of the same length, else Unscorable. A plug-in
        whose saved model carries fitted statistics (a scaler, a vocabulary) applies those."""
        saved = read_json(Path(folder) / "config.json").get("window")
        if saved != splits.info.get("window"):
            raise Unscorable(f"it was trained on windows of {saved}, the data now has windows of "
                             f"{splits.info.get('window')}")
        return splits

    # evaluation ----------------------------------------------------------------------------------
    def cell_plot_roles(self, net_cfg) -> dict:
        """The roles of one cell's Scored.plot (dvc.yaml's chart of that cell names them): a multi-step
        cell's table is flows.scoring.horizons', whose baselines are persistence and seasonal-naive."""
        if not self.plot_roles or not getattr(net_cfg, "multi_step", False):
            return self.plot_roles
        return horizon_plot_roles(self.plot_roles.get("ylabel", "value"), self.plot_roles.get("x_dates", False))

    def score(self, root: Path, params: dict, net, splits: Splits, split: str) -> Scored:
        raise NotImplementedError

    def report_html(self, root: Path, cell: str) -> str:
        """Extra HTML for a cell's part of the report (e.g. generated text)."""
        return ""

    def report_overview(self, root: Path) -> str:
        """Extra HTML about the dataset as a whole (e.g. a live forecast scorecard)."""
        return ""

    def always_changed(self, stage: str) -> bool:
        """True when a stage must run every time (a source that moves with the calendar)."""
        return False
