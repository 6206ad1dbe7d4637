"""The pipeline's default text cells (params.yaml `text`) on a corpus of the reference recipe's size, through
the real stages: train seconds, validation nats against the unigram baseline, and samples, per cell. Othello
(the reference recipe's corpus, ~150k characters) is not in this repository; by default the first --chars characters of
../shared/data/tinyshakespeare.txt stand in for it. Prints JSON.

    python benchmarks/text_profile.py [--corpus FILE] [--chars 150000] [--epochs N] [--out F]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from emit import emit, load
from project import SHARED, repo_params, stage, temp_project, train_and_evaluate, write_params


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=SHARED / "tinyshakespeare.txt")
    p.add_argument("--chars", type=int, default=150_000, help="characters of the corpus used (0: all)")
    p.add_argument("--epochs", type=int, default=None, help="override every text cell's epochs")
    p.add_argument("--prompt", default=None, help="default: the validation split's first seq_len characters")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    text = args.corpus.read_text(encoding="utf-8")
    text = text[: args.chars] if args.chars else text
    params = repo_params()
    section = params["text"]
    cells = section.get("cells", params["cells"])
    if args.epochs:
        for cell in cells:
            section["train"][cell]["epochs"] = args.epochs
    section["evaluate"]["prompt"] = args.prompt  # params' prompt is about Python, not this corpus
    load_before = load()
    result = {"benchmark": "text_profile", "corpus": args.corpus.name, "characters": len(text),
              "lowercase": section["ingest"]["lowercase"], "cells": {}}
    with temp_project("rnnops-text-") as root:
        (root / "data/sources/corpus.txt").write_text(text, encoding="utf-8")
        section["ingest"].update(source="files", paths=["data/sources/corpus.txt"], name="corpus")
        params["datasets"] = ["text"]
        write_params(root, params)
        stage(root, "flows.stages.ingest", "text")
        stage(root, "flows.stages.windows", "text")
        for cell in cells:
            seconds, metrics = train_and_evaluate(root, "text", cell)
            samples = json.loads((root / f"plots/text/{cell}.samples.json").read_text())
            val = metrics["val"]
            result["cells"][cell] = {"train_stage_seconds": round(seconds, 1), "epochs": metrics["epochs"],
                                     "train_seconds": round(metrics["train_seconds"], 1),
                                     "val_nats": round(val["loss_nats"], 4),
                                     "unigram_nats": round(val["unigram_loss_nats"], 4),
                                     "prompt": samples["prompt"], "samples": samples["samples"]}
    emit(result, load_before, args.out)


if __name__ == "__main__":
    main()
