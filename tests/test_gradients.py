"""Gradients through time: the probe equals BPTT, shows vanishing and exploding, and the training trace
records the gradient norm before and after clipping."""
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from flows.orchestration.preflight import check_all
from flows.scoring.gradient_probe import gradient_config, probe, summary
from flows.training.grad_norm_trace import grad_curves, grad_trace_csv
from models import reference_rnn as ref
from models.config import NetworkConfig, OptimConfig
from models.errors import InvalidParameter
from models.gradients import state_gradient_norms
from models.networks import RecurrentNet
from models.regression import Regressor
from models.text import CharNet
from models.windows import WindowDataset
from tests.conftest import tiny_params


def reference_of(net: RecurrentNet) -> dict:
    """The torch net's weights under the reference's names (torch's two biases are one sum)."""
    body = net.body
    if net.cfg.activation == "linear":
        w_xh, w_hh, b_h = body.weight_ih[0], body.weight_hh[0], body.bias[0]
    else:
        w_xh, w_hh, b_h = body.weight_ih_l0, body.weight_hh_l0, body.bias_ih_l0 + body.bias_hh_l0
    weights = {"W_xh": w_xh, "W_hh": w_hh, "b_h": b_h, "W_hy": net.head.weight, "b_y": net.head.bias}
    return {**{k: v.detach().numpy().copy() for k, v in weights.items()}, "h0": np.zeros(net.cfg.hidden_size)}


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
@pytest.mark.parametrize("many_to_many", [False, True])
def test_the_probe_equals_the_reference_bptt(activation, many_to_many):
    torch.manual_seed(0)
    net = RecurrentNet(NetworkConfig(kind="rnn", activation=activation, hidden_size=6, input_size=2)).double()
    x = torch.randn(4, 15, 2, dtype=torch.float64)
    y = torch.randn(4, 15, 1, dtype=torch.float64) if many_to_many else torch.randn(4, 1, dtype=torch.float64)
    found = state_gradient_norms(net, x, y)
    _, _, dh = ref.loss_and_grads(reference_of(net), x.numpy(), y.numpy(), activation, many_to_many)
    # The reference's loss is the mean over every target, the probe's the sum over windows (each window's own).
    expected = np.linalg.norm(dh, axis=-1) * y.numel()
    assert found.shape == (4, 15)
    np.testing.assert_allclose(found, expected, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_probe_is_the_total_derivative_in_a_stacked_network(cell):
    """Two layers: nudge the top layer's h_t along the probe's gradient and rerun the rest of the window."""
    torch.manual_seed(1)
    net = RecurrentNet(NetworkConfig(kind=cell, hidden_size=5, num_layers=2, input_size=1)).double().eval()
    x, y = torch.randn(1, 12, 1, dtype=torch.float64), torch.randn(1, 1, dtype=torch.float64)
    from models.gradients import last_layer_states

    states = last_layer_states(net.body, x)
    loss = torch.nn.functional.mse_loss(net.head(states[-1]), y, reduction="sum")
    grads = torch.autograd.grad(loss, states)
    norms = state_gradient_norms(net, x, y)[0]
    np.testing.assert_allclose(norms, [g.norm().item() for g in grads], rtol=1e-12)

    def loss_with_nudge(t: int, delta: torch.Tensor) -> float:
        state = None
        with torch.no_grad():
            for step, x_t in enumerate(x.unbind(1)):
                out, state = net.body(x_t[:, None], state)
                if step == t:
                    h = state[0] if cell == "lstm" else state
                    h = torch.cat([h[:-1], (h[-1] + delta)[None]])
                    state = (h, state[1]) if cell == "lstm" else h
                    out = h[-1][:, None]
            return float(torch.nn.functional.mse_loss(net.head(out[:, -1]), y, reduction="sum"))

    for t in (0, 5, 11):
        direction = grads[t] / grads[t].norm()
        eps = 1e-6
        slope = (loss_with_nudge(t, eps * direction) - loss_with_nudge(t, -eps * direction)) / (2 * eps)
        assert slope == pytest.approx(norms[t], rel=1e-5, abs=1e-12), (t, slope, norms[t])


def test_vanishing_for_gated_and_tanh_cells_exploding_for_the_unguarded_linear_rnn():
    x = torch.cos(torch.linspace(0, 20, 101))[:-1].reshape(1, 100, 1).repeat(2, 1, 1)
    ratios = {}
    for name, cfg in {**{cell: NetworkConfig(kind=cell, hidden_size=16) for cell in ("rnn", "lstm", "gru")},
                      "linear unguarded": NetworkConfig(kind="rnn", activation="linear", hidden_size=16,
                                                        recurrent_init_scale=1.1),
                      "linear guarded": NetworkConfig(kind="rnn", activation="linear", hidden_size=16,
                                                      recurrent_init_scale=1.1, recurrent_max_norm=1.0)}.items():
        torch.manual_seed(2)
        y = torch.ones(2, 1) * 5  # a loss far from 0 at t = T, so dL/dh_T is not tiny
        ratios[name] = summary(state_gradient_norms(RecurrentNet(cfg), x, y))["first_over_last"]
    for name in ("rnn", "lstm", "gru"):
        assert ratios[name] < 1e-3, ratios
    assert ratios["linear unguarded"] > 1e3, ratios  # 1.1^99: the gradient grows backwards through time
    assert 1e-3 < ratios["linear guarded"] < 1.01, ratios  # spectral norm <= 1: it cannot grow


def test_the_character_model_is_probed_through_its_embedding():
    torch.manual_seed(3)
    net = CharNet(11, NetworkConfig(kind="lstm", hidden_size=8), embedding_dim=4)
    ids = torch.randint(0, 11, (3, 20))
    many = state_gradient_norms(net, ids, torch.randint(0, 11, (3, 20)))
    one = state_gradient_norms(net, ids, torch.randint(0, 11, (3,)))
    assert many.shape == one.shape == (3, 20) and np.isfinite(many).all() and (many > 0).all()
    assert one[:, -1].mean() > one[:, 0].mean()  # one target at the end: the signal fades going back
    assert net.training and next(net.parameters()).dtype == torch.float32  # left as found
    faithful = CharNet(11, NetworkConfig(kind="gru", hidden_size=8), reference_input=True)  # the scaled id as input
    assert np.isfinite(state_gradient_norms(faithful, ids, torch.randint(0, 11, (3,)))).all()


def test_a_long_fade_stays_visible_in_float64():
    torch.manual_seed(4)
    net = RecurrentNet(NetworkConfig(kind="lstm", hidden_size=8))
    norms = state_gradient_norms(net, torch.randn(1, 600, 1), torch.ones(1, 1)).mean(0)
    assert 0 < norms[0] < 1e-40 < norms[-1]  # below float32's smallest number, yet not zero


def test_probe_spreads_over_the_validation_windows():
    series = np.cos(np.linspace(0, 30, 300))
    windows = WindowDataset(series, 20, range(100, 250))
    net = RecurrentNet(NetworkConfig(kind="gru", hidden_size=4))
    assert probe(net, windows, 5).shape == (5, 20)
    assert probe(net, WindowDataset(series, 20, range(100, 103)), 8).shape == (3, 20)


@pytest.mark.parametrize("evaluate, message", [
    ({"gradients": "yes"}, "cosine.evaluate.gradients must be true or false"),
    ({"gradients": True, "gradient_windows": 0}, "cosine.evaluate.gradient_windows must be a positive integer"),
])
def test_impossible_settings_are_one_sentence(evaluate, message):
    params = tiny_params()
    params["cosine"]["evaluate"].update(evaluate)
    with pytest.raises(InvalidParameter, match=message):
        check_all(params, ["cosine"])
    params["cosine"]["evaluate"].update(gradients=False, gradient_windows=3)
    assert gradient_config(params, "cosine").gradient_windows == 3


@pytest.mark.parametrize("clip", [0.05, None])
def test_training_traces_every_step_before_and_after_clipping(clip):
    pl.seed_everything(0)
    ds = WindowDataset(np.cos(np.linspace(1, 30, 200)), 20)
    net = RecurrentNet(NetworkConfig(kind="gru", hidden_size=8))
    module = Regressor(net, OptimConfig(epochs=2, lr=0.01, clip=clip))
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, DataLoader(ds, batch_size=30), DataLoader(ds, batch_size=64))
    trace = module.grad_trace
    assert [row[0] for row in trace] == list(range(1, 2 * 6 + 1)) and {row[1] for row in trace} == {1, 2}
    pre, post = np.array([row[2] for row in trace]), np.array([row[3] for row in trace])
    if clip is None:
        np.testing.assert_array_equal(pre, post)
    else:
        assert (pre > clip).any() and post.max() <= clip * (1 + 1e-5)
        np.testing.assert_allclose(post, np.minimum(pre, clip), rtol=1e-5)
    m = trainer.callback_metrics
    assert float(m["train/grad_norm"]) == pytest.approx(pre[6:].max())
    assert float(m["train/grad_norm_clipped"]) == pytest.approx(post[6:].max())
    assert grad_trace_csv(trace).splitlines()[0] == "step,epoch,pre_clip,post_clip"


def test_long_traces_reach_mlflow_as_block_maxima():
    trace = [(s, 1, 1.0 + (s == 1234) * 99.0, 1.0) for s in range(1, 2501)]
    curves = grad_curves(trace, points=1000)
    pre = curves["train_step/grad_norm"]
    assert len(pre) == 834 and pre[-1][0] == 2500  # blocks of 3 steps
    assert max(v for _, v in pre) == 100.0 and dict(pre)[1236] == 100.0  # the spike survives (block 1234-1236)
    assert grad_curves(trace[:10])["train_step/grad_norm_clipped"] == [(s, 1.0) for s in range(1, 11)]


def test_the_probe_skips_what_it_cannot_follow_instead_of_failing_evaluate():
    from models.forecasters import build_network

    series = np.cos(np.linspace(0, 20, 200)).astype(np.float32)
    windows = WindowDataset(series, 20, range(10), horizon=5)
    net = build_network(NetworkConfig(kind="gru", hidden_size=4, task="recursive", horizon=5))
    assert probe(net, windows, 4) is None
