"""A vanilla RNN in NumPy with its forward pass and full backpropagation through time, to read next to the maths.

A reference, not a fast path: models/gradcheck.py holds its gradients against torch autograd.
B windows, T steps, F input features, H hidden units, O outputs; x_t is x[:, t], (B, F).

Forward, t = 0 .. T-1, from a learned initial state h_{-1} = h0 (H,):

    a_t = x_t W_xh^T + h_{t-1} W_hh^T + b_h          (B, H)   pre-activation
    h_t = f(a_t)                                      (B, H)   f = tanh | relu | identity (linear)
    many-to-one:  y   = h_{T-1} W_hy^T + b_y          (B, O)
    many-to-many: y_t = h_t W_hy^T + b_y              (B, T, O)
    L = mean((y - target)^2)                          over every element of y

Backward. h_t reaches L along two roads, its own output (many-to-many, or t = T-1) and a_{t+1}:

    g_t  = dL/dy_t W_hy  +  da_{t+1} W_hh             (B, H)   dL/dh_t, the total derivative
    da_t = g_t * f'(a_t)                               (B, H)   f' at step t's OWN pre-activation
    dW_xh += da_t^T x_t      dW_hh += da_t^T h_{t-1}   db_h += sum over the batch of da_t
    dW_hy += dy_t^T h_t      db_y  += sum over the batch of dy_t
    dh0   = sum over the batch of da_0 W_hh

The cosine tutorial's backward had three bugs: f' taken at the wrong time index, a name that was
never defined, and a gradient added to the wrong bias. Each changes a number that
tests/test_reference_rnn.py compares with torch (or, the undefined name, fails the first call).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.errors import InvalidParameter

ACTIVATIONS = ("tanh", "relu", "linear")
NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y", "h0")


def _check_activation(kind: str) -> str:
    if kind not in ACTIVATIONS:
        raise InvalidParameter(f"activation must be one of {', '.join(ACTIVATIONS)}, got {kind!r}.")
    return kind


def activate(a: np.ndarray, kind: str) -> np.ndarray:
    if kind == "tanh":
        return np.tanh(a)
    if kind == "relu":
        return np.maximum(a, 0.0)
    return a


def derivative(a: np.ndarray, kind: str) -> np.ndarray:
    """f'(a), from the pre-activation (relu's kink makes h alone ambiguous at 0)."""
    if kind == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if kind == "relu":
        return (a > 0).astype(a.dtype)
    return np.ones_like(a)


def init_params(features: int, hidden: int, outputs: int = 1, seed: int = 0, scale: float = 1.0) -> dict:
    """float64 weights: Glorot-uniform input and output, W_hh orthogonal times `scale` (> 1 explodes,
    < 1 fades), zero biases and initial state."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((hidden, hidden)))
    return {
        "W_xh": rng.uniform(-1, 1, (hidden, features)) * np.sqrt(6 / (hidden + features)),  # (H, F)
        "W_hh": q * scale,                                                                   # (H, H)
        "b_h": np.zeros(hidden),                                                             # (H,)
        "W_hy": rng.uniform(-1, 1, (outputs, hidden)) * np.sqrt(6 / (hidden + outputs)),   # (O, H)
        "b_y": np.zeros(outputs),                                                            # (O,)
        "h0": np.zeros(hidden),                                                              # (H,)
    }


@dataclass
class Cache:
    """What the backward pass needs from the forward one."""

    x: np.ndarray  # (B, T, F)
    a: np.ndarray  # (B, T, H)    pre-activations a_t
    h: np.ndarray  # (B, T+1, H)  h[:, 0] = h0, h[:, t+1] = h_t
    activation: str
    many_to_many: bool


def forward(params: dict, x: np.ndarray, activation: str = "tanh", many_to_many: bool = False):
    """x: (B, T, F) -> y: (B, O), or (B, T, O) many-to-many; and the cache for `backward`."""
    _check_activation(activation)
    batch, steps, _ = x.shape
    hidden = params["W_hh"].shape[0]
    a = np.empty((batch, steps, hidden), dtype=x.dtype)
    h = np.empty((batch, steps + 1, hidden), dtype=x.dtype)
    h[:, 0] = params["h0"]
    for t in range(steps):
        a[:, t] = x[:, t] @ params["W_xh"].T + h[:, t] @ params["W_hh"].T + params["b_h"]  # (B, H)
        h[:, t + 1] = activate(a[:, t], activation)
    states = h[:, 1:] if many_to_many else h[:, -1]  # (B, T, H) or (B, H)
    y = states @ params["W_hy"].T + params["b_y"]
    return y, Cache(x, a, h, activation, many_to_many)


def mse(y: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean((y - target)^2) and dL/dy, same shape as y."""
    diff = y - target
    return float(np.mean(diff**2)), 2.0 * diff / diff.size


def backward(params: dict, cache: Cache, dy: np.ndarray) -> tuple[dict, np.ndarray]:
    """Full BPTT. dy: dL/dy as `forward` shaped y. Returns the gradient of every parameter (same
    names and shapes) and dL/dh_t for every step, (B, T, H): the gradient-through-time picture."""
    x, a, h = cache.x, cache.a, cache.h
    batch, steps, _ = x.shape
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dh = np.zeros_like(a)  # (B, T, H): dL/dh_t
    if cache.many_to_many:
        dh += dy @ params["W_hy"]                                  # (B, T, O) @ (O, H)
        grads["W_hy"] = np.einsum("bto,bth->oh", dy, h[:, 1:])     # (O, H)
        grads["b_y"] = dy.sum((0, 1))                              # (O,)
    else:
        dh[:, -1] += dy @ params["W_hy"]                           # (B, O) @ (O, H)
        grads["W_hy"] = dy.T @ h[:, -1]
        grads["b_y"] = dy.sum(0)
    da_next = np.zeros((batch, params["W_hh"].shape[0]), dtype=a.dtype)  # dL/da_{t+1}, zero after the end
    for t in reversed(range(steps)):
        dh[:, t] += da_next @ params["W_hh"]                       # the road through a_{t+1}
        da = dh[:, t] * derivative(a[:, t], cache.activation)      # (B, H), f' at a_t
        grads["W_xh"] += da.T @ x[:, t]                            # (H, B) @ (B, F)
        grads["W_hh"] += da.T @ h[:, t]                            # h[:, t] is h_{t-1}
        grads["b_h"] += da.sum(0)
        da_next = da
    grads["h0"] = (da_next @ params["W_hh"]).sum(0)                # da_0 W_hh, summed over the batch
    return grads, dh


def loss_and_grads(params: dict, x: np.ndarray, target: np.ndarray, activation: str = "tanh",
                   many_to_many: bool = False) -> tuple[float, dict, np.ndarray]:
    y, cache = forward(params, x, activation, many_to_many)
    loss, dy = mse(y, target)
    grads, dh = backward(params, cache, dy)
    return loss, grads, dh


class Adam:
    """Adam (Kingma & Ba) on a dict of arrays, in place."""

    def __init__(self, lr: float = 1e-2, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        b1, b2 = self.betas
        for name, g in grads.items():
            m = self.m[name] = b1 * self.m.get(name, 0.0) + (1 - b1) * g
            v = self.v[name] = b2 * self.v.get(name, 0.0) + (1 - b2) * g * g
            params[name] -= self.lr * (m / (1 - b1**self.t)) / (np.sqrt(v / (1 - b2**self.t)) + self.eps)


class SGD:
    def __init__(self, lr: float = 1e-2):
        self.lr = lr

    def step(self, params: dict, grads: dict) -> None:
        for name, g in grads.items():
            params[name] -= self.lr * g


def cosine_windows(points: int = 120, window: int = 12, stop: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """The reference recipe's task, tiny: windows of cos(x) -> the next value; x: (N, window, 1), y: (N, 1)."""
    series = np.cos(np.linspace(1.0, stop, points))
    starts = range(points - window)
    x = np.stack([series[s:s + window] for s in starts])[..., None]
    y = np.array([series[s + window] for s in starts])[:, None]
    return x, y


def train(params: dict, x: np.ndarray, target: np.ndarray, activation: str = "tanh", many_to_many: bool = False,
          steps: int = 200, optimizer=None) -> list[float]:
    """Full-batch gradient descent (Adam by default); the loss before each step, in order."""
    optimizer = optimizer or Adam()
    losses = []
    for _ in range(steps):
        loss, grads, _ = loss_and_grads(params, x, target, activation, many_to_many)
        losses.append(loss)
        optimizer.step(params, grads)
    return losses
