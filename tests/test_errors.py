"""Bad input: one sentence on stderr, exit code 2, and earlier results left as they were."""
import os
import subprocess
import sys

import pytest

from flows.stages.ingest import ingest
from flows.stages.windows import make_windows
from models.errors import InvalidParameter
from tests.conftest import tiny_params, write_params


def run_cli(root, *args):
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=root, capture_output=True, text=True)


@pytest.mark.parametrize("window, fragment", [(5000, "longer than the series"), (-3, "positive integer")])
def test_run_refuses_impossible_window_before_starting(tmp_path, window, fragment):
    params = tiny_params()
    params["cosine"]["windows"]["window"] = window
    write_params(tmp_path, params)
    done = run_cli(tmp_path, "run")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnops: error: ") and fragment in lines[0], done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()


def test_failed_windows_stage_keeps_the_previous_windows(tmp_path):
    write_params(tmp_path, tiny_params())
    ingest(tmp_path, "cosine")
    make_windows(tmp_path, "cosine")
    spec = (tmp_path / "data/windows/cosine/spec.json").read_bytes()
    params = tiny_params()
    params["cosine"]["windows"]["train_windows"] = 10_000
    write_params(tmp_path, params)
    with pytest.raises(InvalidParameter, match="holds only"):
        make_windows(tmp_path, "cosine")
    assert (tmp_path / "data/windows/cosine/spec.json").read_bytes() == spec
    assert not list((tmp_path / "data/windows/cosine").glob(".*"))


def test_nan_in_series_is_named(tmp_path):
    import numpy as np

    write_params(tmp_path, tiny_params())
    ingest(tmp_path, "cosine")
    series = np.load(tmp_path / "data/raw/cosine/series.npy")
    series[42] = np.nan
    np.save(tmp_path / "data/raw/cosine/series.npy", series)
    with pytest.raises(InvalidParameter, match="row 42"):
        make_windows(tmp_path, "cosine")


@pytest.mark.parametrize("edit, fragment", [
    (lambda p: p["cosine"]["train"]["rnn"].update(epochs=0), "epochs must be a positive integer"),
    (lambda p: p["cosine"]["train"]["gru"].update(hiden_size=3), "unknown key(s) hiden_size"),
    (lambda p: p["cosine"]["ingest"].update(stop=0.5), "must be greater than start"),
    (lambda p: p.update(datasets=["cosine", "weather"]), "unknown dataset 'weather'"),
])
def test_impossible_parameters_fail_in_one_sentence(tmp_path, edit, fragment):
    params = tiny_params()
    edit(params)
    write_params(tmp_path, params)
    done = run_cli(tmp_path, "run")
    assert done.returncode == 2 and fragment in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_unknown_dataset_stage(tmp_path):
    write_params(tmp_path, tiny_params())
    done = run_cli(tmp_path, "stage", "ingest", "../etc")
    assert done.returncode == 2 and "unknown dataset" in done.stderr


@pytest.mark.parametrize("edit, fragment", [
    (lambda s: s["ingest"].update(ticker="../../etc"), "not a valid symbol"),
    (lambda s: s["ingest"].update(source="bloomberg"), "must be yfinance or csv"),
    (lambda s: s["windows"].update(target="price"), "target must be one of level, log_return"),
    (lambda s: s["windows"].update(test_start="2016-06-01"), "train_end (2016-12-31) must come before test_start"),
])
def test_impossible_stock_parameters_fail_before_anything_starts(tmp_path, edit, fragment):
    params = tiny_params(("cosine", "stocks"))
    edit(params["stocks"])
    write_params(tmp_path, params)
    done = run_cli(tmp_path, "run")
    assert done.returncode == 2 and fragment in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_staged_outputs_appear_together_or_not_at_all(tmp_path):
    from flows.core.atomic import atomic_dir, staged_outputs

    (tmp_path / "a.json").write_text("old a")
    with pytest.raises(OSError, match="disk full"):
        with staged_outputs(tmp_path) as out:
            out.write_text("a.json", "new a")  # written in full ...
            out.write_text("sub/b.csv", "new b")
            raise OSError("disk full")  # ... then the stage dies before the last output
    assert (tmp_path / "a.json").read_text() == "old a" and not (tmp_path / "sub/b.csv").exists()
    assert [p.name for p in tmp_path.rglob(".*")] == []
    with staged_outputs(tmp_path) as out:
        out.write_text("a.json", "new a")
        out.write_text("sub/b.csv", "new b")
    assert (tmp_path / "a.json").read_text() == "new a" and (tmp_path / "sub/b.csv").read_text() == "new b"

    (tmp_path / "model").mkdir()
    (tmp_path / "model/w.pt").write_text("old weights")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "model") as folder:
            (folder / "w.pt").write_text("new weights")
            raise RuntimeError("killed mid-way")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["w.pt"]
    assert (tmp_path / "model/w.pt").read_text() == "old weights"


def test_an_unreachable_mlflow_server_is_one_sentence_before_anything_starts(tmp_path):
    write_params(tmp_path, tiny_params())
    env = dict(os.environ, MLFLOW_TRACKING_URI="http://alice:s3cret@127.0.0.1:9")  # a closed port
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "MLflow server at http://***@127.0.0.1:9 does not answer" in done.stderr
    assert "s3cret" not in done.stdout + done.stderr and not (tmp_path / "data").exists()


def test_a_stage_that_dies_of_an_exception_reports_it_not_see_above():
    from flows.orchestration.stage_task import failure_reason

    output = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n"
              "mlflow.exceptions.MlflowException: Run with id=abc not found\n"
              "ERROR: failed to reproduce 'evaluate-cosine-lstm': failed to run: python -m flows.stages.evaluate "
              "cosine lstm, exited with 1\n")
    reason = failure_reason(output, 255)
    assert reason.startswith("mlflow.exceptions.MlflowException: Run with id=abc not found; failed to reproduce")
    assert failure_reason("ERROR: Unable to acquire lock: the repository is locked\n", 255) == \
        "Unable to acquire lock: the repository is locked"
    assert "see above" not in failure_reason("some progress\n", 1)


@pytest.mark.parametrize("dataset, edit, key", [
    ("stocks_daily", lambda s: s["ingest"].update(source="bloomberg"), "stocks_daily.ingest.source"),
    ("stocks_daily", lambda s: s["ingest"].update(history_days=0), "stocks_daily.ingest.history_days"),
    ("stocks_daily", lambda s: s["windows"].update(target="price"), "stocks_daily.windows.target"),
    ("stocks_daily", lambda s: s["windows"].update(val_sessions=0), "stocks_daily.windows.val_sessions"),
    ("cosine", lambda s: s["windows"].update(formulation="streamed"), "cosine.windows.formulation"),
    ("cosine", lambda s: s["windows"].update(val_windows=0), "cosine.windows.val_windows"),
])
def test_a_params_error_names_the_section_it_is_about(dataset, edit, key):
    """stocks_daily shares the stocks plug-in's classes, cosine the generated series': their errors must name
    the dataset's own section."""
    from flows import datasets

    params = tiny_params((dataset,))
    edit(params[dataset])
    with pytest.raises(InvalidParameter) as err:
        datasets.get(dataset).check(params)
    message = str(err.value)
    assert message.startswith(key) and "stocks." not in message, message


def test_stocks_daily_ingest_and_windows_errors_name_its_snapshot_and_section(tmp_path, monkeypatch):
    import pandas as pd
    import yfinance

    from flows.datasets.stocks.prices import PriceDataError
    from models.errors import SourceUnavailable
    from tests.test_yahoo import FakeYahoo

    params = tiny_params(("stocks_daily",))
    daily = params["stocks_daily"]
    seen = []

    def fails(error, stage=ingest):
        write_params(tmp_path, params)
        with pytest.raises(error) as err:
            stage(tmp_path, "stocks_daily")
        seen.append(str(err.value))
        return seen[-1]

    monkeypatch.setattr(yfinance, "download", FakeYahoo("offline"))
    offline = fails(SourceUnavailable)
    assert "data/raw/stocks_daily/GOOG.csv" in offline and "set stocks_daily.ingest.source: csv" in offline
    daily["ingest"].update(source="csv", paths=[])
    assert "stocks_daily.ingest.paths is empty" in fails(InvalidParameter)
    daily["ingest"]["paths"] = ["data/sources/daily.csv"]
    assert "check stocks_daily.ingest.paths" in fails(PriceDataError)
    (tmp_path / "data/sources").mkdir(parents=True)
    days = pd.bdate_range("2016-01-04", periods=40)
    rows = [f"{d.date()},{100 + i}" for i, d in enumerate(days[:20].append(days[30:] + pd.Timedelta(days=20)))]
    (tmp_path / "data/sources/daily.csv").write_text("Date,Open\n" + "\n".join(rows) + "\n")
    assert "raise stocks_daily.ingest.max_gap_days" in fails(PriceDataError)
    (tmp_path / "data/sources/daily.csv").write_text("Date,Open\n" + "\n".join(rows[:20]) + "\n")
    write_params(tmp_path, params)
    ingest(tmp_path, "stocks_daily")  # 20 days: a snapshot, too short for the window and both splits
    assert "raise stocks_daily.ingest.history_days" in fails(InvalidParameter, make_windows)
    assert not [message for message in seen if "stocks." in message], seen
