"""The model types a forecasting cell can be (its params key `task:`), each declared once, here: what it
needs and how it builds its network and Lightning module (docs/model-types.md).

models/config.py checks a cell against its entry, the forecasting plug-ins offer every registered type,
flows/scoring/horizons.py and the train stage's description read it. A new type is one `register(ModelType(...))`
plus its network. Entries name their classes as "module:attribute" targets (hydra's `_target_`, and as
flows/datasets names its plug-ins), imported when a net is built: config imports this module, the nets
import config, and checking params must not pay for torch. flows/graph/dvc_yaml.py counts a target as an import.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from models.errors import InvalidParameter

HEADS = ("point", "gaussian")  # point: MSE on the value; gaussian: mean and variance, Gaussian NLL
DEFAULT = "one_step"  # the reference recipes' many-to-one, what a cell without `task:` is
Target = str | Callable  # "package.module:attribute", or the class / function itself


@dataclass(frozen=True)
class ModelType:
    name: str
    # NetworkConfig -> nn.Module mapping (batch, time, features) to (batch, horizon, P), P = 1 point, 2 gaussian,
    # with fit_outputs(x, y, training) -> (forecast, targets) for the loss (models.forecasters.Forecaster).
    network: Target
    summary: str  # how it forecasts, a few words (the training run's description)
    # (net, OptimConfig) -> the LightningModule that trains it: MSE or Gaussian NLL on net.fit_outputs
    module: Target = "models.forecast_module:HorizonRegressor"
    multi_step: bool = True  # forecasts `horizon` steps; False: one step only (horizon must be 1)
    heads: tuple[str, ...] = HEADS
    # With head point it is the reference recipes' many-to-one net (models.networks.RecurrentNet, trained by
    # models.regression.Regressor, scored by the plug-in's one-step scoring); its `network` is its Gaussian form.
    reference_point: bool = False
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


def resolve(target: Target) -> Callable[..., Any]:
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_module(net, optim):
    """The LightningModule that trains `net` (built by models.forecasters.build_network from net.cfg);
    imports Lightning: call it from training only."""
    reference = not net.cfg.multi_step
    return resolve("models.regression:Regressor" if reference else model_type(net.cfg.task).module)(net, optim)


# The built-in types; their networks are in models/forecasters.py.
FEEDS_BACK = "feeds its forecasts back as inputs"
register(ModelType("one_step", "models.forecasters:Recursive", "the next value", multi_step=False,
                   reference_point=True))
register(ModelType("recursive", "models.forecasters:Recursive", "the next value, fed its own forecast back H times",
                   single_feature=FEEDS_BACK))
register(ModelType("synced", "models.forecasters:Synced", "the H values after every step of the window",
                   one_way="predicts at every step, where a backward direction would read the values it predicts",
                   single_feature=FEEDS_BACK))
register(ModelType("seq2seq", "models.forecasters:EncoderDecoder", "an encoder-decoder, teacher forcing",
                   decoder=True))
register(ModelType("attention", "models.forecasters:AttentionDecoder",
                   "an encoder-decoder with attention, teacher forcing", decoder=True, weights=True))
