"""Multi-step forecasters (docs/model-types.md; declared in models/model_types.py): every one maps a window
(batch, time, features) to (batch, horizon, P), P = 1 (point) or 2 (Gaussian mean, variance), and says with
fit_outputs what it is trained on. Feature 0 is the forecast series."""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F

from models.config import NetworkConfig
from models.model_types import model_type, resolve
from models.networks import RecurrentNet, all_states, last_state, make_recurrent

MIN_VARIANCE = 1e-6  # softplus(raw) + this: a variance that cannot collapse to 0 (NLL would diverge)


class Forecaster(nn.Module):
    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        self.cfg = cfg
        self.per_step = 2 if cfg.head == "gaussian" else 1

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw head outputs (..., P) -> (mean) or (mean, variance > 0)."""
        if self.per_step == 1:
            return raw
        return torch.stack([raw[..., 0], F.softplus(raw[..., 1]) + MIN_VARIANCE], -1)

    def fit_outputs(self, x: torch.Tensor, y: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """What the loss compares, from a window x and the H values y after it: (forecast (..., P), targets (...)).
        By default the H-step forecast against the H values; a type that learns another signal overrides it."""
        return self(x), y


class Recursive(Forecaster):
    """One-to-many: a one-step model, fed its own forecast (the mean) H times over a sliding window, so
    it always sees windows as long as those it was trained on. Its variance is the one-step variance
    at each step, given the forecast path: it ignores the error fed back, so it is too narrow for h > 1."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__(cfg)
        self.step = RecurrentNet(dataclasses.replace(cfg, task="one_step", horizon=1, head="point",
                                                     output_size=self.per_step))

    def one_step(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.step(x))[:, None]

    def fit_outputs(self, x, y, training):  # trained on the next value only
        return self.one_step(x), y[:, :1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for step in range(self.cfg.horizon):
            out = self.one_step(x)  # (batch, 1, P)
            outputs.append(out)
            if step + 1 < self.cfg.horizon:  # a one-step net with covariates (input_size > 1) never feeds back
                x = torch.cat([x[:, 1:], out[..., :1]], 1)
        return torch.cat(outputs, 1)


class Synced(Forecaster):
    """Many-to-many, synced: at every step t of the window a forecast of the H values after t (char-rnn's
    training signal on a series); the forecast of the window is the last step's. One-directional only."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__(cfg)
        self.body = make_recurrent(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.horizon * self.per_step)

    def every_step(self, x: torch.Tensor) -> torch.Tensor:
        states = all_states(self.body, x)  # (batch, time, hidden)
        raw = self.head(self.dropout(states))
        return self.finish(raw.view(*raw.shape[:2], self.cfg.horizon, self.per_step))  # (batch, time, H, P)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.every_step(x)[:, -1]

    def fit_outputs(self, x, y, training):
        series = torch.cat([x[:, :, 0], y], 1)  # (batch, time + H)
        return self.every_step(x), series[:, 1:].unfold(1, y.shape[1], 1)  # row t: the H values after t


class Attention(nn.Module):
    """Scores of a decoder state against every encoder state: dot (Luong's general form: the query is
    projected to the key size, scaled by sqrt(size)) or additive (Bahdanau: v . tanh(W k + U q))."""

    def __init__(self, kind: str, query_size: int, key_size: int, size: int | None = None):
        super().__init__()
        self.kind = kind
        if kind == "dot":
            self.query = nn.Linear(query_size, key_size, bias=False)
        else:
            size = size or query_size
            self.keys = nn.Linear(key_size, size, bias=False)
            self.query = nn.Linear(query_size, size)
            self.v = nn.Linear(size, 1, bias=False)

    def prepare(self, states: torch.Tensor) -> torch.Tensor:
        """Once per window: what the scores compare the query with."""
        return states if self.kind == "dot" else self.keys(states)

    def forward(self, query, states, keys) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "dot":
            scores = torch.bmm(keys, self.query(query)[:, :, None])[..., 0] / math.sqrt(keys.shape[-1])
        else:
            scores = self.v(torch.tanh(keys + self.query(query)[:, None]))[..., 0]
        weights = torch.softmax(scores, -1)  # (batch, time)
        return torch.bmm(weights[:, None], states)[:, 0], weights


class EncoderDecoder(Forecaster):
    """Seq2seq: the encoder (bidirectional allowed: it reads the past window only) sums the window up,
    a one-layer decoder cell emits H steps, each fed the previous value. Training feeds the true value
    (teacher forcing) except with probability `sampling` (scheduled sampling, set per epoch by the
    module); evaluation feeds back its own forecast. With cfg.future_inputs the window goes on with the
    known covariates of the sessions forecast, and each step also reads its own session's. `attend`
    (AttentionDecoder) adds a context over the encoder states at every decoder step, and
    forward(..., return_weights=True) returns the weights."""

    def __init__(self, cfg: NetworkConfig, attend: bool = False):
        super().__init__(cfg)
        directions = 2 if cfg.bidirectional else 1
        encoded = cfg.hidden_size * directions
        self.encoder = make_recurrent(cfg)
        self.bridge = nn.Linear(encoded, cfg.hidden_size)
        cell = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}.get(cfg.kind)
        steps_in = 1 + cfg.future_inputs  # the previous value, and the forecast session's known covariates
        self.decoder = cell(steps_in, cfg.hidden_size) if cell else nn.RNNCell(
            steps_in, cfg.hidden_size, nonlinearity="relu" if cfg.activation == "relu" else "tanh")
        self.attend = Attention(cfg.attention, cfg.hidden_size, encoded, cfg.attention_size) if attend else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size + (encoded if self.attend else 0), self.per_step)
        self.sampling = 0.0

    def forward(self, x: torch.Tensor, teacher: torch.Tensor | None = None, return_weights: bool = False):
        ahead = self.cfg.future_inputs
        if ahead:  # x goes on for H - 1 rows past the window (models.windows): step k reads row window - 1 + k's
            window = x.shape[1] - (self.cfg.horizon - 1)
            known, x = x[:, window - 1 :, -ahead:], x[:, :window]  # (batch, H, ahead), (batch, window, features)
        states = all_states(self.encoder, x)
        hidden = torch.tanh(self.bridge(last_state(states, self.cfg)))
        state = (hidden, torch.zeros_like(hidden)) if self.cfg.kind == "lstm" else hidden
        keys = self.attend.prepare(states) if self.attend else None
        previous = x[:, -1, :1]
        outputs, weights = [], []
        for step in range(self.cfg.horizon):
            state = self.decoder(torch.cat([previous, known[:, step]], 1) if ahead else previous, state)
            features = state[0] if self.cfg.kind == "lstm" else state
            if self.attend:
                context, w = self.attend(features, states, keys)
                features = torch.cat([features, context], 1)
                weights.append(w)
            out = self.finish(self.head(self.dropout(features)))  # (batch, P)
            outputs.append(out)
            previous = out[:, :1].detach() if teacher is not None else out[:, :1]
            if teacher is not None and self.training:
                truth = torch.rand(len(x), 1, device=x.device) >= self.sampling
                previous = torch.where(truth, teacher[:, step : step + 1], previous)
        result = torch.stack(outputs, 1)
        if return_weights:
            return result, torch.stack(weights, 1) if weights else None  # (batch, H, time)
        return result

    def fit_outputs(self, x, y, training):  # teacher forcing in training; its own forecasts in validation
        return self(x, teacher=y if training else None), y


class AttentionDecoder(EncoderDecoder):
    """Task attention: seq2seq with a context over the encoder states (cfg.attention: dot or additive)."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__(cfg, attend=True)


def build_network(cfg: NetworkConfig) -> nn.Module:
    """The net a cell's config describes: its model type's, or the reference recipes' RecurrentNet for a point
    one-step cell."""
    if not cfg.multi_step:
        return RecurrentNet(cfg)
    return resolve(model_type(cfg.task).network)(cfg)
