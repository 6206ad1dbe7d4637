"""The real pipeline, shrunk: Prefect flow -> DVC stages -> Lightning -> MLflow, then `dvc repro`."""
import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from flows.pipeline import pipeline
from tests.conftest import dvc, tiny_params, write_params

pytestmark = pytest.mark.slow


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_pipeline_end_to_end_then_dvc_repro(project, mlflow_uri, prefect_harness):
    outcomes = pipeline(root=str(project))
    assert [(o.dataset, o.status) for o in outcomes] == [("cosine", "ok")], outcomes

    # MLflow: one finished run per cell with params, curves and tags; a registered model with a champion
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("rnnops-cosine").experiment_id])
    assert sorted(r.data.tags["cell"] for r in runs) == ["gru", "lstm", "rnn"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.params["optim.epochs"] == "2"
        assert len(client.get_metric_history(run.info.run_id, "val/rmse")) == 2
        assert len(run.data.tags["git_sha"]) == 40
        assert run.data.tags["prefect_flow_run_id"] not in ("", "none (plain dvc repro)")
        assert run.data.tags["dvc_data_md5"]
    champion = client.get_model_version_by_alias("rnnops-cosine", "champion")
    best = min(runs, key=lambda r: r.data.metrics["eval/rmse"])
    assert champion.run_id == best.info.run_id
    assert len(client.search_model_versions("name='rnnops-cosine'")) == 3
    loaded = mlflow.pytorch.load_model("models:/rnnops-cosine@champion")
    assert loaded.cfg.cell == best.data.tags["cell"]

    # DVC metrics and plots, and the report
    for cell in ("rnn", "lstm", "gru"):
        metrics = json.loads((project / f"metrics/cosine/{cell}.json").read_text())
        assert metrics["rmse"] > 0 and metrics["persistence_rmse"] > 0
    shown = dvc(project, "metrics", "show", "--json")
    assert shown.returncode == 0 and "persistence_rmse" in shown.stdout
    html = (project / "reports/cosine/index.html").read_text()
    for picture in ("comparison.png", "loss_curves.png", "predictions_rnn.png"):
        assert picture in html and (project / "reports/cosine" / picture).stat().st_size > 1000

    # Reproduce: nothing to do; then a change to one cell re-runs only that cell and the report
    again = dvc(project, "repro")
    assert again.returncode == 0, again.stderr
    assert ran_stages(again.stdout) == set(), again.stdout
    params = tiny_params()
    params["cosine"]["train"]["lstm"]["hidden_size"] = 4
    write_params(project, params)
    changed = dvc(project, "repro")
    assert changed.returncode == 0, changed.stderr
    assert ran_stages(changed.stdout) == {"train@cosine-lstm", "evaluate@cosine-lstm", "report@cosine"}
