"""The command line of one stage (`python -m flows.stages.<stage> <dataset> [<cell>]`, what dvc.yaml runs).

Errors a user can act on print as one line, `rnnops: error: ...` (exit 2) or, for a remote source
that cannot be reached, `rnnops: skipped: ...` (exit 3); the pipeline reads that line back.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Callable

from flows.core.env import apply_defaults, redact
from flows.core.params import check_cell, check_dataset
from flows.graph.dataflow import check_upstream
from models.errors import DiskFull, RnnopsError, SourceUnavailable

SKIPPED_EXIT = 3
ERROR_FILE = "RNNOPS_ERROR_FILE"  # set by a launcher: its ranks' first sentence, so it can say it in one line


def report_error(exc: RnnopsError) -> int:
    if isinstance(exc, SourceUnavailable):
        print(f"rnnops: skipped: {exc}", file=sys.stderr)
        return SKIPPED_EXIT
    sentence = ' '.join(str(exc).split())
    print(f"rnnops: error: {sentence}", file=sys.stderr)
    if os.environ.get(ERROR_FILE):
        with open(os.environ[ERROR_FILE], "a", encoding="utf-8") as fh:
            fh.write(sentence + "\n")
    return 2


def stage_module(run: Callable[..., object]) -> str:
    """The module a stage function belongs to, also when it runs as `python -m` (then named __main__)."""
    module = getattr(run, "__module__", "")
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec.name if module == "__main__" and spec is not None else module


def stage_main(run: Callable[..., object], needs_cell: bool, argv: list[str] | None = None,
               module: str | None = None) -> int:
    """Parse `<dataset> [<cell>]`, check both and that the upstream stages' outputs are there, call
    run(root, dataset[, cell]); one-line errors. `module`: the stage's, where `run` only imports it."""
    apply_defaults()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) != (2 if needs_cell else 1):
            raise RnnopsError(f"usage: <dataset>{' <cell>' if needs_cell else ''}; got {' '.join(args) or 'nothing'}.")
        dataset = check_dataset(args[0])
        extra = [check_cell(args[1])] if needs_cell else []
        check_upstream(Path("."), module or stage_module(run), dataset, *extra)
        run(Path("."), dataset, *extra)
        return 0
    except RnnopsError as exc:
        return report_error(exc)
    except Exception as exc:
        from flows.core.atomic import disk_full, shown  # numpy: only once something failed

        if (full := disk_full(exc)) is not None:  # outside our staged writes (a library's own files)
            what = shown(full.filename) if full.filename else "this stage's outputs"
            return report_error(DiskFull(f"the disk is full while writing {what}; free space and re-run."))
        # Python's own traceback, but a tool's message may carry the tracking URI with its password
        # (MLflow: "API request to http://user:password@host/... failed")
        print(redact(traceback.format_exc()), file=sys.stderr, end="")
        return 1
