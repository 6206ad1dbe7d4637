"""The text dataset through the real pipeline on a tiny corpus, then generation from the champion."""
import json
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from flows.orchestration.pipeline import pipeline
from tests.conftest import tiny_params, write_params, write_tiny_corpus

pytestmark = pytest.mark.slow


def test_text_end_to_end_and_generate_from_champion(project, mlflow_uri, prefect_harness):
    write_tiny_corpus(project)
    write_params(project, tiny_params(("text",)))
    outcomes = pipeline(root=str(project), datasets=["text"])
    assert [(o.dataset, o.status) for o in outcomes] == [("text", "ok")], outcomes

    for cell in ("rnn", "lstm", "gru"):
        m = json.loads((project / f"metrics/text/{cell}.json").read_text())["val"]
        assert m["bpc"] == pytest.approx(m["loss_nats"] / 0.6931471805599453)
        assert 0 < m["loss_nats"] < m["unigram_loss_nats"] and m["dm_pvalue"] < 0.05
    client = MlflowClient(mlflow_uri)
    champion = client.get_model_version_by_alias("rnnops-text", "champion")
    artifacts = [a.path for a in client.list_artifacts(champion.run_id)]
    assert any(p.endswith(".samples.json") for p in artifacts) and "weights" in artifacts
    html = (project / "reports/text/index.html").read_text()
    assert "temperature 0.5" in html and "loss_nats" in html and "beats unigram" in html

    cmd = [sys.executable, "-m", "flows.cli", "generate", "--prompt", "to be", "--length", "50",
           "--temperature", "0.8", "--rng-seed", "1"]
    first = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    again = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.rstrip("\n")) == 50 and first.stdout == again.stdout
