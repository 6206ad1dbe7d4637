"""The NumPy reference RNN's BPTT against torch autograd on the same float64 weights.

tanh and relu run through torch's own nn.RNN (an independent forward pass as well as autograd);
torch has no linear nn.RNN, so the linear recurrence is a plain torch loop that autograd
differentiates. The error of a parameter is ||g_numpy - g_torch|| / max(||g_numpy||, ||g_torch||).
"""
from __future__ import annotations

import numpy as np
import torch

from models import reference_rnn as ref

MODES = {"many_to_one": False, "many_to_many": True}


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def torch_loss_and_grads(params: dict, x: np.ndarray, target: np.ndarray, activation: str,
                         many_to_many: bool) -> tuple[float, np.ndarray, dict]:
    """The same model in torch: loss, outputs and autograd's gradient of every reference parameter."""
    t = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    xs = torch.tensor(x)
    batch = xs.shape[0]
    h0 = t["h0"].expand(1, batch, -1).contiguous()  # (layers, B, H); expand's backward sums over the batch
    if activation == "linear":
        h, states = h0[0], []
        for x_t in xs.unbind(1):
            h = x_t @ t["W_xh"].T + h @ t["W_hh"].T + t["b_h"]
            states.append(h)
        states = torch.stack(states, 1)
    else:
        rnn = torch.nn.RNN(x.shape[2], params["W_hh"].shape[0], nonlinearity=activation, batch_first=True,
                           dtype=torch.float64)
        weights = {"weight_ih_l0": t["W_xh"], "weight_hh_l0": t["W_hh"], "bias_ih_l0": t["b_h"],
                   "bias_hh_l0": torch.zeros_like(t["b_h"])}  # torch's two biases add up to our one
        states, _ = torch.func.functional_call(rnn, weights, (xs, h0))
    y = torch.nn.functional.linear(states if many_to_many else states[:, -1], t["W_hy"], t["b_y"])
    loss = torch.nn.functional.mse_loss(y, torch.tensor(target))
    loss.backward()
    return float(loss.detach()), y.detach().numpy(), {name: value.grad.numpy() for name, value in t.items()}


def compare(activation: str, many_to_many: bool, batch: int = 3, steps: int = 9, features: int = 2,
            hidden: int = 5, outputs: int = 2, seed: int = 0, backward=ref.backward) -> dict[str, float]:
    """Relative error of the loss, the outputs and every parameter's gradient, NumPy vs torch
    (`backward`: the reference's, or a deliberately broken one in the tests)."""
    rng = np.random.default_rng(seed + 1)
    params = ref.init_params(features, hidden, outputs, seed=seed, scale=1.1)
    params["b_h"] = rng.normal(0, 0.3, hidden)  # non-zero everywhere: a gradient added to the wrong
    params["b_y"] = rng.normal(0, 0.3, outputs)  # bias, or taken at the wrong step, cannot cancel out
    params["h0"] = rng.normal(0, 0.5, hidden)
    x = rng.normal(size=(batch, steps, features))
    target = rng.normal(size=(batch, steps, outputs) if many_to_many else (batch, outputs))
    y, cache = ref.forward(params, x, activation, many_to_many)
    loss, dy = ref.mse(y, target)
    grads, _ = backward(params, cache, dy)
    t_loss, t_y, t_grads = torch_loss_and_grads(params, x, target, activation, many_to_many)
    return {"loss": relative_error(np.array(loss), np.array(t_loss)), "outputs": relative_error(y, t_y),
            **{name: relative_error(grads[name], t_grads[name]) for name in ref.NAMES}}


def gradcheck(tolerance: float = 1e-6, **sizes) -> dict:
    """Every activation x {many-to-one, many-to-many}; `passed` when every error is below `tolerance`."""
    results = {act: {mode: compare(act, flag, **sizes) for mode, flag in MODES.items()} for act in ref.ACTIVATIONS}
    worst = max(e for modes in results.values() for errors in modes.values() for e in errors.values())
    return {"tolerance": tolerance, "max_relative_error": worst, "passed": worst < tolerance, "errors": results}
