"""yfinance faked at its download function, with frames and log lines in the exact 1.7 formats."""
import logging
import time

import numpy as np
import pandas as pd
import pytest
import yfinance

from flows.datasets.stocks.prices import PriceDataError
from flows.datasets.stocks.yahoo import fetch_daily
from flows.stages.ingest import ingest
from models.errors import SourceUnavailable
from tests.conftest import tiny_params, write_params
from tests.test_prices import business_days, yf_download_frame

YF_LOG = logging.getLogger("yfinance")
# Logged by yfinance 1.7 on this machine with no route to Yahoo (both lines, as they come).
OFFLINE = ("Failed to get ticker '{t}' reason: Failed to perform, curl: (6) Could not resolve host: "
           "query2.finance.yahoo.com. See https://curl.se/libcurl/c/libcurl-errors.html first for more details.",
           "['{t}']: DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
           "See https://curl.se/libcurl/c/libcurl-errors.html first for more details.')")
UNKNOWN = "YFTzMissingError('possibly delisted; no timezone found')"


def empty_download(ticker):
    """What yf.download returns for a failed ticker: no rows, (Price, Ticker) columns incl. Adj Close."""
    columns = pd.MultiIndex.from_product([["Adj Close", "Close", "High", "Low", "Open", "Volume"], [ticker]],
                                         names=["Price", "Ticker"])
    return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"), dtype=float)


class FakeYahoo:
    def __init__(self, outcome: str):
        self.outcome, self.calls = outcome, 0

    def __call__(self, tickers, **kwargs):
        self.calls += 1
        assert kwargs["multi_level_index"] is True and kwargs["progress"] is False
        if self.outcome == "ok":
            return yf_download_frame(business_days(300, "2015-06-01"), tickers)
        if self.outcome == "offline":
            YF_LOG.error(OFFLINE[0].format(t=tickers))
        YF_LOG.error("\n1 Failed download:")
        YF_LOG.error(OFFLINE[1].format(t=tickers) if self.outcome == "offline" else f"['{tickers}']: {UNKNOWN}")
        return empty_download(tickers)


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def stocks_root(tmp_path):
    params = tiny_params(("stocks",))
    params["stocks"]["ingest"].update(source="yfinance", paths=[])
    write_params(tmp_path, params)
    return tmp_path


def test_download_is_flattened_to_the_canonical_frame(monkeypatch):
    monkeypatch.setattr(yfinance, "download", FakeYahoo("ok"))
    frame = fetch_daily("GOOG", "2015-06-01", "2016-08-01")
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert frame.index.name == "Date" and frame.index.tz is None and len(frame) == 300


def test_offline_retries_with_backoff_then_says_what_to_do(monkeypatch, no_sleep):
    fake = FakeYahoo("offline")
    monkeypatch.setattr(yfinance, "download", fake)
    with pytest.raises(SourceUnavailable) as err:
        fetch_daily("GOOG", "2012-01-01", "2017-02-01", retries=3)
    message = str(err.value)
    assert fake.calls == 3 and no_sleep == [2.0, 4.0] and sum(no_sleep) < 30
    assert "GOOG" in message and "Could not resolve host: query2.finance.yahoo.com" in message
    assert "source: csv" in message and "\n" not in message


def test_unknown_ticker_fails_at_once(monkeypatch, no_sleep):
    fake = FakeYahoo("unknown")
    monkeypatch.setattr(yfinance, "download", fake)
    with pytest.raises(PriceDataError, match="knows no prices for ticker ZZZZQ") as err:
        fetch_daily("ZZZZQ", "2012-01-01", "2017-02-01")
    assert not isinstance(err.value, SourceUnavailable) and fake.calls == 1 and no_sleep == []


def test_failed_fetch_keeps_the_snapshot_and_reuses_it_loudly(tmp_path, monkeypatch, no_sleep, capsys):
    root = stocks_root(tmp_path)
    monkeypatch.setattr(yfinance, "download", FakeYahoo("ok"))
    ingest(root, "stocks")
    snapshot = root / "data/raw/stocks/GOOG.csv"
    before = snapshot.read_bytes()
    monkeypatch.setattr(yfinance, "download", FakeYahoo("offline"))
    ingest(root, "stocks")  # same request: the snapshot stands in, with a warning
    assert snapshot.read_bytes() == before
    assert "Re-using the snapshot" in capsys.readouterr().err
    params = tiny_params(("stocks",))
    params["stocks"]["ingest"].update(source="yfinance", start="2013-01-01")  # a different request
    write_params(root, params)
    with pytest.raises(SourceUnavailable):
        ingest(root, "stocks")
    assert snapshot.read_bytes() == before
    assert not list(snapshot.parent.glob(".*"))


def test_invalid_download_is_refused_before_the_snapshot_is_touched(tmp_path, monkeypatch):
    root = stocks_root(tmp_path)
    monkeypatch.setattr(yfinance, "download", FakeYahoo("ok"))
    ingest(root, "stocks")
    before = (root / "data/raw/stocks/GOOG.csv").read_bytes()

    def with_hole(tickers, **kwargs):
        frame = yf_download_frame(business_days(300, "2015-06-01"), tickers)
        frame.iloc[5, :] = np.nan
        return frame

    monkeypatch.setattr(yfinance, "download", with_hole)
    with pytest.raises(PriceDataError, match="no Open price on 2015-06-08"):
        ingest(root, "stocks")
    assert (root / "data/raw/stocks/GOOG.csv").read_bytes() == before
