"""The model types of models/forecasters.py: shapes, no target leakage, teacher forcing, params checks."""
import dataclasses

import numpy as np
import pytest
import torch

from flows.core.params import train_spec
from flows.datasets.base import Splits, horizon_splits
from flows.scoring.horizons import seasonal_naive
from models.config import NetworkConfig
from models.errors import InvalidParameter
from models.forecasters import EncoderDecoder, build_network
from models.windows import WindowDataset
from tests.conftest import tiny_params

H, W = 6, 15
TYPES = [  # (task, head, bidirectional): every type, each encoder that may read the window both ways
    ("one_step", "gaussian", False), ("recursive", "point", True), ("recursive", "gaussian", False),
    ("synced", "point", False), ("synced", "gaussian", False), ("seq2seq", "point", True),
    ("seq2seq", "gaussian", False), ("attention", "point", True), ("attention", "gaussian", False)]


def net_for(task, head, bidirectional, cell="gru", attention="dot"):
    torch.manual_seed(0)
    cfg = NetworkConfig(kind=cell, hidden_size=8, task=task, head=head, horizon=1 if task == "one_step" else H,
                        bidirectional=bidirectional, attention=attention)
    return build_network(cfg).eval()


@pytest.mark.parametrize("task,head,bidirectional", TYPES)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_type_maps_a_window_to_horizon_steps_and_a_positive_variance(task, head, bidirectional, cell):
    net = net_for(task, head, bidirectional and cell != "rnn", cell)
    out = net(torch.randn(5, W, 1))
    assert out.shape == (5, net.cfg.horizon, 2 if head == "gaussian" else 1)
    if head == "gaussian":
        assert (out[..., 1] > 0).all()


@pytest.mark.parametrize("attention", ["dot", "additive"])
def test_attention_weights_are_a_distribution_over_the_window_per_forecast_step(attention):
    net = net_for("attention", "point", True, attention=attention)
    out, weights = net(torch.randn(4, W, 1), return_weights=True)
    assert out.shape == (4, H, 1) and weights.shape == (4, H, W)
    assert torch.allclose(weights.sum(-1), torch.ones(4, H)) and (weights >= 0).all()


def test_attention_size_sets_the_width_of_the_additive_scoring_layer_alone():
    torch.manual_seed(0)
    cfg = NetworkConfig(kind="gru", hidden_size=8, task="attention", horizon=H, attention="additive",
                        attention_size=3)
    net = build_network(cfg).eval()
    assert net.attend.keys.weight.shape == (3, 8) and net.attend.v.weight.shape == (1, 3)
    out, weights = net(torch.randn(4, W, 1), return_weights=True)
    assert out.shape == (4, H, 1) and torch.allclose(weights.sum(-1), torch.ones(4, H))
    assert net_for("attention", "point", False, attention="additive").attend.v.weight.shape == (1, 8)  # default


def test_windows_index_arithmetic_inputs_end_before_the_first_target():
    series = np.arange(100, dtype=np.float32)
    data = WindowDataset(series, W, range(3, 40), horizon=H)
    x, y = data[0]
    assert x[:, 0].tolist() == list(range(3, 3 + W)) and y.tolist() == list(range(3 + W, 3 + W + H))
    assert data.target_matrix()[5].tolist() == data[5][1].tolist()
    assert data.last_inputs()[0] == 3 + W - 1


def test_no_training_target_is_a_validation_target_and_every_target_exists():
    series = np.arange(200, dtype=np.float32)
    splits = Splits(WindowDataset(series, W, range(0, 100)), WindowDataset(series, W, range(100, 185)))
    moved = horizon_splits(splits, H)
    train_targets = moved.train.target_matrix()
    val_targets = moved.val.target_matrix()
    assert train_targets.max() < val_targets.min()  # the train split ends H - 1 windows early
    assert train_targets.max() == val_targets.min() - 1  # ... and not earlier
    assert val_targets.max() == series[-1]  # the last window's last target is the last value


@pytest.mark.parametrize("task,head,bidirectional", TYPES)
def test_the_target_never_enters_the_input(task, head, bidirectional):
    """Changing every value from the first target on leaves the forecast alone; changing the last input
    value moves it (so the check can see a leak)."""
    net = net_for(task, head, bidirectional)
    series = np.cos(np.linspace(0, 12, 80)).astype(np.float32)
    start = 30
    future = series.copy()
    future[start + W:] += 5.0  # targets and beyond
    past = series.copy()
    past[start + W - 1] += 1.0  # the last input value
    forecast = {}
    for name, values in (("base", series), ("future", future), ("past", past)):
        x, _ = WindowDataset(values, W, range(start, start + 1), horizon=net.cfg.horizon)[0]
        forecast[name] = net(x[None])
    assert torch.equal(forecast["base"], forecast["future"])
    assert not torch.allclose(forecast["base"], forecast["past"])


def test_a_synced_forecast_at_step_t_reads_no_later_step():
    net = net_for("synced", "point", False)
    x = torch.randn(1, W, 1)
    later = x.clone()
    later[:, 8:] += 3.0
    before, after = net.every_step(x), net.every_step(later)
    assert torch.equal(before[:, :8], after[:, :8]) and not torch.allclose(before[:, 8:], after[:, 8:])


def test_teacher_forcing_feeds_the_truth_in_training_and_scheduled_sampling_replaces_it():
    net: EncoderDecoder = net_for("seq2seq", "point", False)
    x, teacher = torch.randn(3, W, 1), torch.randn(3, H)
    other = teacher.clone()
    other[:, 2] += 4.0  # the truth fed at step 4
    net.train()
    net.dropout.p = 0.0
    forced = net(x, teacher=teacher), net(x, teacher=other)
    assert torch.equal(forced[0][:, :3], forced[1][:, :3]) and not torch.allclose(forced[0][:, 3], forced[1][:, 3])
    net.sampling = 1.0  # always its own forecast: the truth is never read
    assert torch.equal(net(x, teacher=teacher), net(x, teacher=other))
    net.sampling = 0.0
    net.eval()  # evaluation never reads the truth, whatever the sampling
    assert torch.equal(net(x, teacher=teacher), net(x))


def test_a_recursive_forecast_feeds_its_own_forecast_into_a_window_of_the_trained_length():
    net = net_for("recursive", "point", False)
    x = torch.randn(2, W, 1)
    path = net(x)
    first = net.one_step(x)
    second = net.one_step(torch.cat([x[:, 1:], first], 1))
    assert torch.equal(path[:, :1], first) and torch.equal(path[:, 1:2], second)


@pytest.mark.parametrize("change,message", [
    ({"task": "one_step", "horizon": 5}, "set horizon: 1"),
    ({"task": "synced", "horizon": 5, "bidirectional": True}, "set bidirectional: false"),
    ({"task": "recursive", "horizon": 5, "scheduled_sampling": 0.5}, "applies to the decoder tasks"),
    ({"task": "seq2seq", "horizon": 5, "scheduled_sampling": 1.5}, "must be in [0, 1]"),
    ({"task": "forecast"}, "task must be one of"),
    ({"head": "laplace"}, "head must be one of"),
    ({"task": "attention", "horizon": 5, "attention": "cosine"}, "attention must be one of"),
    ({"task": "attention", "horizon": 5, "attention_size": 8}, "remove attention_size or set task: attention and "
                                                                 "attention: additive"),
    ({"task": "attention", "horizon": 5, "attention": "additive", "attention_size": 0}, "positive integer or null"),
])
def test_impossible_task_params_say_which_key_to_fix(change, message):
    with pytest.raises(InvalidParameter, match=message.replace("[", r"\[").replace("]", r"\]")):
        NetworkConfig(**change)


def test_a_freely_named_cell_needs_its_kind_and_text_offers_no_forecasting_task():
    params = tiny_params()
    params["cosine"]["train"]["lstm_s2s"] = {"hidden_size": 4, "task": "seq2seq", "horizon": 5}
    with pytest.raises(InvalidParameter, match="needs a key kind: rnn | lstm | gru"):
        train_spec(params, "cosine", "lstm_s2s")
    params["cosine"]["train"]["lstm_s2s"]["kind"] = "lstm"
    spec = train_spec(params, "cosine", "lstm_s2s")
    assert (spec.net.kind, spec.net.task, spec.net.horizon) == ("lstm", "seq2seq", 5)
    params["text"]["train"]["gru"]["task"] = "synced"
    with pytest.raises(InvalidParameter, match="text offers task one_step with head point only"):
        train_spec(params, "text", "gru")
    with pytest.raises(InvalidParameter, match="cell name"):
        train_spec(params, "cosine", "../lstm")


def test_seasonal_naive_repeats_the_last_observed_period():
    series = np.arange(60, dtype=np.float32)
    data = WindowDataset(series, 10, range(20, 22), horizon=7)
    naive = seasonal_naive(data, 3)
    # the first window's targets are rows 30..36; the last period seen is rows 27, 28, 29
    assert naive[0].tolist() == [27, 28, 29, 27, 28, 29, 27]
    assert dataclasses.is_dataclass(Splits)
