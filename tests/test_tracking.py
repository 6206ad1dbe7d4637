"""MLflow on SQLite in a temp dir: runs, registry, and the champion alias rule."""
from pathlib import Path

import torch
from mlflow.tracking import MlflowClient

import models
from flows import tracking
from models.config import NetworkConfig
from models.networks import RecurrentNet


def test_champion_moves_only_when_the_challenger_is_better(tmp_path, mlflow_uri):
    net = RecurrentNet(NetworkConfig(cell="gru", hidden_size=4)).eval()
    moved = []
    for rmse in (0.5, 0.7, 0.1, 0.1):
        run = tracking.start_training_run(tmp_path, "cosine", "gru", {"optim.lr": 0.1}, "abc123")
        result = tracking.finish_evaluation(
            tmp_path, "cosine", run.run_id, {"cell": "gru", "val": {"rmse": rmse}, "test": {"rmse": 1 - rmse}}, [],
            net, input_example=torch.randn(1, 6, 1), code_dir=Path(models.__file__).parent,
            selection=("val_rmse", rmse))
        moved.append(result["champion_moved"])
    assert moved == [True, False, True, False]  # a tie does not move it; the test figure plays no part
    client = MlflowClient(mlflow_uri)
    assert str(client.get_model_version_by_alias("rnnops-cosine", "champion").version) == "3"
    run = client.get_run(run.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["dvc_data_md5"] == "abc123"
    assert run.data.metrics["eval/val/rmse"] == 0.1 and run.data.metrics["eval/test/rmse"] == 0.9
    assert run.data.params == {"optim.lr": "0.1"}


def test_default_store_is_sqlite_in_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_artifacts_live_beside_the_sqlite_database(tmp_path, mlflow_uri):
    run = tracking.start_training_run(tmp_path, "cosine", "rnn", {}, "abc")
    experiment = MlflowClient(mlflow_uri).get_experiment_by_name("rnnops-cosine")
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "rnnops-cosine").resolve().as_uri()
    # the UI opens it on the training runs, not on MLflow 3's GenAI overview
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.run_id


def test_only_rank_zero_opens_a_run(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    run = tracking.start_training_run(tmp_path, "cosine", "rnn", {}, "abc")
    assert run.run_id is None
    with run.failing_on_error():
        pass
    assert MlflowClient(mlflow_uri).get_experiment_by_name("rnnops-cosine") is None


GHOST = """
import sys, time
from pathlib import Path
from flows import tracking
run = tracking.start_training_run(Path(sys.argv[1]), "cosine", "lstm", {}, "abc")
print(run.run_id, flush=True)
time.sleep(120)
"""


def test_a_training_killed_with_sigkill_is_marked_killed_by_the_next(tmp_path, mlflow_uri):
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.Popen([sys.executable, "-c", GHOST, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    ghost = proc.stdout.readline().strip()
    proc.kill()  # SIGKILL: no handler runs, the run stays RUNNING
    proc.wait()
    client = MlflowClient(mlflow_uri)
    assert client.get_run(ghost).info.status == "RUNNING"
    waiting = tracking.start_training_run(tmp_path, "cosine", "gru", {}, "abc")
    waiting.trained()  # trained, waiting for its evaluate stage: not a ghost
    tracking.start_training_run(tmp_path, "cosine", "lstm", {}, "abc")
    killed = client.get_run(ghost)
    assert killed.info.status == "KILLED" and f"pid {proc.pid}" in killed.data.tags["failure"]
    assert client.get_run(waiting.run_id).info.status == "RUNNING"
