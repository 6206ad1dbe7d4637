"""What every benchmark's JSON ends with: the machine and its load while it ran (the figures mean little
without it on a shared 2-core machine), printed and, with --out, written whole or not at all."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from flows.core.atomic import write_text


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def args_json(args) -> dict:
    """A script's argparse namespace as JSON values (paths as strings), to record its configuration."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def emit(result: dict, load_before: list[float], out: Path | None) -> None:
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                         "load_before": load_before, "load_after": load()}
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        write_text(out, text + "\n")
