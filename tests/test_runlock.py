"""One pipeline run per repository: a second run waits visibly, or fails in one sentence with --no-wait."""
import os
import subprocess
import sys
import threading
import time

import pytest

from flows.orchestration.run_lock import RunLocked, lock_path, run_lock
from tests.conftest import REPO

HOLD = """
import sys, time
from pathlib import Path
from flows.orchestration.run_lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    print("releasing", flush=True)
"""


def holder(root, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_run_fails_at_once_when_asked_not_to_wait(tmp_path):
    proc = holder(tmp_path, 30)
    try:
        with pytest.raises(RunLocked, match=f"another rnnops run holds .*pid {proc.pid}") as err:
            with run_lock(tmp_path, wait=False):
                pass
        assert "\n" not in str(err.value)
    finally:
        proc.kill()
        proc.wait()
    with run_lock(tmp_path, wait=False):  # kill -9 of the holder released it
        assert "pid " in lock_path(tmp_path).read_text()


def test_a_second_run_waits_visibly_then_goes(tmp_path, capsys):
    proc = holder(tmp_path, 3)
    with run_lock(tmp_path, wait=True, poll_s=0.2):
        assert proc.stdout.readline().strip() == "releasing"  # the first run had finished before this began
    proc.wait()
    assert "waiting: another rnnops run holds this repository" in capsys.readouterr().err


def test_the_cli_refuses_a_concurrent_run_in_one_sentence(tmp_path):
    from tests.conftest import tiny_params, write_params

    write_params(tmp_path, tiny_params())
    proc = holder(tmp_path, 30)
    try:
        done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--no-wait"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 2 and done.stderr.startswith("rnnops: error: another rnnops run holds")
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "data").exists()


def stage_spans(root) -> dict[str, list[tuple]]:
    """Prefect's own record of each pipeline run on `root`: flow run id -> [(start, end, stage)]."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(limit=200) if r.parameters.get("root") == str(root)]
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in runs])))
    spans = {str(r.id): [] for r in runs}
    for t in tasks:
        spans[str(t.flow_run_id)].append((t.start_time, t.end_time, t.name))
    return {run: sorted(found) for run, found in spans.items()}


def flow_run_logs(flow_run_id: str) -> list[str]:
    """What the Prefect UI shows under a flow run (the flow has log_prints on)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)  # logs reach the server in batches
    with get_client(sync_client=True) as client:
        return [log.message for log in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))]


@pytest.mark.slow
def test_a_scheduled_run_started_during_an_interactive_one_waits_and_their_stages_never_overlap(
        project, mlflow_uri, prefect_harness):
    """The CLI takes the lock itself; a deployment or worker calls the flow, whose own lock is all it has."""
    from mlflow.tracking import MlflowClient
    from prefect.settings import PREFECT_API_URL

    from flows.orchestration.deployments import parameters
    from flows.orchestration.pipeline import pipeline
    from tests.conftest import tiny_params, write_params

    params = tiny_params()
    params["cells"] = ["lstm"]
    params["cosine"]["train"]["lstm"]["epochs"] = 2
    write_params(project, params)
    MlflowClient(mlflow_uri).search_experiments()  # the tracking database exists, as after any earlier run
    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", PREFECT_API_URL=PREFECT_API_URL.value())  # one Prefect server
    interactive = subprocess.Popen([sys.executable, "-m", "flows.cli", "run"], cwd=project, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(600, interactive.kill)  # a hung CLI releases the lock by dying: bounded
    watchdog.start()
    try:
        deadline = time.monotonic() + 300
        while f"pid {interactive.pid} " not in (lock_path(project).read_text() if lock_path(project).exists() else ""):
            assert interactive.poll() is None and time.monotonic() < deadline, interactive.stdout.read()[-3000:]
            time.sleep(0.2)
        scheduled = pipeline(**parameters(project, {"datasets": ["cosine"]}), retry_delay_s=1.0, return_state=True)
        said = interactive.communicate(timeout=600)[0]
    finally:
        watchdog.cancel()
        interactive.kill()
    ours = str(scheduled.state_details.flow_run_id)
    spans = stage_spans(project)
    theirs = [run for run in spans if run != ours]
    assert len(theirs) == 1, spans
    first, second = spans[theirs[0]], spans[ours]
    overlap = [(a, b) for a in first for b in second if a[0] < b[1] and b[0] < a[1]]  # stage pairs at once
    assert overlap == [], (overlap, said[-3000:])
    assert len(first) == len(second) == 5, (spans, said[-3000:])  # every stage of both runs ran
    assert max(a[1] for a in first) <= min(b[0] for b in second)  # and the scheduled one came second
    assert interactive.returncode == 0 and scheduled.is_completed(), said[-3000:]
    assert any(line.startswith("waiting: another rnnops run holds this repository") for line in flow_run_logs(ours))


@pytest.mark.slow
def test_a_scheduled_run_that_may_not_wait_fails_in_one_sentence(tmp_path, prefect_harness):
    from flows.orchestration.pipeline import pipeline

    proc = holder(tmp_path, 60)
    try:
        state = pipeline(root=str(tmp_path), scheduled=True, wait=False, return_state=True)
    finally:
        proc.kill()
        proc.wait()
    error = state.result(raise_on_failure=False)
    assert state.is_failed() and isinstance(error, RunLocked), error
    assert "\n" not in str(error) and f"pid {proc.pid}" in str(error) and not (tmp_path / "data").exists()
