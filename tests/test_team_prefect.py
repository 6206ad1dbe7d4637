"""A team's Prefect: `prefect server start` on PostgreSQL and a process worker polling the `rnnops` pool,
started with the command lines of flows/orchestration/team_servers.py, the same as infra/compose.yaml's services."""
import json
import time
import urllib.error
import urllib.request

import pytest

from flows.orchestration import team_servers as servers
from tests.servers import STARTUP, postgres, prefect_server, prefect_worker

pytestmark = pytest.mark.slow


def api(url: str, body: dict | None = None):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_prefect_server_on_postgres_with_a_worker_on_the_pool(tmp_path):
    with (postgres(databases=("prefect",)) as pg,
          prefect_server(tmp_path / "server", pg.url("prefect", "postgresql+asyncpg")) as url,
          prefect_worker(url, tmp_path / "worker") as health):
        pool_url = f"{url}/work_pools/{servers.WORK_POOL}"
        workers = []
        for _ in range(120):  # the worker creates its pool and says hello just after its health server starts
            try:
                workers = api(pool_url + "/workers/filter", {})
            except urllib.error.HTTPError:
                pass
            if workers:
                break
            time.sleep(0.5)
        assert len(workers) == 1 and api(pool_url)["type"] == "process"
        assert api(health)
        import psycopg2  # the server's state is in PostgreSQL, not in a SQLite file under PREFECT_HOME

        with psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname="prefect") as c:
            with c.cursor() as cur:
                cur.execute("SELECT count(*) FROM work_pool WHERE name = %s", (servers.WORK_POOL,))
                assert cur.fetchone()[0] == 1
        assert not list((tmp_path / "server").glob("*.db"))
    print(f"\nserver start-up seconds: {STARTUP}")
