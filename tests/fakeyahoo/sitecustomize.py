"""Loaded by every Python process started with this folder on PYTHONPATH: the outside network faked.

With RNNOPS_FAKE_YAHOO naming a CSV (Date,Open,High,Low,Close,Volume: the market "so far"),
`yfinance.download` answers from it in yfinance 1.7's exact format: (Price, Ticker) MultiIndex
columns in yfinance's order, a 'Date' index, the rows in [start, end). Naming a folder, each ticker
is answered from <folder>/<TICKER>.csv, and a ticker without a file as yfinance answers an unknown
symbol. Nothing else of yfinance or of our code changes. With RNNOPS_RECORD_DIR set the dependency
recorder runs too.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

MARKET = os.environ.get("RNNOPS_FAKE_YAHOO")


def download(tickers, start=None, end=None, **_):
    """No market file: offline, as yfinance 1.7 answers it (an error log line and an empty frame)."""
    import logging

    import pandas as pd

    order = ["Close", "High", "Low", "Open", "Volume"]
    columns = pd.MultiIndex.from_product([order, [tickers]], names=["Price", "Ticker"])
    if not Path(MARKET).exists():
        logging.getLogger("yfinance").error("\n1 Failed download:\n['%s']: DNSError('Failed to perform, curl: "
                                            "(6) Could not resolve host: query2.finance.yahoo.com.')", tickers)
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"))
    source = Path(MARKET) / f"{tickers}.csv" if Path(MARKET).is_dir() else Path(MARKET)
    if not source.exists():  # yfinance 1.7's words for a symbol it does not know
        logging.getLogger("yfinance").error("\n1 Failed download:\n['%s']: YFTzMissingError('possibly delisted; no "
                                            "timezone found')", tickers)
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"))
    market = pd.read_csv(source, parse_dates=["Date"], index_col="Date")
    rows = market[(market.index >= pd.Timestamp(start)) & (market.index < pd.Timestamp(end))]
    return pd.DataFrame(rows[order].to_numpy(), index=pd.DatetimeIndex(rows.index, name="Date"), columns=columns)


class _FakeDownload(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "yfinance":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            module.download = download

        spec.loader.exec_module = exec_module
        return spec


if MARKET:
    sys.meta_path.insert(0, _FakeDownload())
if os.environ.get("RNNOPS_RECORD_DIR"):
    _recorder = Path(__file__).parents[1] / "recorder" / "sitecustomize.py"
    _spec = importlib.util.spec_from_file_location("rnnops_recorder", _recorder)
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
