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
    trainer = fit(NetworkConfig(kind="rnn", activation="linear", hidden_size=16, recurrent_max_norm=1.0),
                  OptimConfig(epochs=15, batch_size=32, lr=0.01), cosine())
    m = trainer.callback_metrics
    assert float(m["val/mse"]) < 1e-3
    assert float(m["val/rmse"]) == pytest.approx(float(m["val/mse"]) ** 0.5, rel=1e-5)
    assert "train/grad_norm" in m


def test_divergence_stops_with_one_sentence():
    pl.seed_everything(0)
    series = cosine() * 1e3
    with pytest.raises(TrainingDiverged) as err:
        fit(NetworkConfig(kind="rnn", activation="linear", hidden_size=16, recurrent_init_scale=3.0),
            OptimConfig(epochs=3, batch_size=32, lr=1.0, clip=None), series)
    message = str(err.value)
    assert "diverged at epoch 1" in message and "\n" not in message


def test_the_run_says_what_keeps_the_linear_rnn_stable():
    from models.config import stability_note

    def note(optim=None, **net):
        return stability_note(NetworkConfig(**net), optim or OptimConfig())

    guarded = note(kind="rnn", activation="linear", recurrent_max_norm=1.0)
    assert "spectral norm of W_hh capped at 1.0" in guarded and "gradient norm clipped at 1.0" in guarded
    bare = note(OptimConfig(clip=None), kind="rnn", activation="linear")
    assert "NO cap on W_hh" in bare and "no gradient clipping" in bare
    assert note(kind="lstm") is None and note(kind="rnn", activation="tanh") is None


def test_validation_stops_training_early_and_the_best_epoch_is_kept():
    from flows.core.params import TrainSpec
    from flows.training.lightning_fit import KeepBest, fit

    train = WindowDataset(cosine(), 20)
    noise = WindowDataset(torch.randn(150, generator=torch.Generator().manual_seed(0)).numpy(), 20)
    spec = TrainSpec(NetworkConfig(kind="gru", hidden_size=8),
                     OptimConfig(epochs=60, batch_size=32, lr=0.02, patience=2, keep_best=True), seed=0)
    module, trainer = fit(spec, lambda: Regressor(RecurrentNet(spec.net), spec.optim), train, noise,
                          progress_bar=False)
    keep = next(c for c in trainer.callbacks if isinstance(c, KeepBest))
    assert trainer.current_epoch < 60 and keep.epoch == trainer.current_epoch - 2  # patience 2 after the best
    with torch.no_grad():  # the weights it ends with are the best epoch's, not the last
        x, y = zip(*(noise[i] for i in range(len(noise))))
        final = torch.nn.functional.mse_loss(module.net(torch.stack(x)), torch.stack(y)).item()
    assert final == pytest.approx(keep.best, rel=1e-5)
