"""One recurrent network for RNN, LSTM and GRU, chosen by a string (like Darts' RNNModel)."""
from __future__ import annotations

import torch
from torch import nn

from models.config import NetworkConfig
from models.linear_rnn import LinearRNN


def make_recurrent(cfg: NetworkConfig) -> nn.Module:
    if cfg.kind == "rnn" and cfg.activation == "linear":
        return LinearRNN(
            cfg.input_size,
            cfg.hidden_size,
            cfg.num_layers,
            dropout=cfg.dropout,
            max_norm=cfg.recurrent_max_norm,
            init_scale=cfg.recurrent_init_scale,
        )
    kwargs = dict(
        input_size=cfg.input_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        bidirectional=cfg.bidirectional,
        batch_first=True,
    )
    if cfg.kind == "rnn":
        return nn.RNN(nonlinearity=cfg.activation, **kwargs)
    return (nn.LSTM if cfg.kind == "lstm" else nn.GRU)(**kwargs)


@torch.no_grad()
def keras_init(module: nn.Module) -> None:
    """Keras' defaults on torch layers: Glorot-uniform input and head kernels, orthogonal recurrent kernels,
    zero biases, LSTM forget-gate bias 1 (unit_forget_bias). Each (gates*H, n) matrix is initialised whole,
    as Keras does its (n, gates*H) kernel. The linear RNN already starts this way (its own init)."""
    for name, p in module.named_parameters():
        if isinstance(module, LinearRNN):
            return
        if name.startswith("weight_hh"):
            nn.init.orthogonal_(p)
        elif name.startswith("weight"):
            nn.init.xavier_uniform_(p)
        elif name.startswith("bias"):
            p.zero_()
            if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                hidden = p.shape[0] // 4
                p[hidden : 2 * hidden] = 1.0  # torch's gate order is input, forget, cell, output


class RecurrentNet(nn.Module):
    """Recurrent body + dropout + linear head; many-to-one by default, many-to-many on request."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        self.cfg = cfg
        self.body = make_recurrent(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        directions = 2 if cfg.bidirectional else 1
        self.head = nn.Linear(cfg.hidden_size * directions, cfg.output_size)
        if cfg.init == "keras":
            keras_init(self.body)
            nn.init.xavier_uniform_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, many_to_many: bool = False, state=None, return_state: bool = False):
        """x: (batch, time, features) -> (batch, output) or, many_to_many, (batch, time, output).

        state: the recurrent state to start from (None: zeros), as the body returns it with return_state
        (an (h, c) pair for LSTM, else h of (layers * directions, batch, hidden)); truncated BPTT carries it."""
        if isinstance(self.body, LinearRNN):
            if state is None and not return_state:  # the closed form for the last state (no h0)
                states = self.body(x, last_only=not many_to_many)  # (batch, hidden) or (batch, time, hidden)
                return self.head(self.dropout(states))
            states, state = self.body(x, h0=state, return_state=True)
            states = states if many_to_many else states[:, -1]
        else:
            states, state = self.body(x, state)  # (batch, time, hidden * directions)
            if not many_to_many:
                states = self._last(states)
        out = self.head(self.dropout(states))
        return (out, state) if return_state else out

    def _last(self, states: torch.Tensor) -> torch.Tensor:
        return last_state(states, self.cfg)


def all_states(body: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(batch, time, hidden * directions): the top layer's state at every step."""
    return body(x, last_only=False) if isinstance(body, LinearRNN) else body(x)[0]


def last_state(states: torch.Tensor, cfg: NetworkConfig) -> torch.Tensor:
    """The summary of the whole window: the last step's state (both directions' ends when bidirectional)."""
    if not cfg.bidirectional:
        return states[:, -1]
    # The backward direction has read the whole sequence at t = 0, the forward one at t = T-1.
    half = cfg.hidden_size
    return torch.cat([states[:, -1, :half], states[:, 0, half:]], 1)
