"""Generated 1-D series (cosine, or a toy of a test): windows of `window` values predict the next one,
against persistence ("next = last"); a multi-step cell forecasts H values, also against seasonal-naive
when the ingest config has a period(). A plug-in gives its name, its ingest config and its formula."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flows import horizons, paths
from flows.atomic import read_json
from flows.datasets.base import Dataset, Scored, Splits, check_finite
from flows.params import section
from flows.scoring import predict
from models.config import HEADS, TASKS, from_mapping
from models.errors import InvalidParameter
from models.metrics import forecast_report
from models.windows import WindowDataset, window_count


@dataclass(frozen=True)
class WindowConfig:
    window: int = 500
    train_windows: int = 2000  # windows 0 .. train_windows-1 train the model (the seed's split)
    val_windows: int = 500  # the next val_windows windows validate it

    def ranges(self, length: int) -> tuple[range, range]:
        total = window_count(length, self.window)
        for name in ("train_windows", "val_windows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InvalidParameter(f"windows.{name} must be a positive integer, got {value!r}.")
        if self.train_windows + self.val_windows > total:
            raise InvalidParameter(
                f"train_windows + val_windows = {self.train_windows + self.val_windows} but a series of "
                f"{length} values holds only {total} windows of {self.window}; shrink them or lengthen the series.")
        return range(self.train_windows), range(self.train_windows, self.train_windows + self.val_windows)


class GeneratedSeries(Dataset):
    """A generated series, windowed many-to-one or (multi-step cells) many-to-H. `ingest` is a frozen
    dataclass with `points` and `series()`, optionally `period()` (samples per cycle)."""

    tasks, heads = TASKS, HEADS
    columns = (("seasonal_naive_rmse", "seasonal-naive RMSE"), ("coverage95", "95% interval coverage (nominal 0.95)"))

    plot_roles = {"x": "window", "real": "real", "model": "predicted", "baselines": ["persistence"], "ylabel": "value"}

    def __init__(self, name: str, ingest: type, formula: str, seed_recipe: dict[str, dict] | None = None):
        self.name, self.Ingest, self.formula = name, ingest, formula
        self.seed_recipe = seed_recipe or {}

    def ingest_config(self, params: dict):
        return from_mapping(self.Ingest, section(params, self.name, "ingest"), f"{self.name}.ingest")

    def window_config(self, params: dict) -> WindowConfig:
        return from_mapping(WindowConfig, section(params, self.name, "windows"), f"{self.name}.windows")

    def check(self, params):
        self.window_config(params).ranges(self.ingest_config(params).points)

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
        train, val = cfg.ranges(len(series))
        period = read_json(paths.raw_dir(root, self.name) / "meta.json").get("period")
        out.save_npy("series.npy", series.astype(np.float32))
        out.write_json("spec.json", {"window": cfg.window, "train": [train.start, train.stop],
                                     "val": [val.start, val.stop], "series_length": len(series),
                                     **({"period": period} if period else {})})

    def load(self, root):
        folder = paths.windows_dir(root, self.name)
        spec = read_json(folder / "spec.json")
        series = np.load(folder / "series.npy", allow_pickle=False)
        train, val = (WindowDataset(series, spec["window"], range(*spec[k])) for k in ("train", "val"))
        return Splits(train, val, None, {"window": spec["window"], "spec": spec})

    def score(self, root, params, net, splits, split):
        windows = getattr(splits, split)
        batch = int(section(params, self.name, "evaluate").get("batch_size", 500))
        if net.cfg.multi_step:
            period = splits.info["spec"].get("period")
            if not period:
                raise InvalidParameter(f"{self.name} has no seasonal period for the multi-step baselines; give its "
                                       f"ingest config a period() (samples per cycle).")
            return horizons.score(net, windows, batch, period, list(windows.starts), f"{self.name} {split}")
        predicted = predict(net, windows, batch)
        real, persistence = windows.targets().numpy(), windows.last_inputs().numpy()
        table = {"window": np.arange(len(real)), "real": real, "persistence": persistence, "predicted": predicted}
        return Scored(forecast_report(real, predicted, persistence), table, self.plot_roles)

