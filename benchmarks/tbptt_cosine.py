"""Time to validation MSE <= 1e-4 on the reference recipe's cosine: windowed vs stateful (truncated BPTT), PyTorch's
default initialisation vs the Keras-style one, LSTM(200) and GRU(200), over several seeds, in one process.

Both formulations are scored on the same 500 target values, cos at points 2500..2999 (the windowed
form's validation windows 2000..2499); the windowed model reads the last 500 values, the stateful one
the state the whole past leaves (models.streams). Training goes through flows.training.lightning_fit.fit (Lightning,
the pipeline's path) for a fixed number of epochs (or until its time budget); the clock runs from the
first batch. The time to quality is the end of the first epoch after which validation MSE stays at or
below the target until the run ends (benchmarks/curves.py), per seed, and its median over the seeds.
Keras is not installed here: its figure is quoted from elsewhere, labelled as such (KERAS_ELSEWHERE).
Prints JSON, with the load average (the machine is shared).

    python benchmarks/tbptt_cosine.py [--seeds 1 2 3] [--cells lstm gru] [--quick] [--out FILE]
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
from curves import median_time, settled_at
from emit import args_json, emit, load

from flows.core.params import TrainSpec
from flows.datasets.generated import stateful_splits
from flows.training.lightning_fit import fit
from models.config import NetworkConfig, OptimConfig
from models.networks import RecurrentNet
from models.regression import Regressor, StreamRegressor
from models.runtime import flush_denormals
from models.windows import WindowDataset

# Not measured by this script (Keras is not installed in the project's environment): quoted with its source.
KERAS_ELSEWHERE = {
    "measured_in_this_run": False,
    "source": "the project's environment notes (ENVIRONMENT.md, 'Speed facts, checked 2026-11-23'): Keras 3.15 / "
              "TF 2.21 on the same cosine task, another 2-core machine of the same kind, one seed",
    "date": "2026-11-23", "cell": "lstm", "hidden_size": 200, "seconds_per_epoch": 14.4, "epochs": 3,
    "val_mse_after_epochs": 6.9e-5,
    "note": "3 epochs x 14.4 s = 43.2 s to the first epoch under 1e-4; not checked to stay below afterwards",
}
SPEC = {"window": 500, "train": [0, 2000], "val": [2000, 2500], "streams": 1}


class Curve(pl.Callback):
    """Validation MSE after every epoch, against seconds since the first batch; stops only at the time budget."""

    def __init__(self, budget_s: float):
        self.budget_s = budget_s
        self.curve: list[tuple[int, float, float]] = []

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
        self.curve.append((trainer.current_epoch + 1, round(elapsed, 2), float(trainer.callback_metrics["val/mse"])))
        if elapsed > self.budget_s:
            trainer.should_stop = True


def run(series, cell: str, init: str, formulation: str, seed: int, args) -> dict:
    net = NetworkConfig(kind=cell, hidden_size=200, init=init)
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
    spec = TrainSpec(net=net, optim=optim, seed=seed, accelerator="cpu")
    clock = Curve(budget)
    fit(spec, lambda: factory(RecurrentNet(net), optim), train, val, [clock], progress_bar=False)
    settled = settled_at(clock.curve, args.target)
    row = {"seed": seed, "settled_s": settled and settled[1], "settled_epoch": settled and settled[0],
           "epochs": len(clock.curve), "final_val_mse": clock.curve[-1][2] if clock.curve else None,
           "trained_s": round(time.perf_counter() - clock.started, 2), "threads": torch.get_num_threads(),
           "curve": clock.curve, "load_after": load()}
    print(json.dumps({"cell": cell, "init": init, "formulation": formulation,
                      **{k: v for k, v in row.items() if k != "curve"}}), flush=True)
    return row


def measure(series, cell: str, init: str, formulation: str, args) -> dict:
    seeds = [run(series, cell, init, formulation, seed, args) for seed in args.seeds]
    times = [r["settled_s"] for r in seeds]
    return {"cell": cell, "init": init, "formulation": formulation, "median_settled_s": median_time(times),
            "settled_s_per_seed": times, "seeds_settled": sum(t is not None for t in times),
            "epochs_per_seed": [r["epochs"] for r in seeds], "seeds": seeds}


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
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="at least 3: the median is reported")
    p.add_argument("--quick", action="store_true", help="stateful runs only (minutes instead of about an hour)")
    p.add_argument("--stateful-epochs", type=int, default=20)
    p.add_argument("--stateful-seconds", type=float, default=45.0, help="give up after this (per run)")
    p.add_argument("--windowed-epochs", type=int, default=10)
    p.add_argument("--windowed-seconds", type=float, default=180.0)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="windowed runs")
    p.add_argument("--stateful-threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if len(args.seeds) < 3:
        p.error("give at least 3 --seeds: one seed's time to quality is luck, the median of 3 is a figure")
    if args.quick:
        args.formulations = ["stateful"]
    flush_denormals()
    series = np.cos(np.linspace(1.0, 100.0, 3000)).astype(np.float32)
    load_before = load()
    rows = [measure(series, cell, init, form, args)
            for cell in args.cells for form in args.formulations for init in args.inits]
    emit({"benchmark": "tbptt_cosine", "target_val_mse": args.target,
          "time_to_quality": "end of the first epoch after which val MSE stays <= target until the run ends",
          "keras_elsewhere": KERAS_ELSEWHERE,
          "config": args_json(args), "runs": rows},
         load_before, args.out)

if __name__ == "__main__":
    main()
