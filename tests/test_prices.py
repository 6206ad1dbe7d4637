"""Price CSVs in the layouts people have, and every bad input giving its one sentence."""
import numpy as np
import pandas as pd
import pytest

from flows.datasets.stocks.prices import PriceDataError, check_ticker, read_price_csv, validate
from flows.datasets.stocks.series import build_windows
from models.errors import InvalidParameter
from tests.conftest import SHARED_DATA, needs_seed_csvs


def yf_download_frame(dates, ticker="GOOG"):
    """The exact shape of yfinance 1.7's yf.download(ticker): MultiIndex (Price, Ticker) columns, index 'Date'."""
    base = np.linspace(100, 120, len(dates))
    columns = pd.MultiIndex.from_product([["Close", "High", "Low", "Open", "Volume"], [ticker]],
                                         names=["Price", "Ticker"])
    values = np.column_stack([base, base + 1, base - 1, base - 0.5, np.full(len(dates), 1e6)])
    return pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="Date"), columns=columns)


def business_days(n=30, start="2016-01-04"):
    return pd.bdate_range(start, periods=n)


def test_seed_csvs_load_and_the_split_jump_is_named():
    needs_seed_csvs()
    frame = read_price_csv(SHARED_DATA / "Google_Stock_Price_Train.csv")
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert len(frame) == 1258 and frame.index[0] == pd.Timestamp("2012-01-03")
    assert frame["Volume"].iloc[0] == 7_380_500
    warnings = validate(frame, "Open", "seed")
    assert len(warnings) == 1 and "Close" in warnings[0] and "2014-03-27" in warnings[0]
    test = read_price_csv(SHARED_DATA / "Google_Stock_Price_Test.csv")
    assert len(test) == 20 and test["Open"].iloc[0] == pytest.approx(778.81)


def test_yf_download_to_csv_round_trips(tmp_path):
    frame = yf_download_frame(business_days())
    frame.to_csv(tmp_path / "dl.csv")
    assert (tmp_path / "dl.csv").read_text().splitlines()[1].startswith("Ticker,GOOG")
    loaded = read_price_csv(tmp_path / "dl.csv")
    np.testing.assert_allclose(loaded["Open"], frame[("Open", "GOOG")])
    assert list(loaded.index) == list(frame.index)


def test_ticker_history_csv_with_timezone_and_actions(tmp_path):
    dates = pd.DatetimeIndex(business_days(), name="Date").tz_localize("America/New_York")
    frame = pd.DataFrame({"Open": 10.0, "High": 11.0, "Low": 9.0, "Close": 10.5, "Volume": 1000,
                          "Dividends": 0.0, "Stock Splits": 0.0}, index=dates)
    frame.to_csv(tmp_path / "hist.csv")
    assert "-05:00" in (tmp_path / "hist.csv").read_text().splitlines()[1]
    loaded = read_price_csv(tmp_path / "hist.csv")
    assert loaded.index[0] == pd.Timestamp("2016-01-04") and "Dividends" not in loaded.columns


def test_two_column_file(tmp_path):
    (tmp_path / "p.csv").write_text("Date,Price\n2016-01-04,10\n2016-01-05,11\n")
    loaded = read_price_csv(tmp_path / "p.csv")
    assert list(loaded.columns) == ["Price"] and loaded["Price"].tolist() == [10.0, 11.0]


GOOD = "Date,Open,High,Low,Close\n2016-01-04,10,11,9,10\n2016-01-05,11,12,10,11\n2016-01-06,12,13,11,12\n"


@pytest.mark.parametrize("text, fragment", [
    ("Date,Open\n2016-01-05,10\n2016-01-04,11\n", "not sorted by date"),
    ("Date,Open\n2016-01-04,10\n2016-01-04,11\n", "more than once"),
    ("Date,Open\n2016-01-04,10\n2016-01-05,\n", "no Open price on 2016-01-05"),
    ("Date,Open\n2016-01-04,10\n2016-01-05,-1\n", "non-positive Open price"),
    ("Date,Open\n2016-01-04,10\n2016-03-05,11\n", "gap of 61 days"),
    ("Date,Open\n2016-01-04,ten\n", "not a number"),
    ("Date,Open\n04.01.2016,10\n", "neither m/d/yyyy nor yyyy-mm-dd"),
    ("Date,Open\n", "no data rows"),
    ("", "no data rows"),
])
def test_bad_price_files_give_one_sentence(tmp_path, text, fragment):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(PriceDataError) as err:
        validate(read_price_csv(tmp_path / "bad.csv"), "Open", "bad.csv")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_non_utf8_and_missing_files(tmp_path):
    (tmp_path / "latin.csv").write_bytes(GOOD.replace("Date", "Dat\xe9").encode("latin-1"))
    with pytest.raises(PriceDataError, match="not UTF-8"):
        read_price_csv(tmp_path / "latin.csv")
    with pytest.raises(PriceDataError, match="does not exist"):
        read_price_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize("ticker", ["../etc/passwd", "GOOG/../../x", "", ".hidden", "A" * 20, None])
def test_tickers_never_become_paths_unchecked(ticker):
    with pytest.raises(PriceDataError, match="not a valid symbol"):
        check_ticker(ticker)


@pytest.mark.parametrize("ticker", ["goog", "BRK-B", "^GSPC", "EURUSD=X"])
def test_real_ticker_shapes_are_accepted(ticker):
    assert check_ticker(ticker) == ticker.upper()


def test_too_few_rows_for_the_window():
    dates = business_days(40)
    splits = {"train": ("2016-01-01", "2016-02-15"), "test": ("2016-02-16", "2016-03-31")}
    with pytest.raises(InvalidParameter, match="training days for a window of 60"):
        build_windows(np.linspace(1, 2, 40), dates, 60, "level", splits)
