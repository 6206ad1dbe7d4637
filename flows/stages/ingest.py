"""ingest-<dataset>: the dataset's raw data into data/raw/<dataset> (all files or none; DVC keeps the last good one)."""
from __future__ import annotations

import sys
from pathlib import Path

from flows import datasets
from flows.core import paths
from flows.core.atomic import staged_outputs
from flows.core.params import load_params
from flows.orchestration.stage_command import stage_main


def ingest(root: Path, dataset: str) -> Path:
    out_dir = paths.raw_dir(root, dataset)
    with staged_outputs(out_dir) as out:
        datasets.get(dataset).ingest(root, load_params(root), out)
    return out_dir


if __name__ == "__main__":
    sys.exit(stage_main(ingest, needs_cell=False))
