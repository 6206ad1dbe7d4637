"""<dataset>.train.defaults: every cell of the dataset starts from it and names only what differs; DVC re-runs
a dataset's cells when it changes and one cell when only that cell's section does."""
import json

import pytest

from flows.core.params import cells_of, load_params, train_spec, with_defaults
from flows.graph import dvc_yaml
from models.errors import InvalidParameter
from tests.conftest import dvc, git, tiny_params, write_params

SHARED = {"hidden_size": 16, "num_layers": 1, "epochs": 3, "batch_size": 20, "lr": 0.01, "clip": 1.0}


def with_cosine_defaults(params: dict) -> dict:
    params["cosine"]["train"] = {"defaults": dict(SHARED),
                                 "rnn": {"activation": "linear", "recurrent_max_norm": 1.0, "lr": 0.005},
                                 "lstm": None}  # named only: the defaults as they are
    params["cells"] = ["rnn", "lstm"]
    return params


def test_a_cell_is_the_defaults_with_its_own_keys_on_top_nested_keys_merged():
    params = {"text": {"train": {"defaults": {"lr": 0.007, "tbptt": {"k1": 100, "reset": 0.05}},
                                 "rnn": {"lr": 0.005, "tbptt": {"k1": 50}}, "gru": {}}}}
    train = with_defaults(params)["text"]["train"]
    assert train["rnn"] == {"lr": 0.005, "tbptt": {"k1": 50, "reset": 0.05}}
    assert train["gru"] == {"lr": 0.007, "tbptt": {"k1": 100, "reset": 0.05}}
    assert with_defaults(with_defaults(params)) == with_defaults(params)  # a written-out cell stays as it is
    assert params["text"]["train"]["rnn"] == {"lr": 0.005, "tbptt": {"k1": 50}}  # the input is left alone


def test_the_train_stage_and_the_checks_see_the_merged_values(tmp_path):
    write_params(tmp_path, with_cosine_defaults(tiny_params()))
    params = load_params(tmp_path)
    assert cells_of(params, "cosine") == ["rnn", "lstm"]
    rnn, lstm = train_spec(params, "cosine", "rnn"), train_spec(params, "cosine", "lstm")
    assert (rnn.optim.lr, rnn.net.activation, rnn.net.hidden_size, rnn.optim.clip) == (0.005, "linear", 16, 1.0)
    assert (lstm.optim.lr, lstm.net.hidden_size, lstm.optim.epochs) == (0.01, 16, 3)


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(cells=["rnn", "defaults"]), "a cell cannot be named 'defaults'"),
    (lambda p: p["cosine"]["train"].update(defaults=[1]), "cosine.train.defaults must be a mapping"),
    (lambda p: p["cosine"]["train"].update(lstm=3), "cosine.train.lstm must be a mapping"),
])
def test_bad_defaults_are_one_sentence(tmp_path, edit, message):
    params = with_cosine_defaults(tiny_params())
    edit(params)
    write_params(tmp_path, params)
    with pytest.raises(InvalidParameter, match=message):
        cells_of(load_params(tmp_path), "cosine")


def changed(project) -> set[str]:
    return set(json.loads(dvc(project, "status", "--json").stdout))


@pytest.mark.slow
def test_dvc_reruns_every_cell_for_a_defaults_change_and_one_cell_for_its_own(project):
    params = with_cosine_defaults(tiny_params())
    write_params(project, params)
    dvc_yaml.sync(project, load_params(project))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "cosine with train defaults")
    trains = ["train-cosine-rnn", "train-cosine-lstm"]
    done = dvc(project, "repro", *trains)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert not changed(project) & set(trains)

    params["cosine"]["train"]["rnn"]["lr"] = 0.004  # one cell's own key: that cell alone
    write_params(project, params)
    assert changed(project) & set(trains) == {"train-cosine-rnn"}

    params["cosine"]["train"]["rnn"]["lr"] = 0.005
    params["cosine"]["train"]["defaults"]["epochs"] = 4  # what every cell starts from: all of them
    write_params(project, params)
    assert changed(project) & set(trains) == set(trains)


def test_sweep_apply_writes_a_cell_that_trains_as_the_trial_did_over_the_defaults(tmp_path):
    from types import SimpleNamespace

    import yaml

    from flows.sweeps.apply import edited

    write_params(tmp_path, with_cosine_defaults(tiny_params()))
    text, params = (tmp_path / "params.yaml").read_text(), load_params(tmp_path)
    cfg, values = SimpleNamespace(dataset="cosine", cell="rnn"), {"hidden_size": 24}
    for cell in ("rnn", "tuned"):  # in place (the short cell gets the key) and --as (a new cell in full)
        new = with_defaults(yaml.safe_load(edited(text, params, cfg, values, cell)))
        kind = {"kind": "rnn"} if cell != "rnn" else {}  # a cell not named rnn/lstm/gru names its kind
        assert new["cosine"]["train"][cell] == {**params["cosine"]["train"]["rnn"], **kind, **values}
        assert new["cosine"]["train"]["lstm"] == params["cosine"]["train"]["lstm"]
