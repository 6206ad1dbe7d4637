"""Quiet, offline-friendly defaults for the tools we drive; a user's own settings always win."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # 2 busy cores start it slowly
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


def apply_defaults() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for stage subprocesses: our interpreter's bin first, so dvc.yaml's `python` is ours."""
    env = dict(os.environ, **extra)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def redact(text: str) -> str:
    """Text fit for logs: a URI's user and password replaced (http://alice:secret@host -> http://***@host)."""
    return re.sub(r"//[^/@\s]*@", "//***@", text)
