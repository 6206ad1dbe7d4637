"""A plug-in's own commands and summary runs: `rnnops <verb>` comes from the plug-ins' declarations (as
their extra stages do), and tracking logs any plug-in's summary run without knowing what it summarises."""
import sys

import pytest
from mlflow.tracking import MlflowClient

from flows import cli, datasets, tracking
from flows.tracking.store import PARENT_RUN_ID

TOY = '''from flows.datasets.base import Dataset, Option, Verb

SHOUT = Verb("shout", "say a word loudly", "toy_shout", (Option("--word", required=True),))


class Toy(Dataset):
    verbs = (SHOUT,)

    def __init__(self, name):
        self.name = name


class Solo(Dataset):
    name = "solo"
    verbs = (Verb("whisper", "say a word softly", "toy_shout", per_dataset=False),)


DATASET, OTHER, SOLO = Toy("toy"), Toy("toy2"), Solo()
'''
SHOUT = '''def main(root, dataset, args):
    print(f"{dataset}: {getattr(args, 'word', 'psst').upper()}")
    return 3
'''


@pytest.fixture
def toys(tmp_path, monkeypatch):
    """A registry of toy plug-ins only (no torch to import); their modules live in tmp_path."""
    (tmp_path / "toy_plugin.py").write_text(TOY)
    (tmp_path / "toy_other.py").write_text("from toy_plugin import OTHER as DATASET\n")
    (tmp_path / "toy_solo.py").write_text("from toy_plugin import SOLO as DATASET\n")
    (tmp_path / "toy_shout.py").write_text(SHOUT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(datasets, "REGISTRY", {"toy": "toy_plugin", "toy2": "toy_other", "solo": "toy_solo"})
    for name in ("toy_plugin", "toy_other", "toy_solo", "toy_shout"):  # each test imports its own toys
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def test_a_plugins_verb_is_built_from_its_declaration_and_runs_its_module(toys, capsys):
    assert cli.main(["shout", "toy2", "--word", "hi"]) == 3  # the verb's own exit code
    assert capsys.readouterr().out == "toy2: HI\n"
    assert cli.main(["whisper"]) == 3  # one plug-in's verb takes no dataset: its owner's name is passed
    assert capsys.readouterr().out == "solo: PSST\n"
    with pytest.raises(SystemExit) as done:
        cli.main(["shout", "solo", "--word", "hi"])  # solo does not declare it
    assert done.value.code == 2
    assert "invalid choice: 'solo' (choose from 'toy', 'toy2')" in capsys.readouterr().err


def test_the_real_plugins_declare_predict_and_generate():
    found = datasets.verbs()
    assert list(found) == ["generate", "predict"]
    assert found["predict"][1] == ["stocks", "stocks_daily", "stocks_many"] and found["generate"][1] == ["text"]
    assert not found["generate"][0].per_dataset


def test_two_plugins_declaring_one_verb_differently_fail_in_one_sentence(toys, capsys):
    solo = (toys / "toy_plugin.py").read_text()
    (toys / "toy_plugin.py").write_text(solo.replace('Verb("whisper"', 'Verb("shout"'))
    assert cli.main(["shout", "toy", "--word", "x"]) == 2  # rnnops: error: <one sentence>
    err = capsys.readouterr().err
    assert "the plug-ins toy and solo both declare the verb 'shout'" in err and err.count("\n") == 1


def test_a_verb_named_like_a_generic_command_is_refused(toys, capsys):
    (toys / "toy_plugin.py").write_text(TOY.replace('Verb("whisper"', 'Verb("summary"'))
    assert cli.main(["--help"]) == 2
    err = capsys.readouterr().err
    assert "declares the verb 'summary', which is one of rnnops' own" in err and err.count("\n") == 1


def test_a_summary_run_is_a_child_run_or_one_long_lived_run(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv(PARENT_RUN_ID, "parent-123")
    first = tracking.log_summary_run(tmp_path, "toy", "audit", {"mean": 0.5, "label": "x", "nested": {"a": 2}},
                                     cell="gru", params={"folds": 2}, curves={"fold": [(1, 0.1), (2, float("nan"))]},
                                     entry_point="toy.py", description="toy audit")
    second = tracking.log_summary_run(tmp_path, "toy", "audit", {"mean": 0.7}, cell="gru", params={"folds": 2})
    client = MlflowClient(mlflow_uri)
    assert first != second  # a new run each time, a child of the pipeline run
    run = client.get_run(first)
    assert run.info.run_name == "toy-gru-audit" and run.info.status == "FINISHED"
    assert {k: run.data.tags[k] for k in ("dataset", "kind", "cell", "mlflow.parentRunId")} == {
        "dataset": "toy", "kind": "audit", "cell": "gru", "mlflow.parentRunId": "parent-123"}
    assert run.data.metrics == {"audit/mean": 0.5, "audit/nested/a": 2.0, "audit/fold": 0.1}  # NaN, text left out
    assert run.data.params == {"folds": "2"}

    ids = [tracking.log_summary_run(tmp_path, "toy", "card", {"seen": seen}, step=step, one_run=True)
           for seen, step in ((0, 0), (1, 1), (2, 1))]
    assert len(set(ids)) == 1  # found again each time
    history = client.get_metric_history(ids[0], "card/seen")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.0), (1, 1.0), (1, 2.0)]
    assert client.get_run(ids[0]).data.metrics["card/seen"] == 2.0  # a repeated step: the newest value
    run = client.get_run(ids[0])
    assert run.info.run_name == "toy-card" and "mlflow.parentRunId" not in run.data.tags
    other = tracking.log_summary_run(tmp_path, "toy2", "card", {"seen": 0}, one_run=True)
    assert other != ids[0]  # one per dataset
