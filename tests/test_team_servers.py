"""The tiny pipeline against a team's servers: `mlflow server` on PostgreSQL with artifacts in S3 (moto on
loopback), started by the test with the command lines of flows/orchestration/team_servers.py, the same as
infra/compose.yaml."""
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, dvc, git, tiny_params, write_params
from tests.servers import free_port

pytestmark = pytest.mark.slow
CELLS = ["rnn"]  # one cell keeps it under two minutes on 2 busy cores; tests/test_champion.py elects among two


def rnnops(project, *args, tracking_uri: str) -> subprocess.CompletedProcess:
    """`rnnops` as a user runs it: no S3 settings or credentials (the server proxies artifacts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_S3_"))}
    env.update(MLFLOW_TRACKING_URI=tracking_uri, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "rnnops"), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)


def with_user(url: str, user: str, password: str) -> str:
    return url.replace("://", f"://{user}:{password}@", 1)


def test_pipeline_logs_to_a_shared_mlflow_server_with_postgres_and_s3(project, team_mlflow, tmp_path):
    url, s3, pg = team_mlflow
    params = tiny_params()
    params["cells"] = CELLS
    write_params(project, params)
    git(project, "commit", "-qam", "one cell")
    password = "s3cr3t-" + os.urandom(6).hex()  # a server without auth ignores it; it must never show

    done = rnnops(project, "run", tracking_uri=with_user(url, "alice", password))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    for secret in (password, pg.password, s3.secret_key):
        assert secret not in output

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("rnnops")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # proxied: clients need no S3 access
    # the server is shared by the session's tests: this run's trainings are its parent's children
    parent = client.search_runs([experiment.experiment_id], "tags.kind = 'pipeline'", order_by=["start_time DESC"],
                                max_results=1)[0]
    assert parent.info.status == "FINISHED" and parent.data.tags["outcome.cosine"] == "ok"
    runs = client.search_runs([experiment.experiment_id],
                              f"tags.kind = 'training' and tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.data.tags["cell"] for r in runs) == CELLS
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "val/rmse")) == 11  # 10 epochs, then evaluate's
        assert run.data.params["optim.epochs"] == "10" and "val/rmse" in run.data.metrics
        shown = " ".join([*run.data.params.values(), *run.data.tags.values()])
        assert password not in shown and "alice" not in shown and pg.password not in shown
        weights = Path(client.download_artifacts(run.info.run_id, "weights", str(tmp_path)))
        assert len(list(weights.iterdir())) >= 2, list(weights.iterdir())  # state dict, config, transform

    # the artifacts really are in the bucket, under the server's destination
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="mlartifacts/")["Contents"]]
    assert any("/weights/" in k for k in keys) and any(k.endswith("/MLmodel") for k in keys), keys[:20]

    versions = client.search_model_versions("name='rnnops-cosine'")
    assert len(versions) == len(CELLS) and not any(password in str(v.tags) for v in versions)
    champion = client.get_model_version_by_alias("rnnops-cosine", "champion")
    best = min(runs, key=lambda r: r.data.metrics["val/rmse"])
    assert champion.run_id == best.info.run_id
    mlflow.set_tracking_uri(url)
    loaded = mlflow.pytorch.load_model("models:/rnnops-cosine@champion")
    assert loaded.cfg.kind == best.data.tags["cell"]


def test_an_unreachable_server_is_one_sentence_before_anything_runs(project):
    password = "s3cr3t-" + os.urandom(6).hex()
    started = time.perf_counter()
    done = rnnops(project, "run", tracking_uri=f"http://alice:{password}@127.0.0.1:{free_port()}")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    said = [line for line in output.splitlines() if line.strip()]
    assert len(said) == 1 and "does not answer" in said[0] and "http://***@127.0.0.1:" in said[0], output
    assert password not in output and "Traceback" not in output
    assert not (project / "data/raw/cosine").exists() and time.perf_counter() - started < 60


def test_ui_points_at_the_team_server_without_its_password(project):
    done = rnnops(project, "ui", tracking_uri="http://alice:s3cr3t@127.0.0.1:5000")
    # nothing answers there: the experiments list, in the model-training view, and never the password
    assert done.returncode == 0 and done.stdout.strip() == "MLflow UI: http://127.0.0.1:5000/#/experiments" \
        "?workflowType=machine_learning (the server in MLFLOW_TRACKING_URI)", done.stdout + done.stderr


def test_a_stage_that_loses_the_server_shows_no_password(project):
    """MLflow's connection errors quote the full URL ("API request to http://user:password@host/..."):
    the stage's traceback is printed with the user and password replaced."""
    assert dvc(project, "repro", "windows-cosine").returncode == 0
    password = "s3cr3t-" + os.urandom(6).hex()
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"http://alice:{password}@127.0.0.1:{free_port()}",
               MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    done = subprocess.run([sys.executable, "-m", "flows.stages.train", "cosine", "rnn"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" in output and "API request to http://***@127.0.0.1:" in output, output
    assert password not in output


def test_a_two_worker_sweep_shares_a_postgres_study_and_logs_to_the_team_server(project, team_mlflow, monkeypatch):
    import optuna

    url, _, pg = team_mlflow
    pg.create_database("optuna")
    params = tiny_params()
    params["cosine"]["train"]["lstm"]["epochs"] = 2
    params["sweeps"] = {"team": {"dataset": "cosine", "cell": "lstm", "trials": 3, "pruner": "none",
                                 "space": {"lr": {"type": "log_float", "low": 1.0e-3, "high": 3.0e-2}}}}
    write_params(project, params)
    git(project, "commit", "-qam", "a sweep")
    storage = pg.url("optuna")
    monkeypatch.setenv("RNNOPS_OPTUNA_STORAGE", storage)

    done = rnnops(project, "sweep", "team", "--workers", "2", tracking_uri=url)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert pg.password not in output
    assert not (project / "optuna.db").exists()  # the study is in PostgreSQL
    trials = optuna.load_study(study_name="rnnops-team", storage=storage).get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("rnnops").experiment_id
    (parent,) = client.search_runs([experiment], "tags.kind = 'sweep' and tags.sweep = 'team'")
    assert parent.info.status == "FINISHED" and parent.data.params["storage"].startswith("postgresql+psycopg2://***@")
    children = client.search_runs([experiment], f"tags.kind = 'trial' and tags.mlflow.parentRunId = "
                                                f"'{parent.info.run_id}'")
    assert sorted(int(r.data.tags["trial"]) for r in children) == [0, 1, 2]
    assert {r.data.metrics["val/rmse"] for r in children} == {t.value for t in trials}
