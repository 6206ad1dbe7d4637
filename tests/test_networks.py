import pytest
import torch

from models.config import NetworkConfig
from models.errors import InvalidParameter
from models.linear_rnn import LinearRNN
from models.networks import RecurrentNet


@pytest.mark.parametrize("cell, activation", [("rnn", "linear"), ("rnn", "tanh"), ("rnn", "relu"),
                                              ("lstm", "tanh"), ("gru", "tanh")])
@pytest.mark.parametrize("layers", [1, 2])
def test_output_shapes(cell, activation, layers):
    net = RecurrentNet(NetworkConfig(kind=cell, activation=activation, hidden_size=6, num_layers=layers,
                                     input_size=3, output_size=2))
    x = torch.randn(4, 9, 3)  # (batch, time, features)
    assert net(x).shape == (4, 2)
    assert net(x, many_to_many=True).shape == (4, 9, 2)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bidirectional_last_state_reads_both_ends(cell):
    net = RecurrentNet(NetworkConfig(kind=cell, hidden_size=5, bidirectional=True))
    assert net(torch.randn(2, 7, 1)).shape == (2, 1)
    assert net.head.in_features == 10


def test_linear_closed_form_matches_step_loop_in_value_and_gradient():
    torch.manual_seed(0)
    rnn = LinearRNN(2, 16, max_norm=0.99).double()
    x = torch.randn(5, 333, 2, dtype=torch.float64)  # not a power of two: checks the kernel trim
    fast = rnn(x, last_only=True)
    fast_grads = torch.autograd.grad(fast.square().sum(), list(rnn.parameters()))
    slow = rnn(x)[:, -1]
    slow_grads = torch.autograd.grad(slow.square().sum(), list(rnn.parameters()))
    torch.testing.assert_close(fast, slow)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b)


def test_spectral_cap_bounds_the_recurrence():
    rnn = LinearRNN(1, 8, max_norm=1.0)
    with torch.no_grad():
        rnn.weight_hh[0].mul_(5.0)
    assert torch.linalg.matrix_norm(rnn.recurrent_matrix(0), ord=2) <= 1.0 + 1e-5
    uncapped = LinearRNN(1, 8, max_norm=None)
    with torch.no_grad():
        uncapped.weight_hh[0].copy_(rnn.weight_hh[0])
    assert torch.linalg.matrix_norm(uncapped.recurrent_matrix(0), ord=2) > 4.0


@pytest.mark.parametrize("kwargs, fragment", [
    ({"kind": "transformer"}, "kind must be one of"),
    ({"kind": "lstm", "activation": "relu"}, "vanilla rnn kind only"),
    ({"hidden_size": 0}, "hidden_size must be a positive integer"),
    ({"dropout": 1.5}, "dropout must be in"),
])
def test_impossible_network_parameters(kwargs, fragment):
    with pytest.raises(InvalidParameter, match=fragment):
        NetworkConfig(**kwargs)
