"""Real Lightning training of the regressor: learning, divergence stop, clipping telemetry."""
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from models.config import NetworkConfig, OptimConfig
from models.errors import TrainingDiverged
from models.networks import RecurrentNet
from models.regression import Regressor
from models.windows import WindowDataset


def fit(net_cfg, optim, series, window=20):
    ds = WindowDataset(series, window)
    module = Regressor(RecurrentNet(net_cfg), optim)
    trainer = pl.Trainer(max_epochs=optim.epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, DataLoader(ds, batch_size=optim.batch_size, shuffle=True), DataLoader(ds, batch_size=64))
    return trainer


def cosine(n=400):
    return torch.cos(torch.linspace(1, 30, n)).numpy()


def test_linear_rnn_learns_the_cosine_recurrence():
    pl.seed_everything(0)
    trainer = fit(NetworkConfig(cell="rnn", activation="linear", hidden_size=16, recurrent_max_norm=1.0),
                  OptimConfig(epochs=15, batch_size=32, lr=0.01), cosine())
    m = trainer.callback_metrics
    assert float(m["val/mse"]) < 1e-3
    assert float(m["val/rmse"]) == pytest.approx(float(m["val/mse"]) ** 0.5, rel=1e-5)
    assert "train/grad_norm" in m


def test_divergence_stops_with_one_sentence():
    pl.seed_everything(0)
    series = cosine() * 1e3
    with pytest.raises(TrainingDiverged) as err:
        fit(NetworkConfig(cell="rnn", activation="linear", hidden_size=16, recurrent_init_scale=3.0),
            OptimConfig(epochs=3, batch_size=32, lr=1.0, clip=None), series)
    message = str(err.value)
    assert "diverged at epoch 1" in message and "\n" not in message


def test_the_run_says_what_keeps_the_linear_rnn_stable():
    from models.config import stability_note

    def note(optim=None, **net):
        return stability_note(NetworkConfig(**net), optim or OptimConfig())

    guarded = note(cell="rnn", activation="linear", recurrent_max_norm=1.0)
    assert "spectral norm of W_hh capped at 1.0" in guarded and "gradient norm clipped at 1.0" in guarded
    bare = note(OptimConfig(clip=None), cell="rnn", activation="linear")
    assert "NO cap on W_hh" in bare and "no gradient clipping" in bare
    assert note(cell="lstm") is None and note(cell="rnn", activation="tanh") is None
