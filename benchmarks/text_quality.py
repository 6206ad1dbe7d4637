"""Validation loss (nats/char) of our character LSTM on Tiny Shakespeare after a wall-clock budget.

Case preserved, 90/10 contiguous split as nanoGPT; our models.text network and LanguageModel
trained by Lightning, stopped by `max_time`. Every `--every` minutes the loss on the first
`--probe` validation characters is recorded (the curve); at the end, the whole validation split.
Prints JSON with the curve, the final loss and a 500-character sample.

    python benchmarks/text_quality.py [--corpus ../shared/data/tinyshakespeare.txt] [--minutes 15]
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from models.config import NetworkConfig, OptimConfig
from models.language_model import LanguageModel
from models.runtime import flush_denormals
from models.text import CharNet, CharWindows, Vocab, generate

REPO = Path(__file__).resolve().parents[1]


@torch.no_grad()
def val_loss(module: LanguageModel, windows: CharWindows, limit_chars: int | None = None) -> float:
    module.eval()
    nats = count = 0.0
    for x, y in DataLoader(windows, batch_size=64):
        nats += float(module._loss((x, y), "sum"))
        count += y.numel()
        if limit_chars and count >= limit_chars:
            break
    module.train()
    return nats / count


class Curve(pl.Callback):
    def __init__(self, val: CharWindows, every_s: float, probe: int):
        self.val, self.every_s, self.probe = val, every_s, probe
        self.points: list[dict] = []

    def on_train_start(self, trainer, module):
        self.started = self.next = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        now = time.perf_counter()
        if now >= self.next + self.every_s:
            self.next = now
            loss = val_loss(module, self.val, self.probe)
            self.points.append({"minutes": round((now - self.started) / 60, 2), "val_nats_probe": round(loss, 4),
                                "steps": trainer.global_step})
            print(json.dumps(self.points[-1]), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "tinyshakespeare.txt")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--every", type=float, default=1.5, help="minutes between curve points")
    p.add_argument("--probe", type=int, default=30_000, help="validation characters per curve point")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    flush_denormals()
    text = args.corpus.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    vocab = Vocab.build(text[:cut])
    train = CharWindows(vocab.encode(text[:cut])[0], args.seq_len, stride=args.seq_len)
    val = CharWindows(vocab.encode(text[cut:])[0], args.seq_len, stride=args.seq_len)
    pl.seed_everything(args.seed, verbose=False)
    net_cfg = NetworkConfig(cell="lstm", hidden_size=args.hidden, num_layers=args.layers, dropout=args.dropout)
    optim = OptimConfig(epochs=1000, batch_size=args.batch, lr=args.lr, clip=1.0)
    module = LanguageModel(CharNet(len(vocab), net_cfg, args.embedding), optim)
    curve = Curve(val, args.every * 60, args.probe)
    seconds = int(args.minutes * 60)
    trainer = pl.Trainer(max_time={"seconds": seconds}, max_epochs=1000, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         accelerator="cpu", devices=1, callbacks=[curve])
    started = time.perf_counter()
    trainer.fit(module, DataLoader(train, batch_size=args.batch, shuffle=True, drop_last=True))
    trained_s = time.perf_counter() - started
    final = val_loss(module, val)
    sample = generate(module.net.eval(), vocab, "ROMEO:\n", 500, temperature=0.8, rng_seed=1, context=args.seq_len)
    print(json.dumps({"benchmark": "text_quality", "corpus": str(args.corpus.name), "characters": len(text),
                      "vocab": len(vocab), "budget_minutes": args.minutes, "trained_minutes": round(trained_s / 60, 2),
                      "steps": trainer.global_step, "chars_per_s": round(trainer.global_step * args.batch
                                                                          * args.seq_len / trained_s),
                      "config": vars(args) | {"corpus": str(args.corpus)}, "curve": curve.points,
                      "final_val_nats": round(final, 4), "final_val_bpc": round(final / math.log(2), 4),
                      "sample_temperature_0.8": sample}, indent=2))


if __name__ == "__main__":
    main()
