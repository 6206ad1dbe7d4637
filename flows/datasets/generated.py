"""Generated 1-D series (cosine, or a toy of a test): windows of `window` values predict the next one,
against persistence ("next = last"); a multi-step cell forecasts H values, also against seasonal-naive
when the ingest config has a period(). A plug-in gives its name, its ingest config and its formula.

formulation: stateful reads the same series as long streams instead (models.streams): the network
predicts every next value along the training stretch by truncated BPTT, and is validated on the same
target values as the windowed form (series[window + train_windows :][:val_windows]), each predicted
from the state the whole past leaves, not from the last `window` values alone."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flows.core import paths
from flows.core.atomic import read_json
from flows.core.params import config_of, section
from flows.datasets.base import Dataset, Scored, Splits, check_finite, check_tbptt_needs_streams
from flows.scoring import horizons
from flows.scoring.intervals import point_forecast
from flows.scoring.regression_nets import predict
from models.config import from_mapping
from models.errors import InvalidParameter
from models.metrics import forecast_report
from models.model_types import HEADS, MODEL_TYPES
from models.significance import overlap_lags
from models.streams import StreamBlocks
from models.windows import WindowDataset, window_count

FORMULATIONS = ("windowed", "stateful")


@dataclass(frozen=True)
class WindowConfig:
    window: int = 500
    train_windows: int = 2000  # windows 0 .. train_windows-1 train the model (the reference recipe's split)
    val_windows: int = 500  # the next val_windows windows validate it
    formulation: str = "windowed"  # stateful: the series as long streams, truncated BPTT (a cell's tbptt; k1 50)
    streams: int = 1  # stateful: parallel stretches the training part is cut into (the batch)

    def check(self, where: str) -> None:
        if self.formulation not in FORMULATIONS:
            raise InvalidParameter(f"{where}.formulation must be windowed or stateful, got {self.formulation!r}.")
        if not isinstance(self.streams, int) or self.streams <= 0:
            raise InvalidParameter(f"{where}.streams must be a positive integer, got {self.streams!r}.")

    def ranges(self, length: int, where: str) -> tuple[range, range]:
        total = window_count(length, self.window)
        for name in ("train_windows", "val_windows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InvalidParameter(f"{where}.{name} must be a positive integer, got {value!r}.")
        if self.train_windows + self.val_windows > total:
            raise InvalidParameter(
                f"train_windows + val_windows = {self.train_windows + self.val_windows} but a series of "
                f"{length} values holds only {total} windows of {self.window}; shrink them or lengthen the series.")
        return range(self.train_windows), range(self.train_windows, self.train_windows + self.val_windows)


class GeneratedSeries(Dataset):
    """A generated series, windowed many-to-one or (multi-step cells) many-to-H. `ingest` is a frozen
    dataclass with `points` and `series()`, optionally `period()` (samples per cycle)."""

    tasks, heads = MODEL_TYPES, HEADS
    columns = (("persistence_rmse", "persistence RMSE"), ("seasonal_naive_rmse", "seasonal-naive RMSE"),
               ("coverage95", "95% interval coverage (nominal 0.95)"),
               ("conformal_coverage95", "95% conformal coverage (nominal 0.95)"),
               ("conformal_width95", "95% conformal width"))

    plot_roles = {"x": "window", "real": "real", "model": "predicted", "baselines": ["persistence"], "ylabel": "value"}

    def __init__(self, name: str, ingest: type, formula: str, reference_recipe: dict[str, dict] | None = None):
        self.name, self.Ingest, self.formula = name, ingest, formula
        self.reference_recipe = reference_recipe or {}

    def ingest_config(self, params: dict):
        return from_mapping(self.Ingest, section(params, self.name, "ingest"), f"{self.name}.ingest")

    def window_config(self, params: dict) -> WindowConfig:
        return config_of(WindowConfig, params, self.name, "windows")

    def check(self, params):
        cfg = self.window_config(params)
        cfg.ranges(self.ingest_config(params).points, f"{self.name}.windows")
        check_tbptt_needs_streams(params, self.name, "formulation", cfg.formulation == "stateful")

    def ingest(self, root, params, out):
        cfg = self.ingest_config(params)
        series = cfg.series()
        out.save_npy("series.npy", series)
        period = {"period": cfg.period()} if hasattr(cfg, "period") else {}
        out.write_json("meta.json", {"source": "generated", "formula": self.formula,
                                     **cfg.__dict__, "rows": len(series), **period})

    def windows(self, root, params, out):
        cfg = self.window_config(params)
        series = np.load(paths.raw_dir(root, self.name) / "series.npy", allow_pickle=False)
        check_finite(series, self.name)
        train, val = cfg.ranges(len(series), f"{self.name}.windows")
        period = read_json(paths.raw_dir(root, self.name) / "meta.json").get("period")
        out.save_npy("series.npy", series.astype(np.float32))
        out.write_json("spec.json", {"window": cfg.window, "train": [train.start, train.stop],
                                     "val": [val.start, val.stop], "series_length": len(series),
                                     "formulation": cfg.formulation, "streams": cfg.streams,
                                     **({"period": period} if period else {})})

    def load(self, root):
        folder = paths.windows_dir(root, self.name)
        spec = read_json(folder / "spec.json")
        series = np.load(folder / "series.npy", allow_pickle=False)
        if spec.get("formulation") == "stateful":
            train, val = stateful_splits(series, spec)
        else:
            train, val = (WindowDataset(series, spec["window"], range(*spec[k])) for k in ("train", "val"))
        return Splits(train, val, None, {"window": spec["window"], "spec": spec})

    def build_module(self, spec, splits):
        if splits.info["spec"].get("formulation") != "stateful":
            return super().build_module(spec, splits)
        from models.networks import RecurrentNet
        from models.regression import StreamRegressor

        return StreamRegressor(RecurrentNet(spec.net), spec.optim)

    def input_example(self, splits):
        if isinstance(splits.val, StreamBlocks):  # the logged model is called as the windowed one is
            return splits.val[0][0][:1, : splits.info["window"]]
        return super().input_example(splits)

    def score(self, root, params, net, splits, split):
        windows = getattr(splits, split)
        period = splits.info["spec"].get("period")
        if isinstance(windows, StreamBlocks):
            real, persistence, predicted, seasonal = stream_forecast(net, windows, period)
        else:
            batch = int(section(params, self.name, "evaluate").get("batch_size", 500))
            if net.cfg.multi_step:
                period = splits.info["spec"].get("period")
                if not period:
                    raise InvalidParameter(f"{self.name} has no seasonal period for the multi-step baselines; give "
                                           f"its ingest config a period() (samples per cycle).")
                return horizons.score(net, windows, batch, period, list(windows.starts), f"{self.name} {split}")
            predicted = predict(net, windows, batch)
            real, persistence = windows.targets().numpy(), windows.last_inputs().numpy()
            seasonal = horizons.seasonal_naive(windows, period)[:, 0] if period else None
        table = {"window": np.arange(len(real)), "real": real, "persistence": persistence, "predicted": predicted}
        # the carried state reads the whole past, but the windowed form's overlap is the least dependence
        metrics = forecast_report(real, predicted, persistence, None if seasonal is None else
                                  {"seasonal_naive": seasonal}, dependence=overlap_lags(splits.info["window"]))
        return Scored(metrics, table, self.plot_roles, forecast=point_forecast(real, predicted))



def stateful_splits(series: np.ndarray, spec: dict) -> tuple[StreamBlocks, StreamBlocks]:
    """Training: every next value along series[: window + train_windows] (cut into `streams`). Validation:
    one stream from the start, counted only on the windowed form's validation targets."""
    values = series.astype(np.float32)[:, None]
    train_end = spec["window"] + spec["train"][1]  # one past the last training target
    val_end = spec["window"] + spec["val"][1]
    train = StreamBlocks(values[: train_end - 1], values[1:train_end], spec.get("streams", 1))
    scored = np.arange(1, val_end) >= spec["window"] + spec["val"][0]  # targets series[t + 1]
    return train, StreamBlocks(values[: val_end - 1], values[1:val_end], 1, weights=scored)


@torch.no_grad()
def stream_forecast(net, stream: StreamBlocks, period: int | None = None):
    """Real values, persistence, one-step predictions and (with a period) the seasonal-naive forecast
    at the scored steps of a one-stream split; x[i] is series[i] and y[i] is series[i + 1]."""
    net.eval()
    x, y, w = (p[0] for p in stream.parts)
    keep = w > 0
    seasonal = None
    if period:
        rows = np.nonzero(keep.numpy())[0] + 1 - period  # series[t - period] for each target series[t]
        if rows.min() < 0:
            raise InvalidParameter(f"the seasonal-naive baseline needs {period} values before the first "
                                   f"forecast; the series starts too late for that.")
        seasonal = x[rows, 0].numpy()
    return (y[keep, 0].numpy(), x[keep, 0].numpy(), net(x[None], many_to_many=True)[0, keep, 0].numpy(),
            seasonal)
