"""evaluate: score one trained cell against its baselines, log and register it, write metrics for DVC."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import models
from flows import paths, plotting, tracking
from flows.atomic import read_json, write_json, write_text
from flows.stages.data import load_spec, load_windows
from models.config import NetworkConfig
from models.metrics import forecast_report
from models.networks import RecurrentNet
from models.windows import WindowDataset


def load_net(folder: Path) -> RecurrentNet:
    net = RecurrentNet(NetworkConfig(**read_json(folder / "config.json")["net"]))
    net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    return net.eval()


@torch.no_grad()
def predict(net: RecurrentNet, windows: WindowDataset, batch_size: int = 500) -> np.ndarray:
    loader = torch.utils.data.DataLoader(windows, batch_size=batch_size)
    return torch.cat([net(x)[:, 0] for x, _ in loader]).numpy()


def score(spec: dict, predicted: np.ndarray, val: WindowDataset) -> tuple[dict, dict]:
    """Metrics and the per-window table (first column is the x axis) for the dataset's scale."""
    if "transform" in spec:  # prices: back to the price scale, persistence and drift baselines
        from flows.stages.stocks import score as score_prices

        return score_prices(spec, predicted, np.asarray(val.starts) + val.window)
    real, persistence = val.targets().numpy(), val.last_inputs().numpy()
    table = {"window": np.arange(len(real)), "real": real, "persistence": persistence, "predicted": predicted}
    return forecast_report(real, predicted, persistence), table


def table_csv(table: dict) -> str:
    columns = list(table)
    lines = [",".join(columns)]
    for row in zip(*table.values()):
        lines.append(",".join(v if isinstance(v, str) else f"{v:.6g}" for v in row))
    return "\n".join(lines) + "\n"


def evaluate_text(root: Path, cell: str) -> dict:
    from flows.params import load_params
    from flows.stages.text import evaluate_text as score_text
    from flows.stages.text import load_char_net, load_text

    folder = paths.model_dir(root, "text", cell)
    metrics, _, files = score_text(root, cell, load_params(root))
    run = read_json(folder / "run.json")
    metrics = {"cell": cell, **metrics, "train_seconds": run["train_seconds"], "epochs": run["epochs"]}
    net, _ = load_char_net(folder)
    _, val, _, _ = load_text(root)
    registry = tracking.finish_evaluation(
        root, "text", run["run_id"], metrics, files, net, input_example=val[0][0][None],
        code_dir=Path(models.__file__).parent, weights=[folder / n for n in ("model.pt", "config.json", "vocab.json")],
        score_key="loss_nats")
    metrics.update(model_version=int(registry["version"]), became_champion=registry["champion_moved"])
    write_json(paths.metrics_file(root, "text", cell), metrics)
    return metrics


def evaluate(root: Path, dataset: str, cell: str) -> dict:
    if dataset == "text":
        return evaluate_text(root, cell)
    _, val = load_windows(root, dataset)
    spec = load_spec(root, dataset)
    folder = paths.model_dir(root, dataset, cell)
    net = load_net(folder)
    from flows.params import load_params, section

    batch = int(section(load_params(root), dataset, "evaluate").get("batch_size", 500))
    metrics, table = score(spec, predict(net, val, batch), val)
    run = read_json(folder / "run.json")
    metrics = {"cell": cell, **metrics, "train_seconds": run["train_seconds"], "epochs": run["epochs"]}

    csv_path = paths.predictions_file(root, dataset, cell)
    write_text(csv_path, table_csv(table))
    picture = plotting.predictions(table, f"{dataset} / {cell}: evaluation split", csv_path.with_suffix(".png"))
    weights = [folder / "model.pt", folder / "config.json", paths.windows_dir(root, dataset) / "spec.json"]
    registry = tracking.finish_evaluation(
        root, dataset, run["run_id"], metrics, [picture, csv_path], net, input_example=val[0][0][None],
        code_dir=Path(models.__file__).parent, weights=weights)
    metrics.update(model_version=int(registry["version"]), became_champion=registry["champion_moved"])
    write_json(paths.metrics_file(root, dataset, cell), metrics)
    return metrics
