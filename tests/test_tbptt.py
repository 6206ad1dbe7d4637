"""Truncated BPTT: the carried state, where gradients stop, the stateful cosine, the Keras-style init."""
import copy

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from flows.core.params import TrainSpec
from flows.datasets.generated import stateful_splits
from flows.training.lightning_fit import fit
from models.config import NetworkConfig, OptimConfig, Tbptt
from models.errors import InvalidParameter
from models.lightning_base import restart_some
from models.networks import RecurrentNet
from models.regression import StreamRegressor
from models.streams import StreamBlocks

CELLS = [("rnn", "linear"), ("rnn", "tanh"), ("lstm", "tanh"), ("gru", "tanh")]


@pytest.mark.parametrize("cell, activation", CELLS)
def test_a_stream_in_chunks_with_the_carried_state_equals_the_whole_stream(cell, activation):
    torch.manual_seed(0)
    net = RecurrentNet(NetworkConfig(kind=cell, activation=activation, hidden_size=6, num_layers=2, input_size=2))
    x = torch.randn(3, 17, 2)
    whole = net(x, many_to_many=True)
    state, parts = None, []
    for chunk in x.split(5, dim=1):
        out, state = net(chunk, many_to_many=True, state=state, return_state=True)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, 1), whole)
    cold = net(x[:, 5:10], many_to_many=True)  # without the carried state the middle chunk differs
    assert not torch.allclose(cold, whole[:, 5:10], atol=1e-4)


class Grads(pl.Callback):
    """Each update's gradients, before clipping (callbacks run before the module's own hook)."""

    def __init__(self):
        self.seen = []

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.seen.append({n: p.grad.clone() for n, p in module.net.named_parameters()})


def manual_grads(net, x, y, k1, k2, update):
    """The truncated gradient of update `update` (0-based), from first principles: outputs
    [update*k1, update*k1 + k1) backpropagated through the k2 steps before their chunk's end."""
    end = (update + 1) * k1
    begin = max(0, end - k2)
    with torch.no_grad():
        _, state = net(x[:, :begin], many_to_many=True, return_state=True) if begin else (None, None)
    net.zero_grad()
    out = net(x[:, begin:end], many_to_many=True, state=state)
    torch.nn.functional.mse_loss(out[:, end - k1 - begin:], y[:, end - k1:end]).backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("k1, k2", [(4, 4), (4, 8)])
def test_each_update_backpropagates_exactly_k2_steps(k1, k2):
    series = np.cos(np.linspace(0, 6, 25)).astype(np.float32)[:, None]
    train = StreamBlocks(series[:-1], series[1:], streams=2)  # 2 streams of 12 steps: 3 updates each epoch
    cfg = NetworkConfig(kind="lstm", hidden_size=5)
    # lr so small that Adam's steps leave float32 weights unchanged: every update sees the initial weights
    optim = OptimConfig(epochs=1, lr=1e-30, clip=None, tbptt=Tbptt(k1, k2))
    grads = Grads()
    spec = TrainSpec(cfg, optim, seed=0, accelerator="cpu")
    module, _ = fit(spec, lambda: StreamRegressor(RecurrentNet(cfg), optim), train, None, [grads], progress_bar=False)
    assert len(grads.seen) == 3
    x, y, _ = train[0]
    net = copy.deepcopy(module.net)
    for update in range(3):
        expected = manual_grads(net, x, y, k1, k2, update)
        for name, grad in grads.seen[update].items():
            torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-7)
    # and the truncation matters: full BPTT through all 12 steps gives another gradient for the last update
    full = manual_grads(net, x, y, k1, 12, 2)
    assert not torch.allclose(full["body.weight_hh_l0"], grads.seen[2]["body.weight_hh_l0"], atol=1e-6)


class Starts(StreamRegressor):
    """Records the state each chunk starts from."""

    def chunk_loss(self, chunk, state, skip):
        self.starts.append(None if state is None else state[0].detach().clone())
        return super().chunk_loss(chunk, state, skip)


@pytest.mark.parametrize("reset", [0.0, 0.999])
def test_reset_restarts_streams_from_a_zero_state(reset):
    series = np.cos(np.linspace(0, 6, 49)).astype(np.float32)[:, None]
    train = StreamBlocks(series[:-1], series[1:], streams=3, block=4)  # 4 blocks of 4 steps a stream
    cfg = NetworkConfig(kind="lstm", hidden_size=5)
    optim = OptimConfig(epochs=1, lr=1e-3, tbptt=Tbptt(4, reset=reset))
    module = Starts(RecurrentNet(cfg), optim)
    module.starts = []
    fit(TrainSpec(cfg, optim, seed=0, accelerator="cpu"), lambda: module, train, None, [], progress_bar=False)
    assert module.starts[0] is None and len(module.starts) == 4
    zero_rows = [int((h.abs().sum((0, 2)) == 0).sum()) for h in module.starts[1:]]
    assert zero_rows == ([3, 3, 3] if reset else [0, 0, 0])


def test_restart_some_zeroes_about_the_chance_of_streams():
    torch.manual_seed(0)
    h, c = torch.ones(2, 10_000, 3), torch.ones(2, 10_000, 3)
    h2, c2 = restart_some((h, c), 0.25)
    zeroed = h2[0, :, 0] == 0
    assert 0.23 < float(zeroed.float().mean()) < 0.27
    assert torch.equal(zeroed, c2[1, :, 2] == 0)  # h and c of a stream restart together, in every layer
    assert torch.equal(restart_some(h, 0.0), h)


def test_the_stateful_cosine_scores_the_windowed_targets():
    series = np.cos(np.linspace(1, 30, 300)).astype(np.float32)
    train, val = stateful_splits(series, {"window": 20, "train": [0, 200], "val": [200, 260], "streams": 2})
    x, y, w = val.parts[0][0], val.parts[1][0], val.parts[2][0]
    np.testing.assert_array_equal(y[w > 0, 0].numpy(), series[220:280])  # the windowed form's val targets
    np.testing.assert_array_equal(x[w > 0, 0].numpy(), series[219:279])  # persistence
    assert train.parts[1].shape == (2, 109, 1) and float(train.parts[1][-1, -1, 0]) == series[218]


def test_keras_init_sets_the_forget_bias_and_orthogonal_recurrences():
    torch.manual_seed(0)
    keras = RecurrentNet(NetworkConfig(kind="lstm", hidden_size=8, input_size=3, init="keras")).body
    default = RecurrentNet(NetworkConfig(kind="lstm", hidden_size=8, input_size=3)).body
    for body, expect in ((keras, True), (default, False)):
        w = body.weight_hh_l0  # (4H, H): orthonormal columns, as Keras' (H, 4H) kernel has orthonormal rows
        assert torch.allclose(w.T @ w, torch.eye(8), atol=1e-5) == expect
        forget = torch.zeros(32)
        forget[8:16] = 1.0
        assert torch.equal(body.bias_ih_l0.detach(), forget) == expect
        assert torch.equal(body.bias_hh_l0.detach(), torch.zeros(32)) == expect
    gru = RecurrentNet(NetworkConfig(kind="gru", hidden_size=8, init="keras")).body
    assert torch.allclose(gru.weight_hh_l0.T @ gru.weight_hh_l0, torch.eye(8), atol=1e-5)
    assert not gru.bias_ih_l0.detach().any()


@pytest.mark.parametrize("make, fragment", [
    (lambda: NetworkConfig(init="glorot"), "init must be one of torch, keras"),
    (lambda: Tbptt(k1=0), "tbptt.k1 must be a positive integer"),
    (lambda: Tbptt(k1=4, k2=6), "tbptt.k2 must be a multiple of k1"),
    (lambda: Tbptt(k1=4, reset=1.0), "tbptt.reset is a probability"),
    (lambda: OptimConfig(tbptt={"k1": 4, "k3": 1}), "unknown key(s) k3"),
    (lambda: OptimConfig(lr_schedule="step"), "lr_schedule must be one of constant, cosine_decay"),
    (lambda: StreamBlocks(np.zeros(10), np.zeros(10), streams=6), "cannot make 6 streams"),
])
def test_impossible_tbptt_parameters_give_one_sentence(make, fragment):
    with pytest.raises(InvalidParameter, match=fragment.replace("(", r"\(").replace(")", r"\)")) as err:
        make()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("formulation, fragment", [
    ("windowed", "cosine.train.lstm.tbptt needs cosine.windows.formulation: stateful"),
    ("sideways", "windows.formulation must be windowed or stateful"),
])
def test_tbptt_on_windows_is_one_sentence(formulation, fragment):
    from flows.datasets import get
    from tests.conftest import tiny_params

    params = tiny_params()
    params["cosine"]["windows"]["formulation"] = formulation
    params["cosine"]["train"]["lstm"]["tbptt"] = {"k1": 10}
    with pytest.raises(InvalidParameter, match=fragment):
        get("cosine").check(params)


def test_the_windows_switch_alone_says_a_dataset_trains_on_streams(tmp_path):
    """One fact, one place: a stateful cell without tbptt trains truncated (k1 50), one with tbptt as it
    says, and a windowed cell never (tbptt stays None whatever the data)."""
    from flows.core.params import train_spec
    from flows.datasets import get
    from flows.stages import ingest, windows
    from models.config import Tbptt
    from tests.conftest import tiny_params, write_params

    plugin = get("cosine")
    for formulation, wanted in (("stateful", {"rnn": Tbptt(k1=10), "lstm": Tbptt(k1=50)}),
                                ("windowed", {"rnn": None, "lstm": None})):
        params = tiny_params()
        params["cosine"]["windows"]["formulation"] = formulation
        if formulation == "stateful":
            params["cosine"]["train"]["rnn"]["tbptt"] = {"k1": 10}  # one cell sets it, the next not
        plugin.check(params)
        root = tmp_path / formulation
        root.mkdir()
        write_params(root, params)
        ingest.ingest(root, "cosine")
        windows.make_windows(root, "cosine")
        for cell, tbptt in wanted.items():
            spec = train_spec(params, "cosine", cell)
            splits = plugin.task_splits(plugin.load(root), spec.net)
            assert plugin.budget(spec, splits).optim.tbptt == tbptt, (formulation, cell)


@pytest.mark.slow  # ~15-50 s on a loaded 2-core machine: train and evaluate stages with MLflow
def test_the_stateful_cosine_trains_through_the_stages_and_beats_persistence(tmp_path, mlflow_uri, monkeypatch):
    import json

    from flows.stages.evaluate import evaluate
    from flows.stages.ingest import ingest
    from flows.stages.train import train
    from flows.stages.windows import make_windows
    from tests.conftest import tiny_params, write_params

    params = tiny_params()
    params["cosine"]["windows"].update(formulation="stateful", streams=2)
    params["cosine"]["train"]["lstm"].update(epochs=12, lr=0.01, init="keras", tbptt={"k1": 20})
    write_params(tmp_path, params)
    monkeypatch.setenv("RNNOPS_PROGRESS_BAR", "0")
    ingest(tmp_path, "cosine")
    make_windows(tmp_path, "cosine")
    summary = train(tmp_path, "cosine", "lstm")
    assert summary["epochs"] == 12
    evaluate(tmp_path, "cosine", "lstm")
    val = json.loads((tmp_path / "metrics/cosine/lstm.json").read_text())["val"]
    assert val["rmse"] < 0.5 * val["persistence_rmse"], val
    history = (tmp_path / "data/models/cosine/lstm/history.csv").read_text().splitlines()
    assert len(history) == 13 and "train/loss" in history[0] and "val/mse" in history[0]


@pytest.mark.slow  # ~20-60 s on a loaded 2-core machine
def test_stateful_text_trains_through_the_stages_and_generates_with_the_carried_state(tmp_path, mlflow_uri,
                                                                                      monkeypatch):
    import json

    from flows.datasets.text import load_char_net
    from flows.stages.evaluate import evaluate
    from flows.stages.ingest import ingest
    from flows.stages.train import train
    from flows.stages.windows import make_windows
    from tests.conftest import tiny_params, write_params, write_tiny_corpus

    params = tiny_params(("text",))
    params["text"]["windows"].update(mode="stateful", streams=4, seq_len=32)
    params["text"]["train"]["lstm"].update(epochs=8, lr_schedule="cosine_decay", init="keras",
                                           tbptt={"k1": 16, "k2": 32}, keep_best=True)
    write_params(tmp_path, params)
    write_tiny_corpus(tmp_path)
    monkeypatch.setenv("RNNOPS_PROGRESS_BAR", "0")
    ingest(tmp_path, "text")
    make_windows(tmp_path, "text")
    train(tmp_path, "text", "lstm")
    evaluate(tmp_path, "text", "lstm")
    val = json.loads((tmp_path / "metrics/text/lstm.json").read_text())["val"]
    assert val["loss_nats"] < 0.5 * val["unigram_loss_nats"], val
    spec = json.loads((tmp_path / "data/windows/text/spec.json").read_text())
    per_epoch = 4 * ((spec["train_chars"] - 1) // 4)  # 4 streams of next-character pairs, the tail dropped
    history = (tmp_path / "data/models/text/lstm/history.csv").read_text().splitlines()
    column = history[0].split(",").index("train/chars_seen")
    assert [float(r.split(",")[column]) for r in history[1:]] == [e * per_epoch for e in range(1, 9)]
    net, _ = load_char_net(tmp_path / "data/models/text/lstm")
    assert net.stateful
    samples = json.loads((tmp_path / "plots/text/lstm.samples.json").read_text())["samples"]
    assert "question" in samples["0.5"] or "nobler" in samples["0.5"], samples  # the corpus' words come back


def test_text_streams_without_tbptt_update_once_per_block(tmp_path):
    from flows.core.params import train_spec
    from flows.datasets import get
    from flows.stages import ingest, windows
    from models.config import Tbptt
    from tests.conftest import tiny_params, write_params, write_tiny_corpus

    params = tiny_params(("text",))
    params["text"]["windows"].update(mode="stateful", streams=2)
    for cell in params["text"]["train"].values():
        (cell or {}).pop("tbptt", None)
    write_params(tmp_path, params)
    write_tiny_corpus(tmp_path)
    ingest.ingest(tmp_path, "text")
    windows.make_windows(tmp_path, "text")
    plugin = get("text")
    spec = train_spec(params, "text", "lstm")
    trained = plugin.budget(spec, plugin.task_splits(plugin.load(tmp_path), spec.net))
    assert trained.optim.tbptt == Tbptt(k1=params["text"]["windows"]["seq_len"])


def test_text_mode_and_tbptt_must_agree():
    from flows.datasets import get
    from tests.conftest import tiny_params

    params = tiny_params(("text",))
    params["text"]["windows"]["mode"] = "stateful"
    for cell in params["text"]["train"].values():
        (cell or {}).pop("tbptt", None)
    get("text").check(params)  # streams without tbptt: one update per seq_len block (next test)
    params["text"]["windows"]["mode"] = "many_to_many"
    params["text"]["train"]["lstm"]["tbptt"] = {"k1": 8}
    with pytest.raises(InvalidParameter, match="text.train.lstm.tbptt needs text.windows.mode: stateful"):
        get("text").check(params)
