"""benchmarks/gpu_check.sh on a machine without a GPU, as CI's: it needs none, says which phases it skipped
and why instead of giving figures, and writes no results file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import results_page  # noqa: E402


def run(*cmd: str, **env: str) -> tuple[dict, subprocess.CompletedProcess]:
    done = subprocess.run(list(cmd), cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, **env})
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout), done


@pytest.mark.slow
def test_quick_check_without_a_gpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    result, done = run("bash", "benchmarks/gpu_check.sh", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["devices"]["cuda_devices"] == 0
    for task in ("cosine", "text"):
        assert result["cpu"][task]["timed_steps"] >= 1
        assert result["cpu"][task]["samples_per_s"] > 0
    for phase in ("cuda", "two_trainings_at_once", "ddp_2_gpus"):
        assert result[phase] == {"skipped": "no CUDA GPU seen"}
    assert result["ratios"] == {}  # no GPU figure to divide
    assert not out.exists()
    page = results_page.gpu_check(result)  # what docs/results.md would show of it
    rows = [line for line in page.splitlines() if line.startswith("| CPU | cosine |")]
    assert len(rows) == 1 and rows[0].endswith(f"| {results_page.g(result['cpu']['cosine']['samples_per_s'], 6)} |")
    assert "- cuda:0 alone: no CUDA GPU seen" in page


def test_a_spent_budget_still_gives_one_json(tmp_path):
    out = tmp_path / "gpu_check.json"
    result, done = run(sys.executable, "benchmarks/gpu_check.py", "--budget", "0", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["devices"]["error"].startswith("not run:")
    assert set(result["cpu"]) == {"error"}
    assert result["cuda"]["skipped"].startswith("the devices are unknown")
    assert not out.exists()
