"""ingest -> windows: the raw series on disk, then the lazy window index over it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flows import paths
from flows.atomic import atomic_path, read_json, write_json
from flows.params import check_dataset, load_params, section
from flows.sources.cosine import cosine_series
from models.config import from_mapping
from models.errors import InvalidParameter
from models.windows import WindowDataset, window_count


def _save_npy(target: Path, array: np.ndarray) -> None:
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def ingest(root: Path, dataset: str) -> Path:
    params = load_params(root)
    cfg = dict(section(params, check_dataset(dataset), "ingest"))
    if dataset == "stocks":
        from flows.stages.stocks import ingest_stocks

        return ingest_stocks(root, cfg)
    if dataset == "text":
        from flows.stages.text import ingest_text

        return ingest_text(root, cfg)
    series = cosine_series(**cfg)
    out = paths.raw_dir(root, dataset)
    _save_npy(out / "series.npy", series)
    write_json(out / "meta.json", {"source": "generated", "formula": "cos(linspace(start, stop, points))",
                                   **cfg, "rows": len(series)})
    return out


@dataclass(frozen=True)
class WindowSpec:
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
                f"{length} values holds only {total} windows of {self.window}; shrink them or lengthen the series."
            )
        train = range(self.train_windows)
        return train, range(self.train_windows, self.train_windows + self.val_windows)


def make_windows(root: Path, dataset: str) -> Path:
    params = load_params(root)
    if check_dataset(dataset) == "text":
        from flows.stages.text import text_windows

        return text_windows(root, params)
    if dataset == "stocks":
        from flows.stages.stocks import make_stock_windows

        series, spec = make_stock_windows(root, params)
    else:
        series, spec = cosine_windows(root, params, dataset)
    if not np.isfinite(series).all():
        bad = int(np.flatnonzero(~np.isfinite(series))[0])
        raise InvalidParameter(f"the {dataset} series has a NaN or infinite value at row {bad}; clean the source data.")
    out = paths.windows_dir(root, dataset)
    _save_npy(out / "series.npy", series.astype(np.float32))
    write_json(out / "spec.json", spec)
    return out


def cosine_windows(root: Path, params: dict, dataset: str) -> tuple[np.ndarray, dict]:
    spec = from_mapping(WindowSpec, section(params, dataset, "windows"), f"{dataset}.windows")
    series = np.load(paths.raw_dir(root, dataset) / "series.npy", allow_pickle=False)
    train, val = spec.ranges(len(series))
    return series, {"window": spec.window, "train": [train.start, train.stop], "val": [val.start, val.stop],
                    "series_length": len(series)}


def load_spec(root: Path, dataset: str) -> dict:
    return read_json(paths.windows_dir(root, dataset) / "spec.json")


def load_windows(root: Path, dataset: str) -> tuple[WindowDataset, WindowDataset]:
    folder = paths.windows_dir(root, dataset)
    spec = load_spec(root, dataset)
    series = np.load(folder / "series.npy", allow_pickle=False)
    train, val = (WindowDataset(series, spec["window"], range(*spec[k])) for k in ("train", "val"))
    return train, val
