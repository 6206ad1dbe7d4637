"""The team servers' command lines, written once: infra/compose.yaml runs exactly these, and the tests
start the same commands on loopback (tests/test_compose.py compares the two).

Secrets never go on a command line (anyone on the host can read argv with `ps`): database URLs
with their passwords travel in the environment variables named here.
"""
from __future__ import annotations

MLFLOW_BACKEND_ENV = "MLFLOW_BACKEND_STORE_URI"  # mlflow server reads --backend-store-uri from it
PREFECT_DATABASE_ENV = "PREFECT_SERVER_DATABASE_CONNECTION_URL"
WORK_POOL = "rnnops"  # infra/prefect.yaml's deployments name this pool


def mlflow_server(host: str, port: int, artifacts_destination: str, allowed_hosts: list[str],
                  workers: int = 1) -> list[str]:
    """`mlflow server` proxying artifacts: clients see `mlflow-artifacts:` URIs and need no S3
    credentials; only the server gets MLFLOW_S3_ENDPOINT_URL / AWS_*. MLflow 3 answers 403 to a
    Host header it was not told about, hence allowed_hosts (e.g. the compose service name)."""
    return ["mlflow", "server", "--host", host, "--port", str(port),
            "--artifacts-destination", artifacts_destination,
            "--allowed-hosts", ",".join(allowed_hosts), "--workers", str(workers)]


def allowed_hosts(service: str) -> list[str]:
    """Host headers MLflow accepts: the compose service name (other containers) and loopback (the host)."""
    return [service, f"{service}:*", "localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*"]


def mlflow_server_env(backend_store_uri: str) -> dict[str, str]:
    return {MLFLOW_BACKEND_ENV: backend_store_uri, "MLFLOW_DISABLE_TELEMETRY": "true"}


def prefect_server(host: str, port: int) -> list[str]:
    return ["prefect", "server", "start", "--host", host, "--port", str(port)]


def prefect_server_env(home: str, database_url: str | None = None) -> dict[str, str]:
    """database_url: postgresql+asyncpg://...; None keeps Prefect's SQLite under `home`."""
    env = {"PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    if database_url:
        env[PREFECT_DATABASE_ENV] = database_url
    return env


def prefect_worker(pool: str = WORK_POOL) -> list[str]:
    """A process worker with its health endpoint (PREFECT_WORKER_WEBSERVER_HOST/PORT, default 0.0.0.0:8080).
    It needs PREFECT_API_URL, or it would silently start a throwaway server."""
    return ["prefect", "worker", "start", "--pool", pool, "--type", "process", "--with-healthcheck"]


# boto3 runs in the process this command starts, never in ours (the rooms test keeps product code off it).
_CREATE_BUCKET = """
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
for bucket in sys.argv[1:]:
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    print("bucket", bucket, "ready")
"""


def create_buckets(*buckets: str) -> list[str]:
    """Create the buckets on the S3 endpoint in MLFLOW_S3_ENDPOINT_URL with the AWS_* credentials of the
    environment; existing ones are fine, so compose may run it at every start."""
    return ["python", "-c", _CREATE_BUCKET.strip(), *buckets]
