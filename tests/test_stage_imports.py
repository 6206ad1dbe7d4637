"""What a stage process imports is paid by every stage of every run: evaluate (ten of them in the default
run) never trains, so it must not load Lightning (mlflow.pytorch would, for its autolog callback) or
scipy.stats (seconds of import for three normal-distribution functions)."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import json, sys
import flows.stages.evaluate
from flows.tracking.registry import pytorch_flavour
flavour = pytorch_flavour()
print(json.dumps({"log_model": callable(getattr(flavour, "log_model", None)),
                  "loaded": sorted(m for m in ("pytorch_lightning", "lightning", "scipy.stats") if m in sys.modules)}))
"""


def test_evaluate_loads_neither_lightning_nor_scipy_stats():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"log_model": True, "loaded": []}
