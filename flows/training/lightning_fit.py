"""The Lightning fit shared by the train stage and the stocks backtest (imports Lightning: training only)."""
from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins import TorchCheckpointIO
from pytorch_lightning.callbacks import EarlyStopping
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from flows.training.launch import Layout, launched, layout, rank_and_world
from models.errors import RnnopsError
from models.streams import carries_state


class History(pl.Callback):
    """Per-epoch metrics, kept for the report's loss curves and sent to `sink` (the MLflow run) from rank 0."""

    def __init__(self, sink=None):
        self.rows: list[dict] = []
        self.sink = sink

    def on_train_epoch_end(self, trainer, module):
        metrics = {k: float(v) for k, v in sorted(trainer.callback_metrics.items())}
        self.rows.append({"epoch": trainer.current_epoch + 1, **metrics})
        if self.sink is not None and trainer.is_global_zero:
            self.sink(trainer.current_epoch + 1, metrics)

    def state_dict(self) -> dict:  # a resumed training's history.csv still starts at epoch 1
        return {"rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state["rows"])

    def to_csv(self) -> str:
        keys = sorted({k for row in self.rows for k in row}, key=lambda k: (k != "epoch", k))
        lines = [",".join(keys)] + [",".join(repr(row[k]) if k in row else "" for k in keys) for row in self.rows]
        return "\n".join(lines) + "\n"


class KeepBest(pl.Callback):
    """Selection on validation within one training: remember the weights of the epoch with the lowest
    val/loss and restore them when the fit ends (in memory: the stage saves the final folder itself)."""

    def __init__(self):
        self.best, self.epoch, self.state = math.inf, 0, None

    def on_train_epoch_end(self, trainer, module):  # validation has run by now
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and float(loss) < self.best:
            self.best, self.epoch = float(loss), trainer.current_epoch + 1
            self.state = {k: v.detach().clone() for k, v in module.net.state_dict().items()}

    def on_fit_end(self, trainer, module):
        if self.state is not None:
            module.net.load_state_dict(self.state)

    def state_dict(self) -> dict:
        return {"best": self.best, "epoch": self.epoch, "state": self.state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.epoch, self.state = state["best"], state["epoch"], state["state"]


def selection_callbacks(optim, has_validation: bool) -> list[pl.Callback]:
    """What the validation split steers besides the champion: early stopping and the kept epoch."""
    if not has_validation:
        return []
    found: list[pl.Callback] = []
    if optim.patience:
        found.append(EarlyStopping(monitor="val/loss", mode="min", patience=optim.patience))
    if optim.keep_best:
        found.append(KeepBest())
    return found


def quiet_lightning() -> None:
    """Keep the progress bar, drop Lightning's tips and a deprecation notice from its own internals."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*treespec.*", category=Warning)
    warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*", category=Warning)


class Strided(Sampler):
    """Rank r of n reads items r, r+n, ...: every validation item exactly once over all ranks (a
    DistributedSampler would pad with repeats, and the summed validation figures would count them twice)."""

    def __init__(self, length: int, rank: int, world: int):
        self.indices = range(rank, length, world)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def loaders(spec, train_set, val_set, rank: int, world: int):
    """The global batch stays `batch_size` whatever the number of ranks. The order is a permutation
    drawn from (seed, epoch) alone (DistributedSampler with one replica when alone), so rank r's
    k-th batch is the r-th stride of the 1-process k-th batch: their union is that batch, and a
    resumed epoch sees the order the uninterrupted one saw.

    Each loader also gets its own generator: a DataLoader otherwise draws its workers' base seed from
    the global RNG whenever an iterator starts, and a resumed fit starts its first iterator at
    another moment than the uninterrupted one; the global RNG is then left to the model (dropout)."""
    if carries_state(train_set):
        return stream_loaders(train_set, val_set, rank, world)
    per_rank = spec.optim.batch_size // world
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=spec.seed)
    train = DataLoader(train_set, batch_size=per_rank, sampler=sampler,
                       generator=torch.Generator().manual_seed(spec.seed))
    val = None
    if val_set is not None:
        val = DataLoader(val_set, batch_size=max(per_rank, 256), sampler=Strided(len(val_set), rank, world),
                         generator=torch.Generator().manual_seed(spec.seed))
    return train, val


def stream_loaders(train_set, val_set, rank: int, world: int):
    """Stateful data (models.streams): every item is a batch of blocks, served in time order so the
    carried state meets its continuation; each rank runs its own streams (batch_size is not used)."""
    def serve(dataset):
        return None if dataset is None else DataLoader(dataset.for_rank(rank, world), batch_size=None)
    return serve(train_set), serve(val_set)


class LocalCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint straight to its path and syncs it. Lightning's own writes it to a temp file
    in the system's temp dir first (a small tmpfs on many machines) and moves it; here a full disk is
    the ENOSPC of this file. EpochCheckpoint renames it into place, which keeps it atomic."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            torch.save(checkpoint, fh)
            fh.flush()
            os.fsync(fh.fileno())


def build_trainer(spec, where: Layout, callbacks, progress_bar: bool = True) -> pl.Trainer:
    quiet_lightning()
    return pl.Trainer(
        max_epochs=spec.optim.epochs,
        accelerator=where.accelerator,
        devices=where.devices,
        num_nodes=where.num_nodes,
        strategy=where.strategy,
        precision=where.precision,
        use_distributed_sampler=False,  # ours keeps the 1-process batches (see loaders)
        logger=False,  # MLflow logging goes through flows.tracking, once, from rank 0
        enable_checkpointing=False,  # epoch checkpoints are flows.training.checkpoints' (atomic, with the RNGs)
        enable_model_summary=False,
        num_sanity_val_steps=0,
        enable_progress_bar=progress_bar,
        callbacks=callbacks,
        plugins=[LocalCheckpointIO()],
    )


def fit(spec, module_factory, train_set, val_set, callbacks=(), progress_bar: bool = True, ckpt_path=None,
        last_callbacks=()):
    """Seeded Lightning fit of the module `module_factory()` builds (after seeding, so weights are reproducible).

    More than one process must already be running (torchrun or srun started this one): Lightning's own
    launcher would re-execute sys.argv, i.e. the Prefect flow or the pytest session that called us.
    `ckpt_path` resumes weights, optimiser and loops; `last_callbacks` run after the selection ones.
    """
    where = layout(spec)
    rank, world = rank_and_world()
    if where.world > 1 and not launched():
        raise RnnopsError(f"{where.world} processes are needed (devices {where.devices} x num_nodes "
                          f"{where.num_nodes}); run the train stage, which starts them under torchrun.")
    if world != where.world:
        raise RnnopsError(f"params ask for {where.world} processes (devices x num_nodes) but the launcher started "
                          f"{world}; make --nproc_per_node / --ntasks-per-node and nodes agree with params.yaml.")
    pl.seed_everything(spec.seed, verbose=False)
    module = module_factory()
    every = [*callbacks, *selection_callbacks(spec.optim, val_set is not None), *last_callbacks]
    trainer = build_trainer(spec, where, every, progress_bar)
    train, val = loaders(spec, train_set, val_set, rank, world)
    trainer.fit(module, train, val, ckpt_path=ckpt_path, weights_only=True)  # our checkpoints hold no pickles
    return module, trainer
