"""models/model_types.py: a sixth model type registered from this file trains and is scored through the real
code path, and the registry entry (not a string switch) decides what a cell may set and what is drawn."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from flows import datasets
from flows.core.params import train_spec
from flows.scoring import horizons
from flows.scoring.regression_nets import load_regression_net
from flows.training.lightning_fit import fit
from models.config import NetworkConfig
from models.errors import InvalidParameter
from models.forecasters import Forecaster, build_network
from models.model_types import MODEL_TYPES, ModelType, register
from models.networks import last_state, make_recurrent
from models.windows import WindowDataset
from tests.conftest import tiny_params, write_params

H = 5


class DirectNet(Forecaster):
    """Direct multi-horizon (MIMO) forecaster: the window's last state, one linear map to all H steps at once.
    Trained on the H values (Forecaster's default fit_outputs)."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__(cfg)
        self.body = make_recurrent(cfg)
        self.head = nn.Linear(cfg.hidden_size * (2 if cfg.bidirectional else 1), cfg.horizon * self.per_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.head(last_state(self.body(x)[0], self.cfg))
        return self.finish(raw.view(len(x), self.cfg.horizon, self.per_step))  # (batch, H, P)


@pytest.fixture
def toy_types():
    """direct: the sixth type, one entry plus DirectNet; strict: the same net with every restriction an entry
    can state, to see the config checks read them. Registered after the plug-ins are loaded: they offer it."""
    datasets.get("cosine"), datasets.get("text")
    added = [register(ModelType("direct", DirectNet, "all H values at once from the window's last state")),
             register(ModelType("strict", DirectNet, "a restricted toy", heads=("point",),
                                one_way="reads its window's end as the future", single_feature="toys with one input"))]
    yield added
    for kind in added:
        del MODEL_TYPES[kind.name]


def test_a_type_registered_here_trains_and_is_scored_per_horizon_through_the_plug_in(tmp_path, monkeypatch,
                                                                                    toy_types):
    """The train and evaluate stages' own steps on real cosine windows, without their MLflow logging (which
    would make this ~30 s instead of a few): params check, the plug-in's splits and module, a Lightning fit,
    the saved folder loaded back, the plug-in's per-horizon scores and the run's description."""
    from flows.stages.ingest import ingest
    from flows.stages.train import describe
    from flows.stages.windows import make_windows

    params = tiny_params()
    params["cosine"]["cells"] = ["direct"]
    params["cosine"]["train"] = {"direct": {"kind": "gru", "task": "direct", "horizon": H, "hidden_size": 8,
                                            "epochs": 1, "batch_size": 50, "lr": 0.01, "clip": 1.0}}
    write_params(tmp_path, params)
    ingest(tmp_path, "cosine")
    make_windows(tmp_path, "cosine")
    plugin, spec = datasets.get("cosine"), train_spec(params, "cosine", "direct")
    splits = plugin.task_splits(plugin.load(tmp_path), spec.net)
    module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val, progress_bar=False)
    assert type(module).__name__ == "HorizonRegressor" and trainer.current_epoch == 1
    folder = tmp_path / "model"
    folder.mkdir()
    torch.save(module.net.state_dict(), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps({"net": dataclasses.asdict(spec.net)}))
    net = load_regression_net(folder)
    assert isinstance(net, DirectNet) and torch.equal(net(splits.val[0][0][None]), module.net.eval()(
        splits.val[0][0][None]))

    scored = plugin.score(tmp_path, params, net, splits, "val")
    val = scored.metrics
    assert val["horizon"] == H and all(np.isfinite(val[f"rmse_h{h:02d}"]) for h in range(1, H + 1))
    assert "seasonal_naive_rmse_h05" in val and val["windows"] == len(splits.val)
    assert {"rmse_by_horizon", "forecasts"} == set(scored.figures)  # no attention weights: its entry says none
    assert "task direct (all H values at once from the window's last state), horizon 5, head point" in \
        describe("cosine", "direct", spec, "generated")


@pytest.mark.parametrize("values,message", [
    ({"task": "strict", "horizon": H, "head": "gaussian"}, "task strict has head point, not 'gaussian'"),
    ({"task": "strict", "horizon": H, "bidirectional": True}, "task strict reads its window's end as the future; "
                                                               "set bidirectional: false"),
    ({"task": "strict", "horizon": H, "input_size": 2}, "task strict toys with one input, so the series must be"),
    ({"task": "direct", "horizon": H, "scheduled_sampling": 0.5}, r"decoder tasks \(seq2seq, attention\), not "
                                                                  "'direct'"),
    ({"task": "one_step", "horizon": H}, "choose task recursive, synced, seq2seq, attention, direct or strict"),
    ({"task": "sixth"}, "task must be one of one_step, recursive, synced, seq2seq, attention, direct, strict,"),
])
def test_a_registered_entry_decides_what_a_cell_may_set(toy_types, values, message):
    with pytest.raises(InvalidParameter, match=message):
        NetworkConfig(**values)
    NetworkConfig(task="direct", horizon=H, head="gaussian", bidirectional=True, input_size=2)  # direct allows all


def test_a_dataset_offers_the_registered_types_and_only_its_own_heads(toy_types, monkeypatch):
    params = tiny_params()
    params["cosine"]["train"]["toy"] = {"kind": "gru", "task": "direct", "horizon": H, "head": "gaussian"}
    assert train_spec(params, "cosine", "toy").net.task == "direct"  # offered, though registered after cosine loaded
    monkeypatch.setattr(datasets.get("cosine"), "heads", ("point",))
    with pytest.raises(InvalidParameter, match="cosine offers task .*direct.* with head point only"):
        train_spec(params, "cosine", "toy")
    params["text"]["train"]["gru"].update(task="direct", horizon=H)
    with pytest.raises(InvalidParameter, match="text offers task one_step with head point only"):
        train_spec(params, "text", "gru")


@pytest.mark.parametrize("task,drawn", [("attention", True), ("seq2seq", False)])
def test_horizons_draws_attention_weights_of_the_types_whose_entry_says_so(task, drawn):
    torch.manual_seed(0)
    net = build_network(NetworkConfig(kind="gru", hidden_size=4, task=task, horizon=H))
    windows = WindowDataset(np.cos(np.linspace(0, 20, 200)).astype(np.float32), 20, range(0, 150), horizon=H)
    _, weights = horizons.forecast(net, windows, weights=True)
    assert (weights is not None) == drawn
    if drawn:
        assert weights.shape == (150, H, 20)


def test_a_model_type_name_is_checked_in_one_sentence():
    with pytest.raises(InvalidParameter, match="lower-case identifier, got 'Two Words'"):
        register(ModelType("Two Words", DirectNet, "a bad name"))
    assert "Two Words" not in MODEL_TYPES


def test_the_networks_a_registry_entry_names_are_code_deps_of_the_stages_that_read_it():
    from flows.graph.dvc_yaml import code_deps
    from tests.conftest import REPO

    deps = code_deps(REPO, ["models.model_types"])  # it imports none of them: it names them as targets
    assert {"models/forecasters.py", "models/forecast_module.py", "models/regression.py"} <= set(deps)
