"""`rnnops generate`: text from the champion character model (or a model folder)."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from flows import tracking
from flows.datasets.text import load_char_net
from models.text import generate


def generate_text(root: Path, prompt: str, length: int, temperature: float, top_k: int, rng_seed: int,
                  model_dir: str | None = None, dataset: str = "text") -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(model_dir) if model_dir else tracking.champion_weights(root, dataset, Path(tmp))["dir"]
        net, vocab = load_char_net(folder)
    _, unseen = vocab.encode(prompt)
    if unseen:
        print(f"note: {len(unseen)} character(s) of the prompt are not in the model's vocabulary "
              f"({''.join(unseen)!r}); they were replaced by the unknown symbol.", file=sys.stderr)
    return generate(net, vocab, prompt, length, temperature, top_k, rng_seed, stateful=net.stateful)


def main(root: Path, dataset: str, args) -> int:
    """The `rnnops generate` verb (declared in CharacterText.verbs)."""
    print(generate_text(root, args.prompt, args.length, args.temperature, args.top_k, args.rng_seed,
                        args.checkpoint, dataset))
    return 0
