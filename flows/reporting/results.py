"""Reading results back: metrics per cell with their extra-stage figures, headline rows and verdicts.

Shared by the report stage, the CLI summary and the Prefect flow's artifact, so each says the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flows import datasets
from flows.core import paths
from flows.core.atomic import read_json
from models.significance import verdict


@dataclass(frozen=True)
class Row:
    cell: str
    split: str  # where `value` comes from: test where the dataset has one, else val
    metric: str
    value: float
    baseline: str  # the strongest baseline of the split: the verdict is against it
    baseline_value: float
    skill: float
    p_value: float | None  # None: the split is too short for a valid test
    selection: float  # the validation figure the champion was chosen on
    train_seconds: float
    others: int = 0  # weaker baselines the model was also scored against
    stretches: float | None = None

    @property
    def verdict(self) -> str:
        return verdict(self.skill, self.p_value, self.baseline, self.others, self.stretches)


def collect(root: Path, dataset: str, cells: list[str], only: set[str] | None = None) -> dict[str, dict]:
    """Metrics of the evaluated cells, in the order given, with each extra stage's summary figure.

    `only`: cells whose evaluation is current (a failed run must not pass older files off as its own).
    """
    plugin = datasets.get(dataset)
    found = {}
    for cell in cells:
        path = paths.metrics_file(root, dataset, cell)
        if not path.exists() or (only is not None and cell not in only):
            continue
        found[cell] = read_json(path)
        for extra in (e for e in plugin.extra_stages if e.per_cell):
            summary = Path(root) / extra.metrics.format(dataset=dataset, cell=cell)
            if summary.exists():
                found[cell].setdefault("extra", {})[extra.label] = read_json(summary)[extra.summary_key]
    return found


def row(m: dict) -> Row:
    head = m["headline"]
    split, metric = head["split"], head["metric"]
    figures = m[split]
    baseline = figures.get("strongest_baseline", head["baseline"])
    others = sum(key.endswith("_dm_stat") for key in figures) - 1
    return Row(m["cell"], split, metric, figures[metric], baseline, figures[f"{baseline}_{metric}"],
               figures["skill"], figures["dm_pvalue"], m["val"][metric], m["train_seconds"], max(others, 0),
               figures.get("dm_stretches"))


def verdicts(metrics: dict) -> dict[str, str]:
    """Each scored split's verdict against its strongest baseline, as the summary words it."""
    head = metrics["headline"]
    return {split: row({**metrics, "headline": {**head, "split": split}}).verdict
            for split in ("val", "test") if split in metrics}


def fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


HEADER = ("cell", "split", "metric", "value", "baseline", "skill", "DM p", "val (selection)", "train s", "verdict")


def cells_table(metrics: dict[str, dict]) -> list[list[str]]:
    rows = [row(m) for m in metrics.values()]
    return [[r.cell, r.split, r.metric, fmt(r.value), f"{r.baseline} {fmt(r.baseline_value)}", f"{r.skill:+.3f}",
             "n/a" if r.p_value is None else f"{r.p_value:.2g}", fmt(r.selection), fmt(r.train_seconds), r.verdict]
            for r in rows]


def summary_markdown(metrics: dict[str, dict]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells) + " |" for cells in cells_table(metrics)]
    return "\n".join(lines) + "\n"
