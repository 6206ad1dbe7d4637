"""The model types a forecasting cell can be (its params key `task:`), each declared once, here: what it
needs and how it builds its network and Lightning module (docs/model-types.md).

models/config.py checks a cell against its entry, the forecasting plug-ins offer every registered type,
flows/horizons.py and the train stage's description read it. A new type is one `register(ModelType(...))`
plus its network. This module imports no torch: checking params must not pay for it, so the built-in
entries import their networks only when one is built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from models.errors import InvalidParameter

HEADS = ("point", "gaussian")  # point: MSE on the value; gaussian: mean and variance, Gaussian NLL
DEFAULT = "one_step"  # the seeds' many-to-one, what a cell without `task:` is


def horizon_module(net, optim):
    """The Lightning module of every multi-step net: MSE or Gaussian NLL on what net.fit_outputs returns."""
    from models.forecast_module import HorizonRegressor  # Lightning: only training pays its import

    return HorizonRegressor(net, optim)


@dataclass(frozen=True)
class ModelType:
    name: str
    # NetworkConfig -> nn.Module mapping (batch, time, features) to (batch, horizon, P), P = 1 point, 2 gaussian,
    # with fit_outputs(x, y, training) -> (forecast, targets) for the loss (models.forecasters.Forecaster).
    network: Callable[[Any], Any]
    summary: str  # how it forecasts, a few words (the training run's description)
    module: Callable[[Any, Any], Any] = horizon_module  # (net, OptimConfig) -> the LightningModule training it
    multi_step: bool = True  # forecasts `horizon` steps; False: one step only (horizon must be 1)
    heads: tuple[str, ...] = HEADS
    # With head point it is the seeds' many-to-one net (models.networks.RecurrentNet, trained by
    # models.regression.Regressor, scored by the plug-in's one-step scoring); its `network` is its Gaussian form.
    seed_point: bool = False
    one_way: str | None = None  # why its net may not read the window both ways (refuses bidirectional), or None
    single_feature: str | None = None  # why the series must be its only input feature, or None
    decoder: bool = False  # trained with teacher forcing: scheduled_sampling applies
    weights: bool = False  # net(x, return_weights=True) -> (forecast, attention weights (batch, H, time))


MODEL_TYPES: dict[str, ModelType] = {}  # a live mapping: a plug-in offering it offers types registered later


def register(kind: ModelType) -> ModelType:
    if not (isinstance(kind.name, str) and kind.name.isidentifier() and kind.name.islower()):
        raise InvalidParameter(f"a model type's name must be a lower-case identifier, got {kind.name!r}.")
    if not kind.heads or set(kind.heads) - set(HEADS):
        raise InvalidParameter(f"model type {kind.name} lists heads {kind.heads}; choose among {', '.join(HEADS)}.")
    MODEL_TYPES[kind.name] = kind
    return kind


def model_type(name: str) -> ModelType:
    if name not in MODEL_TYPES:
        raise InvalidParameter(f"task must be one of {', '.join(MODEL_TYPES)}, got {name!r}.")
    return MODEL_TYPES[name]


def names_where(test: Callable[[ModelType], bool]) -> list[str]:
    return [name for name, kind in MODEL_TYPES.items() if test(kind)]


def build_module(net, optim):
    """The LightningModule that trains `net` (built by models.forecasters.build_network from net.cfg)."""
    if not net.cfg.multi_step:
        from models.regression import Regressor

        return Regressor(net, optim)
    return model_type(net.cfg.task).module(net, optim)


# The built-in types. Their networks are in models/forecasters.py, imported when one is built.
def _recursive(cfg):
    from models.forecasters import Recursive

    return Recursive(cfg)


def _synced(cfg):
    from models.forecasters import Synced

    return Synced(cfg)


def _encoder_decoder(cfg):
    from models.forecasters import EncoderDecoder

    return EncoderDecoder(cfg, attend=False)


def _attention(cfg):
    from models.forecasters import EncoderDecoder

    return EncoderDecoder(cfg, attend=True)


FEEDS_BACK = "feeds its forecasts back as inputs"
register(ModelType("one_step", _recursive, "the next value", multi_step=False, seed_point=True))
register(ModelType("recursive", _recursive, "the next value, fed its own forecast back H times",
                   single_feature=FEEDS_BACK))
register(ModelType("synced", _synced, "the H values after every step of the window",
                   one_way="predicts at every step, where a backward direction would read the values it predicts",
                   single_feature=FEEDS_BACK))
register(ModelType("seq2seq", _encoder_decoder, "an encoder-decoder, teacher forcing", decoder=True))
register(ModelType("attention", _attention, "an encoder-decoder with attention, teacher forcing", decoder=True,
                   weights=True))
