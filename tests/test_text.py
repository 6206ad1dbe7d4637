"""Text: corpus sources and their failures, vocabulary, lazy windows, generation determinism, save/reload."""
import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest
import torch

from flows.datasets.text import load_char_net
from flows.datasets.text.corpora import CorpusError, builtin_corpus, check_name, decode, fetch_url, read_files
from flows.stages.ingest import ingest
from flows.stages.windows import make_windows
from models.config import NetworkConfig
from models.errors import InvalidParameter
from models.streams import StreamBlocks
from models.text import UNKNOWN, CharNet, CharWindows, Vocab, dynamic_nats, generate, streamed_nats
from tests.conftest import TINY_CORPUS, tiny_params, write_params, write_tiny_corpus


def test_builtin_corpus_is_offline_english_text():
    text = builtin_corpus()
    assert len(text) > 100_000 and "the" in text


def test_vocabulary_comes_from_the_training_split_and_unseen_characters_are_reported(tmp_path, capsys):
    params = tiny_params(("text",))
    params["text"]["windows"]["val_fraction"] = 0.25
    write_params(tmp_path, params)
    (tmp_path / "data/sources").mkdir(parents=True)
    (tmp_path / "data/sources/tiny.txt").write_text("abcab" * 80 + "xyz" * 20)
    ingest(tmp_path, "text")
    make_windows(tmp_path, "text")
    vocab = Vocab(__import__("json").loads((tmp_path / "data/windows/text/vocab.json").read_text())["chars"])
    assert vocab.chars[:3] == ["a", "b", "c"] and "x" not in vocab.chars and vocab.chars[-1] == UNKNOWN
    assert "never occur in training" in capsys.readouterr().out
    val = np.load(tmp_path / "data/windows/text/val.npy")
    assert (val == vocab.index[UNKNOWN]).sum() > 0


def test_char_windows_equal_slicing_and_stay_lazy():
    ids = np.arange(1000) % 37
    ds = CharWindows(ids, seq_len=20, stride=7)
    assert len(ds) == (1000 - 21) // 7 + 1
    x, y = ds[3]
    np.testing.assert_array_equal(x.numpy(), ids[21:41])
    np.testing.assert_array_equal(y.numpy(), ids[22:42])
    assert x.untyped_storage().data_ptr() == ds.ids.untyped_storage().data_ptr()
    x1, y1 = CharWindows(ids, 20, 1, many_to_many=False)[5]
    assert int(y1) == ids[25]


@pytest.mark.parametrize("data_bytes, fragment", [
    (b"", "is empty"), (b"   \n", "is empty"), (b"\x00\x01PNG\x00", "looks binary"),
    (b"caf\xe9 au lait", "not valid UTF-8"),
])
def test_bad_corpora_give_one_sentence(data_bytes, fragment):
    with pytest.raises(CorpusError) as err:
        decode(data_bytes, "corpus.txt")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_invalid_utf8_can_be_replaced_by_policy():
    assert decode(b"caf\xe9", "c.txt", errors="replace") == "caf\ufffd"


def test_corpus_shorter_than_one_sequence(tmp_path):
    params = tiny_params(("text",))
    params["text"]["windows"]["seq_len"] = 5000
    write_params(tmp_path, params)
    write_tiny_corpus(tmp_path)
    ingest(tmp_path, "text")
    with pytest.raises(InvalidParameter, match="fewer than one sequence of 5000"):
        make_windows(tmp_path, "text")


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x" * 100])
def test_corpus_names_never_become_paths_unchecked(name):
    with pytest.raises(CorpusError, match="not allowed"):
        check_name(name)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(CorpusError, match="no file matches"):
        read_files(tmp_path, ["nope/*.txt"])


@pytest.fixture
def served(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "corpus.txt").write_text(TINY_CORPUS)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()


def test_url_source_checksum_match_is_cached(served, tmp_path):
    base, server = served
    digest = hashlib.sha256(TINY_CORPUS.encode()).hexdigest()
    cache = tmp_path / "cache"
    assert fetch_url(f"{base}/corpus.txt", digest, cache).decode() == TINY_CORPUS
    server.shutdown()  # a second read comes from the cache
    assert fetch_url(f"{base}/corpus.txt", digest, cache, retries=1).decode() == TINY_CORPUS


def test_url_source_checksum_mismatch_and_failures(served, tmp_path):
    base, _ = served
    cache = tmp_path / "cache"
    with pytest.raises(CorpusError, match="not the pinned"):
        fetch_url(f"{base}/corpus.txt", "0" * 64, cache)
    assert not cache.exists() or not any(cache.iterdir())
    with pytest.raises(CorpusError, match="could not download"):
        fetch_url(f"{base}/missing.txt", None, cache, retries=2, backoff_s=0.01)
    with pytest.raises(CorpusError, match="larger than"):
        fetch_url(f"{base}/corpus.txt", None, cache, max_bytes=10)


def tiny_net(vocab_size):
    torch.manual_seed(0)
    return CharNet(vocab_size, NetworkConfig(kind="lstm", hidden_size=12), embedding_dim=6)


def test_generation_is_deterministic_for_a_seed_and_survives_save_and_reload(tmp_path):
    vocab = Vocab.build(TINY_CORPUS)
    net = tiny_net(len(vocab))
    first = generate(net, vocab, "to be", 80, temperature=1.0, rng_seed=5)
    assert first == generate(net, vocab, "to be", 80, temperature=1.0, rng_seed=5)
    assert first != generate(net, vocab, "to be", 80, temperature=1.0, rng_seed=6)
    assert UNKNOWN not in first and len(first) == 80
    torch.save(net.state_dict(), tmp_path / "model.pt")
    import json

    (tmp_path / "config.json").write_text(json.dumps({"net": NetworkConfig(kind="lstm", hidden_size=12).__dict__,
                                                      "embedding_dim": 6, "reference_input": False}))
    (tmp_path / "vocab.json").write_text(json.dumps({"chars": vocab.chars}))
    reloaded, reloaded_vocab = load_char_net(tmp_path)
    assert generate(reloaded, reloaded_vocab, "to be", 80, temperature=1.0, rng_seed=5) == first


def test_top_k_one_is_greedy():
    vocab = Vocab.build(TINY_CORPUS)
    net = tiny_net(len(vocab))
    assert generate(net, vocab, "to", 30, top_k=1, rng_seed=1) == generate(net, vocab, "to", 30, top_k=1, rng_seed=2)


def test_reference_input_model_reads_normalised_ids():
    net = CharNet(20, NetworkConfig(kind="lstm", hidden_size=8), reference_input=True)
    assert net.embed is None and net(torch.randint(0, 20, (3, 11)), many_to_many=False).shape == (3, 20)


@pytest.mark.parametrize("mode, min_chars, raised", [("stateful", 1_000_000, True), ("stateful", 0, False),
                                                     ("many_to_many", 1_000_000, True)])
def test_min_chars_raises_the_epochs_of_a_small_corpus(tmp_path, mode, min_chars, raised):
    """A small corpus gets enough epochs to see min_chars characters; `epochs` stays the floor."""
    from flows.core.params import train_spec
    from flows.datasets import get

    write_tiny_corpus(tmp_path)
    params = tiny_params()
    params["text"]["windows"].update(mode=mode, streams=4, seq_len=20, stride=20)
    cell = params["text"]["train"]["lstm"]
    cell.update(epochs=2, min_chars=min_chars)
    if mode == "stateful":
        cell["tbptt"] = {"k1": 20}
    else:
        cell.pop("tbptt", None)
    write_params(tmp_path, params)
    ingest(tmp_path, "text")
    make_windows(tmp_path, "text")
    plugin = get("text")
    splits = plugin.load(tmp_path)
    per_epoch = splits.train.parts[1].numel() if mode == "stateful" else len(splits.train) * 20
    spec = plugin.budget(train_spec(params, "text", "lstm"), splits)
    assert spec.optim.epochs == max(2, -(-min_chars // per_epoch))
    assert (spec.optim.epochs > 2) == raised
    cell["min_chars"] = -5
    with pytest.raises(InvalidParameter, match="min_chars must be a whole number"):
        plugin.budget(train_spec(params, "text", "lstm"), splits)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dynamic_evaluation_scores_each_character_before_learning_from_it(cell):
    """lr 0 is the static stream; with lr > 0 a changed target moves only its own score among the
    characters up to it (an update before scoring would move its whole segment); weights come back."""
    vocab = Vocab.build(TINY_CORPUS)
    torch.manual_seed(0)
    net = CharNet(len(vocab), NetworkConfig(kind=cell, hidden_size=12), embedding_dim=6)
    ids = torch.as_tensor(vocab.encode(TINY_CORPUS[:200])[0])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    static = streamed_nats(net, StreamBlocks(ids[:-1], ids[1:], 1, block=64))[0]
    assert torch.allclose(dynamic_nats(net, ids, 20, lr=0.0), static, atol=1e-5)
    adapted = dynamic_nats(net, ids, 20, lr=1.0)
    assert not torch.allclose(adapted[20:], static[20:], atol=1e-3)  # it does learn
    assert torch.allclose(adapted[:20], static[:20], atol=1e-5)  # not before the first segment is scored
    p = 50  # the middle of the third segment: the target of position p changes
    changed = ids.clone()
    changed[p + 1] = (changed[p + 1] + 1) % len(vocab)
    other = dynamic_nats(net, changed, 20, lr=1.0)
    assert torch.allclose(other[:p], adapted[:p], atol=1e-6) and not torch.isclose(other[p], adapted[p])
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_dynamic_evaluation_adapts_to_a_repeated_text_and_refuses_impossible_settings():
    vocab = Vocab.build(TINY_CORPUS)
    torch.manual_seed(0)
    net = CharNet(len(vocab), NetworkConfig(kind="lstm", hidden_size=16), embedding_dim=8)
    ids = torch.as_tensor(vocab.encode("to be or not " * 40)[0])
    static = float(streamed_nats(net, StreamBlocks(ids[:-1], ids[1:], 1))[0][-100:].mean())
    assert float(dynamic_nats(net, ids, 13, lr=0.5)[-100:].mean()) < 0.5 * static
    for bad in [{"segment": 0, "lr": 0.1}, {"segment": 5, "lr": -1.0}, {"segment": 5, "lr": 0.1, "decay": 2.0}]:
        with pytest.raises(InvalidParameter, match="dynamic evaluation"):
            dynamic_nats(net, ids, **bad)
