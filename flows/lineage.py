"""Which data a result came from: the DVC hash of a stage output, read from dvc.lock."""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from flows.paths import stage_name


def dvc_out_hash(root: Path, stage: str, out: str) -> str | None:
    lock = Path(root) / "dvc.lock"
    if not lock.exists():
        return None
    stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    for entry in stages.get(stage, {}).get("outs", []):
        if entry.get("path") == out:
            return entry.get("md5")
    return None


def data_hash(root: Path, dataset: str) -> str:
    """DVC's md5 of data/windows/<dataset>; the plain md5 of its files when DVC has not run."""
    out = f"data/windows/{dataset}"
    found = dvc_out_hash(root, stage_name("windows", dataset), out)
    if found:
        return found
    digest = hashlib.md5()
    for path in sorted((Path(root) / out).rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return f"{digest.hexdigest()} (files, not via dvc)"
