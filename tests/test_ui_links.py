"""MLflow opens on our runs: `rnnops ui` on a tiny store made by our own tracking functions, and the
address it prints, a run link as our registry stores it and a model link, opened in headless Chromium.
A fresh browser profile has MLflow 3.17's browser-wide switch at its default (GenAI), as a new user's."""
import re
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

import models
from flows import tracking
from flows.tracking.store import LOCAL_UI
from models.config import NetworkConfig
from models.networks import RecurrentNet
from tests.browser import chromium_page
from tests.conftest import REPO
from tests.servers import free_port, http_ok, process, server_env

pytestmark = pytest.mark.slow
DATA = tracking.DataInput("cosine-windows", "abc123", "generated", "cos(x)", {"train": 1, "val": 1})
REGISTRY = "#/models"  # the sidebar's Model registry: in the model-training view, not in the GenAI one


def test_the_addresses_we_print_open_mlflow_on_our_runs(tmp_path, mlflow_uri):
    parent = tracking.start_pipeline_run(tmp_path, {"cosine": ["gru"]}, None, scheduled=False)
    run = tracking.start_training_run(tmp_path, "cosine", "gru", {"optim.lr": 0.1}, DATA, parent_run_id=parent)
    run.trained()
    net = RecurrentNet(NetworkConfig(kind="gru", hidden_size=4)).eval()
    registered = tracking.finish_evaluation(tmp_path, "cosine", run.run_id, {"cell": "gru", "val": {"rmse": 0.2}}, [],
                                            net, torch.randn(1, 6, 1), Path(models.__file__).parent,
                                            selection=("val_rmse", 0.2))
    tracking.finish_pipeline_run(tmp_path, parent, {"cosine": "ok"}, [])
    mlc = MlflowClient(mlflow_uri)
    parent_name = mlc.get_run(parent).info.run_name
    stored = mlc.get_model_version(registered["registered_model"], registered["version"]).tags["run_link"]

    port, printed = free_port(), tmp_path / "rnnops-ui.out"
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        return "MLflow UI: " in printed.read_text() and http_ok(f"{base}/health")

    argv = [sys.executable, "-m", "flows.cli", "ui", "--port", str(port)]
    env = server_env(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true")
    with process("rnnops-ui", argv, env, serving, timeout_s=240, cwd=str(tmp_path), output=printed), \
            chromium_page() as page:
        address = re.search(r"MLflow UI: (\S+)", printed.read_text()).group(1)
        assert address.startswith(f"{base}/#/experiments/"), printed.read_text()
        shown = page.open(address, f"document.body.innerText.includes({parent_name!r})")
        assert shown["ready"] and shown["title"].startswith("Runs - "), (address, shown["title"], shown["text"][:800])
        assert REGISTRY in shown["nav"], shown["nav"]

        # the registry's link back to the training (and the report's, built the same way), on this server's port
        run_page = page.open(stored.replace(LOCAL_UI, base), f"document.body.innerText.includes({run.run_id!r})")
        assert run_page["ready"] and REGISTRY in run_page["nav"], (stored, run_page["nav"], run_page["text"][:800])
        model_page = page.open(tracking.model_link(tmp_path, "rnnops-cosine").replace(LOCAL_UI, base),
                               "document.body.innerText.includes('Version 1')")
        assert model_page["ready"] and REGISTRY in model_page["nav"], (model_page["nav"], model_page["text"][:800])
