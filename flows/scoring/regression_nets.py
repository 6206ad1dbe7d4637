"""Helpers shared by evaluate, backtest and predict: load a saved regression net, batch predictions, CSV tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from flows.core.atomic import read_json
from models.config import saved_network
from models.forecasters import build_network


def load_regression_net(folder: Path) -> torch.nn.Module:
    """The saved net of a cell: a RecurrentNet, or a multi-step forecaster (models/forecasters.py)."""
    net = build_network(saved_network(read_json(Path(folder) / "config.json")["net"]))
    net.load_state_dict(torch.load(Path(folder) / "model.pt", weights_only=True))
    return net.eval()


@torch.no_grad()
def predict(net: torch.nn.Module, windows, batch_size: int = 500) -> np.ndarray:
    """Next-step outputs for every window, (n,): a multi-step forecaster's h=1 mean."""
    net.eval()
    loader = torch.utils.data.DataLoader(windows, batch_size=batch_size)
    return torch.cat([net(x).reshape(len(x), -1)[:, 0] for x, _ in loader]).numpy()


def table_csv(table: dict) -> str:
    """Numbers with 17 significant digits (lossless): dvc metrics/plots show what was computed."""
    columns = list(table)
    lines = [",".join(columns)]
    for row in zip(*table.values()):
        lines.append(",".join(v if isinstance(v, str) else repr(float(v)) for v in row))
    return "\n".join(lines) + "\n"
