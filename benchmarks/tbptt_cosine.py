"""Wall time until validation MSE <= 1e-4 on the seed's cosine: windowed vs stateful (truncated BPTT),
PyTorch's default initialisation vs the Keras-style one, LSTM(200) and GRU(200), in one process.

Both formulations are scored on the same 500 target values, cos at points 2500..2999 (the windowed
form's validation windows 2000..2499); the windowed model reads the last 500 values, the stateful one
the state the whole past leaves (models.streams). Training goes through flows.training.fit (Lightning,
the pipeline's path); the clock runs from the first batch and stops at the first epoch whose
validation MSE is <= the target. Prints JSON, with the load average (the machine is shared).

    python benchmarks/tbptt_cosine.py [--cells lstm gru] [--windowed-seconds 150] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from emit import args_json, emit, load

from flows.datasets.generated import stateful_splits
from flows.params import TrainSpec
from flows.training import fit
from models.config import NetworkConfig, OptimConfig
from models.networks import RecurrentNet
from models.regression import Regressor, StreamRegressor
from models.runtime import flush_denormals
from models.windows import WindowDataset

KERAS = {"source": "issue 11, measured side by side on a 2-core machine", "cell": "lstm", "hidden_size": 200,
         "epochs": 3, "seconds": 43.0, "val_mse": 6.9e-5, "aim_seconds": 4.3}
SPEC = {"window": 500, "train": [0, 2000], "val": [2000, 2500], "streams": 1}


class UntilTarget(pl.Callback):
    """Time from the first batch to the end of the first epoch whose val/mse is at or under the target."""

    def __init__(self, target: float, budget_s: float):
        self.target, self.budget_s = target, budget_s
        self.curve: list[tuple[int, float, float]] = []
        self.reached: float | None = None

    def on_train_start(self, trainer, module):
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        # A windowed epoch can outlast the whole budget on a loaded machine: stop inside it.
        if time.perf_counter() - self.started > self.budget_s:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer, module):  # validation has run by now
        elapsed = time.perf_counter() - self.started
        if "val/mse" not in trainer.callback_metrics:  # stopped inside the first epoch: no validation yet
            return
        mse = float(trainer.callback_metrics["val/mse"])
        self.curve.append((trainer.current_epoch + 1, round(elapsed, 2), mse))
        if mse <= self.target:
            self.reached = elapsed
            trainer.should_stop = True
        elif elapsed > self.budget_s:
            trainer.should_stop = True


def run(series, cell: str, init: str, formulation: str, args) -> dict:
    net = NetworkConfig(cell=cell, hidden_size=200, init=init)
    if formulation == "windowed":  # the pipeline's cosine cells: batch 100, Adam 1e-3, clip 1
        train, val = (WindowDataset(series, 500, r) for r in (range(2000), range(2000, 2500)))
        optim = OptimConfig(epochs=args.windowed_epochs, batch_size=100, lr=1e-3, clip=1.0)
        budget, factory = args.windowed_seconds, Regressor
    else:
        train, val = stateful_splits(series, {**SPEC, "streams": args.streams})
        optim = OptimConfig(epochs=args.stateful_epochs, lr=args.lr, clip=1.0,
                            tbptt={"k1": args.k1, "k2": args.k2 or args.k1})
        budget, factory = args.stateful_seconds, StreamRegressor
    # One stream of one step at a time is latency-bound: a second thread only adds synchronisation.
    torch.set_num_threads(args.threads if formulation == "windowed" else args.stateful_threads)
    spec = TrainSpec(net=net, optim=optim, seed=args.seed, accelerator="cpu")
    clock = UntilTarget(args.target, budget)
    fit(spec, lambda: factory(RecurrentNet(net), optim), train, val, [clock], progress_bar=False)
    reached = None if clock.reached is None else round(clock.reached, 2)
    row = {"cell": cell, "init": init, "formulation": formulation, "reached_s": reached, "epochs": len(clock.curve),
           "best_val_mse": min((c[2] for c in clock.curve), default=None),
           "trained_s": round(time.perf_counter() - clock.started, 2),
           "threads": torch.get_num_threads(), "curve": clock.curve,
           "load_after": load()}
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    p.add_argument("--inits", nargs="+", default=["torch", "keras"])
    p.add_argument("--formulations", nargs="+", default=["stateful", "windowed"])
    p.add_argument("--target", type=float, default=1e-4)
    p.add_argument("--k1", type=int, default=50)
    p.add_argument("--k2", type=int, default=None)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--stateful-epochs", type=int, default=100)
    p.add_argument("--stateful-seconds", type=float, default=45.0, help="give up after this (per run)")
    p.add_argument("--windowed-epochs", type=int, default=10)
    p.add_argument("--windowed-seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="windowed runs")
    p.add_argument("--stateful-threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    flush_denormals()
    series = np.cos(np.linspace(1.0, 100.0, 3000)).astype(np.float32)
    load_before = load()
    rows = [run(series, cell, init, form, args)
            for cell in args.cells for form in args.formulations for init in args.inits]
    emit({"benchmark": "tbptt_cosine", "target_val_mse": args.target, "keras_reference": KERAS,
          "config": args_json(args), "runs": rows},
         load_before, args.out)

if __name__ == "__main__":
    main()
