"""Stages side by side: DVC's lock never fails a stage, and how many run at once changes when they run,
never what they compute (dvc.lock, weights, curves and metrics equal a one-at-a-time run's)."""
import hashlib
import json
import threading

import pytest
import torch
import yaml

from flows.orchestration.pipeline import pipeline
from flows.orchestration.stage_task import run_stage
from tests.conftest import dvc, git, tiny_params, write_params
from tests.test_runlock import flow_run_logs, stage_spans

pytestmark = pytest.mark.slow
STAGES = 8


def test_eight_stages_started_at_once_never_fail_on_dvcs_lock(tmp_path):
    """DVC holds its repository lock while it prepares and records a stage: eight at once collide there
    unless each waits for it. Three rounds, every stage forced each time."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert dvc(root, "init", "-q").returncode == 0
    sleep = "import sys, time; time.sleep(0.3); open(sys.argv[1], 'w').write(sys.argv[1])"
    stages = {f"s{i}": {"cmd": f'python -c "{sleep}" out{i}.txt', "outs": [f"out{i}.txt"]} for i in range(STAGES)}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    for _ in range(3):
        states: dict = {}
        threads = [threading.Thread(target=forced, args=(root, name, states)) for name in stages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        failed = {n: s.message for n, s in states.items() if s != n}
        assert failed == {} and len(states) == STAGES, failed
    assert dvc(root, "status", "--json").stdout.strip() == "{}"
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(stages)  # each stage recorded, none lost to a concurrent write


def forced(root, name: str, states: dict) -> None:
    states[name] = run_stage.fn(root, name, force=True, log=root / f"{name}.log")


def outcome_of(root) -> dict:
    """What a run computed, without what differs by nature from run to run (run ids, seconds)."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    found = {f"lock:{s}": lock[s]["outs"] for s in lock if s.startswith(("ingest", "windows"))}
    for model in sorted(p for p in (root / "data/models/cosine").iterdir() if p.is_dir()):
        weights = torch.load(model / "model.pt", weights_only=True)
        state = weights.get("state_dict", weights) if isinstance(weights, dict) else weights
        found[f"weights:{model.name}"] = hashlib.sha256(b"".join(
            t.numpy().tobytes() for _, t in sorted(state.items()) if torch.is_tensor(t))).hexdigest()
        found[f"curve:{model.name}"] = (model / "history.csv").read_text()
    for metrics in sorted((root / "metrics/cosine").glob("*.json")):
        found[f"val:{metrics.stem}"] = json.loads(metrics.read_text())["val"]
    return found


def test_four_trainings_with_two_and_four_jobs_compute_what_one_job_does(project, mlflow_uri, prefect_harness):
    params = tiny_params()
    params["cosine"]["cells"] = ["rnn", "lstm", "gru", "wide"]  # 4 trainings that do not wait for each other
    params["cosine"]["train"]["wide"] = {**params["cosine"]["train"]["gru"], "kind": "gru", "hidden_size": 24}
    params["cosine"]["evaluate"]["gradients"] = False
    params["runtime"] = {"threads": 1}  # torch's GRU sums in another order on 2 threads: same share each run
    write_params(project, params)
    seen, spans = [], {}
    for jobs in (1, 4, 2):
        state = pipeline(root=str(project), force=True, jobs=jobs, return_state=True)
        outcomes = state.result()
        assert [(o.dataset, o.status, o.not_run) for o in outcomes] == [("cosine", "ok", [])], outcomes
        assert dvc(project, "status", "--json").stdout.strip() == "{}"  # dvc.lock records every stage
        seen.append(outcome_of(project))
        spans[jobs] = stage_spans(project)[str(state.state_details.flow_run_id)]
        logs = flow_run_logs(str(state.state_details.flow_run_id))
        assert any("cosine/gru: epoch 10/10 trained" in line for line in logs)  # stage output in Prefect's UI
    assert seen[1] == seen[0] and seen[2] == seen[0]
    for jobs, found in spans.items():
        at_once = max(sum(1 for s, e, _ in found if s <= t < e) for t, _, _ in found)
        assert at_once == jobs, (jobs, found)  # Prefect's record: the trainings overlapped, never beyond jobs
