"""Real team servers on 127.0.0.1 for tests: PostgreSQL, an S3 endpoint (moto), `mlflow server`,
`prefect server start`. Each is a context manager that stops what it started, also on failure.

    with postgres() as pg, moto_s3() as s3, mlflow_server(pg.url("mlflow"), s3) as url: ...
    with prefect_server(tmp, database_url=pg.url("prefect", "postgresql+asyncpg")) as api_url: ...

The command lines come from flows/orchestration/team_servers.py, the same ones infra/compose.yaml runs.
`STARTUP` keeps each server's measured start-up seconds (printed by the tests with -s).
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flows.orchestration import team_servers as servers

STARTUP: dict[str, float] = {}
BIN = Path(sys.executable).parent  # the venv's mlflow / prefect / dvc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return env


def wait_until(healthy, timeout_s: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll healthy() every 0.2 s; fail with the log's tail when proc dies or timeout_s passes. Returns seconds."""
    started = time.perf_counter()
    while not healthy():
        if (proc is not None and proc.poll() is not None) or time.perf_counter() - started > timeout_s:
            why = "exited" if proc is not None and proc.poll() is not None else f"not healthy after {timeout_s} s"
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{what} {why}:\n{tail}")
        time.sleep(0.2)
    return round(time.perf_counter() - started, 1)


@contextmanager
def process(name: str, argv: list[str], env: dict[str, str], healthy, timeout_s: float = 90,
            stop_signal: int = signal.SIGTERM, cwd: str | None = None, output: Path | None = None):
    """Start argv in its own process group, wait until healthy() is true, and on exit stop the whole
    group (children included), SIGKILL after 20 s. A process that dies or stays unhealthy fails
    with the tail of its log. `output`: where its stdout and stderr go (kept), instead of a temporary log."""
    log = open(output, "wb") if output else tempfile.NamedTemporaryFile(prefix=f"rnnops-{name}-", suffix=".log",
                                                                        delete=False)
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        STARTUP[name] = wait_until(healthy, timeout_s, name, proc, Path(log.name))
        yield proc
    finally:
        _stop(proc, stop_signal)
        log.close()
        if not output:
            os.unlink(log.name)


def _stop(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        pass
    try:  # whatever of the group outlives its leader (a server's workers) gets 5 s, then SIGKILL
        for _ in range(50):
            os.killpg(proc.pid, 0)
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@dataclass
class Postgres:
    port: int
    user: str
    password: str
    host: str = "127.0.0.1"

    def url(self, database: str, scheme: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which MLflow's image lacks: name the driver."""
        return f"{scheme}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                             dbname="postgres", connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres(user: str = "rnnops", databases: tuple[str, ...] = ()):
    """A throw-away PostgreSQL cluster (password auth, loopback, a free port) with `databases` created."""
    # not under pytest's tmp_path: that is root-only, and the server runs as `postgres`
    home = Path(tempfile.mkdtemp(prefix="rnnops-pg-"))
    try:
        pg = Postgres(free_port(), user, secrets.token_hex(12))
        (home / "pw").write_text(pg.password)
        if os.geteuid() == 0:
            for path in (home, home / "pw"):
                shutil.chown(path, "postgres", "postgres")
        initdb = _as_postgres(["initdb", "-D", str(home / "data"), "-U", user, f"--pwfile={home / 'pw'}",
                               "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"])
        env = server_env(PATH=f"/usr/lib/postgresql/15/bin{os.pathsep}{os.environ['PATH']}")
        started = time.perf_counter()
        done = subprocess.run(initdb, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        STARTUP["initdb"] = round(time.perf_counter() - started, 1)
        # fsync off: a test cluster need not survive a power cut, and it halves start-up here
        argv = _as_postgres(["postgres", "-D", str(home / "data"), "-h", "127.0.0.1", "-p", str(pg.port),
                             "-k", str(home), "-c", "fsync=off"])
        with process("postgres", argv, env, pg.ready, stop_signal=signal.SIGINT):  # SIGINT: fast shutdown
            for name in databases:
                pg.create_database(name)
            yield pg
    finally:
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class S3:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str

    def server_env(self) -> dict[str, str]:
        """What the S3 user (mlflow server, dvc) needs; boto3 and s3fs both read these."""
        return {"MLFLOW_S3_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": "us-east-1"}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1")


@contextmanager
def moto_s3(bucket: str = "rnnops"):
    """moto's S3 server on 127.0.0.1 (a thread of this process) with `bucket` created."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
    started = time.perf_counter()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3(f"http://{host}:{port}", bucket, "AKIA" + secrets.token_hex(8).upper(), secrets.token_hex(20))
        # the bucket is made by the command compose's s3-init service runs
        done = subprocess.run(servers.create_buckets(bucket), env=server_env(**s3.server_env()), capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        STARTUP["moto"] = round(time.perf_counter() - started, 1)
        yield s3
    finally:
        server.stop()


@contextmanager
def mlflow_server(backend_store_uri: str, s3: S3, prefix: str = "mlartifacts"):
    """`mlflow server` on a free loopback port, artifacts proxied to s3://<bucket>/<prefix>; yields its URL.
    Only this process gets the S3 settings and the database password."""
    port = free_port()
    argv = servers.mlflow_server("127.0.0.1", port, f"s3://{s3.bucket}/{prefix}", servers.allowed_hosts("mlflow"))
    env = server_env(**servers.mlflow_server_env(backend_store_uri), **s3.server_env())
    env.pop("MLFLOW_TRACKING_URI", None)
    url = f"http://127.0.0.1:{port}"
    with process("mlflow", argv, env, lambda: http_ok(url + "/health"), timeout_s=120):
        yield url


@contextmanager
def prefect_server(home: Path, database_url: str | None = None):
    """`prefect server start` on a free loopback port with its own PREFECT_HOME; yields its API URL."""
    port = free_port()
    env = server_env(**servers.prefect_server_env(str(home), database_url))
    env.pop("PREFECT_API_URL", None)
    api = f"http://127.0.0.1:{port}/api"
    with process("prefect", servers.prefect_server("127.0.0.1", port), env, lambda: http_ok(api + "/health"),
                 timeout_s=120):
        yield api


@contextmanager
def prefect_worker(api_url: str, home: Path, pool: str = servers.WORK_POOL, cwd: str | None = None):
    """`prefect worker start --pool <pool>` against api_url, healthy once its health endpoint answers; stopped
    with SIGINT (a worker ignores SIGTERM for a long while). Yields the health URL."""
    port = free_port()
    env = server_env(**servers.prefect_server_env(str(home)), PREFECT_API_URL=api_url,
                     PREFECT_WORKER_WEBSERVER_HOST="127.0.0.1", PREFECT_WORKER_WEBSERVER_PORT=str(port))
    health = f"http://127.0.0.1:{port}/health"
    with process("prefect-worker", servers.prefect_worker(pool), env, lambda: http_ok(health), timeout_s=120,
                 stop_signal=signal.SIGINT, cwd=cwd):
        yield health
