"""Adding a dataset is one module, one params section and one registry line: a toy noisy sine, added
from this test, runs through `rnnops run` end to end."""
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import git, tiny_params, write_params

pytestmark = pytest.mark.slow

NOISY_SINE = '''"""noisy_sine: a toy dataset, sin(x) plus Gaussian noise."""
from dataclasses import dataclass

import numpy as np

from flows.datasets.generated import GeneratedSeries


@dataclass(frozen=True)
class IngestConfig:
    points: int = 400
    noise: float = 0.05
    seed: int = 0

    def series(self):
        rng = np.random.default_rng(self.seed)
        return np.sin(np.linspace(0, 40, self.points)) + self.noise * rng.standard_normal(self.points)


DATASET = GeneratedSeries("noisy_sine", IngestConfig, "sin(linspace(0, 40, points)) + noise * N(0, 1)")
'''


def test_a_fourth_dataset_is_one_module_one_params_section_one_registry_line(project, mlflow_uri):
    (project / "flows/datasets/noisy_sine.py").write_text(NOISY_SINE)
    registry = project / "flows/datasets/__init__.py"
    text = registry.read_text()
    line = '    "text": "flows.datasets.text",\n'
    assert line in text
    registry.write_text(text.replace(line, line + '    "noisy_sine": "flows.datasets.noisy_sine",\n'))
    params = tiny_params()
    params["datasets"] = ["noisy_sine"]
    params["cells"] = ["rnn", "gru"]
    params["noisy_sine"] = {"ingest": {"points": 400, "noise": 0.05, "seed": 0},
                            "windows": {"window": 20, "train_windows": 250, "val_windows": 100},
                            "train": {c: dict(params["cosine"]["train"][c]) for c in ("rnn", "gru")},
                            "evaluate": {"batch_size": 100}}
    write_params(project, params)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "a toy dataset")

    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", PREFECT_HOME=str(project.parent / "prefect-home"))
    env.pop("PREFECT_API_URL", None)  # its own temporary Prefect server, as `make run` starts
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "dvc.yaml rewritten" in done.stdout + done.stderr

    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert set(stages) == {"ingest-noisy_sine", "windows-noisy_sine", "train-noisy_sine-rnn", "evaluate-noisy_sine-rnn",
                           "train-noisy_sine-gru", "evaluate-noisy_sine-gru", "report-noisy_sine"}
    assert "flows/datasets/noisy_sine.py" in stages["train-noisy_sine-gru"]["deps"]
    assert not any("cosine" in dep for stage in stages.values() for dep in stage["deps"])
    for cell in ("rnn", "gru"):
        metrics = json.loads((project / f"metrics/noisy_sine/{cell}.json").read_text())
        assert metrics["val"]["rmse"] < metrics["val"]["persistence_rmse"], metrics["val"]
    assert (project / "reports/noisy_sine/index.html").exists()
    words = json.loads((project / "metrics/noisy_sine/gru.json").read_text())["verdict"]["val"]
    assert "noisy_sine" in done.stdout and words in done.stdout  # the summary says what evaluate concluded
    # the terminal's MLflow addresses, each in the model-training view (tests/test_ui_links.py opens such links)
    ui, view = re.escape("http://127.0.0.1:5000/#/"), re.escape("?workflowType=machine_learning")
    assert re.search(rf"MLflow run of this pipeline: {ui}experiments/\d+/runs/\w+{view}\n", done.stdout + done.stderr)
    assert re.search(rf"MLflow runs: {ui}experiments/\d+{view} ", done.stdout), done.stdout[-1500:]
    assert re.search(rf"MLflow models: {ui}models/rnnops-noisy_sine{view}\n", done.stdout), done.stdout[-1500:]
