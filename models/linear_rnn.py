"""A linear recurrence, h_t = W_hh h_{t-1} + W_ih x_t + b: the reference recipe's Keras SimpleRNN(activation="linear").

torch's nn.RNN only has tanh/relu. A Python loop over 500 steps is slow to differentiate, but a
linear recurrence started from h_{-1} = 0 has a closed form for its last state,

    h_{T-1} = sum_k A^k [W_ih | b] [x_{T-1-k}; 1],     A = W_hh,

so many-to-one needs the T matrices A^k [W_ih | b] (built by repeated squaring in log2 T batched
products) and one (batch, T*(F+1)) x (T*(F+1), H) product. Full sequences (stacking,
many-to-many) use the step loop over `unbind`ed inputs: indexing `u[:, t]` inside the loop makes
autograd allocate a full-size zero gradient per step (a 100x slower backward, measured here).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class LinearRNN(nn.Module):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        max_norm: float | None = None,
        init_scale: float = 1.0,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.max_norm = max_norm
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.weight_ih = nn.ParameterList(nn.Parameter(torch.empty(hidden_size, n)) for n in sizes)
        self.weight_hh = nn.ParameterList(
            nn.Parameter(torch.empty(hidden_size, hidden_size)) for _ in range(num_layers)
        )
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(hidden_size)) for _ in range(num_layers))
        for w_ih, w_hh in zip(self.weight_ih, self.weight_hh):
            # Keras' SimpleRNN defaults: glorot-uniform input kernel, orthogonal recurrent kernel.
            nn.init.xavier_uniform_(w_ih)
            nn.init.orthogonal_(w_hh)
            with torch.no_grad():
                w_hh.mul_(init_scale)

    def recurrent_matrix(self, layer: int) -> torch.Tensor:
        """W_hh, rescaled so that its spectral norm is at most max_norm (a no-op while it is)."""
        w = self.weight_hh[layer]
        if self.max_norm is None:
            return w
        norm = torch.linalg.matrix_norm(w, ord=2)
        return w * torch.clamp(self.max_norm / norm, max=1.0)

    def forward(self, x: torch.Tensor, last_only: bool = False, h0: torch.Tensor | None = None,
                return_state: bool = False):
        """x: (batch, time, features) -> (batch, time, hidden), or (batch, hidden) if last_only.

        h0: (layers, batch, hidden), None for zeros; return_state adds h_last in that shape, like nn.RNN:
        the form truncated BPTT carries from chunk to chunk."""
        carry = h0 is not None or return_state
        last = []
        for layer in range(self.num_layers):
            if layer > 0:
                x = self.dropout(x)
            if last_only and not carry and layer == self.num_layers - 1:
                return self._last_state(x, layer)
            x = self._all_states(x, layer, None if h0 is None else h0[layer])
            last.append(x[:, -1])
        return (x, torch.stack(last)) if carry else x

    def _all_states(self, x: torch.Tensor, layer: int, h: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack(self.step_states(x, layer, h), 1)

    def step_states(self, x: torch.Tensor, layer: int, h: torch.Tensor | None = None) -> list[torch.Tensor]:
        """h_t of one layer for t = 0 .. T-1 from h (zeros when None), each (batch, hidden), each the
        tensor step t+1 reads."""
        a_t = self.recurrent_matrix(layer).t()
        u = torch.nn.functional.linear(x, self.weight_ih[layer], self.bias[layer])  # (batch, time, hidden)
        if h is None:
            h = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        states = []
        for u_t in u.unbind(1):
            h = u_t + h @ a_t
            states.append(h)
        return states

    def _last_state(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        batch, steps, features = x.shape
        a = self.recurrent_matrix(layer)
        w = torch.cat([self.weight_ih[layer], self.bias[layer][:, None]], 1)  # (hidden, features+1)
        kernel = w[None]  # (k, hidden, features+1): A^k w for k = 0 .. 2^j - 1
        power = a
        for _ in range(math.ceil(math.log2(steps)) if steps > 1 else 0):
            kernel = torch.cat([kernel, power @ kernel], 0)
            power = power @ power
        kernel = kernel[:steps]
        ones = torch.ones(batch, steps, 1, dtype=x.dtype, device=x.device)
        reversed_inputs = torch.cat([x, ones], 2).flip(1)  # (batch, k, features+1): x_{T-1-k}
        return reversed_inputs.reshape(batch, -1) @ kernel.permute(0, 2, 1).reshape(-1, self.hidden_size)
