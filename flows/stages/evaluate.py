"""evaluate-<dataset>-<cell>: score the trained cell on validation (selection) and test (reported once),
against the dataset's baselines; log and register the model; write metrics and plot tables for DVC.
All outputs appear together, after MLflow has taken the model, or none do."""
from __future__ import annotations

import sys
from pathlib import Path

import models
from flows import datasets, figures, paths, plotting, tracking
from flows.atomic import read_json, staged_outputs
from flows.params import load_params
from flows.scoring import table_csv
from flows.stagecli import stage_main


def evaluate(root: Path, dataset: str, cell: str) -> dict:
    plugin, params = datasets.get(dataset), load_params(root)
    folder = paths.model_dir(root, dataset, cell)
    net = plugin.load_network(folder)
    splits = plugin.task_splits(plugin.load(root), getattr(net, "cfg", None))
    run = read_json(folder / "run.json")
    scored = {split: plugin.score(root, params, net, splits, split)
              for split in ("val", "test") if getattr(splits, split) is not None}
    shown = "test" if "test" in scored else "val"
    head = plugin.headline
    metrics = {"cell": cell, "headline": {"metric": head.metric, "baseline": head.baseline, "split": shown},
               **{split: s.metrics for split, s in scored.items()},
               "train_seconds": run["train_seconds"], "epochs": run["epochs"]}
    table_file = paths.predictions_file(root, dataset, cell)
    weights = [folder / "model.pt", folder / "config.json", *(folder / n for n in plugin.model_files(splits))]
    with staged_outputs(root) as out:
        files = [out.write_text(table_file, table_csv(scored[shown].table)),
                 plotting.predictions(scored[shown], f"{dataset} / {cell}: {shown} split",
                                      out.path(paths.figures_dir(root, dataset, cell) / "predictions.png"))]
        files += [out.write_text(table_file.with_suffix(suffix), text) for suffix, text in scored[shown].files.items()]
        files += [getattr(figures, kind)(**data, target=out.path(paths.figures_dir(root, dataset, cell) / name))
                  for name, (kind, data) in scored[shown].figures.items()]
        registry = tracking.finish_evaluation(
            root, dataset, run["run_id"], metrics, files, net, plugin.input_example(splits),
            code_dir=Path(models.__file__).parent, weights=weights,
            selection=(f"val_{head.metric}", metrics["val"][head.metric]))
        metrics.update(model_version=int(registry["version"]), became_champion=registry["champion_moved"])
        out.write_json(paths.metrics_file(root, dataset, cell), metrics)
    return metrics


if __name__ == "__main__":
    sys.exit(stage_main(evaluate, needs_cell=True))
