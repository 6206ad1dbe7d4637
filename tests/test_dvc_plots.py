"""dvc.yaml's charts: one for every cell each dataset really trains (its own `<dataset>.cells` when it has
them), each naming columns of the table that cell's evaluate writes, one-step or multi-step."""
from flows import datasets
from flows.core.params import cells_of, train_spec
from flows.graph import dvc_yaml
from flows.scoring.regression_nets import table_csv
from flows.stages.ingest import ingest
from flows.stages.windows import make_windows
from models.forecasters import build_network
from tests.conftest import REPO, copy_seed_csvs, tiny_params, write_params

MULTI_STEP = {"task": "seq2seq", "horizon": 5, "hidden_size": 4, "num_layers": 1, "epochs": 1, "batch_size": 32,
              "lr": 0.01}


def test_each_cells_chart_names_columns_of_the_table_its_evaluate_writes(tmp_path):
    copy_seed_csvs(tmp_path)
    params = tiny_params(("cosine", "stocks"))
    for dataset, kind in (("cosine", "gru"), ("stocks", "lstm")):  # a dataset's own cells, one a model type
        params[dataset]["cells"] = [kind, "s2s"]
        params[dataset]["train"]["s2s"] = {"kind": kind, **MULTI_STEP}
    write_params(tmp_path, params)
    charts = {name: chart for entry in dvc_yaml.plots(dvc_yaml.plan(REPO, params), params)
              for name, chart in entry.items()}
    assert set(charts) == {"cosine-gru", "cosine-s2s", "stocks-lstm", "stocks-s2s"}

    for dataset in ("cosine", "stocks"):
        ingest(tmp_path, dataset)
        make_windows(tmp_path, dataset)
        plugin = datasets.get(dataset)
        for cell in cells_of(params, dataset):
            spec = train_spec(params, dataset, cell)
            splits = plugin.task_splits(plugin.load(tmp_path), spec.net)
            net = build_network(spec.net).eval()  # untrained: what is checked is the table's columns
            scored = plugin.score(tmp_path, params, net, splits, "val")
            header = table_csv(scored.table).splitlines()[0].split(",")
            chart = charts[f"{dataset}-{cell}"]
            ((file, columns),) = chart["y"].items()
            assert file == f"plots/{dataset}/{cell}.csv"
            assert chart["x"] in header and set(columns) <= set(header), (dataset, cell, chart, header)
            # every line the evaluate figure draws, and a date axis where x holds dates
            roles = scored.plot
            assert columns == [roles["real"], roles["model"], *roles["baselines"]], (dataset, cell)
            assert chart["template"] == ("dates" if dataset == "stocks" else "linear"), (dataset, cell)
            assert roles.get("x_dates", False) == (chart["template"] == "dates"), (dataset, cell)
    assert "seasonal_naive" in charts["cosine-s2s"]["y"]["plots/cosine/s2s.csv"]
