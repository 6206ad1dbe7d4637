"""Re-scoring a saved model on today's validation data: what the champion election (flows.tracking.election)
asks for when the incumbent was validated on another data version. Generic: the plug-in loads the
model, reads the data as the model was fitted to read it (splits_for_saved) and scores it with the
metric the challenger was selected on."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flows.datasets.base import Splits, Unscorable
from models.errors import RnnopsError


def rescorer(root: Path, params: dict, plugin, data: Splits, metric: str) -> Callable[[Path], float]:
    """rescore(folder of a version's weights/ artifacts) -> its validation `metric` on `data` (the
    splits as loaded, before any horizon is applied); Unscorable when the model cannot read `data`."""

    def rescore(folder: Path) -> float:
        try:
            net = plugin.load_network(folder)
            splits = plugin.task_splits(plugin.splits_for_saved(data, folder), getattr(net, "cfg", None))
            return float(plugin.score(root, params, net, splits, "val").metrics[metric])
        except Unscorable:
            raise
        # a model of another shape or kind fails inside torch or on a missing file: it is not a candidate
        # here, and the election says why rather than stopping the evaluation
        except (RnnopsError, RuntimeError, ValueError, KeyError, OSError) as exc:
            said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unscorable(f"its saved model cannot be scored on this data ({said})") from exc

    return rescore
