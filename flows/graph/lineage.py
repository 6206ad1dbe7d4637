"""Which data a result came from: the DVC hash of a stage output, read from dvc.lock."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from flows.core.paths import stage_name


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


def data_source(root: Path, dataset: str) -> tuple[str, str]:
    """(kind, where) of a dataset's raw data, from the meta file its ingest wrote beside it:
    a formula, a ticker and its dates, files, a URL or the built-in corpus."""
    metas = sorted((Path(root) / "data" / "raw" / dataset).glob("*meta.json"), key=lambda p: p.stat().st_mtime)
    if not metas:
        return "unknown", f"data/raw/{dataset} (no meta file)"
    meta = json.loads(metas[-1].read_text(encoding="utf-8"))  # the latest ingest's, when several are kept
    kind = meta.get("source", "unknown")
    if kind == "generated":
        return kind, f"{meta.get('formula')} with " + ", ".join(
            f"{k}={meta[k]}" for k in ("start", "stop", "points") if k in meta)
    if "ticker" in meta:
        where = f"{meta['ticker']} {meta.get('first_date')}..{meta.get('last_date')}"
        if meta.get("files"):
            return "local", f"{where} from {', '.join(meta['files'])}"
        return kind, where
    if kind == "url":
        return "http", str(meta.get("url"))
    if kind == "files":
        return "local", ", ".join(meta.get("files", []))
    return kind, str(meta.get("what") or meta.get("name") or dataset)
