"""Static and dynamic evaluation of a character model folder (text_quality.py --save, or the pipeline's
models/text/<cell>) on the 90/10 validation split of --corpus.

Static: the whole validation split read as one stream, state carried (char-rnn's measure). Dynamic
(Krause et al. 2018, "Dynamic evaluation of neural sequence models"): the same stream in segments of
--segment characters; each segment is scored first, then the weights take one SGD step on it (pulled
back towards the trained weights by --decay), so a character is always predicted before the model
learns from it. The step size is chosen on the first --tune validation characters and the rest of the
split is reported apart, so the figure on the unseen remainder is not tuned on itself. Prints JSON.

    python benchmarks/text_dynamic.py MODEL_DIR [--corpus ../shared/data/tinyshakespeare.txt] [--out F]
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from emit import emit, load

from flows.datasets.text import load_char_net
from models.runtime import flush_denormals
from models.streams import StreamBlocks
from models.text import dynamic_nats, streamed_nats

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "tinyshakespeare.txt")
    p.add_argument("--segment", type=int, default=50)
    p.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3])
    p.add_argument("--decay", type=float, default=0.0)
    p.add_argument("--tune", type=int, default=30_000, help="validation characters the step size is chosen on")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    flush_denormals()
    torch.set_num_threads(args.threads)
    load_before = load()
    net, vocab = load_char_net(args.model)  # weights_only load
    text = args.corpus.read_text(encoding="utf-8")
    val_ids = vocab.encode(text[int(len(text) * 0.9) :])[0]
    with torch.no_grad():
        static = streamed_nats(net, StreamBlocks(val_ids[:-1], val_ids[1:], 1, block=1000))[0]
    split = {"tune": slice(0, args.tune), "rest": slice(args.tune, None), "all": slice(0, None)}

    def summary(nats):
        return {part: round(float(nats[s].mean()), 4) for part, s in split.items()}

    runs = []
    for lr in args.lrs:
        started = time.perf_counter()
        nats = dynamic_nats(net, val_ids, args.segment, lr, args.decay)
        runs.append({"lr": lr, "seconds": round(time.perf_counter() - started, 1), "nats": summary(nats)})
        print(runs[-1], flush=True)
    chosen = min(runs, key=lambda r: r["nats"]["tune"])
    emit({"benchmark": "text_dynamic", "model": args.model.name, "val_characters": len(val_ids),
          "segment": args.segment, "decay": args.decay, "tune_characters": args.tune,
          "static_nats": summary(static), "dynamic": runs, "chosen_lr": chosen["lr"],
          "dynamic_nats": chosen["nats"], "dynamic_bpc_rest": round(chosen["nats"]["rest"] / math.log(2), 4)},
         load_before, args.out)


if __name__ == "__main__":
    main()
