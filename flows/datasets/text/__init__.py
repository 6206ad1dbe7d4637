"""text: a character-level language model (the reference recipe: lower-cased text, sorted vocabulary, sequences of 100,
LSTM + softmax), scored in nats per character against a unigram baseline, with generated samples."""
from __future__ import annotations

import dataclasses
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from flows.core import paths
from flows.core.atomic import read_json
from flows.core.deprecated import renamed
from flows.core.params import section
from flows.datasets.base import (
    Dataset,
    Headline,
    Option,
    Scored,
    Splits,
    Unscorable,
    Verb,
    check_tbptt_needs_streams,
    truncated_on_streams,
)
from flows.datasets.text.corpora import ERRORS, builtin_corpus, check_name, decode, fetch_url, read_files
from models.config import NetworkConfig, from_mapping, saved_network
from models.errors import InvalidParameter
from models.significance import against_baselines
from models.streams import StreamBlocks
from models.text import CharNet, CharWindows, Vocab, char_loss, streamed_nats
from models.text import generate as sample_text  # `generate` is this package's verb module

SOURCES = ("builtin", "files", "url")
MODES = ("many_to_many", "many_to_one", "stateful")


@dataclass(frozen=True)
class IngestConfig:
    source: str = "builtin"
    name: str = "corpus"
    paths: list = field(default_factory=list)
    url: str | None = None
    sha256: str | None = None
    max_bytes: int = 50_000_000
    errors: str = "strict"
    lowercase: bool = False

    def __post_init__(self):
        check_name(self.name)
        if self.source not in SOURCES:
            raise InvalidParameter(f"text.ingest.source must be one of {', '.join(SOURCES)}, got {self.source!r}.")
        if self.errors not in ERRORS:
            raise InvalidParameter(f"text.ingest.errors must be one of {', '.join(ERRORS)}, got {self.errors!r}.")


@dataclass(frozen=True)
class WindowConfig:
    seq_len: int = 100
    stride: int = 1
    val_fraction: float = 0.1
    mode: str = "many_to_many"
    streams: int = 32  # stateful: the splits as this many parallel streams (the batch), state carried

    def __post_init__(self):
        for key in ("seq_len", "stride", "streams"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) <= 0:
                raise InvalidParameter(f"text.windows.{key} must be a positive integer, got {getattr(self, key)!r}.")
        if self.mode not in MODES:
            raise InvalidParameter(f"text.windows.mode must be one of {', '.join(MODES)}, got {self.mode!r}.")
        if not 0 < self.val_fraction < 1:
            raise InvalidParameter(f"text.windows.val_fraction must be between 0 and 1, got {self.val_fraction}.")


def ingest_config(params: dict) -> IngestConfig:
    return from_mapping(IngestConfig, section(params, "text", "ingest"), "text.ingest")


def window_config(params: dict) -> WindowConfig:
    return from_mapping(WindowConfig, section(params, "text", "windows"), "text.windows")


def _required(value, key: str):
    if not value:
        raise InvalidParameter(f"{key} is empty; set it for this source.")
    return value


class CharacterText(Dataset):
    name = "text"
    headline = Headline("loss_nats", "unigram", "validation loss (nats/char)")
    columns = (("bpc", "bits/char"), ("perplexity", "perplexity"), ("unseen_val_chars", "unseen val chars"))
    train_keys = ("embedding_dim", "reference_input", "min_chars")
    renamed_keys = {"train": {"seed_faithful": "reference_input"}, "evaluate": {"seed_text": "prompt"}}
    plot_roles = {"x": "window", "real": None, "model": "model_nats", "baselines": ["unigram_nats"],
                  "ylabel": "nats/char per sequence"}
    # The reference recipe: LSTM(256) + Dropout(0.2) + softmax, Adam, batch 128 (its epochs are not part of it).
    reference_recipe = {"lstm": {"hidden_size": 256, "num_layers": 1, "dropout": 0.2, "batch_size": 128, "lr": 0.001}}
    verbs = (Verb("generate", "generate text from the champion character model or a model folder",
                  "flows.datasets.text.generate", (
                      Option("--prompt", "--seed-text", required=True,
                             help="what generation starts from (--seed-text is its old name, deprecated)"),
                      Option("--length", type=int, default=500),
                      Option("--temperature", type=float, default=0.8),
                      Option("--top-k", type=int, default=0, help="0 samples from the whole vocabulary"),
                      Option("--rng-seed", type=int, default=1),
                      Option("--checkpoint", help="a data/models/text/<cell> folder instead of "
                                                  "models:/rnnops-text@champion")), per_dataset=False),)

    def check(self, params):
        ingest_config(params)
        check_tbptt_needs_streams(params, "text", "mode", window_config(params).mode == "stateful")

    def stage_params(self, stage):
        if stage == "windows":  # the corpus file is named after text.ingest.name
            return ["text.ingest.name", "text.windows"]
        return super().stage_params(stage)

    def source_files(self, params):
        cfg = ingest_config(params)
        return [p for p in cfg.paths if not any(ch in p for ch in "*?[")] if cfg.source == "files" else []

    def ingest(self, root, params, out):
        cfg = ingest_config(params)
        if cfg.source == "builtin":
            text, origin = builtin_corpus(), {"source": "builtin", "what": "pydoc_data.topics (CPython help)"}
        elif cfg.source == "files":
            text, files = read_files(root, list(_required(cfg.paths, "text.ingest.paths")), cfg.errors)
            origin = {"source": "files", "files": files}
        else:
            data = fetch_url(_required(cfg.url, "text.ingest.url"), cfg.sha256,
                             Path(root) / "data" / "cache" / "text", int(cfg.max_bytes))
            text, origin = decode(data, cfg.url, cfg.errors), {"source": "url", "url": cfg.url, "sha256": cfg.sha256}
        if cfg.lowercase:
            text = text.lower()
        if not text.strip():
            raise InvalidParameter("the corpus is empty after decoding; give a corpus with some text in it.")
        out.write_text(f"{cfg.name}.txt", text)
        out.write_json(f"{cfg.name}.meta.json", {**origin, "name": cfg.name, "characters": len(text),
                                                  "distinct": len(set(text)), "lowercase": cfg.lowercase})

    def windows(self, root, params, out):
        """Contiguous split (train first), vocabulary from the train split only, ids for both."""
        name = check_name(section(params, "text", "ingest", "name"))
        cfg = window_config(params)
        text = (paths.raw_dir(root, self.name) / f"{name}.txt").read_text(encoding="utf-8")
        cut = int(len(text) * (1 - cfg.val_fraction))
        vocab = Vocab.build(text[:cut])
        train_ids, _ = vocab.encode(text[:cut])
        val_ids, unseen = vocab.encode(text[cut:])
        for part, ids in (("training", train_ids), ("validation", val_ids)):
            if len(ids) < cfg.seq_len + 1:
                raise InvalidParameter(f"the {part} split has {len(ids)} characters, fewer than one sequence of "
                                       f"{cfg.seq_len} + 1; use a longer corpus or a shorter text.windows.seq_len.")
        for split, ids in (("train", train_ids), ("val", val_ids)):
            out.save_npy(f"{split}.npy", ids.astype(np.int32))
        out.write_json("vocab.json", {"chars": vocab.chars})
        out.write_json("spec.json", {"seq_len": cfg.seq_len, "stride": cfg.stride, "mode": cfg.mode,
                                     "streams": cfg.streams,
                                     "train_chars": len(train_ids), "val_chars": len(val_ids),
                                     "unseen_in_val": unseen, "vocab_size": len(vocab)})
        if unseen:
            print(f"note: {len(unseen)} character(s) of the validation split never occur in training "
                  f"({''.join(unseen)[:40]!r}); they map to the unknown symbol.")

    def load(self, root):
        folder = paths.windows_dir(root, self.name)
        spec = read_json(folder / "spec.json")
        vocab = Vocab(read_json(folder / "vocab.json")["chars"])
        ids = {s: np.load(folder / f"{s}.npy").astype(np.int64) for s in ("train", "val")}
        if spec["mode"] == "stateful":
            train, val = (stream_split(ids[s], spec) for s in ("train", "val"))
        else:
            many = spec["mode"] == "many_to_many"
            train, val = (CharWindows(ids[s], spec["seq_len"], spec["stride"] if s == "train" else spec["seq_len"],
                                      many) for s in ("train", "val"))
        return Splits(train, val, None, {"window": spec["seq_len"], "vocab": vocab, "spec": spec})

    def budget(self, spec, splits):
        """min_chars: train on at least that many characters, so that a small corpus (Othello, ~150k) gets
        the epochs the default profile needs to write words; never fewer than `epochs`. Streams without a
        tbptt of the cell's own update once per block of seq_len characters."""
        if isinstance(splits.train, StreamBlocks):
            spec = truncated_on_streams(spec, splits, int(splits.info["spec"]["seq_len"]))
        wanted = dict(spec.extras).get("min_chars")
        if wanted is None:
            return spec
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0:
            raise InvalidParameter(f"text.train.<cell>.min_chars must be a whole number of characters, got "
                                   f"{wanted!r}; e.g. 1500000.")
        train = splits.train
        per_epoch = train.parts[1].numel() if isinstance(train, StreamBlocks) else len(train) * train.seq_len
        epochs = max(spec.optim.epochs, math.ceil(wanted / per_epoch))
        return dataclasses.replace(spec, optim=dataclasses.replace(spec.optim, epochs=epochs))

    def build_module(self, spec, splits):
        from models.language_model import LanguageModel  # Lightning: only training pays its import

        return LanguageModel(self.network(len(splits.info["vocab"]), spec.net, dict(spec.extras)), spec.optim,
                             splits.info["spec"]["mode"] != "many_to_one")

    @staticmethod
    def network(vocab_size: int, net: NetworkConfig, extras: dict) -> CharNet:
        return CharNet(vocab_size, net, int(extras.get("embedding_dim", 64)),
                       bool(extras.get("reference_input", False)))

    def model_files(self, splits):  # stateful: generation carries the state, as training did
        return {"vocab.json": {"chars": splits.info["vocab"].chars,
                               "stateful": splits.info["spec"]["mode"] == "stateful"}}

    def input_example(self, splits):
        return splits.val[0][0][:1] if isinstance(splits.val, StreamBlocks) else super().input_example(splits)

    def load_network(self, folder):
        net, _ = load_char_net(folder)
        return net

    def splits_for_saved(self, splits, folder):
        """A model reads ids of its own vocabulary: on a corpus with another one its scores mean nothing."""
        splits = super().splits_for_saved(splits, folder)
        saved = read_json(Path(folder) / "vocab.json")
        if Vocab(saved["chars"]).chars != splits.info["vocab"].chars:
            raise Unscorable("it was trained on another character vocabulary than the corpus now has")
        if bool(saved.get("stateful", False)) != (splits.info["spec"]["mode"] == "stateful"):
            raise Unscorable(f"it was trained {'with' if saved.get('stateful') else 'without'} carried state, the "
                             f"corpus is now windowed as {splits.info['spec']['mode']}")
        return splits

    def score(self, root, params, net, splits, split):
        windows, vocab, spec = getattr(splits, split), splits.info["vocab"], splits.info["spec"]
        stateful = spec["mode"] == "stateful"
        train_ids = splits.train.parts[1].reshape(-1) if stateful else splits.train.ids
        counts = torch.bincount(train_ids, minlength=len(vocab)).double() + 1  # add-one smoothed unigram
        unigram_logp = torch.log(counts / counts.sum())
        if stateful:  # every character from its stream's state, averaged per seq_len stretch for the table
            targets = windows.parts[1]
            stretch = min(spec["seq_len"], targets.shape[1])
            usable = targets.shape[1] // stretch * stretch
            model_nats = streamed_nats(net, windows)[:, :usable].double().reshape(-1, stretch).mean(1).numpy()
            unigram_nats = -unigram_logp[targets[:, :usable]].reshape(-1, stretch).mean(1).numpy()
        else:
            model_nats, unigram_nats = windowed_nats(net, windows, unigram_logp, spec["mode"] == "many_to_many")
        loss, baseline = float(model_nats.mean()), float(unigram_nats.mean())
        metrics = {"loss_nats": loss, "bpc": loss / math.log(2), "perplexity": math.exp(loss),
                   "unigram_loss_nats": baseline, "unseen_val_chars": len(spec["unseen_in_val"]),
                   # validation windows and stream stretches are disjoint: no overlap to declare; the carried
                   # state's dependence is what the test's own estimate takes in
                   **against_baselines(model_nats, {"unigram": unigram_nats}, loss, {"unigram": baseline})}
        gen = renamed(section(params, "text", "evaluate"), self.renamed_keys["evaluate"], "text.evaluate")
        first = windows.parts[0][0] if stateful else windows.ids
        prompt = gen.get("prompt") or vocab.decode(first[: spec["seq_len"]].tolist())
        samples = {str(t): sample_text(net, vocab, prompt, int(gen.get("length", 500)), float(t),
                                    int(gen.get("top_k", 0)), int(gen.get("rng_seed", 1)), spec["seq_len"], stateful)
                   for t in gen.get("temperatures", [0.8])}
        table = {"window": np.arange(len(model_nats)), "unigram_nats": unigram_nats, "model_nats": model_nats}
        return Scored(metrics, table, self.plot_roles,
                      {".samples.json": json.dumps({"prompt": prompt, "samples": samples}, indent=2,
                                                   ensure_ascii=False)})

    def report_html(self, root, cell):
        path = paths.predictions_file(root, self.name, cell).with_suffix(".samples.json")
        if not path.exists():
            return ""
        found = read_json(path)
        parts = [f"<h2>{html.escape(cell)}: samples from the prompt {html.escape(repr(found['prompt'][-60:]))}</h2>"]
        parts += [f"<h3>temperature {t}</h3><pre>{html.escape(text)}</pre>" for t, text in found["samples"].items()]
        return "".join(parts)


def load_char_net(folder: Path) -> tuple[CharNet, Vocab]:
    """A saved character model (weights_only load) and its vocabulary, from a model folder; `net.stateful`
    says whether it was trained on streams (generation then carries the state)."""
    config = read_json(Path(folder) / "config.json")
    saved = read_json(Path(folder) / "vocab.json")
    vocab = Vocab(saved["chars"])
    extras = {CharacterText.renamed_keys["train"].get(k, k): v for k, v in config.items()}  # saved before a rename
    net = CharacterText.network(len(vocab), saved_network(config["net"]), extras)
    net.load_state_dict(torch.load(Path(folder) / "model.pt", weights_only=True))
    net.stateful = bool(saved.get("stateful", False))
    return net.eval(), vocab


def stream_split(ids: np.ndarray, spec: dict) -> StreamBlocks:
    """A split as parallel streams of next-character pairs, served seq_len steps at a time; a split too short
    for `streams` streams of two blocks gets fewer streams."""
    streams = max(1, min(spec["streams"], (len(ids) - 1) // (2 * spec["seq_len"])))
    return StreamBlocks(ids[:-1], ids[1:], streams, block=spec["seq_len"])


@torch.no_grad()
def windowed_nats(net: CharNet, windows: CharWindows, unigram_logp: torch.Tensor, many: bool):
    """Mean nats per window of the model and of the unigram baseline, each window read from a zero state."""
    model, unigram = [], []
    for x, y in torch.utils.data.DataLoader(windows, batch_size=256):
        model.append(char_loss(net, (x, y), many, "none").double().reshape(len(y), -1).mean(1))
        unigram.append(-unigram_logp[y.reshape(len(y), -1)].mean(1))
    return torch.cat(model).numpy(), torch.cat(unigram).numpy()


DATASET = CharacterText()
