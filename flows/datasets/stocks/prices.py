"""Daily price tables: read the CSV layouts people actually have, validate, and write one canonical schema.

Read without hand-editing:
- the tutorial's CSVs (m/d/yyyy dates, "7,380,500" quoted thousands, a trailing empty column);
- `yf.download(...).to_csv()` (a Price/Ticker two-row header, then a `Date,,,` row);
- `yf.Ticker(...).history().to_csv()` (tz-aware timestamps, Dividends, Stock Splits);
- a two-column `Date,<price>` file.
"""
from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import RnnopsError

PRICE_COLUMNS = ("Open", "High", "Low", "Close")
CANONICAL = ("Open", "High", "Low", "Close", "Volume")
_TICKER = re.compile(r"^\^?[A-Za-z0-9][A-Za-z0-9.\-=]{0,14}$")
_US_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class PriceDataError(RnnopsError):
    """The price table cannot be used as it is."""


def check_ticker(ticker: str) -> str:
    """Tickers become file names: only letters, digits and . - = ^ (as in BRK-B, ^GSPC, EURUSD=X)."""
    if not isinstance(ticker, str) or not _TICKER.match(ticker):
        raise PriceDataError(
            f"ticker {ticker!r} is not a valid symbol; use letters, digits and . - = ^ only (e.g. GOOG, BRK-B, ^GSPC).")
    return ticker.upper()


def _decode(path: Path, dataset: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PriceDataError(f"price file {path} does not exist; check {dataset}.ingest.paths.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PriceDataError(f"{path} is not UTF-8 text (byte {exc.start}); export it as UTF-8 CSV.") from None


def _number(text: str) -> float:
    text = text.strip().replace(",", "")
    return float(text) if text not in ("", "null", "NaN", "nan", "-") else math.nan


def _parse_dates(values: list[str], path: Path) -> pd.DatetimeIndex:
    cleaned = [v.strip() for v in values]
    try:
        if all(_US_DATE.match(v) for v in cleaned):
            return pd.DatetimeIndex(pd.to_datetime(cleaned, format="%m/%d/%Y"))
        if all(_ISO_DATE.match(v) for v in cleaned):  # tz-aware history(): the exchange's local date
            return pd.DatetimeIndex(pd.to_datetime([v[:10] for v in cleaned], format="%Y-%m-%d"))
    except ValueError:
        pass
    bad = next((v for v in cleaned if not (_US_DATE.match(v) or _ISO_DATE.match(v))), cleaned[0] if cleaned else "")
    raise PriceDataError(f"{path} has a date {bad!r} that is neither m/d/yyyy nor yyyy-mm-dd; fix the Date column.")


def read_price_csv(path: Path | str, ticker: str | None = None, dataset: str = "stocks") -> pd.DataFrame:
    """A frame indexed by date with float columns among Open/High/Low/Close/Volume (or the one price column).
    `dataset`: whose params section its errors name."""
    path = Path(path)
    rows = [r for r in csv.reader(io.StringIO(_decode(path, dataset))) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise PriceDataError(f"{path} has no data rows; it needs a header and one row per day.")
    header = [c.strip() for c in rows[0]]
    body = rows[1:]
    if body[0] and body[0][0].strip() == "Ticker":  # yf.download(...).to_csv(): Price / Ticker / Date rows
        tickers = [c.strip() for c in body[0]]
        body = body[1:]
        if body and body[0][0].strip() == "Date" and not any(c.strip() for c in body[0][1:]):
            body = body[1:]
        wanted = ticker.upper() if ticker else tickers[1]
        columns = [i for i, t in enumerate(tickers) if i > 0 and t.upper() == wanted]
        if not columns:
            raise PriceDataError(
                f"{path} holds tickers {sorted(set(tickers[1:]))}, not {wanted}; set {dataset}.ingest.ticker.")
        header = ["Date"] + [header[i] for i in columns]
        body = [[r[0]] + [r[i] if i < len(r) else "" for i in columns] for r in body]
    keep = [i for i, name in enumerate(header) if name]  # drops the tutorial's trailing empty column
    if len(keep) < 2:
        raise PriceDataError(f"{path} needs a Date column and at least one price column; found {header}.")
    try:
        values = {header[i]: [_number(r[i]) if i < len(r) else math.nan for r in body] for i in keep[1:]}
    except ValueError as exc:
        raise PriceDataError(f"{path} has a value that is not a number ({exc}); fix or remove that row.") from None
    frame = pd.DataFrame(values, index=_parse_dates([r[keep[0]] for r in body], path))
    frame.index.name = "Date"
    known = [c for c in CANONICAL if c in frame.columns]
    if known:
        return frame[known]
    if frame.shape[1] == 1:  # Date,<price>
        return frame
    raise PriceDataError(f"{path} has columns {list(frame.columns)} but none of {', '.join(CANONICAL)}; rename them.")


def validate(frame: pd.DataFrame, column: str, source: str, max_gap_days: int = 10,
             dataset: str = "stocks") -> list[str]:
    """Raise on what makes the series unusable; return warnings (e.g. a column that is not split-adjusted)."""
    if frame.empty:
        raise PriceDataError(f"{source} has no rows.")
    if column not in frame.columns:
        raise PriceDataError(f"{source} has no {column!r} column (it has {', '.join(frame.columns)}); "
                             f"set {dataset}.windows.column to one of them.")
    dates = frame.index
    backwards = np.flatnonzero(np.diff(dates.values) < np.timedelta64(0))
    if len(backwards):
        i = backwards[0]
        raise PriceDataError(f"{source} is not sorted by date: {dates[i + 1].date()} comes after {dates[i].date()}; "
                             f"sort it by date.")
    duplicated = dates[dates.duplicated()]
    if len(duplicated):
        raise PriceDataError(f"{source} has date {duplicated[0].date()} more than once; remove the duplicate rows.")
    for name in [c for c in PRICE_COLUMNS if c in frame.columns] or [column]:
        values = frame[name]
        missing = values.index[values.isna()]
        if len(missing):
            raise PriceDataError(f"{source} has no {name} price on {missing[0].date()} "
                                 f"({len(missing)} missing in all); fill or drop those rows.")
        bad = values.index[values <= 0]
        if len(bad):
            raise PriceDataError(f"{source} has a non-positive {name} price ({values[bad[0]]}) on {bad[0].date()}; "
                                 f"prices must be > 0.")
    gaps = np.diff(dates.values) / np.timedelta64(1, "D")
    if len(gaps) and gaps.max() > max_gap_days:
        i = int(gaps.argmax())
        raise PriceDataError(f"{source} has a gap of {int(gaps[i])} days between {dates[i].date()} and "
                             f"{dates[i + 1].date()}; supply the missing days or raise {dataset}.ingest.max_gap_days.")
    return split_jump_warnings(frame, source)


def split_jump_warnings(frame: pd.DataFrame, source: str) -> list[str]:
    """A column that jumps by ~2x, 3x, 1/2... in a day while the others do not is not split-adjusted."""
    columns = [c for c in PRICE_COLUMNS if c in frame.columns]
    if len(columns) < 2:
        return []
    ratios = np.log(frame[columns] / frame[columns].shift(1)).iloc[1:]
    warnings = []
    for name in columns:
        others = ratios.drop(columns=name).abs().median(axis=1)
        jump = ratios[name].abs()
        for date in ratios.index[(jump > math.log(1.8)) & (others < math.log(1.3))]:
            factor = math.exp(-ratios.at[date, name])
            warnings.append(f"{source}: {name} changes by a factor of {factor:.2f} on {date.date()} while "
                            f"{', '.join(c for c in columns if c != name)} do not; {name} looks not split-adjusted "
                            f"before that date, so do not model it (use an adjusted column).")
    return warnings


def to_canonical_csv(frame: pd.DataFrame) -> str:
    """Every float written as its shortest round-trip repr: a price of 0.000123456789 stays exact."""
    out = frame.astype(float)
    out.index = out.index.strftime("%Y-%m-%d")
    lines = ["Date," + ",".join(out.columns)]
    lines += [",".join([date, *map(repr, row)]) for date, row in zip(out.index, out.to_numpy().tolist())]
    return "\n".join(lines) + "\n"


def read_canonical(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, index_col="Date", parse_dates=["Date"], float_precision="round_trip")
    return frame.astype(float)
