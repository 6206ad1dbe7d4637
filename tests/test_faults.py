"""Faults in real stage processes: a full disk, a SIGKILLed pipeline, a restarted MLflow server, a killed rank."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows import tracking
from flows.orchestration import team_servers as servers
from flows.orchestration.run_lock import run_lock
from flows.tracking.store import OWNER, REPOSITORY
from flows.training import checkpoints
from tests.conftest import REPO, tiny_params, write_params
from tests.servers import free_port, http_ok, process, server_env

DISKFULL = REPO / "tests" / "diskfull"  # its sitecustomize answers the named files' writes with ENOSPC


def stage(root: Path, name: str, *args: str, full: tuple[str, ...] = (), after: int = 0, timeout: float = 600):
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0")
    if full:
        env.update(PYTHONPATH=os.pathsep.join([str(DISKFULL), env.get("PYTHONPATH", "")]),
                   RNNOPS_FULL_DISK=os.pathsep.join(full), RNNOPS_FULL_DISK_AFTER=str(after))
    return subprocess.run([sys.executable, "-m", f"flows.stages.{name}", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def one_sentence(done: subprocess.CompletedProcess, writing: str) -> None:
    """Exit 2, no traceback, and one error line (MLflow's own notices may come before it)."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("rnnops: error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout[-2000:] + done.stderr[-3000:]
    assert errors == [f"rnnops: error: the disk is full while writing {writing}; free space and re-run "
                      f"(what was there before is unchanged)."], done.stderr[-3000:]


def files(root: Path, *folders: str) -> dict[str, bytes]:
    """Every file under the folders, hidden ones (staging leftovers) included."""
    return {str(p.relative_to(root)): p.read_bytes() for f in folders for p in sorted((root / f).rglob("*"))
            if p.is_file()}


@pytest.mark.slow
def test_a_full_disk_fails_in_one_sentence_and_keeps_the_previous_outputs(project, mlflow_uri):
    params = tiny_params()
    params["cosine"]["train"]["lstm"]["epochs"] = 4
    write_params(project, params)
    for name, *args in (("ingest", "cosine"), ("windows", "cosine"), ("train", "cosine", "lstm"),
                        ("evaluate", "cosine", "lstm")):
        ok(stage(project, name, *args))
    outputs = ("data/raw/cosine", "data/models/cosine", "metrics/cosine", "plots/cosine")
    before = files(project, *outputs)

    # the snapshot: its first file cannot be written
    one_sentence(stage(project, "ingest", "cosine", full=("*/data/raw/cosine/*",)), "data/raw/cosine/series.npy")
    # evaluate's staged outputs: the metrics file is the last one written, after the tables and figures
    one_sentence(stage(project, "evaluate", "cosine", "lstm", full=("*/metrics/cosine/*",)),
                 "metrics/cosine/lstm.json")
    assert files(project, *outputs) == before

    # the epoch checkpoint: epochs 1 and 2 are written, epoch 3's hits the full disk
    ckpt = checkpoints.folder(project, "cosine", "lstm")
    one_sentence(stage(project, "train", "cosine", "lstm", full=(f"{ckpt}/.last.ckpt.tmp",), after=2),
                 ".dvc/tmp/checkpoints/cosine/lstm/last.ckpt")
    state = json.loads((ckpt / checkpoints.SIDECAR).read_text())
    assert state["epoch"] == 2 and sorted(p.name for p in ckpt.iterdir()) == [checkpoints.CKPT, checkpoints.SIDECAR]
    client = MlflowClient(mlflow_uri)
    assert client.get_run(state["run_id"]).info.status == "FAILED"
    # the model folder: the training resumes after epoch 2, then cannot write its weights
    done = stage(project, "train", "cosine", "lstm", full=("*/data/models/cosine/.lstm.*/model.pt",))
    assert f"resuming after epoch 2 into MLflow run {state['run_id']}" in done.stdout
    one_sentence(done, "data/models/cosine/lstm")
    assert files(project, *outputs) == before
    assert client.get_run(state["run_id"]).info.status == "FAILED"  # no model folder: not a finished training

    # space freed: the re-run resumes from the last checkpoint (all 4 epochs) and writes the folder
    ok(stage(project, "train", "cosine", "lstm"))
    summary = json.loads((project / "data/models/cosine/lstm/run.json").read_text())
    assert (summary["run_id"], summary["resumed_after_epoch"]) == (state["run_id"], 4)
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED" and "failure" not in run.data.tags
    assert sorted(m.step for m in client.get_metric_history(state["run_id"], "train/loss")) == [1, 2, 3, 4]


def rnnops_run(root: Path, *args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0")
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "run", *args], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def wait_for_checkpoint(root: Path, proc: subprocess.Popen, cell: str, timeout: float = 300) -> dict:
    """The first epoch checkpoint of `cell` (the sidecar names the MLflow run); fails when proc ends first."""
    sidecar = checkpoints.folder(root, "cosine", cell) / checkpoints.SIDECAR
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        try:
            state = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("epoch", 0) >= 1:
            return state
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of {cell} within {timeout} s")


def gone(pgid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def one_cell(root: Path, epochs: int) -> None:
    params = tiny_params()
    params["cells"] = ["lstm"]
    params["cosine"]["train"]["lstm"]["epochs"] = epochs
    write_params(root, params)


@pytest.mark.slow
def test_a_sigkilled_run_of_two_trainings_at_once_resumes_each_and_ends_as_an_uninterrupted_run(project, mlflow_uri):
    params = tiny_params()
    params["cells"] = ["lstm", "gru"]
    params["runtime"] = {"jobs": 2, "threads": 1}  # the two trainings side by side, one thread each
    for cell in params["cells"]:
        params["cosine"]["train"][cell]["epochs"] = EPOCHS
    write_params(project, params)
    proc = rnnops_run(project, start_new_session=True)
    try:
        states = {cell: wait_for_checkpoint(project, proc, cell) for cell in params["cells"]}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run: CLI, Prefect's server, dvc, both stages
        proc.communicate(timeout=60)
    assert gone(proc.pid)
    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("rnnops").experiment_id
    (killed,) = client.search_runs([experiment], "tags.kind = 'pipeline'")
    assert killed.info.status == "RUNNING"  # nobody closed it: a ghost until the next run

    out = finished(rnnops_run(project))
    old = client.get_run(killed.info.run_id)
    assert old.info.status == "KILLED" and old.info.end_time is not None
    assert f"pid {proc.pid} on" in old.data.tags["failure"]
    (new,) = [r for r in client.search_runs([experiment], "tags.kind = 'pipeline'") if r.info.run_id != old.info.run_id]
    assert new.info.status == "FINISHED" and new.data.tags["outcome.cosine"] == "ok"
    assert client.search_runs([experiment], "attributes.status = 'RUNNING'") == []
    logs = project / out.split("stage logs: ")[1].split("<stage>")[0]
    resumed = {}
    for cell, state in states.items():
        summary = json.loads((project / f"data/models/cosine/{cell}/run.json").read_text())
        assert summary["run_id"] == state["run_id"] and summary["resumed_after_epoch"] >= 1  # resumed, not restarted
        trained = (logs / f"train-cosine-{cell}.log").read_text().count(f"cosine/{cell}: epoch ")
        assert trained == EPOCHS - summary["resumed_after_epoch"], cell  # this process trained only the rest
        steps = {m.step for m in client.get_metric_history(state["run_id"], "train/loss")}
        assert sorted(steps) == list(range(1, EPOCHS + 1)), cell  # one run per cell holds every epoch
        resumed[cell] = outcome(project, cell)
    assert len(client.search_runs([experiment], "tags.kind = 'training'")) == 2

    finished(rnnops_run(project, "--force"))  # the same two trainings, uninterrupted, from scratch
    assert {cell: outcome(project, cell) for cell in states} == resumed


EPOCHS = 60  # both trainings must still be running when the second one's first checkpoint lands


def finished(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:]
    return out


def outcome(root: Path, cell: str) -> tuple:
    """What a training computed: its weights and its validation figures (not its run id or seconds)."""
    import torch

    weights = torch.load(root / f"data/models/cosine/{cell}/model.pt", weights_only=True)
    tensors = sorted((k, v.numpy().tobytes()) for k, v in weights.items() if torch.is_tensor(v))
    return tensors, json.loads((root / f"metrics/cosine/{cell}.json").read_text())["val"]


def test_only_the_pipeline_runs_whose_process_is_gone_are_closed(tmp_path, mlflow_uri):
    here, other = tmp_path / "here", tmp_path / "other"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid, live_pid, host = int(dead.stdout), os.getppid(), socket.gethostname()
    client = MlflowClient(mlflow_uri)
    experiment = tracking.experiment_id_of(client, here)
    owners = {"dead here": (dead_pid, host, here), "pid reused here": (live_pid, host, here),
              "dead elsewhere": (dead_pid, host, other), "alive elsewhere": (live_pid, host, other),
              "another host": (dead_pid, "another-host", here)}
    made = {what: client.create_run(experiment, tags={"kind": "pipeline", OWNER: f"{pid}@{on}",
                                                      REPOSITORY: str(repo.resolve())}).info.run_id
            for what, (pid, on, repo) in owners.items()}
    with run_lock(here):  # no other pipeline run of `here` can be alive: its RUNNING parents are dead
        mine = tracking.start_pipeline_run(here, {"cosine": ["gru"]}, None, scheduled=False)
    status = {what: client.get_run(run_id).info.status for what, run_id in made.items()}
    assert status == {"dead here": "KILLED", "pid reused here": "KILLED", "dead elsewhere": "KILLED",
                      "alive elsewhere": "RUNNING", "another host": "RUNNING"}
    assert client.get_run(mine).info.status == "RUNNING"


@contextmanager
def sqlite_mlflow(port: int, root: Path):
    """`mlflow server` on a SQLite store and a local artifact folder; the same port after a restart."""
    argv = servers.mlflow_server("127.0.0.1", port, (root / "artifacts").as_uri(), servers.allowed_hosts("mlflow"))
    env = server_env(**servers.mlflow_server_env(f"sqlite:///{root / 'server.db'}"))
    env.pop("MLFLOW_TRACKING_URI", None)
    url = f"http://127.0.0.1:{port}"
    with process("mlflow", argv, env, lambda: http_ok(url + "/health"), timeout_s=180):
        yield url


@pytest.mark.slow
def test_a_pipeline_run_survives_an_mlflow_server_restart_and_leaves_no_running_ghost(project, tmp_path, monkeypatch):
    one_cell(project, 30)
    port = free_port()
    with sqlite_mlflow(port, tmp_path) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        proc = rnnops_run(project)
        try:
            during = wait_for_checkpoint(project, proc, "lstm")["epoch"]
            assert during < 30  # the training is in flight when the server goes
        except BaseException:
            proc.kill()
            raise
    try:  # the server is down while the training logs its next epochs
        with sqlite_mlflow(port, tmp_path):
            out, _ = proc.communicate(timeout=900)
            if proc.returncode:  # then in one sentence, and a re-run completes
                failed = [line for line in out.splitlines() if line.startswith("cosine: FAILED at ")]
                assert proc.returncode == 1 and len(failed) == 1, out[-3000:]
            rerun = rnnops_run(project)
            again, _ = rerun.communicate(timeout=900)
            assert rerun.returncode == 0, again[-3000:]
            client = MlflowClient(url)
            experiment = client.get_experiment_by_name("rnnops").experiment_id
            assert client.search_runs([experiment], "attributes.status = 'RUNNING'") == []
            assert len(client.search_runs([experiment], "tags.kind = 'pipeline'")) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"first run: exit {proc.returncode}; the server went away after epoch {during} of 30")


def rank_pids(root: Path) -> dict[int, int]:
    """rank -> pid of the training ranks working in root (torchrun sets RANK in each rank's environment)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd") != str(root):
                continue
            environ = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in v)
        except OSError:
            continue
        if "RANK" in environ and "flows.stages.train" in Path(f"/proc/{pid}/cmdline").read_text():
            found[int(environ["RANK"])] = int(pid)
    return found


@pytest.mark.slow
def test_a_killed_rank_stops_the_other_within_a_minute_and_the_rerun_resumes(project, mlflow_uri):
    params = tiny_params()
    params["cosine"]["train"]["lstm"].update(epochs=8, hidden_size=24, accelerator="cpu", devices=2)
    write_params(project, params)
    for name in ("ingest", "windows"):
        ok(stage(project, name, "cosine"))
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0")
    proc = subprocess.Popen([sys.executable, "-m", "flows.stages.train", "cosine", "lstm"], cwd=project, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        state = wait_for_checkpoint(project, proc, "lstm")
        ranks = rank_pids(project)
        assert sorted(ranks) == [0, 1], ranks
        os.kill(ranks[1], signal.SIGKILL)
        killed = time.monotonic()
        out, err = proc.communicate(timeout=60)  # rank 0 must not wait for its peer for ever
        print(f"the stage ended {time.monotonic() - killed:.1f} s after rank 1 was killed")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert gone(proc.pid, timeout=10) and rank_pids(project) == {}
    errors = [line for line in err.splitlines() if line.startswith("rnnops: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "re-run to resume" in errors[0], err[-3000:]
    client = MlflowClient(mlflow_uri)
    assert client.get_run(state["run_id"]).info.status == "FAILED"

    ok(stage(project, "train", "cosine", "lstm"))
    summary = json.loads((project / "data/models/cosine/lstm/run.json").read_text())
    assert summary["run_id"] == state["run_id"] and summary["resumed_after_epoch"] >= 1  # not a restart
    assert summary["processes"] == 2 and client.get_run(state["run_id"]).info.status == "FINISHED"
    steps = sorted({m.step for m in client.get_metric_history(state["run_id"], "train/loss")})
    assert steps == list(range(1, 9))
