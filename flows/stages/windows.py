"""windows-<dataset>: splits and model inputs (lazy window index, fitted scaler or vocabulary)."""
from __future__ import annotations

import sys
from pathlib import Path

from flows import datasets
from flows.core import paths
from flows.core.atomic import staged_outputs
from flows.core.params import load_params
from flows.orchestration.stage_command import stage_main


def make_windows(root: Path, dataset: str) -> Path:
    out_dir = paths.windows_dir(root, dataset)
    with staged_outputs(out_dir) as out:
        datasets.get(dataset).windows(root, load_params(root), out)
    return out_dir


if __name__ == "__main__":
    sys.exit(stage_main(make_windows, needs_cell=False))
