"""infra/compose.yaml, checked without a Docker engine: health checks, loopback-only ports, secrets from the
environment only, and the very commands that tests/test_team_*.py start for real
(flows/orchestration/team_servers.py)."""
import re
from urllib.parse import urlsplit

import yaml

from flows.orchestration import team_servers
from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "infra/compose.yaml").read_text())
SERVICES = COMPOSE["services"]
REQUIRED_VAR = re.compile(r"\$\{[A-Z0-9_]+:\?[^}]+\}")  # ${VAR:?message}: compose refuses to start without it
SECRET_KEY = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN")


def env(service: str) -> dict[str, str]:
    return SERVICES[service].get("environment", {})


def test_every_long_running_service_has_a_health_check():
    for name, service in SERVICES.items():
        if service.get("restart") != "no":  # one-shot init jobs exit; there is nothing to check
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_published_ports_bind_loopback_only():
    published = [(name, port) for name, s in SERVICES.items() for port in s.get("ports", [])]
    assert published
    for name, port in published:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)


def test_secrets_come_from_the_environment_only():
    text = (REPO / "infra/compose.yaml").read_text()
    assert all(REQUIRED_VAR.fullmatch(ref) for ref in re.findall(r"\$\{[^}]*\}", text)), "a ${VAR} without :?"
    for name in SERVICES:
        for key, value in env(name).items():
            if SECRET_KEY.search(key):
                assert REQUIRED_VAR.fullmatch(str(value)), f"{name}.{key} is a literal"
            parts = urlsplit(str(value))
            if "://" in str(value) and "@" in parts.netloc:
                assert REQUIRED_VAR.fullmatch(parts.netloc.rsplit("@", 1)[0].partition(":")[2]), f"{name}.{key}"


def test_commands_are_the_ones_the_tests_run():
    mlflow = SERVICES["mlflow"]
    assert mlflow["command"] == team_servers.mlflow_server("0.0.0.0", 5000, "s3://mlflow/artifacts",
                                                           team_servers.allowed_hosts("mlflow"), workers=2)
    backend = env("mlflow")[team_servers.MLFLOW_BACKEND_ENV]
    assert env("mlflow").items() >= team_servers.mlflow_server_env(backend).items()
    assert backend.startswith("postgresql+psycopg2://rnnops:") and backend.endswith("@postgres:5432/mlflow")
    # the S3 settings tests/servers.py gives its mlflow server, and only the server (and the init job) has them
    s3_keys = {"MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    assert env("mlflow").keys() >= s3_keys and env("s3-init").keys() >= s3_keys
    assert not {k for k in env("worker") if k.startswith("AWS_")}
    assert SERVICES["s3-init"]["command"] == team_servers.create_buckets("mlflow", "rnnops-dvc")

    prefect = SERVICES["prefect"]
    assert prefect["command"] == team_servers.prefect_server("0.0.0.0", 4200)
    database = env("prefect")[team_servers.PREFECT_DATABASE_ENV]
    assert database.startswith("postgresql+asyncpg://rnnops:") and database.endswith("@postgres:5432/prefect")
    assert env("prefect").items() >= team_servers.prefect_server_env(env("prefect")["PREFECT_HOME"], database).items()

    worker = SERVICES["worker"]
    assert worker["command"] == team_servers.prefect_worker("rnnops")
    assert "..:/opt/rnnops" in worker["volumes"] and worker["working_dir"] == "/opt/rnnops"
    assert env("worker")["PREFECT_API_URL"] == "http://prefect:4200/api" and worker["stop_signal"] == "SIGINT"
    # the worker's MLflow host name is one the server accepts (else MLflow 3 answers 403)
    assert urlsplit(env("worker")["MLFLOW_TRACKING_URI"]).hostname in team_servers.allowed_hosts("mlflow")


def test_services_wait_for_what_they_need():
    needs = {name: {k: v["condition"] for k, v in s.get("depends_on", {}).items()} for name, s in SERVICES.items()}
    assert needs["mlflow"] == {"postgres": "service_healthy", "s3-init": "service_completed_successfully"}
    assert needs["prefect"] == {"postgres": "service_healthy"}
    assert needs["worker"] == {"prefect": "service_healthy", "mlflow": "service_healthy"}
    assert needs["s3-init"] == {"s3": "service_healthy"}
    assert "CREATE DATABASE mlflow;" in (REPO / "infra/initdb/10-mlflow.sql").read_text()
    assert "CREATE DATABASE optuna;" in (REPO / "infra/initdb/20-optuna.sql").read_text()


def test_workers_share_the_sweeps_optuna_database():
    from flows.sweeps.engine import STORAGE_ENV

    storage = env("worker")[STORAGE_ENV]
    assert storage.startswith("postgresql+psycopg2://rnnops:") and storage.endswith("@postgres:5432/optuna")
    assert env("postgres")["POSTGRES_USER"] == "rnnops" and env("postgres")["POSTGRES_DB"] == "prefect"


def test_mlflow_image_is_ours_with_the_locked_pins():
    dockerfile = (REPO / "infra/mlflow.Dockerfile").read_text()
    lock = dict(line.split("==") for line in (REPO / "requirements.lock").read_text().split())
    for package in ("mlflow", "psycopg2-binary", "boto3"):
        assert f"{package}=={lock[package]}" in dockerfile, package
    assert lock["mlflow"] == "3.17.2"
    for name in ("mlflow", "s3-init"):
        assert SERVICES[name]["build"] == {"context": ".", "dockerfile": "mlflow.Dockerfile"}
        assert SERVICES[name]["image"] == f"rnnops-mlflow:{lock['mlflow']}"
