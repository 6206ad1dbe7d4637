"""Schedules: params.yaml's cron schedules, infra/prefect.yaml's deployments (kept equal), run for
real on a `prefect server start` with a process worker, and served by `rnnops serve`."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from flows.orchestration import team_servers
from flows.orchestration.deployments import schedule_specs
from models.errors import InvalidParameter
from tests.conftest import REPO, tiny_params, write_params
from tests.servers import BIN, free_port, prefect_server, process, server_env

ROOT_VAR = "{{ $RNNOPS_ROOT }}"


def test_infra_prefect_yaml_declares_exactly_the_schedules_of_params():
    specs = schedule_specs(yaml.safe_load((REPO / "params.yaml").read_text()))
    declared = yaml.safe_load((REPO / "infra/prefect.yaml").read_text())
    assert declared["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": ROOT_VAR}}]
    scheduled = [d for d in declared["deployments"] if d["name"] != "sweep-worker"]
    assert {d["name"] for d in scheduled} == set(specs)
    for d in scheduled:
        spec = specs[d["name"]]
        assert d["entrypoint"] == "flows/orchestration/pipeline.py:pipeline"  # a file path: the worker needs no package
        # index
        assert d["schedules"] == [{"cron": spec["cron"], "timezone": spec["timezone"]}]
        assert d["parameters"] == {"root": ROOT_VAR, "datasets": spec["datasets"], "scheduled": True}
        assert d["concurrency_limit"] == 1
        assert d["work_pool"]["name"] == team_servers.WORK_POOL  # the pool compose's worker polls
        assert d["work_pool"]["job_variables"]["working_dir"] == ROOT_VAR  # absolute, set by the operator


def test_the_sweep_worker_deployment_runs_one_worker_in_the_checkout():
    from flows.sweeps.flow import sweep_worker

    declared = yaml.safe_load((REPO / "infra/prefect.yaml").read_text())
    (worker,) = [d for d in declared["deployments"] if d["name"] == "sweep-worker"]
    assert worker["entrypoint"] == "flows/sweeps/flow.py:sweep_worker" and sweep_worker.name == "sweep-worker"
    assert worker["parameters"] == {"root": ROOT_VAR, "pull": True} and "schedules" not in worker
    assert worker["work_pool"] == {"name": team_servers.WORK_POOL, "job_variables": {"working_dir": ROOT_VAR}}


def test_a_bad_schedule_is_one_sentence():
    with pytest.raises(InvalidParameter, match="not a cron expression"):
        schedule_specs({"schedules": {"daily": {"cron": "every day at five"}}})
    with pytest.raises(InvalidParameter, match="needs cron"):
        schedule_specs({"schedules": {"daily": {"when": "0 5 * * *"}}})


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """A real `prefect server start` on loopback with its own PREFECT_HOME (SQLite); yields its API URL."""
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as api:
        yield api


@pytest.fixture
def on_server(prefect_api, project, monkeypatch):
    """The tiny project, with this server as the Prefect API for its commands and the test's client."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("RNNOPS_ROOT", str(project))
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    with temporary_settings({PREFECT_API_URL: prefect_api}):
        yield project


def prefect(project: Path, *args: str, timeout: float = 120) -> str:
    done = subprocess.run([str(BIN / "prefect"), *args], cwd=project, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)}: {done.stdout[-1500:]} {done.stderr[-1500:]}"
    return done.stdout


@pytest.mark.slow
def test_infra_deployment_runs_on_a_real_server_through_a_process_worker(on_server, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    project = on_server
    params = tiny_params(("cosine",))
    params["cells"] = ["rnn"]
    write_params(project, params)
    (project / "infra").mkdir()
    shutil.copy(REPO / "infra/prefect.yaml", project / "infra/prefect.yaml")
    prefect(project, "work-pool", "create", team_servers.WORK_POOL, "--type", "process")
    prefect(project, "--no-prompt", "deploy", "--all", "--prefect-file", "infra/prefect.yaml")
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("pipeline/weekly-full")
        assert deployment.parameters == {"root": str(project), "datasets": None, "scheduled": True}
        assert deployment.schedules[0].schedule.cron == "0 4 * * 6"
        assert deployment.global_concurrency_limit.limit == 1
        run = client.create_flow_run_from_deployment(deployment.id)  # "trigger now", as the UI's Run button
    started = time.monotonic()
    monkeypatch.setenv("PREFECT_WORKER_WEBSERVER_HOST", "127.0.0.1")  # compose's worker command, run once
    monkeypatch.setenv("PREFECT_WORKER_WEBSERVER_PORT", str(free_port()))
    prefect(project, *team_servers.prefect_worker()[1:], "--run-once", timeout=600)
    print(f"scheduled run through the worker: {time.monotonic() - started:.0f} s")
    with get_client(sync_client=True) as client:
        finished = client.read_flow_run(run.id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    assert finished.state.is_completed(), finished.state
    assert {t.name for t in tasks} == {"ingest-cosine", "windows-cosine", "train-cosine-rnn", "evaluate-cosine-rnn",
                                       "report-cosine"}
    assert all(t.state.is_completed() for t in tasks)
    assert (project / "reports/cosine/index.html").exists()  # it ran in the checkout, not a temp dir


@pytest.mark.slow
def test_rnnops_serve_registers_the_params_schedules(on_server):
    from prefect.client.orchestration import get_client

    project = on_server
    params = tiny_params(("cosine",))
    params["schedules"] = {"tiny-nightly": {"cron": "15 2 * * *", "timezone": "Europe/Paris", "datasets": ["cosine"]}}
    write_params(project, params)
    found = []

    def registered() -> bool:
        with get_client(sync_client=True) as client:
            found[:] = [d for d in client.read_deployments() if d.name == "tiny-nightly"]
        return bool(found)

    with process("rnnops-serve", [str(BIN / "rnnops"), "serve"], server_env(), registered, timeout_s=120,
                 stop_signal=signal.SIGINT, cwd=str(project)):
        (deployment,) = found
        schedule = deployment.schedules[0].schedule
        assert (schedule.cron, schedule.timezone) == ("15 2 * * *", "Europe/Paris")
        assert deployment.parameters == {"root": str(project), "datasets": ["cosine"], "scheduled": True}
        assert deployment.global_concurrency_limit.limit == 1  # one run of a deployment at a time


def test_serve_without_a_server_says_what_to_start(project, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    done = subprocess.run([str(BIN / "rnnops"), "serve"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 2 and "prefect server start --host 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr
