"""The real pipeline, shrunk: Prefect flow -> DVC stages -> Lightning -> MLflow, then `dvc repro`, then failures."""
import json
import os
import subprocess
import sys

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from flows.cli import summary_table
from flows.orchestration.pipeline import pipeline
from tests.conftest import dvc, git, tiny_params, write_params

pytestmark = pytest.mark.slow
CELLS = ["rnn", "lstm", "gru"]
EVAL_OUTPUTS = ["metrics/cosine/lstm.json", "plots/cosine/lstm.csv", "plots/cosine/lstm/predictions.png"]


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_pipeline_end_to_end_then_dvc_repro_then_failures(project, mlflow_uri, prefect_harness, tmp_path):
    state = pipeline(root=str(project), return_state=True)
    outcomes = state.result()
    assert [(o.dataset, o.status) for o in outcomes] == [("cosine", "ok")], outcomes

    # Every cell is far better than persistence on the validation split, but 60 windows of 20 on a smooth
    # cosine hold too few independent stretches for a test: the verdict, against the strongest baseline,
    # says so instead of calling it
    summary = summary_table(project, ["cosine"], CELLS, outcomes)
    for cell in CELLS:
        metrics = json.loads((project / f"metrics/cosine/{cell}.json").read_text())
        assert metrics["headline"] == {"metric": "rmse", "baseline": "persistence", "split": "val"}
        val = metrics["val"]
        assert val["rmse"] < 0.5 * val["persistence_rmse"] and val["persistence_skill"] > 0.5, (cell, val)
        assert val["strongest_baseline"] == min(("persistence", "seasonal_naive"), key=lambda b: val[f"{b}_rmse"])
        assert val["dm_pvalue"] is None and val["dm_stretches"] < 8
        words = metrics["verdict"]["val"]
        assert words.startswith(f"untested against {val['strongest_baseline'].replace('_', '-')}") and words in summary

    # MLflow: one finished run per cell; lineage tags equal the real commit, DVC hash and flow run
    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("rnnops").experiment_id
    runs = client.search_runs([experiment], "tags.kind = 'training'")
    assert sorted(r.data.tags["cell"] for r in runs) == sorted(CELLS)
    (parent,) = client.search_runs([experiment], "tags.kind = 'pipeline'")  # one rnnops run, one parent
    assert parent.info.status == "FINISHED" and parent.data.tags["outcome.cosine"] == "ok"
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent.info.run_id}
    assert "reports/cosine/index.html" in [a.path for a in client.list_artifacts(parent.info.run_id, "reports/cosine")]
    head = git(project, "rev-parse", "HEAD").strip()
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    windows_md5 = lock["stages"]["windows-cosine"]["outs"][0]["md5"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.params["optim.epochs"] == "10"
        assert len(client.get_metric_history(run.info.run_id, "val/rmse")) == 11  # 10 epochs, then evaluate's
        assert {"skill/val", "val/persistence_rmse", "val/seasonal_naive_skill", "train/loss"} <= set(run.data.metrics)
        cell_metrics = json.loads((project / f"metrics/cosine/{run.data.tags['cell']}.json").read_text())
        assert run.data.tags["verdict/val"] == cell_metrics["verdict"]["val"]
        (given,) = run.inputs.dataset_inputs
        assert given.dataset.digest == windows_md5 and given.dataset.source_type == "generated"
        assert run.data.tags["git_sha"] == head
        assert run.data.tags["dvc_data_md5"] == windows_md5
        assert run.data.tags["prefect_flow_run_id"] == str(state.state_details.flow_run_id)
    # Gradients through time (evaluate.gradients) and the training's norms before/after clipping, per cell
    for run in runs:
        cell = run.data.tags["cell"]
        through_time = client.get_metric_history(run.info.run_id, "gradients/dL_dh_norm")
        assert sorted(m.step for m in through_time) == list(range(1, 21))  # window 20
        clipped = client.get_metric_history(run.info.run_id, "train_step/grad_norm_clipped")
        assert len(clipped) == 10 * 10 and max(m.value for m in clipped) <= 1.0 + 1e-5  # 10 epochs x 10 batches
        figures = project / "plots/cosine" / cell
        logged = {a.path for a in client.list_artifacts(run.info.run_id)}
        for name in ("gradients_through_time.png", "gradients_through_time.svg", "grad_norms_training.png",
                     "grad_norms_training.svg", "gradients.csv"):
            assert (figures / name).stat().st_size > 500 and name in logged, (cell, name)
        summary = json.loads((project / f"metrics/cosine/{cell}.json").read_text())["gradients"]
        assert summary["windows"] == 4 and summary["norm_last_step"] > 0
    # Conformal intervals (flows/scoring/intervals.py): calibrated on validation's first half, scored on its second,
    # in the metrics, MLflow and the weights a champion is served from
    for run in runs:
        val = json.loads((project / f"metrics/cosine/{run.data.tags['cell']}.json").read_text())["val"]
        assert val["conformal_calibration_windows"] == 30 and val["conformal_windows"] == 30
        assert 0 <= val["conformal_coverage95_h01"] <= 1 and val["conformal_width95"] > val["conformal_width80"] > 0
        assert run.data.metrics["val/conformal_coverage80"] == pytest.approx(val["conformal_coverage80"])
        assert "weights/conformal.json" in {a.path for a in client.list_artifacts(run.info.run_id, "weights")}
    champion = client.get_model_version_by_alias("rnnops-cosine", "champion")
    best = min(runs, key=lambda r: r.data.metrics["val/rmse"])
    assert champion.run_id == best.info.run_id
    assert len(client.search_model_versions("name='rnnops-cosine'")) == 3
    loaded = mlflow.pytorch.load_model("models:/rnnops-cosine@champion")
    assert loaded.cfg.kind == best.data.tags["cell"]

    # DVC metrics and plots, and the report
    shown = dvc(project, "metrics", "show", "--json")
    assert shown.returncode == 0 and "persistence_rmse" in shown.stdout
    html = (project / "reports/cosine/index.html").read_text()
    assert "95% conformal coverage (nominal 0.95)" in html
    for picture in ("comparison.png", "loss_curves.png", "rnn_predictions.png", "gradients_through_time.png",
                    "lstm_gradients_through_time.png", "gru_grad_norms_training.png"):
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
    assert ran_stages(changed.stdout) == {"train-cosine-lstm", "evaluate-cosine-lstm", "report-cosine"}

    # A run that fails at train-cosine-lstm stops only what depends on it: the other cells finish, the
    # summary names what was not run and why, and never shows the earlier lstm metrics as this run's
    old_lstm = json.loads((project / "metrics/cosine/lstm.json").read_text())["val"]["rmse"]
    params["cosine"]["train"]["lstm"]["hiden_size"] = 3
    write_params(project, params)
    failed = pipeline(root=str(project))
    assert failed[0].status == "failed" and "train-cosine-lstm" in failed[0].reason
    assert "unknown key(s) hiden_size" in failed[0].reason
    assert failed[0].not_run == ["evaluate-cosine-lstm (train-cosine-lstm failed)",
                                 "report-cosine (train-cosine-lstm failed)"]
    table = summary_table(project, ["cosine"], CELLS, failed)
    rows = [line.split()[1] for line in table.splitlines()[1:]]
    assert rows == ["rnn", "gru"] and f"{old_lstm:.4g}" not in table

    # A stage that fails mid-way through dvc repro (its MLflow run is not in the store it is pointed
    # at, after its table and plot are written) leaves none of its outputs, never half of them
    del params["cosine"]["train"]["lstm"]["hiden_size"]
    params["cosine"]["train"]["lstm"]["hidden_size"] = 12
    write_params(project, params)
    assert dvc(project, "repro", "train-cosine-lstm").returncode == 0
    before = {name: (project / name).read_bytes() for name in EVAL_OUTPUTS if (project / name).exists()}
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'elsewhere.db'}",
               PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}")
    broken = subprocess.run([sys.executable, "-m", "dvc", "repro", "evaluate-cosine-lstm"], cwd=project, env=env,
                            capture_output=True, text=True)
    assert broken.returncode != 0 and "Run with id=" in broken.stdout + broken.stderr
    for name in EVAL_OUTPUTS:
        path = project / name
        assert not path.exists() or path.read_bytes() == before.get(name), f"{name} was half-written"
    leftovers = [p for folder in ("metrics/cosine", "plots/cosine") for p in (project / folder).glob(".*")]
    assert leftovers == []
