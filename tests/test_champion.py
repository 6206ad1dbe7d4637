"""The champion alias: elected on one data version, and stable under interleaving.

A champion validated on an old data version is re-scored on the challenger's validation data before
the alias moves (real tiny trainings through the real evaluate stage, MLflow on SQLite). Two
evaluations on two "machines" sharing one mlflow server interleave; the champion alias still ends on
the best version. The interleaving is forced at the network: run A talks to the server through a
loopback proxy that holds A's first alias write until run B has finished."""
import dataclasses
import http.client
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from flows import datasets
from flows.core import paths
from flows.core.atomic import dumps
from flows.datasets.base import Splits, Unscorable
from flows.datasets.stocks.series import build_windows
from flows.scoring.rescoring import rescorer
from flows.stages.evaluate import evaluate as evaluate_stage
from flows.stages.ingest import ingest
from flows.stages.train import train
from flows.stages.windows import make_windows
from flows.tracking import score_tag
from models.config import NetworkConfig
from models.forecasters import build_network
from models.price_windows import PriceTransform
from models.windows import WindowDataset
from tests.conftest import REPO, tiny_params, write_params, write_tiny_corpus

pytestmark = pytest.mark.slow

EVALUATE = """
import json, sys, torch
from pathlib import Path
import models
from flows import tracking
from models.config import NetworkConfig
from models.networks import RecurrentNet
root, score = Path(sys.argv[1]), float(sys.argv[2])
net = RecurrentNet(NetworkConfig(kind="gru", hidden_size=4)).eval()
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


def evaluated(root, start: float, stop: float, window: int = 20, trained: bool = True) -> dict:
    """Ingest cos(x) on [start, stop] (300 points), window it, train the tiny GRU (or barely: 1 epoch at lr
    1e-4) and evaluate it. Each interval is another data version; a longer one packs more cycles into the
    same points: a rougher series, where a model fitted on a smooth one does badly."""
    params = tiny_params()
    cosine = params["cosine"]
    cosine["ingest"].update(start=start, stop=stop)
    cosine["windows"]["window"] = window
    cosine["train"]["gru"].update({} if trained else {"epochs": 1, "lr": 1e-4})
    cosine["evaluate"]["gradients"] = False
    write_params(root, params)
    ingest(root, "cosine")
    make_windows(root, "cosine")
    train(root, "cosine", "gru")
    return evaluate_stage(root, "cosine", "gru")


def test_the_champion_is_rescored_on_the_challengers_data_before_the_alias_moves(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv("RNNOPS_PROGRESS_BAR", "0")
    client = MlflowClient(mlflow_uri)

    def tags(version: int) -> dict:
        return client.get_model_version("rnnops-cosine", str(version)).tags

    def champion() -> int:
        return int(client.get_model_version_by_alias("rnnops-cosine", "champion").version)

    def rescore_of(version: int, on: int) -> str:  # version's score on the data `on` was validated on
        return tags(version)[score_tag("val_rmse", tags(on)["dvc_data_md5"])]

    calm = evaluated(tmp_path, 1.0, 30.0)  # v1: a smooth stretch, a low stored score
    assert calm["became_champion"]

    worse = evaluated(tmp_path, 11.0, 40.0, trained=False)  # v2: a later, as smooth stretch; barely trained
    assert not worse["became_champion"] and champion() == 1
    assert tags(2)["dvc_data_md5"] != tags(1)["dvc_data_md5"]
    assert float(rescore_of(1, on=2)) < worse["val"]["rmse"]  # v1 re-scored on v2's data, which the tag names

    better = evaluated(tmp_path, 1.0, 150.0)  # v3: a rough stretch, trained on it
    assert better["became_champion"] and champion() == 3
    # the stored figures alone would have kept v1 (its smooth-stretch score is lower); on v3's data v3 wins
    assert calm["val"]["rmse"] < better["val"]["rmse"] < float(rescore_of(1, on=3))
    assert float(tags(3)["val_rmse"]) == better["val"]["rmse"]  # its own score, on the data dvc_data_md5 names
    assert not any(".on." in key for key in tags(3)) and not any(".on." in key for key in tags(2))

    shorter = evaluated(tmp_path, 1.0, 150.0, window=10, trained=False)  # v4: windows of 10, v3 cannot read them
    assert shorter["became_champion"] and champion() == 4  # no stale score keeps v3 on the alias
    assert rescore_of(3, on=4).startswith("unscorable: it was trained on windows of 20")


def test_a_stock_champion_is_rescored_through_its_own_fitted_transform(tmp_path):
    """A level model's MinMax range comes from its own training years: re-scored on today's windows it reads
    today's prices through that range, as its forecasts do (flows/datasets/stocks/predict.py), not through
    today's refit."""
    plugin, params = datasets.get("stocks"), tiny_params()
    days = pd.bdate_range("2020-01-01", periods=120)
    prices = 100 + np.cumsum(np.random.default_rng(3).normal(0, 1, len(days)))
    dates = {"train": ("2020-01-01", "2020-04-30"), "val": ("2020-05-01", "2020-05-29"),
             "test": ("2020-06-01", "2020-06-16")}
    series, spec = build_windows(prices, days, 10, "level", dates)
    folder = paths.windows_dir(tmp_path, "stocks")
    folder.mkdir(parents=True)
    np.save(folder / "series.npy", series)
    (folder / "spec.json").write_text(dumps({**spec, "ticker": "GOOG", "column": "Open"}))
    today = plugin.load(tmp_path)

    own = PriceTransform.fit(prices[:40] * 0.8, "level")  # the incumbent's fit, on older and lower prices
    model = tmp_path / "incumbent"
    model.mkdir()
    cfg = NetworkConfig(kind="gru", hidden_size=4)
    torch.manual_seed(0)
    torch.save(build_network(cfg).state_dict(), model / "model.pt")
    (model / "config.json").write_text(dumps({"net": dataclasses.asdict(cfg), "window": 10}))
    (model / "transform.json").write_text(dumps({"transform": own.to_dict(), "window": 10, "column": "Open",
                                                 "ticker": "GOOG", "last_seen": "2020-04-30"}))
    net = plugin.load_network(model)

    def val_rmse(windows_spec: dict, windows_series: np.ndarray) -> float:
        split = WindowDataset(windows_series, 10, range(*windows_spec["val"]))
        splits = Splits(split, split, None, {"window": 10, "spec": windows_spec})
        return plugin.score(tmp_path, params, net, splits, "val").metrics["rmse"]

    own_series, own_spec = build_windows(prices, days, 10, "level", dates, transform=own)  # the backtest's no-refit
    through_own = val_rmse(own_spec, own_series)
    assert rescorer(tmp_path, params, plugin, today, "rmse")(model) == pytest.approx(through_own, rel=1e-9)
    assert through_own != pytest.approx(val_rmse(spec, series), rel=1e-3)  # today's refit would score it otherwise


def test_a_text_champion_of_another_vocabulary_is_unscorable(tmp_path):
    """Ids of one vocabulary mean other characters in another of the same size: scoring would run and mislead."""
    write_tiny_corpus(tmp_path)
    write_params(tmp_path, tiny_params(("text",)))
    ingest(tmp_path, "text")
    make_windows(tmp_path, "text")
    plugin, params = datasets.get("text"), tiny_params(("text",))
    data = plugin.load(tmp_path)
    rescore = rescorer(tmp_path, params, plugin, data, "loss_nats")
    chars = data.info["vocab"].chars
    cfg = NetworkConfig(kind="gru", hidden_size=4)
    for name, vocab in (("same", chars), ("other", ["#" if c == chars[1] else c for c in chars])):
        model = tmp_path / name
        model.mkdir()
        torch.save(plugin.network(len(vocab), cfg, {"embedding_dim": 8}).state_dict(), model / "model.pt")
        (model / "config.json").write_text(dumps({"net": dataclasses.asdict(cfg), "window": data.info["window"],
                                                  "embedding_dim": 8}))
        (model / "vocab.json").write_text(dumps({"chars": vocab, "stateful": False}))
    assert np.isfinite(rescore(tmp_path / "same"))
    with pytest.raises(Unscorable, match="another character vocabulary"):
        rescore(tmp_path / "other")
