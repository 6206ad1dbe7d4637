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
        if not self.cfg.bidirectional:
            return states[:, -1]
        # The backward direction has read the whole sequence at t = 0, the forward one at t = T-1.
        half = self.cfg.hidden_size
        return torch.cat([states[:, -1, :half], states[:, 0, half:]], 1)
