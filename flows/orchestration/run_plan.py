"""The pipeline as a graph to schedule: which stages each stage waits for (read from the data flow that
dvc.yaml is written from), how many run at once (`runtime.jobs`), and the share of the machine each gets.

Nothing here runs a stage; flows/orchestration/pipeline.py does, through Prefect.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from flows import datasets
from flows.graph import dataflow
from flows.training import launch
from models.errors import InvalidParameter

RUNTIME = ("jobs", "threads")
MAX_AUTO_JOBS = 16  # small recurrent nets gain little from a 2nd thread; past this, memory runs out first


@dataclass(frozen=True)
class Node:
    name: str
    dataset: str
    cell: str | None
    upstream: frozenset[str]
    devices: int  # GPUs it holds while it runs (on a machine with GPUs); 0 for a CPU-only stage


def graph(params: dict, names: list[str]) -> dict[str, Node]:
    """stage name -> Node for the selected datasets, in a topological order (each dataset's own order).

    A stage waits for the stages that write what it reads: the same rule DVC applies to dvc.yaml."""
    found: dict[str, Node] = {}
    for dataset in names:
        stages = dataflow.stages(params, dataset)
        extras = {e.name: e for e in datasets.get(dataset).extra_stages}
        trains = {name for name, e in extras.items() if e.trains}
        for name, stage in stages.items():
            after = extras[stage.kind].after if stage.kind in extras else ()
            ups = frozenset(other.name for other in stages.values() if other is not stage and (any(
                dataflow.covers(dep, out) for dep in stage.deps for out in other.writes()) or other.kind in after))
            holds = stage.kind == "train" or stage.kind in trains
            found[name] = Node(name, dataset, stage.cell, ups, _devices(params, dataset, stage.cell) if holds else 0)
    return found


def _devices(params: dict, dataset: str, cell: str | None) -> int:
    """A cell's `devices` (auto: one; the scheduler gives each training a device of its own)."""
    asked = (((params.get(dataset) or {}).get("train") or {}).get(cell) or {}).get("devices", "auto")
    return asked if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0 else 1


@dataclass(frozen=True)
class Runtime:
    jobs: int  # stages at a time
    threads: int  # torch / OpenMP threads of each stage
    gpus: tuple[str, ...]  # CUDA device ids to hand out, one or more per training

    def describe(self) -> str:
        where = f", GPUs {','.join(self.gpus)} (one per training)" if self.gpus else ""
        return f"{self.jobs} stage(s) at a time, {self.threads} thread(s) each{where}"


def _positive(value, where: str, flag: str) -> int | None:
    if value in (None, "auto"):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameter(f"{where} must be a positive integer or auto, got {value!r}; {flag}.")
    return value


def visible_gpus() -> tuple[str, ...]:
    """The CUDA devices this process may hand out: the user's CUDA_VISIBLE_DEVICES list, else all."""
    own = os.environ.get("CUDA_VISIBLE_DEVICES")
    if own is not None:
        return tuple(d.strip() for d in own.split(",") if d.strip() and d.strip() != "-1")
    import torch

    return tuple(str(i) for i in range(torch.cuda.device_count()))


def runtime(params: dict, jobs: int | str | None = None, gpus: tuple[str, ...] | None = None) -> Runtime:
    """params' `runtime` section (not a DVC param of any stage: how a run is spread, not what it computes),
    with `--jobs` over it. auto jobs: every core busy (one stage a core, at most 16); auto threads: cores / jobs."""
    section = params.get("runtime") or {}
    if not isinstance(section, dict) or set(section) - set(RUNTIME):
        unknown = sorted(set(section) - set(RUNTIME)) if isinstance(section, dict) else section
        raise InvalidParameter(f"params.yaml's runtime section takes only {', '.join(RUNTIME)}, got {unknown!r}; "
                               f"remove the rest.")
    flag = "pass `--jobs N` or set runtime.jobs to a number or auto"
    asked = _positive(jobs, "--jobs", flag) if jobs is not None else _positive(section.get("jobs"), "runtime.jobs",
                                                                                flag)
    threads = _positive(section.get("threads"), "runtime.threads", "set it to a number or auto")
    cores = launch.cores()
    n = asked or min(cores, MAX_AUTO_JOBS)
    return Runtime(n, threads or max(1, cores // n), visible_gpus() if gpus is None else gpus)


def parse_jobs(text: str | None) -> int | str | None:
    """`--jobs`'s text: a number or auto."""
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise InvalidParameter(f"--jobs must be a positive integer or auto, got {text!r}.") from None
