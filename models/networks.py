"""One recurrent network for RNN, LSTM and GRU, chosen by a string (like Darts' RNNModel)."""
from __future__ import annotations

import torch
from torch import nn

from models.config import NetworkConfig
from models.linear_rnn import LinearRNN


def make_recurrent(cfg: NetworkConfig) -> nn.Module:
    if cfg.cell == "rnn" and cfg.activation == "linear":
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
    if cfg.cell == "rnn":
        return nn.RNN(nonlinearity=cfg.activation, **kwargs)
    return (nn.LSTM if cfg.cell == "lstm" else nn.GRU)(**kwargs)


class RecurrentNet(nn.Module):
    """Recurrent body + dropout + linear head; many-to-one by default, many-to-many on request."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        self.cfg = cfg
        self.body = make_recurrent(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        directions = 2 if cfg.bidirectional else 1
        self.head = nn.Linear(cfg.hidden_size * directions, cfg.output_size)

    def forward(self, x: torch.Tensor, many_to_many: bool = False) -> torch.Tensor:
        """x: (batch, time, features) -> (batch, output) or, many_to_many, (batch, time, output)."""
        if isinstance(self.body, LinearRNN):
            states = self.body(x, last_only=not many_to_many)  # (batch, hidden) or (batch, time, hidden)
        else:
            states, _ = self.body(x)  # (batch, time, hidden * directions)
            if not many_to_many:
                states = self._last(states)
        return self.head(self.dropout(states))

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
