"""Validate every parameter a run will use before anything starts, so a typo fails in a second."""
from __future__ import annotations

from flows.params import check_dataset, section, train_spec
from flows.sources.cosine import cosine_series
from flows.sources.prices import check_ticker
from flows.stages.data import WindowSpec
from models.config import from_mapping
from models.errors import InvalidParameter
from models.price_windows import TARGETS


def check_stocks(params: dict) -> None:
    ingest, windows = section(params, "stocks", "ingest"), section(params, "stocks", "windows")
    check_ticker(ingest.get("ticker"))
    if ingest.get("source") not in ("yfinance", "csv"):
        raise InvalidParameter(
            f"stocks.ingest.source must be yfinance or csv, got {ingest.get('source')!r}.")
    if windows.get("target", "level") not in TARGETS:
        raise InvalidParameter(f"stocks.windows.target must be one of {', '.join(TARGETS)}, got {windows['target']!r}.")
    window = windows.get("window")
    if not isinstance(window, int) or window <= 0:
        raise InvalidParameter(f"stocks.windows.window must be a positive integer, got {window!r}.")
    for first, last in (("train_start", "train_end"), ("test_start", "test_end"), ("train_end", "test_start")):
        if str(windows[first]) >= str(windows[last]):
            raise InvalidParameter(
                f"stocks.windows.{first} ({windows[first]}) must come before {last} ({windows[last]}).")


def check_backtests(params: dict) -> None:
    """dvc.yaml expands backtest@<dataset>-<cell> from `backtests`; each needs its dataset's ingest stage."""
    backtests = params.get("backtests", [])
    if not isinstance(backtests, list) or any(b != "stocks" for b in backtests):
        raise InvalidParameter(f"backtests must be [stocks] or [], got {backtests!r}; only stocks has a backtest.")
    if backtests and "stocks" not in params.get("datasets", []):
        raise InvalidParameter("backtests lists stocks but datasets does not; set backtests: [] or add stocks "
                               "to datasets (dvc repro would miss the stocks data).")


def check_all(params: dict, datasets: list[str]) -> None:
    check_backtests(params)
    for dataset in datasets:
        if check_dataset(dataset) == "stocks":
            check_stocks(params)
        elif dataset == "text":
            check_text(params)
        else:
            length = len(cosine_series(**section(params, dataset, "ingest")))
            from_mapping(WindowSpec, section(params, dataset, "windows"), f"{dataset}.windows").ranges(length)
        for cell in params.get("cells", []):
            train_spec(params, dataset, cell)


def check_text(params: dict) -> None:
    from flows.sources.text import check_name
    from flows.stages.text import SOURCES

    ingest, windows = section(params, "text", "ingest"), section(params, "text", "windows")
    check_name(ingest.get("name"))
    if ingest.get("source") not in SOURCES:
        raise InvalidParameter(
            f"text.ingest.source must be one of {', '.join(SOURCES)}, got {ingest.get('source')!r}.")
    for key in ("seq_len", "stride"):
        if not isinstance(windows.get(key), int) or windows[key] <= 0:
            raise InvalidParameter(f"text.windows.{key} must be a positive integer, got {windows.get(key)!r}.")
    if windows.get("mode", "many_to_many") not in ("many_to_many", "many_to_one"):
        raise InvalidParameter(f"text.windows.mode must be many_to_many or many_to_one, got {windows['mode']!r}.")
