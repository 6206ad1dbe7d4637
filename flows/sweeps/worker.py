"""`python -m flows.sweeps.worker <sweep>`: one worker process (the sweep flows start one per worker).

Its threads come from OMP_NUM_THREADS (cores / workers, set by the launcher), its GPU from
CUDA_VISIBLE_DEVICES; errors a user can act on are one line, as a stage's are.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from flows.core.env import apply_defaults
from flows.orchestration.stage_command import report_error
from models.errors import RnnopsError


def main(argv: list[str] | None = None) -> int:
    apply_defaults()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) != 1:
            raise RnnopsError(f"usage: python -m flows.sweeps.worker <sweep>; got {' '.join(args) or 'nothing'}.")
        from flows.core.params import load_params
        from flows.sweeps import engine
        from flows.sweeps.config import sweep_config

        root = Path(".").resolve()
        params = load_params(root)
        cfg = sweep_config(params, args[0])
        if os.environ.get("OMP_NUM_THREADS", "").isdigit():
            import torch

            torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        engine.work(root, params, cfg)
        return 0
    except RnnopsError as exc:
        return report_error(exc)


if __name__ == "__main__":
    sys.exit(main())
