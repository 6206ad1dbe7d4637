"""The rolling stocks profile across two faked trading days: a new DVC-versioned snapshot each day,
a next-session forecast, and on the second day the first forecast scored against the realised price."""
import hashlib
import json
import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.cli import exit_code
from flows.orchestration.pipeline import PipelineFailed, pipeline
from tests.conftest import REPO, tiny_params, write_params

pytestmark = pytest.mark.slow


def market(days: pd.DatetimeIndex) -> pd.DataFrame:
    """Prices with every column Yahoo has: a random walk."""
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    return pd.DataFrame({"Open": close * (1 + rng.normal(0, 0.002, len(days))), "High": close * 1.01,
                         "Low": close * 0.99, "Close": close, "Volume": 1e6}, index=pd.DatetimeIndex(days, name="Date"))


@pytest.fixture
def fake_yahoo(tmp_path, monkeypatch):
    market = tmp_path / "market.csv"
    monkeypatch.setenv("RNNOPS_FAKE_YAHOO", str(market))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests" / "fakeyahoo"),
                                                      os.environ.get("PYTHONPATH", "")]))
    return market


def test_two_days_score_the_first_forecast_against_the_realised_price(project, prefect_harness, fake_yahoo):
    params = tiny_params(("stocks_daily",))
    params["cells"] = ["gru"]
    write_params(project, params)
    today = pd.Timestamp.now(tz="UTC").normalize().tz_localize(None)
    days = pd.bdate_range(end=today - pd.Timedelta(days=1), periods=161)
    prices = market(days)
    prices.iloc[:-1].to_csv(fake_yahoo)  # what Yahoo knows on the first day

    outcomes = pipeline(root=str(project), datasets=["stocks_daily"])
    assert [o.status for o in outcomes] == ["ok"], outcomes
    snapshot = project / "data/raw/stocks_daily/GOOG.csv"
    first_md5 = hashlib.md5(snapshot.read_bytes()).hexdigest()
    log = pd.read_csv(project / "forecasts/stocks_daily/log.csv", dtype={"last_date": str})
    assert len(log) == 1 and log["last_date"][0] == str(days[-2].date()) and log["realised"].isna().all()
    assert log["snapshot_md5"][0] == first_md5
    assert json.loads((project / "forecasts/stocks_daily/scorecard.json").read_text())["scored"] == 0

    prices.to_csv(fake_yahoo)  # the next day: one more session
    outcomes = pipeline(root=str(project), datasets=["stocks_daily"])
    assert [o.status for o in outcomes] == ["ok"], outcomes
    log = pd.read_csv(project / "forecasts/stocks_daily/log.csv", dtype={"last_date": str, "realised_date": str},
                      float_precision="round_trip")
    assert list(log["last_date"]) == [str(days[-2].date()), str(days[-1].date())]
    first = log.iloc[0]
    realised = prices["Open"].iloc[-1]
    assert first["realised_date"] == str(days[-1].date()) and first["realised"] == realised
    assert first["error"] == first["forecast"] - realised
    assert first["persistence_error"] == prices["Open"].iloc[-2] - realised
    assert np.isnan(log["realised"].iloc[1])  # today's forecast waits for tomorrow

    card = json.loads((project / "forecasts/stocks_daily/scorecard.json").read_text())
    assert card["scored"] == 1 and card["rmse"] == abs(first["error"])
    assert card["persistence_rmse"] == abs(first["persistence_error"])
    # each forecast carries its adaptive conformal intervals; the scored one counts in the card's coverage
    covered = first["low95"] <= realised <= first["high95"]
    assert first["low80"] < first["forecast"] < first["high80"] and first["high80"] < first["high95"]
    assert card["aci_scored95"] == 1 and card["aci_coverage95"] == float(covered)
    assert card["next"]["intervals"]["80"] == [log["low80"].iloc[1], log["high80"].iloc[1]]
    # each day's snapshot is a DVC version of its own: the first one is still in the cache
    assert (project / ".dvc/cache/files/md5" / first_md5[:2] / first_md5[2:]).exists()
    assert hashlib.md5(snapshot.read_bytes()).hexdigest() != first_md5

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("rnnops").experiment_id
    (run,) = client.search_runs([experiment], filter_string="tags.kind = 'scorecard'")
    assert [m.step for m in client.get_metric_history(run.info.run_id, "scorecard/scored")] == [0, 1]
    assert client.get_metric_history(run.info.run_id, "scorecard/rmse")[-1].value == pytest.approx(card["rmse"])
    assert client.get_metric_history(run.info.run_id, "scorecard/aci_coverage95")[-1].value == card["aci_coverage95"]
    html = (project / "reports/stocks_daily/index.html").read_text()
    assert "Live forecasts" in html and "aci_coverage95" in html and "95% interval" in html


def test_offline_skips_an_interactive_run_but_fails_a_scheduled_one_after_retries(project, prefect_harness,
                                                                                   fake_yahoo):
    write_params(project, tiny_params(("stocks_daily",)))  # no market file: Yahoo is unreachable
    interactive = pipeline(root=str(project), datasets=["stocks_daily"])
    assert [o.status for o in interactive] == ["skipped"] and exit_code(interactive) == 0

    state = pipeline(root=str(project), datasets=["stocks_daily"], scheduled=True, fetch_retries=1,
                     retry_delay_s=0, return_state=True)
    assert state.is_failed() and "stocks_daily failed at ingest-stocks_daily" in state.message
    assert "could not download GOOG" in state.message
    with pytest.raises(PipelineFailed):
        state.result()
    with get_client(sync_client=True) as client:
        runs = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        tasks = client.read_task_runs(flow_run_filter=runs)
    (ingest,) = [t for t in tasks if t.name == "ingest-stocks_daily"]
    assert ingest.run_count == 2 and ingest.state.is_failed()  # one retry, then the failure Prefect shows
