"""Gradients through time on the reference recipe's cosine: ||dL/dh_t|| at t = T, T-10, ..., 1 for trained RNN (tanh),
LSTM and GRU (the vanishing picture), the reference recipe's linear RNN with its guards, and the linear RNN without
them (the exploding picture); plus the gradient norm of every training step before and after clipping
for a linear RNN whose only guard is clipping. Prints JSON; writes the figures beside --out.

    python benchmarks/gradients_through_time.py [--window 500] [--hidden 64] [--train-windows 400] [--epochs 3]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from flows.core.atomic import write_json
from flows.core.params import TrainSpec
from flows.datasets.cosine import IngestConfig
from flows.reporting import plotting
from flows.scoring.gradient_probe import summary
from flows.training.lightning_fit import fit
from models.config import NetworkConfig, OptimConfig
from models.errors import TrainingDiverged
from models.gradients import state_gradient_norms
from models.networks import RecurrentNet
from models.regression import Regressor
from models.runtime import flush_denormals
from models.windows import WindowDataset

RESULTS = Path(__file__).parent / "results"


def cells(hidden: int) -> dict[str, tuple[NetworkConfig, float | None, bool]]:
    """name -> (network, clip, trained?)."""
    linear = dict(kind="rnn", activation="linear", hidden_size=hidden)
    return {
        "rnn (tanh)": (NetworkConfig(kind="rnn", activation="tanh", hidden_size=hidden), 1.0, True),
        "lstm": (NetworkConfig(kind="lstm", hidden_size=hidden), 1.0, True),
        "gru": (NetworkConfig(kind="gru", hidden_size=hidden), 1.0, True),
        "linear, guarded (reference cell)": (NetworkConfig(**linear, recurrent_max_norm=1.0), 1.0, True),
        "linear, unguarded, W_hh x1.02 (untrained)": (NetworkConfig(**linear, recurrent_init_scale=1.02), None, False),
        "linear, unguarded, W_hh x1.02 (trained)": (NetworkConfig(**linear, recurrent_init_scale=1.02), None, True),
    }


def sampled(mean: np.ndarray) -> dict[str, float]:
    """Norms at t = T, T-10, ..., down to 1."""
    steps = len(mean)
    return {f"t={t}": float(mean[t - 1]) for t in [*range(steps, 0, -10), 1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--window", type=int, default=500)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--train-windows", type=int, default=400)
    p.add_argument("--val-windows", type=int, default=200)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--probe-windows", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=RESULTS / "gradients_through_time.json")
    args = p.parse_args()
    flush_denormals()
    series = IngestConfig().series()  # the reference recipe's 3000 points of cos(x) on [1, 100]
    train = WindowDataset(series, args.window, range(args.train_windows))
    val = WindowDataset(series, args.window, range(args.train_windows, args.train_windows + args.val_windows))
    picked = np.linspace(0, len(val) - 1, args.probe_windows).round().astype(int)
    x, y = torch.utils.data.default_collate([val[int(i)] for i in picked])
    results, curves, bands = {}, {}, {}
    for name, (net_cfg, clip, trained) in cells(args.hidden).items():
        started = time.perf_counter()
        optim = OptimConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, clip=clip)
        spec = TrainSpec(net=net_cfg, optim=optim, seed=args.seed, accelerator="cpu")
        entry: dict = {"clip": clip, "recurrent_max_norm": net_cfg.recurrent_max_norm,
                       "recurrent_init_scale": net_cfg.recurrent_init_scale, "trained_epochs": 0}
        torch.manual_seed(args.seed)
        net = RecurrentNet(net_cfg)
        if trained:
            try:
                module, trainer = fit(spec, lambda: Regressor(RecurrentNet(net_cfg), optim), train, val,  # noqa: B023
                                      progress_bar=False)
                net = module.net
                entry.update(trained_epochs=args.epochs, val_mse=float(trainer.callback_metrics["val/mse"]))
                if "guarded" not in name:
                    entry["max_pre_clip_norm"] = max(row[2] for row in module.grad_trace)
            except TrainingDiverged as exc:
                entry["training"] = str(exc)
                results[name] = entry
                continue
        norms = state_gradient_norms(net, x, y)
        mean = norms.mean(0)
        entry.update(summary(norms), norms=sampled(mean), seconds=round(time.perf_counter() - started, 1))
        results[name], curves[name], bands[name] = entry, mean, (norms.min(0), norms.max(0))
    figure = args.out.with_suffix(".png")
    plotting.gradients_through_time(curves, f"cosine, window {args.window}: ||dL/dh_t|| through time "
                                            f"({args.probe_windows} validation windows)",
                                    lambda name: args.out.parent / name, figure.stem, bands)
    clip_only = clipping_curve(train, val, args)
    found = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads", "window": args.window,
             "hidden": args.hidden, "train_windows": args.train_windows, "epochs": args.epochs,
             "batch_size": args.batch_size, "lr": args.lr, "probe": "float64 copy of each trained net",
             "probe_windows": args.probe_windows, "cells": results, "clipping_only": clip_only,
             "figure": figure.name}
    write_json(args.out, found)
    print(json.dumps(found, indent=2))


def clipping_curve(train, val, args) -> dict:
    """A linear RNN guarded by clipping alone (recurrent_max_norm null, W_hh x1.02), on the reference recipe
    (Adam 1e-3, batch 100; at 3e-3 / 25 it diverges within 3 steps): every step's norm before and after
    clipping."""
    net_cfg = NetworkConfig(kind="rnn", activation="linear", hidden_size=args.hidden, recurrent_init_scale=1.02)
    optim = OptimConfig(epochs=args.epochs, batch_size=100, lr=1e-3, clip=1.0)
    spec = TrainSpec(net=net_cfg, optim=optim, seed=args.seed, accelerator="cpu")
    try:
        module, trainer = fit(spec, lambda: Regressor(RecurrentNet(net_cfg), optim), train, val, progress_bar=False)
    except TrainingDiverged as exc:
        return {"training": str(exc)}
    trace = np.array(module.grad_trace)
    target = args.out.parent / "grad_norms_training_linear_clip_only.png"
    plotting.training_grad_norms({"step": trace[:, 0], "pre_clip": trace[:, 2], "post_clip": trace[:, 3]},
                                 "linear RNN, clip 1.0 only: gradient norm per step",
                                 lambda name: args.out.parent / name, target.stem)
    return {"figure": target.name, "lr": optim.lr, "batch_size": optim.batch_size,
            "val_mse": float(trainer.callback_metrics["val/mse"]), "steps": len(trace),
            "pre_clip": {"max": float(trace[:, 2].max()), "median": float(np.median(trace[:, 2]))},
            "post_clip": {"max": float(trace[:, 3].max()), "median": float(np.median(trace[:, 3]))}}


if __name__ == "__main__":
    main()
