"""Epoch checkpoints that let a killed training resume where it stopped, into the same MLflow run.

They live in `.dvc/tmp/checkpoints/<dataset>/<cell>/` (git- and DVC-ignored, never a stage output,
so they cannot invalidate a stage) as `last.ckpt` plus `resume.json` ({key, run_id, epoch, finished}).
The key hashes everything that decides the result (network, optimiser, seed, the dataset's train
keys, the resolved devices/precision and the windows' data hash): a changed config or new data
never resumes a stale checkpoint. Resuming a finished training is refused too: `dvc repro -f`
trains again from scratch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from flows.core.atomic import full_disk_named, read_json, write_json

CKPT, SIDECAR = "last.ckpt", "resume.json"


def folder(root: Path, dataset: str, cell: str) -> Path:
    return Path(root) / ".dvc" / "tmp" / "checkpoints" / dataset / cell


def key(spec, layout, data_hash: str) -> str:
    decides = {"net": dataclasses.asdict(spec.net), "optim": dataclasses.asdict(spec.optim), "seed": spec.seed,
               "extras": [list(pair) for pair in spec.extras], "layout": dataclasses.asdict(layout), "data": data_hash}
    return hashlib.sha256(json.dumps(decides, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Resume:
    """What a training starts from: `ckpt` None means from scratch; `run_id` the MLflow run to reopen."""

    folder: Path
    key: str
    ckpt: Path | None = None
    run_id: str | None = None
    epoch: int = 0


def plan(root: Path, dataset: str, cell: str, key_: str) -> Resume:
    """Resume from the last checkpoint when it was written for the same key and the training never finished."""
    where = folder(root, dataset, cell)
    try:
        state = read_json(where / SIDECAR)
    except (OSError, ValueError):
        state = {}
    if state.get("key") == key_ and not state.get("finished") and (where / CKPT).is_file() and state.get("run_id"):
        return Resume(where, key_, where / CKPT, state["run_id"], int(state.get("epoch", 0)))
    return Resume(where, key_)


def start_fresh(resume: Resume, run_id: str | None) -> None:
    """Forget a stale or finished checkpoint, and note which run the coming checkpoints belong to."""
    shutil.rmtree(resume.folder, ignore_errors=True)
    write_json(resume.folder / SIDECAR, {"key": resume.key, "run_id": run_id, "epoch": 0, "finished": False})


def finish(resume: Resume, keep: bool) -> None:
    if keep:
        state = read_json(resume.folder / SIDECAR)
        write_json(resume.folder / SIDECAR, {**state, "finished": True})
    else:
        shutil.rmtree(resume.folder, ignore_errors=True)


def _rng_state() -> dict:
    """Every generator a later epoch draws from (dropout masks, DataLoader base seeds)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],  # plain types: loads under weights_only
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochCheckpoint(pl.Callback):
    """Saves the whole training state at the end of every epoch: weights, optimiser, loops, the other
    callbacks' state (History, KeepBest, EarlyStopping) and the RNGs, which Lightning leaves out.

    Written to a temp file and renamed, so a kill leaves the previous checkpoint or the new one.
    The data order needs no saving: flows.training.lightning_fit's samplers derive it from (seed, epoch).
    """

    def __init__(self, resume: Resume, run_id: str | None):
        self.resume, self.run_id, self._rng = resume, run_id, None

    def state_dict(self) -> dict:
        return {"rng": _rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self._rng = state["rng"]  # applied once the loops are restored, just before the next epoch

    def on_train_start(self, trainer, module):
        if self._rng is not None:
            _set_rng_state(self._rng)
            self._rng = None

    def on_train_epoch_end(self, trainer, module):  # after validation and the other callbacks
        epoch = trainer.current_epoch + 1
        target = self.resume.folder / CKPT
        tmp = target.with_name(f".{CKPT}.tmp")
        try:
            with full_disk_named(target):
                trainer.save_checkpoint(tmp, weights_only=False)  # every rank calls it; rank 0 writes, synced
        except BaseException:
            tmp.unlink(missing_ok=True)  # a partial checkpoint must not hold the space a re-run needs
            raise
        if trainer.is_global_zero:
            os.replace(tmp, target)
            write_json(self.resume.folder / SIDECAR,
                       {"key": self.resume.key, "run_id": self.run_id, "epoch": epoch, "finished": False})
        trainer.strategy.barrier("rnnops-checkpoint")
