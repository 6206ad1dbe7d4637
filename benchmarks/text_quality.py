"""Validation loss (nats/char) of our character RNN on Tiny Shakespeare after a wall-clock budget.

Case preserved, 90/10 contiguous split as nanoGPT. The recipe of issue 11: the training split as
`--streams` parallel streams, truncated BPTT (k1 = k2 = --k1) with the state carried across chunks
(each stream restarting from zero at a block with chance --reset, as generation starts from zero),
Keras-style initialisation, dropout and weight decay, a cosine learning rate that reaches 0 when the
budget ends, and the weights of the best probe kept (the curve the run ends with never rises).
Every `--every` minutes the loss on the first `--probe` validation characters (one stream) is
recorded against wall time and characters seen; at the end the whole validation split is scored with
the kept weights as one stream, state carried (char-rnn's measure: each character reads everything
before it), and for comparison with earlier figures in pieces of --score-context characters and in
windows of --k1, both read from a zero state. Prints JSON with a sample.

    python benchmarks/text_quality.py [--corpus ../shared/data/tinyshakespeare.txt] [--minutes 15] [--out F]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from emit import args_json, emit, load
from torch.utils.data import DataLoader

from flows.core.atomic import atomic_dir, dumps
from flows.training.lightning_fit import quiet_lightning
from models.config import NetworkConfig, OptimConfig
from models.language_model import LanguageModel
from models.runtime import flush_denormals
from models.streams import StreamBlocks
from models.text import CharNet, CharWindows, Vocab, char_loss, generate, streamed_nats

REPO = Path(__file__).resolve().parents[1]


class OnBudget(LanguageModel):
    """The cosine schedule runs to the wall-clock budget, not to an epoch count."""

    budget_s, started = 1.0, None

    def progress(self, batch_idx, fraction):
        if self.started is None:
            self.started = time.perf_counter()
        return (time.perf_counter() - self.started) / self.budget_s


class Curve(pl.Callback):
    """Probe points against wall time and characters seen; keeps the weights of the best probe."""

    def __init__(self, probe: StreamBlocks, every_s: float, chars_per_batch: int):
        self.probe, self.every_s, self.chars_per_batch = probe, every_s, chars_per_batch
        self.points: list[dict] = []
        self.best, self.best_state = math.inf, None

    def on_train_start(self, trainer, module):
        self.started = self.next = time.perf_counter()
        self.batches = 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.batches += 1
        now = time.perf_counter()
        if now >= self.next + self.every_s:
            self.next = now
            self.point(module, now)

    def point(self, module, now) -> None:
        loss = float(streamed_nats(module.net, self.probe).mean())
        module.net.train()
        self.points.append({"minutes": round((now - self.started) / 60, 2), "chars_seen": self.batches
                            * self.chars_per_batch, "val_nats_probe": round(loss, 4),
                            "lr": round(module.trainer.optimizers[0].param_groups[0]["lr"], 6)})
        if loss < self.best:
            self.best, self.best_state = loss, {k: v.clone() for k, v in module.net.state_dict().items()}
        print(json.dumps(self.points[-1]), flush=True)

    def on_train_end(self, trainer, module):
        self.point(module, time.perf_counter())
        module.net.load_state_dict(self.best_state)


@torch.no_grad()
def windowed_nats(net: CharNet, ids, seq_len: int) -> float:
    net.eval()
    nats = count = 0.0
    for x, y in DataLoader(CharWindows(ids, seq_len, stride=seq_len), batch_size=256):
        nats += float(char_loss(net, (x, y), True, "sum"))
        count += y.numel()
    return nats / count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "tinyshakespeare.txt")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--every", type=float, default=1.0, help="minutes between curve points")
    p.add_argument("--probe", type=int, default=30_000, help="validation characters per curve point")
    p.add_argument("--score-context", type=int, default=500, help="characters per scoring stream (the old measure)")
    p.add_argument("--score-streams", type=int, default=1,
                   help="the whole validation split scored as this many streams, state carried (char-rnn's measure)")
    p.add_argument("--cell", default="lstm")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--k1", type=int, default=128, help="truncated BPTT: steps per update (k2 = k1)")
    p.add_argument("--streams", type=int, default=64, help="parallel streams (the batch)")
    p.add_argument("--reset", type=float, default=0.05, help="chance a stream restarts a block from a zero state")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--init", default="keras")
    p.add_argument("--precision", default="32-true", help="Lightning's precision; bf16-mixed: bfloat16 matmuls "
                   "where the CPU has them (AVX-512 BF16), weights and optimiser in float32")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--save", type=Path, default=None, help="model folder for the kept weights (text_dynamic.py)")
    args = p.parse_args()
    flush_denormals()
    torch.set_num_threads(args.threads)
    quiet_lightning()
    load_before = load()
    text = args.corpus.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    vocab = Vocab.build(text[:cut])
    train_ids, val_ids = vocab.encode(text[:cut])[0], vocab.encode(text[cut:])[0]
    train = StreamBlocks(train_ids[:-1], train_ids[1:], args.streams, block=args.k1)
    # One stream of the whole split is ~111k sequential steps, forward only: about 4 s on a quiet machine.
    # The pieces are the measure figures before 2026-11-24 were taken with.
    val_pieces = StreamBlocks(val_ids[:-1], val_ids[1:], len(val_ids) // args.score_context, block=args.score_context)
    val = StreamBlocks(val_ids[:-1], val_ids[1:], args.score_streams, block=1000)
    probe_ids = val_ids[: args.probe + 1]
    probe = StreamBlocks(probe_ids[:-1], probe_ids[1:], args.score_streams, block=1000)
    pl.seed_everything(args.seed, verbose=False)
    net_cfg = NetworkConfig(kind=args.cell, hidden_size=args.hidden, num_layers=args.layers, dropout=args.dropout,
                            init=args.init)
    optim = OptimConfig(epochs=1000, lr=args.lr, clip=1.0, weight_decay=args.weight_decay,
                        tbptt={"k1": args.k1, "reset": args.reset}, lr_schedule="cosine_decay")
    module = OnBudget(CharNet(len(vocab), net_cfg, args.embedding), optim)
    seconds = args.minutes * 60
    module.budget_s = seconds
    curve = Curve(probe, args.every * 60, args.streams * train.block)
    trainer = pl.Trainer(max_time={"seconds": int(seconds)}, max_epochs=1000, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, accelerator="cpu", devices=1, callbacks=[curve],
                         precision=args.precision)
    started = time.perf_counter()
    trainer.fit(module, DataLoader(train, batch_size=None))
    trained_s = time.perf_counter() - started
    config = args_json(args)
    scoring = time.perf_counter()
    streamed = float(streamed_nats(module.net, val).mean())
    scoring_s = time.perf_counter() - scoring
    pieces = float(streamed_nats(module.net, val_pieces).mean())
    if args.save:  # the pipeline's model folder, which flows.datasets.text.load_char_net reads
        with atomic_dir(args.save) as out:
            torch.save(module.net.state_dict(), out / "model.pt")
            files = {"config.json": {"net": dataclasses.asdict(net_cfg), "embedding_dim": args.embedding,
                                     "benchmark": config},
                     "vocab.json": {"chars": vocab.chars, "stateful": True}}
            for name, data in files.items():
                (out / name).write_text(dumps(data), encoding="utf-8")
    windowed = windowed_nats(module.net, val_ids, args.k1)
    sample = generate(module.net, vocab, "ROMEO:\n", 500, temperature=0.8, rng_seed=1, stateful=True)
    result = {"benchmark": "text_quality", "corpus": args.corpus.name, "characters": len(text),
              "vocab": len(vocab), "val_characters": len(val_ids), "budget_minutes": args.minutes,
              "trained_minutes": round(trained_s / 60, 2), "updates": trainer.global_step,
              "chars_seen": curve.batches * args.streams * train.block,
              "chars_per_s": round(curve.batches * args.streams * train.block / trained_s),
              "config": config,
              "curve": curve.points, "kept_probe_nats": round(curve.best, 4),
              "final_val_nats": round(streamed, 4), "final_val_bpc": round(streamed / math.log(2), 4),
              "final_val_nats_windowed": round(windowed, 4),
              "final_val_nats_pieces": round(pieces, 4),
              "scored_characters": int(val.parts[1].numel()), "scoring_s": round(scoring_s, 1),
              "sample_temperature_0.8": sample}
    emit(result, load_before, args.out)


if __name__ == "__main__":
    main()
