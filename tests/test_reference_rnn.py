"""The NumPy reference RNN: its BPTT equals torch autograd, it trains, and the tutorial's bugs cannot hide."""
import dataclasses
import json

import numpy as np
import pytest

from flows.cli import main
from models import reference_rnn as ref
from models.gradcheck import MODES, compare, gradcheck

TOLERANCE = 1e-6


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("activation", ref.ACTIVATIONS)
def test_gradients_match_torch_autograd(activation, mode):
    errors = compare(activation, MODES[mode])
    assert set(errors) == {"loss", "outputs", *ref.NAMES}
    assert max(errors.values()) < TOLERANCE, errors


def wrong_time_index(params, cache, dy):
    """The tutorial's bug: f' taken at the previous step's pre-activation."""
    return ref.backward(params, dataclasses.replace(cache, a=np.roll(cache.a, 1, axis=1)), dy)


def wrong_bias(params, cache, dy):
    """The tutorial's bug: the hidden bias's gradient also lands on the output bias."""
    grads, dh = ref.backward(params, cache, dy)
    grads["b_y"] = grads["b_y"] + grads["b_h"][: len(grads["b_y"])]
    return grads, dh


def no_recurrent_road(params, cache, dy):
    """One-step truncation in disguise: dL/dh_t without the road through a_{t+1}."""
    return ref.backward({**params, "W_hh": np.zeros_like(params["W_hh"])}, cache, dy)


@pytest.mark.parametrize("activation", ["tanh", "relu"])  # linear's f' is 1 at every step: no index to get wrong
@pytest.mark.parametrize("mode", list(MODES))
def test_the_seeds_bugs_cannot_hide(activation, mode):
    for broken, name in ((wrong_time_index, "W_hh"), (wrong_bias, "b_y"), (no_recurrent_road, "W_hh")):
        errors = compare(activation, MODES[mode], backward=broken)
        assert errors[name] > 1e-3, (broken.__name__, errors)


@pytest.mark.parametrize("activation", ["tanh", "linear"])
def test_trains_on_a_tiny_cosine(activation):
    x, y = ref.cosine_windows()
    params = ref.init_params(1, 8, 1, seed=3, scale=0.9)
    losses = ref.train(params, x, y, activation, steps=150, optimizer=ref.Adam(lr=0.02))
    assert losses[-1] < 0.05 * losses[0], losses[::25]
    sgd = ref.train(ref.init_params(1, 8, 1, seed=3, scale=0.9), x, y, activation, steps=150,
                    optimizer=ref.SGD(lr=0.05))
    assert sgd[-1] < 0.5 * sgd[0], sgd[::25]


def test_gradcheck_command_prints_errors_and_fails_above_the_tolerance(capsys):
    assert main(["gradcheck"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["passed"] and set(found["errors"]) == set(ref.ACTIVATIONS)
    assert set(found["errors"]["relu"]) == set(MODES)
    assert main(["gradcheck", "--tolerance", "1e-18"]) == 1  # float64 rounding is above that
    assert not json.loads(capsys.readouterr().out)["passed"]


def test_gradcheck_reports_the_worst_error():
    found = gradcheck(steps=4, hidden=3)
    worst = max(e for modes in found["errors"].values() for errs in modes.values() for e in errs.values())
    assert found["max_relative_error"] == worst < TOLERANCE
