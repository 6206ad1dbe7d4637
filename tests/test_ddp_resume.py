"""Several processes under torchrun (gloo on CPU) and resuming a killed training, through the real train stage."""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from flows.training import checkpoints
from tests.conftest import tiny_params, write_params

pytestmark = pytest.mark.slow

# 2 processes vs 1 on the same global batches: the same sums, in another order (each rank averages
# its half, DDP averages the halves; matmuls over 10 rows instead of 20). float32 round-off is about
# 1e-7 relative per step; over 4 epochs x 10 Adam steps it stays far below 1e-4 (measured: see
# test output), while any real difference in the batches (e.g. a sampler that drew other items)
# moves the first epoch's loss by percents.
LOSS_RTOL = 1e-4


def stage(root: Path, *args: str, wait: bool = True, **env):
    cmd = [sys.executable, "-m", *args]
    environ = dict(os.environ, RNNOPS_PROGRESS_BAR="0", **env)
    if not wait:
        return subprocess.Popen(cmd, cwd=root, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(cmd, cwd=root, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def prepare(root: Path, cell_params: dict) -> None:
    params = tiny_params()
    params["cosine"]["train"]["lstm"].update(cell_params)
    write_params(root, params)
    for kind in ("ingest", "windows"):
        stage(root, f"flows.stages.{kind}", "cosine")


def history(root: Path) -> list[dict]:
    with open(root / "data/models/cosine/lstm/history.csv") as fh:
        return list(csv.DictReader(fh))


EPOCH_LINE = re.compile(r"^cosine/lstm: epoch (\d+)/\d+ trained", re.MULTILINE)


def trained(output: str) -> list[int]:
    """The epochs a training process really trained, from the line it prints as each one ends."""
    return [int(n) for n in EPOCH_LINE.findall(output)]


def logged_steps(client: MlflowClient, run_id: str) -> list[int]:
    """Every train/loss entry's step, repeats kept: an epoch trained twice with other values shows twice."""
    return sorted(m.step for m in client.get_metric_history(run_id, "train/loss"))


def weights(root: Path) -> dict:
    return torch.load(root / "data/models/cosine/lstm/model.pt", weights_only=True)


def test_two_processes_follow_the_one_process_loss_curve_into_one_run(project, mlflow_uri):
    prepare(project, {"epochs": 4, "batch_size": 20, "accelerator": "cpu", "devices": 2})
    stage(project, "flows.stages.train", "cosine", "lstm")
    two = history(project)
    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("rnnops").experiment_id
    runs = client.search_runs([experiment])
    assert len(runs) == 1 and runs[0].data.tags["rnnops.phase"] == "trained"  # one run, whatever the ranks
    assert json.loads((project / "data/models/cosine/lstm/run.json").read_text())["processes"] == 2
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/loss")] == [1, 2, 3, 4]
    stage(project, "flows.stages.evaluate", "cosine", "lstm")
    assert len(client.search_model_versions("name='rnnops-cosine'")) == 1

    params = tiny_params()
    params["cosine"]["train"]["lstm"].update({"epochs": 4, "batch_size": 20, "accelerator": "cpu", "devices": 1})
    write_params(project, params)
    stage(project, "flows.stages.train", "cosine", "lstm")
    one = history(project)
    for key in ("train/loss", "val/loss"):
        a, b = [float(r[key]) for r in one], [float(r[key]) for r in two]
        worst = max(abs(x - y) / abs(x) for x, y in zip(a, b))
        print(f"{key}: 1 process {a}\n{key}: 2 processes {b}\nworst relative difference {worst:.2e}")
        assert worst < LOSS_RTOL


def wait_for_epoch(root: Path, proc, epoch: int, timeout: float = 120) -> int:
    sidecar = checkpoints.folder(root, "cosine", "lstm") / checkpoints.SIDECAR
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        try:
            done = json.loads(sidecar.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= epoch:
            return done
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of epoch {epoch} within {timeout} s")


def test_a_training_killed_mid_epoch_resumes_into_the_same_run_with_the_same_weights(project, mlflow_uri):
    # dropout draws from the RNG every step: the restored generators are part of what is checked
    prepare(project, {"epochs": 6, "batch_size": 20, "num_layers": 2, "dropout": 0.2, "hidden_size": 24})
    assert trained(stage(project, "flows.stages.train", "cosine", "lstm").stdout) == [1, 2, 3, 4, 5, 6]
    straight, straight_history = weights(project), history(project)
    assert not checkpoints.folder(project, "cosine", "lstm").exists()  # removed once finished (keep_checkpoint off)

    (project / "data/models/cosine/lstm/model.pt").unlink()
    proc = stage(project, "flows.stages.train", "cosine", "lstm", wait=False)
    reached = wait_for_epoch(project, proc, 2)
    time.sleep(0.05)  # into the next epoch's batches
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = trained(proc.stdout.read())
    state = json.loads((checkpoints.folder(project, "cosine", "lstm") / checkpoints.SIDECAR).read_text())
    assert 2 <= state["epoch"] < 6 and not (project / "data/models/cosine/lstm/model.pt").exists()
    # the kill may land after an epoch's line and before its checkpoint: that epoch is trained again
    assert before == list(range(1, len(before) + 1)) and len(before) - state["epoch"] in (0, 1), (before, state)
    client = MlflowClient(mlflow_uri)
    assert client.get_run(state["run_id"]).info.status == "RUNNING"  # a ghost until someone resumes it

    done = stage(project, "flows.stages.train", "cosine", "lstm")
    assert f"resuming after epoch {state['epoch']} into MLflow run {state['run_id']}" in done.stdout
    assert trained(done.stdout) == list(range(state["epoch"] + 1, 7)), done.stdout  # not one epoch again
    summary = json.loads((project / "data/models/cosine/lstm/run.json").read_text())
    assert summary["run_id"] == state["run_id"] and summary["resumed_after_epoch"] == state["epoch"]
    resumed = weights(project)
    assert resumed.keys() == straight.keys()
    assert all(torch.equal(resumed[k], straight[k]) for k in straight), "resumed weights differ bit-wise"
    assert history(project) == straight_history  # every epoch, bit for bit (repr of the floats)
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["rnnops.phase"] == "trained"  # closed by its training
    assert run.data.tags["rnnops.resumes"] == "1" and "failure" not in run.data.tags
    assert logged_steps(client, state["run_id"]) == [1, 2, 3, 4, 5, 6], reached  # each epoch once


def processes_in(root: Path) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(root):
                found.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
        except OSError:
            pass
    return found


def test_killing_a_two_process_training_leaves_no_rank_and_it_resumes_bit_for_bit(project, mlflow_uri):
    prepare(project, {"epochs": 5, "hidden_size": 24, "accelerator": "cpu", "devices": 2})
    stage(project, "flows.stages.train", "cosine", "lstm")
    straight = weights(project)
    (project / "data/models/cosine/lstm/model.pt").unlink()
    proc = stage(project, "flows.stages.train", "cosine", "lstm", wait=False)
    wait_for_epoch(project, proc, 2)
    proc.send_signal(signal.SIGKILL)  # the stage only: torchrun and both ranks must follow it
    proc.wait()
    deadline = time.monotonic() + 2  # orphaned ranks would finish the 3 epochs left in a few seconds
    while processes_in(project) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_in(project) == []
    time.sleep(3)  # and nothing trains on unseen: no model, the checkpoint still that of the killed training
    sidecar = checkpoints.folder(project, "cosine", "lstm") / checkpoints.SIDECAR
    assert sidecar.exists() and not (project / "data/models/cosine/lstm/model.pt").exists()
    state = json.loads(sidecar.read_text())
    done = stage(project, "flows.stages.train", "cosine", "lstm")
    assert trained(done.stdout) == list(range(state["epoch"] + 1, 6)), done.stdout  # rank 0's lines
    assert logged_steps(MlflowClient(mlflow_uri), state["run_id"]) == [1, 2, 3, 4, 5]
    summary = json.loads((project / "data/models/cosine/lstm/run.json").read_text())
    got = (summary["run_id"], summary["resumed_after_epoch"], summary["processes"])
    assert got == (state["run_id"], state["epoch"], 2)
    resumed = weights(project)
    assert all(torch.equal(resumed[k], straight[k]) for k in straight), "resumed 2-process weights differ bit-wise"
