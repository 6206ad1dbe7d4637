"""Gradients through time: ||dL/dh_t|| at every step t of a window, for a trained network.

nn.RNN/LSTM/GRU return h_t for every step, but their recurrence runs inside one operator: the
gradient w.r.t. that output tensor holds only the road from h_t to the head, not the road through
h_{t+1}. So the probe runs the same module one step at a time, feeding each step the last layer's
h_t it hands out, and differentiates the loss w.r.t. those tensors: the total derivative, the
quantity that vanishes (contractive recurrences) or explodes (an unguarded linear W_hh with norm > 1).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from models.errors import InvalidParameter
from models.linear_rnn import LinearRNN
from models.networks import RecurrentNet


def last_layer_states(body: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The last layer's h_t, t = 0 .. T-1, each (batch, hidden) and each the very tensor step t+1 reads."""
    if isinstance(body, LinearRNN):
        for layer in range(body.num_layers - 1):
            x = torch.stack(body.step_states(x, layer), 1)
        return body.step_states(x, body.num_layers - 1)
    if getattr(body, "bidirectional", False):
        raise InvalidParameter("gradients through time need a one-directional network; set "
                               "evaluate.gradients: false for a bidirectional cell.")
    lstm = isinstance(body, nn.LSTM)
    state, found = None, []
    for x_t in x.unbind(1):
        _, state = body(x_t[:, None], state)
        h, c = state if lstm else (state, None)  # (layers, batch, hidden)
        top = h[-1]
        found.append(top)
        h = torch.cat([h[:-1], top[None]])  # step t+1 reads `top` itself, so dL/d(top) is the total derivative
        state = (h, c) if lstm else h
    return found


def _head_loss(net: RecurrentNet, states: list[torch.Tensor], y: torch.Tensor, many_to_many: bool,
               classes: bool) -> torch.Tensor:
    """The summed loss over the windows (each window's gradient is its own, not divided by the batch)."""
    out = net.head(net.dropout(torch.stack(states, 1) if many_to_many else states[-1]))
    if classes:
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="sum")
    return nn.functional.mse_loss(out.reshape(y.shape), y, reduction="sum")


def _inner(net: nn.Module) -> RecurrentNet:
    rnet = next((m for m in net.modules() if isinstance(m, RecurrentNet)), None)
    if rnet is None:
        raise InvalidParameter(f"gradients through time need a recurrent network, not {type(net).__name__}; "
                               f"set evaluate.gradients: false.")
    return rnet


def state_gradient_norms(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """||dL/dh_t||_2 of the last recurrent layer for every window and step, (batch, T).

    net: a RecurrentNet, or a model around one (the character model). Float targets: MSE on the
    head's output, many-to-one for y (batch, outputs), many-to-many for y (batch, T, outputs).
    Integer targets: cross-entropy over classes, many-to-many for y (batch, T), else y (batch,).
    Runs on a float64 copy of the net with dropout off; the net itself is left as it was."""
    net = copy.deepcopy(net).double().eval()  # float64: a fading gradient stays visible long after float32 hits 0
    x = x.double() if torch.is_floating_point(x) else x
    classes = not torch.is_floating_point(y)
    y = y if classes else y.double()
    rnet, seen = _inner(net), []
    many = y.dim() == (2 if classes else 3)

    def catch(module, args):  # float64 on the way in too (the reference_input character model casts ids to float32)
        seen.append(args[0].double())
        return (seen[-1], *args[1:])

    rnet.register_forward_pre_hook(catch)
    with torch.enable_grad():
        if rnet is not net:  # what the outer model feeds its RecurrentNet (a character model's embeddings),
            net(x, many_to_many=many)  # caught on its way in: the model's own code encodes the input
        states = last_layer_states(rnet.body, seen[0] if seen else x)
        grads = torch.autograd.grad(_head_loss(rnet, states, y, many, classes), states, allow_unused=True)
    norms = [torch.zeros(len(x)) if g is None else g.detach().norm(dim=-1) for g in grads]
    return torch.stack(norms, 1).double().numpy()
