"""Keys renamed for one word per idea still work for a release: `cell:` (the recurrent kind) is `kind:`,
text's `seed_text` is `prompt` and `seed_faithful` is `reference_input`. Each old key says so in one line,
once per process; old and new disagreeing is a one-sentence error; saved models from before still load."""
import json
import pickle

import pytest
import torch

from flows.core import deprecated
from flows.core.params import load_params, train_spec, with_defaults
from flows.datasets import get
from flows.datasets.text import load_char_net
from flows.stages.ingest import ingest
from flows.stages.windows import make_windows
from models.config import NetworkConfig, saved_network
from models.errors import InvalidParameter
from models.text import CharNet, Vocab
from tests.conftest import tiny_params, write_params, write_tiny_corpus


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(deprecated, "_warned", set())


def old_params() -> dict:
    params = tiny_params(("cosine", "text"))
    params["cosine"]["train"]["s2s"] = {"cell": "gru", "task": "seq2seq", "horizon": 5, "hidden_size": 4}
    params["text"]["train"]["lstm"]["seed_faithful"] = True
    params["text"]["evaluate"]["seed_text"] = params["text"]["evaluate"].pop("prompt")
    params["sweeps"] = {"kinds": {"dataset": "cosine", "cell": "lstm",
                                  "space": {"cell": {"type": "categorical", "choices": ["lstm", "gru"]}}}}
    return params


def test_old_keys_are_read_under_their_new_names_with_one_line_each(tmp_path, capsys):
    write_params(tmp_path, old_params())
    for _ in range(2):  # every reader of a run loads params.yaml again: it is said once
        params = load_params(tmp_path)
        assert train_spec(params, "cosine", "s2s").net.kind == "gru"
        assert dict(train_spec(params, "text", "lstm").extras)["reference_input"] is True
    assert params["sweeps"]["kinds"]["space"] == {"kind": {"type": "categorical", "choices": ["lstm", "gru"]}}
    assert params["sweeps"]["kinds"]["cell"] == "lstm"  # a sweep's `cell` names its cell: not renamed
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "rnnops: params.yaml: `cell: gru` under cosine.train.s2s is deprecated, write `kind: gru`",
        "rnnops: params.yaml: `cell: {type: categorical, choices: [lstm, gru]}` under sweeps.kinds.space is "
        "deprecated, write `kind: {type: categorical, choices: [lstm, gru]}`",
        "rnnops: params.yaml: `seed_faithful: true` under text.train.lstm is deprecated, write "
        "`reference_input: true`"]


def test_the_repository_params_use_the_new_names(capsys):
    load_params(".")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("where, old, new", [
    (("cosine", "train", "s2s"), {"cell": "gru"}, {"kind": "lstm"}),
    (("cosine", "train", "defaults"), {"cell": "gru"}, {"kind": "rnn"}),
])
def test_old_and_new_key_disagreeing_is_one_sentence(where, old, new):
    params = old_params()
    dataset, part, cell = where
    params[dataset][part].setdefault(cell, {}).update({**old, **new})
    with pytest.raises(InvalidParameter, match=rf"^params.yaml: {dataset}.{part}.{cell} has both `cell: gru` and "
                                               rf"`kind: {new['kind']}`, and cell is the old name of kind; "
                                               rf"keep only kind.$"):
        with_defaults(params)
    params[dataset][part][cell]["kind"] = "gru"  # the same value twice is only the old spelling
    assert with_defaults(params)[dataset][part][cell]["kind"] == "gru"


def test_text_reads_its_old_prompt_key(tmp_path, capsys):
    params = old_params()
    params["text"]["evaluate"]["seed_text"] = "to be"
    write_tiny_corpus(tmp_path)
    write_params(tmp_path, params)
    ingest(tmp_path, "text")
    make_windows(tmp_path, "text")
    plugin = get("text")
    splits = plugin.load(tmp_path)
    net = CharNet(len(splits.info["vocab"]), NetworkConfig(kind="lstm", hidden_size=4), embedding_dim=3)
    scored = plugin.score(tmp_path, load_params(tmp_path), net, splits, "val")
    assert json.loads(scored.files[".samples.json"])["prompt"] == "to be"
    assert "`seed_text: to be` under text.evaluate is deprecated, write `prompt: to be`" in capsys.readouterr().err


def test_a_model_saved_before_the_rename_loads_with_its_kind(tmp_path):
    assert saved_network({"cell": "gru", "hidden_size": 4}).kind == "gru"
    old = object.__new__(NetworkConfig)  # as an MLflow model pickled before the rename holds it
    old.__dict__.update({("cell" if k == "kind" else k): v for k, v in NetworkConfig(kind="gru").__dict__.items()})
    assert pickle.loads(pickle.dumps(old)).kind == "gru"

    vocab = Vocab.build("to be or not")
    net = CharNet(len(vocab), NetworkConfig(kind="gru", hidden_size=4), reference_input=True)
    torch.save(net.state_dict(), tmp_path / "model.pt")
    (tmp_path / "config.json").write_text(json.dumps({"net": {"cell": "gru", "hidden_size": 4}, "embedding_dim": 64,
                                                      "seed_faithful": True}))
    (tmp_path / "vocab.json").write_text(json.dumps({"chars": vocab.chars}))
    loaded, _ = load_char_net(tmp_path)
    assert loaded.embed is None and loaded.rnn.cfg.kind == "gru"
