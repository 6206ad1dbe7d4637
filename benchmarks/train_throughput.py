"""Our training loop (Lightning Trainer + models.regression.Regressor) vs a bare PyTorch loop.

Same network initialisation, data, batch size, optimiser and clipping, in one process, run
alternately (bare, ours, bare, ours, ...) so that machine noise hits both. Prints JSON.

    python benchmarks/train_throughput.py [--cells rnn lstm gru] [--windows 2000] [--repeats 5] [--min-seconds 5]
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import statistics
import time

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from models.config import NetworkConfig, OptimConfig
from models.networks import RecurrentNet
from models.regression import Regressor
from models.runtime import flush_denormals
from models.windows import WindowDataset

SEED_CELLS = {  # the cosine defaults of params.yaml
    "rnn": NetworkConfig(kind="rnn", activation="linear", hidden_size=200, recurrent_max_norm=1.0),
    "lstm": NetworkConfig(kind="lstm", hidden_size=200),
    "gru": NetworkConfig(kind="gru", hidden_size=200),
}


class LoopTimer(pl.Callback):
    """From the first batch to the end of the last epoch: the loop itself, without fit()'s set-up."""

    def on_train_start(self, trainer, module):
        self.started = time.perf_counter()

    def on_train_end(self, trainer, module):
        self.seconds = time.perf_counter() - self.started


def bare_loop(net, loader, optim: OptimConfig) -> tuple[float, float]:
    opt = torch.optim.Adam(net.parameters(), lr=optim.lr)
    net.train()
    started = time.perf_counter()
    for _ in range(optim.epochs):
        for x, y in loader:
            loss = torch.nn.functional.mse_loss(net(x), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), optim.clip)
            opt.step()
    seconds = time.perf_counter() - started
    return seconds, seconds


def our_loop(net, loader, optim: OptimConfig) -> tuple[float, float]:
    """(loop seconds, whole fit() seconds including Lightning's set-up and teardown)."""
    timer = LoopTimer()
    trainer = pl.Trainer(max_epochs=optim.epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         accelerator="cpu", devices=1, callbacks=[timer])
    started = time.perf_counter()
    trainer.fit(Regressor(net, optim), loader)
    return timer.seconds, time.perf_counter() - started


def timed(loop, initial, data, epochs: int) -> tuple[float, float]:
    """One timing of `loop` on a fresh copy of the same initial weights and the same shuffled batches."""
    optim = OptimConfig(epochs=epochs, batch_size=100, lr=1e-3, clip=1.0)
    loader = DataLoader(data, batch_size=optim.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    return loop(copy.deepcopy(initial), loader, optim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=list(SEED_CELLS))
    parser.add_argument("--windows", type=int, default=2000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=1, help="at least this many epochs per timing")
    parser.add_argument("--min-seconds", type=float, default=5.0,
                        help="more epochs for fast cells, so that one timing is not mostly timer and scheduler noise")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    flush_denormals()  # process-wide: applies to both loops
    series = np.cos(np.linspace(1, 100, args.windows + args.window))
    data = WindowDataset(series, args.window)
    results = {}
    for cell in args.cells:
        torch.manual_seed(0)
        initial = RecurrentNet(SEED_CELLS[cell])

        # Untimed warm-up of both loops (first-call allocations, Lightning's one-off imports),
        # and the epoch count that makes one timing last at least --min-seconds.
        one_epoch, _ = timed(bare_loop, initial, data, 1)
        timed(our_loop, initial, data, 1)
        epochs = max(args.epochs, math.ceil(args.min_seconds / one_epoch))
        times = {"bare": [], "ours": [], "ours_whole_fit": []}
        for _ in range(args.repeats):
            for name, loop in (("bare", bare_loop), ("ours", our_loop)):
                loop_s, whole_s = timed(loop, initial, data, epochs)
                times[name].append(loop_s)
                if name == "ours":
                    times["ours_whole_fit"].append(whole_s)
        samples = len(data) * epochs
        # Best of N is the headline (as timeit advises: slower repeats are other processes
        # interfering, and on 2 shared cores they do, by +-15%); the medians are printed beside it.
        best = {k: samples / min(v) for k, v in times.items()}
        median = {k: samples / statistics.median(v) for k, v in times.items()}
        results[cell] = {"epochs_per_timing": epochs, "bare_samples_per_s": round(best["bare"], 1),
                         "ours_samples_per_s": round(best["ours"], 1),
                         "ratio_ours_over_bare": round(best["ours"] / best["bare"], 3),
                         "ratio_including_fit_setup": round(best["ours_whole_fit"] / best["bare"], 3),
                         "ratio_of_medians": round(median["ours"] / median["bare"], 3),
                         "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()}}
    print(json.dumps({"benchmark": "train_throughput", "windows": len(data), "window": args.window,
                      "batch_size": 100, "repeats": args.repeats,
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "cpus": os.cpu_count(), "machine": platform.machine(), "cells": results}, indent=2))


if __name__ == "__main__":
    main()
