"""Two evaluations on two "machines" sharing one mlflow server interleave; the champion alias still ends on
the best version. The interleaving is forced at the network: run A talks to the server through a loopback
proxy that holds A's first alias write until run B has finished."""
import http.client
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO

pytestmark = pytest.mark.slow

EVALUATE = """
import json, sys, torch
from pathlib import Path
import models
from flows import tracking
from models.config import NetworkConfig
from models.networks import RecurrentNet
root, score = Path(sys.argv[1]), float(sys.argv[2])
net = RecurrentNet(NetworkConfig(cell="gru", hidden_size=4)).eval()
run = tracking.start_training_run(root, "race", "gru", {},
                                  tracking.DataInput("cosine-windows", "abc", "generated", "cos", {"train": 1}))
result = tracking.finish_evaluation(root, "race", run.run_id, {"cell": "gru", "val": {"rmse": score}}, [], net,
                                    input_example=torch.randn(1, 6, 1), code_dir=Path(models.__file__).parent,
                                    selection=("val_rmse", score))
print(json.dumps(result))
"""


class HoldingProxy(ThreadingHTTPServer):
    """Forwards everything to `upstream`; the first `set alias` request waits until `release` is set."""

    daemon_threads = True

    def __init__(self, upstream: str):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream = urlsplit(upstream).netloc
        self.held, self.release = threading.Event(), threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/registered-models/alias") and self.command == "POST" and not self.server.held.is_set():
            self.server.held.set()
            self.server.release.wait(timeout=180)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection(self.server.upstream, timeout=60)  # sets Host: the server allows it
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward


def evaluate(tmp_path, uri: str, score: float) -> subprocess.Popen:
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri,
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", EVALUATE, str(tmp_path), str(score)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_champion_ends_on_the_best_version_when_two_runs_interleave(team_mlflow, tmp_path):
    url = team_mlflow[0]
    proxy = HoldingProxy(url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    slow = evaluate(tmp_path, proxy.url, 0.5)  # the worse run, held just before its alias write
    try:
        assert proxy.held.wait(timeout=180), slow.communicate(timeout=60)
        fast = evaluate(tmp_path, url, 0.1)  # the better run, on another machine, completes meanwhile
        out, err = fast.communicate(timeout=180)
        assert fast.returncode == 0, err[-3000:]
        better = json.loads(out.splitlines()[-1])
    finally:
        proxy.release.set()
        out, err = slow.communicate(timeout=180)
        proxy.shutdown()
    assert slow.returncode == 0, err[-3000:]
    worse = json.loads(out.splitlines()[-1])

    client = MlflowClient(url)
    champion = client.get_model_version_by_alias("rnnops-race", "champion")
    assert str(champion.version) == better["version"] != worse["version"]
    assert worse["champion_version"] == better["version"] and not worse["champion_moved"]
