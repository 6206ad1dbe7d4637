"""Daily prices from Yahoo Finance via yfinance: the only module that touches that network.

yfinance 1.7 never raises on a failed download: it logs "1 Failed download" and returns an EMPTY
frame (MultiIndex (Price, Ticker) columns even for one ticker). We read its log records to tell an
unknown ticker (fail at once) from an unreachable service (retry with backoff, then give up).
"""
from __future__ import annotations

import logging
import re
import time
import warnings

import pandas as pd

from flows.datasets.stocks.prices import CANONICAL, PriceDataError
from models.errors import SourceUnavailable

# Offline, yfinance logs the network error *and* may add "possibly delisted": the network wins.
NETWORK_MARKERS = ("failed to perform", "curl:", "dnserror", "connectionerror", "could not resolve", "timed out",
                   "timeout", "proxy", "ssl", "too many requests", "ratelimit")
UNKNOWN_MARKERS = ("delisted", "not found", "no data found", "no timezone found", "invalid")
DEADLINE_S = 25.0  # the whole fetch, retries included, gives up before 30 s


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _download(ticker: str, start: str, end: str, interval: str) -> tuple[pd.DataFrame, str]:
    import yfinance as yf

    capture = _Capture()
    log = logging.getLogger("yfinance")
    log.addHandler(capture)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*inplace keyword.*")  # yfinance 1.7 on pandas 3
            frame = yf.download(ticker, start=start, end=end, interval=interval, auto_adjust=True,
                                progress=False, threads=False, multi_level_index=True, timeout=10)
    except Exception as exc:  # network stacks differ; whatever it is, it is the remote side
        return pd.DataFrame(), repr(exc)
    finally:
        log.removeHandler(capture)
    return (frame if frame is not None else pd.DataFrame()), " ".join(capture.messages).strip()


def _flatten(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    if isinstance(frame.columns, pd.MultiIndex):
        level = frame.columns.names.index("Ticker") if "Ticker" in frame.columns.names else 1
        frame = frame.xs(ticker, axis=1, level=level)
    frame = frame[[c for c in CANONICAL if c in frame.columns]].astype(float)
    index = pd.DatetimeIndex(frame.index)
    frame.index = index.tz_localize(None) if index.tz is not None else index
    frame.index = frame.index.normalize()
    frame.index.name = "Date"
    return frame


def fetch_daily(ticker: str, start: str, end: str, interval: str = "1d", retries: int = 3,
                backoff_s: float = 2.0, dataset: str = "stocks") -> pd.DataFrame:
    """Prices of one ticker in [start, end); raises SourceUnavailable or PriceDataError in one sentence
    (naming `dataset`'s snapshot and params section)."""
    deadline = time.monotonic() + DEADLINE_S
    cause = ""
    for attempt in range(1, retries + 1):
        frame, cause = _download(ticker, start, end, interval)
        if not frame.empty:
            return _flatten(frame, ticker)
        lowered = cause.lower()
        if not any(m in lowered for m in NETWORK_MARKERS) and any(m in lowered for m in UNKNOWN_MARKERS):
            raise PriceDataError(f"Yahoo Finance knows no prices for ticker {ticker} between {start} and {end} "
                                 f"({_short(cause)}); check the symbol (e.g. GOOG) and the dates.")
        wait = backoff_s * 2 ** (attempt - 1)
        if attempt == retries or time.monotonic() + wait > deadline:
            break
        time.sleep(wait)
    raise SourceUnavailable(
        f"could not download {ticker} from Yahoo Finance after {attempt} tries ({_short(cause) or 'empty response'}); "
        f"if offline, use a snapshot (data/raw/{dataset}/{ticker}.csv) or set {dataset}.ingest.source: csv with "
        f"a path.")


def _short(cause: str) -> str:
    """The informative part of yfinance's log: curl's own words when there are some."""
    curl = re.search(r"curl: \((\d+)\) ([^.]+(?:\.[a-z]+)*)", cause)
    if curl:
        return f"network error, curl {curl.group(1)}: {curl.group(2).strip()}"
    text = " ".join(cause.replace("1 Failed download:", "").split())
    return text[-160:]


def library_version() -> str:
    import yfinance as yf

    return yf.__version__
