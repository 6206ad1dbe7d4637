"""The pipeline's data flow, written once: for each stage of a dataset, the module it runs, the data it reads
and writes, and the params keys it reads.

flows/graph/dvc_yaml.py turns it into dvc.yaml (adding each stage's code files), and a stage started by hand
checks it before it starts: an upstream output that is missing is named, with the stage that makes it,
in one sentence (DVC would run that stage first; `rnnops stage` and `python -m` do not).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from flows import datasets
from flows.core.params import DEFAULTS, cells_of, has_defaults
from flows.core.paths import stage_name
from models.errors import RnnopsError

GENERIC = {kind: f"flows.stages.{kind}" for kind in ("ingest", "windows", "train", "evaluate", "report")}
TEMPLATES = "flows/reporting/templates"  # the report's Jinja2 templates: read, not imported
ANY_CELL = "<cell>"  # in a message about a stage that reads every cell's output


class MissingUpstream(RnnopsError):
    """A stage's input that an earlier stage makes is not there."""


@dataclass(frozen=True)
class Stage:
    kind: str
    dataset: str
    cell: str | None
    module: str  # run as `python -m <module> <dataset> [<cell>]`
    deps: tuple[str, ...]  # data it reads (dvc.yaml lists them before the code files)
    params: tuple[str, ...]
    outs: tuple[tuple[str, dict], ...] = ()  # (path, DVC options)
    metrics: tuple[tuple[str, dict], ...] = ()
    reads: tuple[str, ...] = ()  # files that no stage makes, listed after the code files (templates)
    always_changed: bool = False

    @property
    def name(self) -> str:
        return stage_name(self.kind, self.dataset, self.cell)

    @property
    def args(self) -> list[str]:
        return [self.dataset] + ([self.cell] if self.cell else [])

    def writes(self) -> list[str]:
        return [path for path, _ in self.outs + self.metrics]


def stages(params: dict | None, dataset: str, cells: list[str] | None = None) -> dict[str, Stage]:
    """stage name -> Stage for one dataset, in the order a run goes through them (cells: params' by default).

    params None (cells then given): the data flow alone, without ingest's source files or the report's
    params keys, so that a stage checking its upstream reads no params key it does not declare."""
    plugin = datasets.get(dataset)
    cells = cells_of(params, dataset) if cells is None else cells
    raw, windows = f"data/raw/{dataset}", f"data/windows/{dataset}"
    sources = plugin.source_files(params) if params is not None else ()
    found = [Stage("ingest", dataset, None, GENERIC["ingest"], tuple(sources),
                   tuple(plugin.stage_params("ingest")), outs=((raw, {"persist": True}),),  # a failed fetch keeps
                   always_changed=plugin.always_changed("ingest")),  # the last snapshot
             Stage("windows", dataset, None, GENERIC["windows"], (raw,), tuple(plugin.stage_params("windows")),
                   outs=((windows, {}),))]
    for cell in cells:
        model = f"data/models/{dataset}/{cell}"
        # raw too: its meta file names the MLflow run's data source (flows.graph.lineage.data_source)
        found.append(Stage("train", dataset, cell, GENERIC["train"], (windows, raw),
                           ("seed", f"{dataset}.train.{cell}", *plugin.stage_params("train")), outs=((model, {}),)))
        found.append(Stage("evaluate", dataset, cell, GENERIC["evaluate"], (model, windows),
                           tuple(plugin.stage_params("evaluate")),
                           metrics=((f"metrics/{dataset}/{cell}.json", {"cache": False}),),
                           outs=((f"plots/{dataset}/{cell}.csv", {"cache": False}),
                                 (f"plots/{dataset}/{cell}", {"cache": False}))))
    report_reads = [f"metrics/{dataset}", f"plots/{dataset}", f"data/models/{dataset}"]
    for extra in plugin.extra_stages:
        for cell in cells if extra.per_cell else [None]:
            fill = {"dataset": dataset, "cell": cell}
            metrics = extra.metrics.format(**fill)
            found.append(Stage(extra.name, dataset, cell, extra.module, tuple(d.format(**fill) for d in extra.deps),
                               tuple(p.format(**fill) for p in extra.params), metrics=((metrics, {"cache": False}),),
                               outs=tuple((o.format(**fill), {"cache": False, "persist": True}) for o in extra.outs)))
            folder = str(Path(metrics).parent)
            if not any(folder == r or folder.startswith(r + "/") for r in report_reads):
                report_reads.append(folder)
    report_params = () if params is None else (
        f"{dataset}.cells" if "cells" in params.get(dataset, {}) else "cells",
        *(f"{dataset}.train.{cell}" for cell in cells))  # lineage: what a cell changed from the reference recipe
    found.append(Stage("report", dataset, None, GENERIC["report"], tuple(report_reads), report_params,
                       outs=((f"reports/{dataset}", {"cache": False}),), reads=(TEMPLATES,)))
    if params is not None and has_defaults(params, dataset):  # every cell starts from them: a change re-runs
        found = [with_defaults_key(s, dataset) for s in found]  # the dataset's cells, one cell's change that cell
    return {stage.name: stage for stage in found}


def with_defaults_key(stage: Stage, dataset: str) -> Stage:
    """A stage that reads a cell of <dataset>.train reads <dataset>.train.defaults too (after the cell keys)."""
    cell_key = f"{dataset}.train."
    reads = [i for i, key in enumerate(stage.params) if key.startswith(cell_key)]
    if not reads:
        return stage
    at = reads[-1] + 1
    keys = (*stage.params[:at], cell_key + DEFAULTS, *stage.params[at:])
    return dataclasses.replace(stage, params=keys)


def covers(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def check_upstream(root: Path, module: str, dataset: str, cell: str | None = None) -> None:
    """Raise MissingUpstream when an input of the stage that `module` runs is missing and an earlier stage
    of the dataset makes it; inputs no stage makes (a source CSV, a corpus) are the stage's own to check."""
    graph = stages(None, dataset, [cell or ANY_CELL])
    me = next((s for s in graph.values() if s.module == module and s.cell == cell), None)
    if me is None:  # not a stage of this dataset: the stage's own argument checks say what is wrong
        return
    for dep in me.deps:
        makers = [s for s in graph.values() if s is not me and any(covers(dep, out) for out in s.writes())]
        if makers and not (Path(root) / dep).exists():
            first = makers[0]
            each = " for each cell" if first.cell == ANY_CELL else ""
            raise MissingUpstream(f"{dep} is missing; run `rnnops stage {first.kind} {' '.join(first.args)}`{each} "
                                  f"first.")
