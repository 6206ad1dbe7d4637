"""evaluate-<dataset>-<cell>: score the trained cell on validation (selection) and test (reported once),
against the dataset's baselines; log and register the model; write metrics and plot tables for DVC.
All outputs appear together, after MLflow has taken the model, or none do."""
from __future__ import annotations

import sys
from pathlib import Path

import models
from flows import datasets, tracking
from flows.core import paths, perstep
from flows.core.atomic import read_json, staged_outputs
from flows.core.params import load_params, section
from flows.graph.lineage import data_hash
from flows.orchestration.stage_command import stage_main
from flows.reporting import named_figures as figures
from flows.reporting import plotting
from flows.reporting.results import verdicts
from flows.scoring import gradient_probe as gradients
from flows.scoring import intervals
from flows.scoring.regression_nets import table_csv
from flows.scoring.rescoring import rescorer
from flows.training import grad_norm_trace


def evaluate(root: Path, dataset: str, cell: str) -> dict:
    plugin, params = datasets.get(dataset), load_params(root)
    folder = paths.model_dir(root, dataset, cell)
    net = plugin.load_network(folder)
    data = plugin.load(root)
    splits = plugin.task_splits(data, getattr(net, "cfg", None))
    run = read_json(folder / "run.json")
    scored = {split: plugin.score(root, params, net, splits, split)
              for split in ("val", "test") if getattr(splits, split) is not None}
    calibration = intervals.add_intervals(scored, intervals.levels_of(section(params, dataset, "evaluate"), dataset))
    shown = "test" if "test" in scored else "val"
    head = plugin.headline
    metrics = {"cell": cell, "headline": {"metric": head.metric, "baseline": head.baseline, "split": shown},
               **{split: s.metrics for split, s in scored.items()},
               "train_seconds": run["train_seconds"], "epochs": run["epochs"]}
    metrics["verdict"] = verdicts(metrics)
    table_file = paths.predictions_file(root, dataset, cell)
    weights = [folder / "model.pt", folder / "config.json", *(folder / n for n in plugin.model_files(splits))]
    probe = gradients.gradient_config(params, dataset)
    norms = gradients.probe(net, splits.val, probe.gradient_windows) if probe.gradients else None
    if norms is not None:
        metrics["gradients"] = gradients.summary(norms)
    images = paths.figures_dir(root, dataset, cell)
    with staged_outputs(root) as out:
        files = [out.write_text(table_file, table_csv(scored[shown].table)),
                 *plotting.predictions(scored[shown], f"{dataset} / {cell}: {shown} split",
                                       lambda name: out.path(images / name))]
        files += [out.write_text(table_file.with_suffix(suffix), text) for suffix, text in scored[shown].files.items()]
        stored, steps = perstep.split_steps(metrics)  # MLflow takes every figure; DVC's metrics the aggregates
        if getattr(getattr(net, "cfg", None), "multi_step", False):  # a one-step cell's h01 is its aggregate
            files.append(out.write_text(paths.horizons_file(root, dataset, cell), table_csv(steps)))
        files += gradient_figures(out, folder, images, f"{dataset} / {cell}", norms)
        curves = {} if norms is None else {"gradients/dL_dh_norm": list(enumerate(norms.mean(0).tolist(), 1))}
        if calibration is not None:  # beside the weights in MLflow too: a forecast from the champion reads it
            files.append(out.write_json(images / intervals.CALIBRATION_FILE, calibration))
            weights.append(files[-1])
        files += [made for name, (kind, data) in scored[shown].figures.items()
                  for made in getattr(figures, kind)(**data, place=lambda file: out.path(images / file), stem=name)]
        registry = tracking.finish_evaluation(
            root, dataset, run["run_id"], metrics, files, net, plugin.input_example(splits),
            code_dir=Path(models.__file__).parent, weights=weights,
            selection=(f"val_{head.metric}", metrics["val"][head.metric]), curves=curves,
            horizon=splits.info.get("horizon"), data=data_hash(root, dataset),
            rescore=rescorer(root, params, plugin, data, head.metric))
        metrics.update(registered_model=registry["registered_model"], model_version=int(registry["version"]),
                       became_champion=registry["champion_moved"])
        out.write_json(paths.metrics_file(root, dataset, cell), {**stored, **{k: metrics[k] for k in (
            "registered_model", "model_version", "became_champion")}})
    return metrics


def gradient_figures(out, model_folder: Path, images: Path, title: str, norms) -> list[Path]:
    """The training's gradient norms before/after clipping, and ||dL/dh_t|| through time when probed."""
    files = []

    def place(name: str) -> Path:
        return out.path(images / name)

    trace = model_folder / grad_norm_trace.GRAD_TRACE
    if trace.exists():  # models trained before the trace existed have none
        files += plotting.training_grad_norms(gradients.read_columns(trace), f"{title}: gradient norm per step", place)
    if norms is not None:
        table = gradients.norms_table(norms)
        files.append(out.write_text(images / gradients.NORMS_FILE, gradients.norms_csv(norms)))
        files += plotting.gradients_through_time(
            {title: table["mean"]}, f"{title}: ||dL/dh_t|| through time ({len(norms)} validation windows)",
            place, bands={title: (table["min"], table["max"])})
    return files


if __name__ == "__main__":
    sys.exit(stage_main(evaluate, needs_cell=True))
