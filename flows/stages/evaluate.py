"""evaluate: score one trained cell against persistence, log and register it, write metrics for DVC."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import models
from flows import paths, plotting, tracking
from flows.atomic import read_json, write_json, write_text
from flows.stages.data import load_windows
from models.config import NetworkConfig
from models.metrics import forecast_report
from models.networks import RecurrentNet
from models.windows import WindowDataset


def load_net(root: Path, dataset: str, cell: str) -> RecurrentNet:
    folder = paths.model_dir(root, dataset, cell)
    net = RecurrentNet(NetworkConfig(**read_json(folder / "config.json")["net"]))
    net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    return net.eval()


@torch.no_grad()
def predict(net: RecurrentNet, windows: WindowDataset, batch_size: int = 500) -> np.ndarray:
    loader = torch.utils.data.DataLoader(windows, batch_size=batch_size)
    return torch.cat([net(x)[:, 0] for x, _ in loader]).numpy()


def evaluate(root: Path, dataset: str, cell: str) -> dict:
    _, val = load_windows(root, dataset)
    net = load_net(root, dataset, cell)
    real, persistence = val.targets().numpy(), val.last_inputs().numpy()
    predicted = predict(net, val)
    run = read_json(paths.model_dir(root, dataset, cell) / "run.json")
    metrics = {"cell": cell, **forecast_report(real, predicted, persistence),
               "train_seconds": run["train_seconds"], "epochs": run["epochs"]}

    table = paths.predictions_file(root, dataset, cell)
    rows = ["window,real,predicted,persistence"] + [
        f"{i},{r:.6g},{p:.6g},{b:.6g}" for i, (r, p, b) in enumerate(zip(real, predicted, persistence))]
    write_text(table, "\n".join(rows) + "\n")
    picture = plotting.predictions(real, predicted, persistence, f"{dataset} / {cell}: validation",
                                   table.with_suffix(".png"))
    registry = tracking.finish_evaluation(
        root, dataset, run["run_id"], metrics, [picture, table], net,
        input_example=val[0][0][None], code_dir=Path(models.__file__).parent)
    metrics.update(model_version=int(registry["version"]), became_champion=registry["champion_moved"])
    write_json(paths.metrics_file(root, dataset, cell), metrics)
    return metrics
