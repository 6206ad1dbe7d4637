"""MLflow on SQLite in a temp dir: runs, registry, and the champion alias rule."""
import json
import sqlite3
import time
from pathlib import Path

import torch
from mlflow.tracking import MlflowClient

import models
from flows import tracking
from models.config import NetworkConfig
from models.networks import RecurrentNet

DATA = tracking.DataInput("cosine-windows", "abc123", "generated", "cos(x)", {"train": 1, "val": 1})


def test_champion_moves_only_when_the_challenger_is_better(tmp_path, mlflow_uri):
    net = RecurrentNet(NetworkConfig(kind="gru", hidden_size=4)).eval()
    moved = []
    for rmse in (0.5, 0.7, 0.1, 0.1):
        run = tracking.start_training_run(tmp_path, "cosine", "gru", {"optim.lr": 0.1}, DATA)
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
    assert run.data.params == {"optim.lr": "0.1"}


def test_multi_step_forecasters_are_elected_among_their_own_horizon(tmp_path, mlflow_uri):
    """A seq2seq cell's mean RMSE over 50 steps must not compete with one-step RMSEs (nor dethrone the
    one-step champion that `rnnops predict` serves, however small its figure)."""
    net = RecurrentNet(NetworkConfig(kind="gru", hidden_size=4)).eval()
    for cell, rmse, horizon in (("gru", 0.5, None), ("s2s", 0.9, 50), ("s2s_b", 0.01, 20), ("s2s_c", 0.3, 50)):
        run = tracking.start_training_run(tmp_path, "cosine", cell, {}, DATA)
        tracking.finish_evaluation(tmp_path, "cosine", run.run_id, {"cell": cell, "val": {"rmse": rmse}}, [], net,
                                   input_example=torch.randn(1, 6, 1), code_dir=Path(models.__file__).parent,
                                   selection=("val_rmse", rmse), horizon=horizon)
    client = MlflowClient(mlflow_uri)
    champions = {name: client.get_model_version_by_alias(name, "champion").tags
                 for name in ("rnnops-cosine", "rnnops-cosine-h50", "rnnops-cosine-h20")}
    assert {name: tags["cell"] for name, tags in champions.items()} == {
        "rnnops-cosine": "gru", "rnnops-cosine-h50": "s2s_c", "rnnops-cosine-h20": "s2s_b"}
    assert champions["rnnops-cosine-h50"]["horizon"] == "50" and champions["rnnops-cosine"]["horizon"] == "1"


def test_a_training_run_carries_what_the_ui_shows(tmp_path, mlflow_uri):
    """Dataset column (digest = DVC hash, source, split sizes), Source/Version/description, parent, Duration
    ending with the training, shared metric names, and a registered version that links back."""
    client = MlflowClient(mlflow_uri)
    # each dataset with its own cells (cosine's model types are not stocks' cells)
    parent = tracking.start_pipeline_run(tmp_path, {"cosine": ["gru", "s2s"], "stocks": ["lstm"]}, "flow-1",
                                         scheduled=False)
    run = tracking.start_training_run(tmp_path, "cosine", "gru", {"optim.lr": 0.1}, DATA, "cosine / gru: a test",
                                      parent_run_id=parent)
    time.sleep(0.05)
    run.trained()
    trained_at = client.get_run(run.run_id).info.end_time
    time.sleep(0.05)
    metrics = {"cell": "gru", "epochs": 3, "train_seconds": 1.5,
               "val": {"rmse": 0.2, "persistence_rmse": 0.4, "skill": 0.5, "dm_pvalue": 0.01},
               "test": {"rmse": 0.3, "persistence_rmse": 0.4, "skill": 0.25}}
    net = RecurrentNet(NetworkConfig(kind="gru", hidden_size=4)).eval()
    version = tracking.finish_evaluation(tmp_path, "cosine", run.run_id, metrics, [], net, torch.randn(1, 6, 1),
                                         Path(models.__file__).parent, selection=("val_rmse", 0.2))["version"]
    tracking.finish_pipeline_run(tmp_path, parent, {"cosine": "ok"}, [])

    found = client.get_run(run.run_id)
    assert found.info.end_time == trained_at  # Duration is the training's, not until evaluate closed it
    (given,) = found.inputs.dataset_inputs
    assert (given.dataset.name, given.dataset.digest, given.dataset.source) == ("cosine-windows", "abc123", "cos(x)")
    assert json.loads(given.dataset.profile) == {"train_windows": 1, "val_windows": 1}
    assert [(t.key, t.value) for t in given.tags] == [("mlflow.data.context", "training")]
    outside_dvc = tracking.DataInput("x", "0123456789abcdef0123456789abcdef (files, not via dvc)", "local", "f", {})
    assert outside_dvc.entity().dataset.digest == "0123456789abcdef0123456789abcdef"  # MLflow's 36-character cap
    tags = found.data.tags
    assert tags["mlflow.parentRunId"] == parent and tags["mlflow.note.content"] == "cosine / gru: a test"
    assert tags["mlflow.source.git.commit"] == tags["git_sha"] and tags["mlflow.source.name"].startswith("flows/")
    assert {k: v for k, v in found.data.metrics.items() if not k.startswith("system/")} == {
        "val/rmse": 0.2, "val/persistence_rmse": 0.4, "val/dm_pvalue": 0.01, "skill/val": 0.5,
        "test/rmse": 0.3, "test/persistence_rmse": 0.4, "skill/test": 0.25, "train/seconds": 1.5}
    assert [m.step for m in client.get_metric_history(run.run_id, "val/rmse")] == [3]  # after epoch 3's curve

    model = client.get_model_version("rnnops-cosine", version)
    assert model.tags["dvc_data_md5"] == "abc123" and model.tags["skill_test"] == "0.25"
    link = tracking.run_link(tmp_path, run.run_id)  # in the model-training view (tests/test_ui_links.py opens it)
    assert model.tags["run_link"] == link and link.endswith(f"/runs/{run.run_id}?workflowType=machine_learning")
    assert f"run {link}" in model.description
    top = client.get_run(parent)
    assert top.info.status == "FINISHED" and top.data.tags["outcome.cosine"] == "ok"
    assert top.data.tags["kind"] == "pipeline" and "mlflow.parentRunId" not in top.data.tags
    assert top.data.params == {"datasets": "cosine,stocks", "cells.cosine": "gru,s2s", "cells.stocks": "lstm",
                               "scheduled": "False"}
    assert top.data.tags["mlflow.note.content"] == "rnnops run: cosine x gru, s2s; stocks x lstm"


def test_default_store_is_sqlite_in_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_artifacts_live_beside_the_sqlite_database(tmp_path, mlflow_uri):
    run = tracking.start_training_run(tmp_path, "cosine", "rnn", {}, DATA)
    experiment = MlflowClient(mlflow_uri).get_experiment_by_name("rnnops")
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "rnnops").resolve().as_uri()
    # the UI opens it on the training runs, not on MLflow 3's GenAI overview
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.run_id


def test_only_rank_zero_opens_a_run(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    run = tracking.start_training_run(tmp_path, "cosine", "rnn", {}, DATA)
    assert run.run_id is None
    with run.failing_on_error():
        pass
    assert MlflowClient(mlflow_uri).get_experiment_by_name("rnnops") is None


GHOST = """
import sys, time
from pathlib import Path
from flows import tracking
run = tracking.start_training_run(Path(sys.argv[1]), "cosine", "lstm", {},
                                  tracking.DataInput("cosine-windows", "abc", "generated", "cos", {"train": 1}))
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
    waiting = tracking.start_training_run(tmp_path, "cosine", "gru", {}, DATA)
    waiting.trained()  # trained, waiting for its evaluate stage: not a ghost
    tracking.start_training_run(tmp_path, "cosine", "lstm", {}, DATA)
    killed = client.get_run(ghost)
    assert killed.info.status == "KILLED" and f"pid {proc.pid}" in killed.data.tags["failure"]
    assert client.get_run(waiting.run_id).info.status == "FINISHED"  # closed by its training, not killed


def test_system_metrics_are_sampled_into_the_training_run(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv("RNNOPS_SYSTEM_METRICS_S", "0.2")
    run = tracking.start_training_run(tmp_path, "cosine", "rnn", {}, DATA)
    with run.system_metrics():
        time.sleep(1.5)
    logged = MlflowClient(mlflow_uri).get_run(run.run_id).data.metrics
    assert logged["system/cpu_utilization_percentage"] >= 0 and logged["system/system_memory_usage_megabytes"] > 0



def test_a_store_warmed_up_on_a_thread_is_ready_for_the_pipeline_run(tmp_path, mlflow_uri):
    """rnnops run makes a new store's tables while Prefect's server starts; the parent run waits for
    them (read here with sqlite3 itself: an MLflow call would make the tables on its own), made once."""
    from flows.tracking.store import ready

    tracking.warm_up(tmp_path)
    ready(tmp_path)
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("select name from experiments where name = ?", (tracking.EXPERIMENT,)).fetchall() \
            == [(tracking.EXPERIMENT,)]
    parent = tracking.start_pipeline_run(tmp_path, {"cosine": ["rnn"]}, None, scheduled=False)
    experiment = MlflowClient(mlflow_uri).get_experiment_by_name(tracking.EXPERIMENT)
    assert MlflowClient(mlflow_uri).get_run(parent).info.experiment_id == experiment.experiment_id
