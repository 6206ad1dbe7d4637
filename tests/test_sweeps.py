"""Sweeps on the tiny cosine profile: a declared search run by `rnnops sweep` with worker processes on a
real Optuna SQLite storage, MLflow parent and child runs, pruning, a SIGKILLed worker, and --apply then
`dvc repro` reproducing the best trial's score."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from flows.sweeps.config import sweep_config
from flows.sweeps.flow import worker_gpus
from models.errors import InvalidParameter
from tests.conftest import git, tiny_params, write_params
from tests.servers import free_port

# What a training run of the same cell logs per epoch (History) and at the end (evaluate's val figures).
TRAINING_METRICS = {"train/loss", "train/grad_norm", "train/grad_norm_clipped", "val/loss", "val/mse", "val/rmse",
                    "val/mae"}


def sweep_params(trials=4, epochs=3, **sweep) -> dict:
    params = tiny_params()
    params["cosine"]["train"]["lstm"]["epochs"] = epochs
    params["sweeps"] = {"tiny": {"dataset": "cosine", "cell": "lstm", "trials": trials, "pruner": "none",
                                 "space": {"hidden_size": {"type": "int", "low": 8, "high": 24},
                                           "lr": {"type": "log_float", "low": 1.0e-3, "high": 3.0e-2}},
                                 **sweep}}
    return params


def declare(project, trials=4, epochs=3, **sweep) -> dict:
    params = sweep_params(trials, epochs, **sweep)
    write_params(project, params)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "a sweep")
    return params


def rnnops(project, *args, timeout=600, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=project, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, RNNOPS_SYSTEM_METRICS_S="0", **env))


def study(project):
    return optuna.load_study(study_name="rnnops-tiny", storage=f"sqlite:///{project / 'optuna.db'}")


def runs(kind: str):
    mlc = MlflowClient()
    experiment = mlc.get_experiment_by_name("rnnops").experiment_id
    return mlc, mlc.search_runs([experiment], f"tags.kind = '{kind}'")


def test_bad_declarations_are_one_sentence():
    params = tiny_params()
    good = {"dataset": "cosine", "cell": "lstm", "space": {"lr": {"type": "log_float", "low": 1.0e-4, "high": 0.1}}}
    cases = [({"trails": 3}, "unknown key(s) trails"),
             ({"space": {"lr": {"type": "log_float", "low": 0.1, "high": 0.01}}}, "low (0.1) must be below high"),
             ({"space": {"lr": {"type": "log_float", "low": 0.0, "high": 0.01}}}, "needs low > 0"),
             ({"space": {"hiden_size": {"type": "int", "low": 8, "high": 16}}}, "space.hiden_size is neither a train"),
             ({"space": {"windows.windw": {"type": "int", "low": 8, "high": 16}}}, "neither a train key"),
             ({"space": {"dropout": {"type": "float", "low": 0.0, "high": 1.5}}}, "at 1.5: dropout must be in"),
             ({"space": {"hidden_size": {"type": "int", "low": 32, "high": 64}}}, "does not hold the starting cell's"),
             ({"space": {"lr": {"type": "categorical", "choices": []}}}, "choices must be a non-empty list"),
             ({"sampler": "grid"}, "sampler must be one of tpe, random")]
    for change, said in cases:
        params["sweeps"] = {"s": {**good, **change}}
        with pytest.raises(InvalidParameter, match=re.escape(said)):
            sweep_config(params, "s")
    params["sweeps"] = {"s": good}
    assert sweep_config(params, "s").space[0].kind == "log_float"
    with pytest.raises(InvalidParameter, match="declares no sweep 'other'; choose one of s"):
        sweep_config(params, "other")


def test_an_unreachable_storage_is_one_sentence_before_anything_trains(project):
    declare(project)
    password = "s3cr3t-" + os.urandom(6).hex()
    done = rnnops(project, "sweep", "tiny", timeout=120,
                  RNNOPS_OPTUNA_STORAGE=f"postgresql+psycopg2://alice:{password}@127.0.0.1:{free_port()}/optuna")
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2 and len(said) == 1, said
    assert "the Optuna storage postgresql+psycopg2://***@127.0.0.1:" in said[0] and "cannot be reached" in said[0]
    assert password not in said[0] and not (project / "data/windows/cosine").exists()


@pytest.mark.slow
def test_two_workers_share_one_study_with_a_parent_run_and_a_child_per_trial(project):
    declare(project, trials=4, space={"hidden_size": {"type": "int", "low": 8, "high": 24},
                                      "lr": {"type": "log_float", "low": 1.0e-3, "high": 3.0e-2},
                                      "windows.window": {"type": "categorical", "choices": [20, 24]}})
    done = rnnops(project, "sweep", "tiny", "--workers", "2")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "sweep tiny: 4 of 4 trials finished (4 complete" in done.stdout

    trials = study(project).get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3] and all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].user_attrs["start"] and trials[0].params == {"hidden_size": 16, "lr": 0.01,
                                                                  "windows.window": 20}  # the cell itself
    assert len({t.user_attrs["worker"] for t in trials}) <= 2
    # which windows the sampled trials draw depends on which worker takes which trial (each samples from its
    # own seed), so a loaded machine can give three 20s: the per-trial check below holds for whatever they drew

    mlc, (parent,) = runs("sweep")
    assert parent.info.status == "FINISHED" and parent.data.params["study"] == "rnnops-tiny"
    assert parent.data.params["space.lr"] == "log_float [0.001, 0.03]"
    best = min(trials, key=lambda t: t.value)
    assert parent.data.metrics["best/val/rmse"] == best.value and parent.data.tags["best_trial"] == str(best.number)
    assert parent.data.metrics["start/val/rmse"] == trials[0].value
    _, children = runs("trial")
    assert sorted(int(r.data.tags["trial"]) for r in children) == [0, 1, 2, 3]  # one run per trial, none twice
    for run in children:
        trial = trials[int(run.data.tags["trial"])]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id and run.info.status == "FINISHED"
        assert run.data.tags["trial_state"] == "COMPLETE" and TRAINING_METRICS <= set(run.data.metrics)
        assert run.data.metrics["val/rmse"] == trial.value  # the objective is evaluate's validation figure
        assert run.data.params["net.hidden_size"] == str(trial.params["hidden_size"])
        assert run.data.params["window"] == str(trial.params["windows.window"])  # windows made for the trial
        assert len(mlc.get_metric_history(run.info.run_id, "train/loss")) == 3
    assert git(project, "status", "--porcelain", "dvc.yaml", "params.yaml") == ""  # trials are no DVC stages


@pytest.mark.slow
def test_a_pruned_trial_keeps_its_curve_and_apply_then_repro_reproduces_the_best_score(project):
    # random sampler, seed 15, one worker: trial 1 draws lr 1e-6 (pruned after epoch 1), trial 2 (24, 0.01)
    declare(project, trials=3, sampler="random", seed=15, pruner="median", prune_after_trials=1,
            prune_after_epochs=1, space={"hidden_size": {"type": "categorical", "choices": [16, 24]},
                                         "lr": {"type": "categorical", "choices": [0.01, 1.0e-6]}})
    done = rnnops(project, "sweep", "tiny", "--workers", "1", OMP_NUM_THREADS="1")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    trials = study(project).get_trials()
    assert trials[1].params["lr"] == 1.0e-6, "the seed no longer draws the bad lr second"
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    mlc, children = runs("trial")
    pruned = next(r for r in children if r.data.tags["trial"] == "1")
    assert pruned.data.tags["trial_state"] == "PRUNED" and pruned.info.status == "FINISHED"
    assert [m.step for m in mlc.get_metric_history(pruned.info.run_id, "val/rmse")] == [1]  # its curve, no more

    done = rnnops(project, "sweep", "tiny", "--apply", "--as", "tuned")
    assert done.returncode == 0, done.stdout + done.stderr
    best = min((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["cosine"]["cells"] == ["rnn", "lstm", "gru", "tuned"]
    assert params["cosine"]["train"]["tuned"] == {**params["cosine"]["train"]["lstm"], "kind": "lstm", **best.params}
    repro = subprocess.run([sys.executable, "-m", "dvc", "repro", "evaluate-cosine-tuned"], cwd=project,
                           capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1",
                                                                     PATH=f"{os.path.dirname(sys.executable)}"
                                                                          f"{os.pathsep}{os.environ['PATH']}"))
    assert repro.returncode == 0, (repro.stdout + repro.stderr)[-3000:]
    metrics = json.loads((project / "metrics/cosine/tuned.json").read_text())
    assert metrics["val"]["rmse"] == best.value  # bit for bit: the same code on CPU with one thread


def test_workers_opening_a_new_sqlite_storage_create_its_tables_one_at_a_time(tmp_path):
    """Workers started together would each create Optuna's tables in the new file and collide ("UNIQUE
    constraint failed: alembic_version", seen in CI): opening waits for the lock the claims use."""
    import threading

    from flows.sweeps import engine

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    cfg = sweep_config(sweep_params(), "tiny")
    opened = threading.Event()
    with engine.file_lock(url):
        worker = threading.Thread(target=lambda: (engine.open_storage(tmp_path, cfg, url), opened.set()))
        worker.start()
        assert not opened.wait(2.0), "the storage was created while another process held its lock"
    worker.join(30)
    assert opened.is_set() and (tmp_path / "optuna.db").exists()


@pytest.mark.slow
def test_a_sigkilled_worker_loses_no_trial_and_a_rerun_completes_the_study(project):
    declare(project, trials=2, epochs=10, heartbeat_s=1)
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "sweep", "tiny", "--workers", "1"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, RNNOPS_SYSTEM_METRICS_S="0"))
    try:
        victim = None
        deadline = time.time() + 300
        while victim is None and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if (project / "optuna.db").exists():
                try:
                    running = study(project).get_trials(states=(TrialState.RUNNING,))
                except (KeyError, Exception):  # the study or its tables are still being created
                    continue
                victim = next((t for t in running if len(t.intermediate_values) >= 2), None)  # mid-trial
        if victim is None:
            proc.kill()
            pytest.fail("no trial reached its second epoch; the sweep said:\n" + proc.communicate()[0][-3000:])
        os.kill(int(victim.user_attrs["worker"].split("@")[0]), signal.SIGKILL)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "run `rnnops sweep tiny` again to continue it" in output, output[-3000:]

    done = rnnops(project, "sweep", "tiny")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    trials = study(project).get_trials()
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 2 and states.count(TrialState.FAIL) == 1 and len(trials) == 3
    lost = trials[victim.number]
    assert lost.state == TrialState.FAIL
    retry = next(t for t in trials if t.system_attrs.get("retry_history") == [victim.number])
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params  # the same trial, run again
    mlc, children = runs("trial")
    killed = next(r for r in children if r.info.run_id == victim.user_attrs["mlflow_run_id"])
    assert killed.info.status == "KILLED" and killed.data.tags["trial_state"] == "FAIL"
    assert sorted(r.data.tags["trial_state"] for r in children) == ["COMPLETE", "COMPLETE", "FAIL"]
    assert "2 of 2 trials finished (2 complete, 0 pruned, 0 failed; 1 lost" in done.stdout


def test_each_worker_gets_a_block_of_the_gpus_its_trials_ranks_use():
    assert worker_gpus(0, 1, 0) is None  # a CPU machine
    assert [worker_gpus(i, 2, 8) for i in range(4)] == ["0,1", "2,3", "4,5", "6,7"]
    assert [worker_gpus(i, 1, 2) for i in range(3)] == ["0", "1", "0"]  # more workers than GPUs share them
    assert worker_gpus(0, 4, 2) == "0,1"  # the trial's layout then refuses devices 4 on 2 GPUs in one sentence


def test_a_trial_spans_one_node_only():
    params = tiny_params()
    params["cosine"]["train"]["lstm"].update(devices=2, num_nodes=2)
    params["sweeps"] = {"s": {"dataset": "cosine", "cell": "lstm", "space": {"lr": {"type": "float", "low": 0.001,
                                                                                    "high": 0.02}}}}
    with pytest.raises(InvalidParameter, match="asks for several nodes; a sweep trains each trial on its worker's"):
        sweep_config(params, "s")
    params["cosine"]["train"]["lstm"]["num_nodes"] = 1
    assert sweep_config(params, "s").cell == "lstm"  # 2 devices on one node: its trials run as 2 ranks
