"""The text dataset: ingest a corpus, split and encode it, train/evaluate the character language model."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from flows import paths, plotting
from flows.atomic import atomic_path, read_json, write_json, write_text
from flows.params import TrainSpec, section
from flows.sources.text import builtin_corpus, check_name, decode, fetch_url, read_files
from models.errors import InvalidParameter
from models.text import CharNet, CharWindows, Vocab, char_loss, generate

SOURCES = ("builtin", "files", "url")


def ingest_text(root: Path, cfg: dict) -> Path:
    name = check_name(cfg.get("name", "corpus"))
    source, errors = cfg.get("source", "builtin"), cfg.get("errors", "strict")
    if source == "builtin":
        text, origin = builtin_corpus(), {"source": "builtin", "what": "pydoc_data.topics (CPython help)"}
    elif source == "files":
        text, files = read_files(root, list(cfg.get("paths") or []) or _none("text.ingest.paths"), errors)
        origin = {"source": "files", "files": files}
    elif source == "url":
        data = fetch_url(cfg.get("url") or _none("text.ingest.url"), cfg.get("sha256"),
                         Path(root) / "data" / "cache" / "text", int(cfg.get("max_bytes", 50_000_000)))
        text = decode(data, cfg["url"], errors)
        origin = {"source": "url", "url": cfg["url"], "sha256": cfg.get("sha256")}
    else:
        raise InvalidParameter(f"text.ingest.source must be one of {', '.join(SOURCES)}, got {source!r}.")
    if cfg.get("lowercase", False):
        text = text.lower()
    if not text.strip():
        raise InvalidParameter("the corpus is empty after decoding; give a corpus with some text in it.")
    out = paths.raw_dir(root, "text")
    write_text(out / f"{name}.txt", text)
    write_json(out / f"{name}.meta.json", {**origin, "name": name, "characters": len(text),
                                           "distinct": len(set(text)), "lowercase": bool(cfg.get("lowercase"))})
    return out


def _none(key: str):
    raise InvalidParameter(f"{key} is empty; set it for this source.")


def text_windows(root: Path, params: dict) -> Path:
    """Contiguous split (train first), vocabulary from the train split only, ids for both."""
    name = check_name(section(params, "text", "ingest").get("name", "corpus"))
    cfg = section(params, "text", "windows")
    text = (paths.raw_dir(root, "text") / f"{name}.txt").read_text(encoding="utf-8")
    fraction = float(cfg.get("val_fraction", 0.1))
    if not 0 < fraction < 1:
        raise InvalidParameter(f"text.windows.val_fraction must be between 0 and 1, got {fraction}.")
    cut = int(len(text) * (1 - fraction))
    vocab = Vocab.build(text[:cut])
    train_ids, _ = vocab.encode(text[:cut])
    val_ids, unseen = vocab.encode(text[cut:])
    seq_len, stride = cfg.get("seq_len", 100), cfg.get("stride", 1)
    for part, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < seq_len + 1:
            raise InvalidParameter(f"the {part} split has {len(ids)} characters, fewer than one sequence of "
                                   f"{seq_len} + 1; use a longer corpus or a shorter text.windows.seq_len.")
    out = paths.windows_dir(root, "text")
    for split, ids in (("train", train_ids), ("val", val_ids)):
        with atomic_path(out / f"{split}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, ids.astype(np.int32))
    write_json(out / "vocab.json", {"chars": vocab.chars})
    write_json(out / "spec.json", {"seq_len": seq_len, "stride": stride, "mode": cfg.get("mode", "many_to_many"),
                                   "train_chars": len(train_ids), "val_chars": len(val_ids),
                                   "unseen_in_val": unseen, "vocab_size": len(vocab)})
    if unseen:
        print(f"note: {len(unseen)} character(s) of the validation split never occur in training "
              f"({''.join(unseen)[:40]!r}); they map to the unknown symbol.")
    return out


def load_text(root: Path) -> tuple[CharWindows, CharWindows, Vocab, dict]:
    folder = paths.windows_dir(root, "text")
    spec = read_json(folder / "spec.json")
    many = spec["mode"] == "many_to_many"
    train, val = (CharWindows(np.load(folder / f"{s}.npy").astype(np.int64), spec["seq_len"],
                              spec["stride"] if s == "train" else spec["seq_len"], many) for s in ("train", "val"))
    return train, val, Vocab(read_json(folder / "vocab.json")["chars"]), spec


def build_module(spec: TrainSpec, vocab: Vocab, many_to_many: bool):
    from models.language_model import LanguageModel  # Lightning: only the train stage pays its import

    extras = dict(spec.text)
    net = CharNet(len(vocab), spec.net, int(extras.get("embedding_dim", 64)), bool(extras.get("seed_faithful", False)))
    return LanguageModel(net, spec.optim, many_to_many)


def load_char_net(folder: Path) -> tuple[CharNet, Vocab]:
    """A saved character model (weights_only load) and its vocabulary, from a model folder."""
    from models.config import NetworkConfig

    config = read_json(folder / "config.json")
    vocab = Vocab(read_json(folder / "vocab.json")["chars"])
    net = CharNet(len(vocab), NetworkConfig(**config["net"]), config["embedding_dim"], config["seed_faithful"])
    net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    return net.eval(), vocab


def evaluate_text(root: Path, cell: str, params: dict) -> tuple[dict, dict, list[Path]]:
    """Metrics, generated samples (temperature -> text), and files to log."""
    from flows.stages.evaluate import table_csv

    train, val, _, spec = load_text(root)
    folder = paths.model_dir(root, "text", cell)
    net, vocab = load_char_net(folder)
    many = spec["mode"] == "many_to_many"
    counts = torch.bincount(train.ids, minlength=len(vocab)).double() + 1  # add-one smoothed unigram
    unigram_logp = torch.log(counts / counts.sum())
    model, unigram = [], []
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(val, batch_size=256):
            per_char = char_loss(net, (x, y), many, "none").double().reshape(len(y), -1)  # (windows, targets)
            model.append(per_char.mean(1))
            unigram.append(-unigram_logp[y.reshape(len(y), -1)].mean(1))
    model_nats, unigram_per_window = torch.cat(model).numpy(), torch.cat(unigram).numpy()
    loss, baseline = float(model_nats.mean()), float(unigram_per_window.mean())
    gen = section(params, "text", "evaluate")
    seed_text = gen.get("seed_text") or vocab.decode(val.ids[: spec["seq_len"]].tolist())
    samples = {str(t): generate(net, vocab, seed_text, int(gen.get("length", 500)), float(t),
                                int(gen.get("top_k", 0)), int(gen.get("rng_seed", 1)), spec["seq_len"])
               for t in gen.get("temperatures", [0.8])}
    metrics = {"loss_nats": loss, "bpc": loss / math.log(2), "perplexity": math.exp(loss), "unigram_nats": baseline,
               "skill_vs_unigram": 1 - loss / baseline, "unseen_val_chars": len(spec["unseen_in_val"])}
    table_file = paths.predictions_file(root, "text", cell)
    sample_file = table_file.with_suffix(".samples.json")
    write_text(sample_file, json.dumps({"seed_text": seed_text, "samples": samples}, indent=2, ensure_ascii=False))
    table = {"window": np.arange(len(model_nats)), "unigram_nats": unigram_per_window, "model_nats": model_nats}
    write_text(table_file, table_csv(table))
    picture = plotting.predictions(table, f"text / {cell}: validation loss per sequence (nats/char)",
                                   table_file.with_suffix(".png"))
    return metrics, samples, [sample_file, table_file, picture]
