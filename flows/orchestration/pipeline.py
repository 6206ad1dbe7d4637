"""The Prefect `pipeline` flow: one task per DVC stage, so DVC keeps caching/versioning and Prefect
adds the UI, logs, retries and schedules. One temporary Prefect server per process, not per stage.

The stages run as a graph: a stage starts as soon as the stages it reads from have finished, up to
`jobs` at a time, datasets side by side; a failed stage stops only what depends on it.
"""
from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.futures import as_completed
from prefect.logging.handlers import PrefectConsoleHandler
from prefect.runtime import flow_run

from flows import tracking
from flows.core import paths
from flows.core.atomic import read_json
from flows.core.params import cells_of, load_params
from flows.core.paths import stage_name
from flows.graph import dvc_yaml
from flows.orchestration import run_plan
from flows.orchestration.preflight import check_selected
from flows.orchestration.progress import Board, BoardStream
from flows.orchestration.run_lock import run_lock
from flows.orchestration.stage_task import run_stage, stage_env
from flows.reporting.results import collect, summary_markdown

LOGS = "logs"  # <repo>/logs/<run>/<stage>.log (git-ignored)


class PipelineFailed(RuntimeError):
    """A scheduled run in which a dataset did not finish: the flow run must end Failed, visibly."""


@dataclass
class DatasetOutcome:
    dataset: str
    status: str = "ok"  # ok | skipped (source unreachable, nothing else wrong) | failed
    reason: str = ""
    stages: list[str] = field(default_factory=list)  # the stages this run completed
    not_run: list[str] = field(default_factory=list)  # "<stage> (<why>)" for each stage a failure held back
    logs: str = ""  # the folder of this run's stage logs

    def evaluated(self) -> set[str]:
        """Cells whose evaluate stage completed in this run (older metrics files are not this run's)."""
        prefix = stage_name("evaluate", self.dataset) + "-"
        return {s.removeprefix(prefix) for s in self.stages if s.startswith(prefix)}


@flow(name="pipeline", log_prints=True)
def pipeline(root: str = ".", datasets: list[str] | None = None, force: bool = False,
             wait: bool = True, scheduled: bool = False, fetch_retries: int = 2,
             retry_delay_s: float = 300.0, jobs: int | str | None = None) -> list[DatasetOutcome]:
    """ingest -> windows -> train -> evaluate -> report for each dataset, as a graph, `jobs` stages at a time.

    One run per repository at a time: a second one waits (or, wait=False, fails in one sentence).
    scheduled=True (what `rnnops serve` and infra/prefect.yaml pass): a fetch that fails is retried
    `fetch_retries` times, then an unreachable source fails the flow run instead of skipping quietly.
    jobs: stages at a time (None: params' runtime.jobs, default auto: one per core).
    """
    base = Path(root).resolve()
    with run_lock(base, wait=wait):
        params = load_params(base)
        names = datasets or params["datasets"]
        check_selected(params, names)
        rt = run_plan.runtime(params, jobs)
        cells = {dataset: cells_of(params, dataset) for dataset in names}
        parent = tracking.start_pipeline_run(base, cells, str(flow_run.id or ""), scheduled)
        print(f"MLflow run of this pipeline: {tracking.run_link(base, parent)}")  # to watch it while it trains
        outcomes = []
        try:
            outcomes = run_graph(base, names, force, rt, (fetch_retries, retry_delay_s) if scheduled else None,
                                 parent)
        finally:  # an interrupted run's parent ends FAILED, not RUNNING forever
            statuses = {o.dataset: o.status for o in outcomes} or {name: "failed" for name in names}
            tracking.finish_pipeline_run(base, parent, statuses, [paths.report_dir(base, o.dataset)
                                                                  for o in outcomes if o.status == "ok"])
    missed = [f"{o.dataset} {o.status} at {o.reason}" for o in outcomes if o.status != "ok"]
    if scheduled and missed:
        raise PipelineFailed("; ".join(missed))
    return outcomes


@contextmanager
def board_owns_console(board: Board):
    """While stages run, Prefect's own per-task console lines (a failed task's three) give way to the board's
    one line per stage: they still reach the Prefect UI. Anything critical prints above the live lines."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    saved = [(h, h.level, h.console.file) for h in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL)
        if board.live:
            handler.console.file = BoardStream(board)
    try:
        yield
    finally:
        for handler, level, file in saved:
            handler.setLevel(level)
            handler.console.file = file


def run_graph(base: Path, datasets: list[str], force: bool, rt: run_plan.Runtime,
              fetch_retries: tuple[int, float] | None = None, parent_run_id: str | None = None
              ) -> list[DatasetOutcome]:
    params = load_params(base)
    _, rewritten = dvc_yaml.sync(base, params)
    nodes = run_plan.graph(params, datasets)
    logs = base / LOGS / dt.datetime.now().strftime("run-%Y%m%d-%H%M%S")
    outcomes = {d: DatasetOutcome(d, logs=str(logs.relative_to(base))) for d in datasets}
    with Board() as board, board_owns_console(board):
        if rewritten:
            board.say("dvc.yaml rewritten from the dataset registry and params.yaml")
        board.say(f"running {len(nodes)} stages, {rt.describe()}; each stage's output: {logs.relative_to(base)}/")
        Scheduler(base, nodes, rt, board, logs, force, fetch_retries, parent_run_id).run(outcomes)
    for outcome in outcomes.values():
        if outcome.status == "ok":
            create_markdown_artifact(
                key=f"rnnops-{outcome.dataset.lower().replace('_', '-')}-summary",  # lowercase, digits, dashes
                markdown=f"# {outcome.dataset}\n\n" + summary_markdown(collect(
                    base, outcome.dataset, cells_of(params, outcome.dataset), outcome.evaluated())),
                description=f"rnnops {outcome.dataset}: metrics per cell (each row names its split)")
    return list(outcomes.values())


class Scheduler:
    """Starts each stage whose upstream has finished while fewer than `jobs` run (a training that takes N
    devices counts N) and a GPU is free for it; a failure holds back only the stages downstream of it."""

    def __init__(self, base, nodes, rt, board, logs, force, fetch_retries, parent_run_id):
        self.base, self.nodes, self.rt, self.board, self.logs = base, nodes, rt, board, logs
        self.force, self.fetch_retries, self.parent = force, fetch_retries, parent_run_id
        self.free = list(rt.gpus)
        self.running: dict = {}  # future -> (stage, its weight, its GPUs)
        self.ended: dict[str, str] = {}  # stage -> done | failed | skipped | held
        self.cause: dict[str, str] = {}  # held stage -> the failed or skipped stage that held it back
        self.seconds = {name: self.last_seconds(name) for name in nodes}  # read once, not at every pick

    def weight(self, node) -> int:
        return min(max(1, node.devices), self.rt.jobs)

    def ready(self) -> list[str]:
        waiting = [n for n in self.nodes if n not in self.ended and n not in {s for s, _, _ in self.running.values()}]
        # stages that unblock others (ingest, windows, evaluate, report) first, then the trainings, the one
        # that took longest last time first (a fresh clone has the committed metrics' seconds): the run ends
        # sooner than with a long one started last
        return sorted((n for n in waiting if all(self.ended.get(u) == "done" for u in self.nodes[n].upstream)),
                      key=lambda n: (self.nodes[n].devices > 0, -self.seconds[n]))

    def last_seconds(self, name: str) -> float:
        node = self.nodes[name]
        if node.cell is None or node.devices == 0:
            return 0.0
        for record in (paths.model_dir(self.base, node.dataset, node.cell) / "run.json",
                       paths.metrics_file(self.base, node.dataset, node.cell)):
            try:
                return float(read_json(record)["train_seconds"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return 0.0

    def hold_back(self, outcomes: dict[str, DatasetOutcome]) -> None:
        """Mark, transitively, every stage below a stage that did not finish."""
        changed = True
        while changed:
            changed = False
            for name, node in self.nodes.items():
                bad = sorted(u for u in node.upstream if self.ended.get(u) in ("failed", "skipped", "held"))
                if name in self.ended or not bad:
                    continue
                self.ended[name], changed = "held", True
                self.cause[name] = self.cause.get(bad[0], bad[0])  # the stage that failed, not the one between
                outcomes[node.dataset].not_run.append(f"{name} ({self.cause[name]} {self.ended[self.cause[name]]})")

    def start(self, name: str) -> bool:
        node, used = self.nodes[name], sum(w for _, w, _ in self.running.values())
        weight = self.weight(node)
        gpus = min(node.devices, len(self.rt.gpus)) if self.rt.gpus else 0
        if used + weight > self.rt.jobs or gpus > len(self.free):
            return False
        mine, self.free = self.free[:gpus], self.free[gpus:]
        fetch = self.fetch_retries is not None and name == stage_name("ingest", node.dataset)
        runner = run_stage.with_options(retries=self.fetch_retries[0], retry_delay_seconds=self.fetch_retries[1]) \
            if fetch else run_stage
        env = stage_env(self.rt.threads, mine if self.rt.gpus else None)
        self.board.start(name)
        future = runner.submit(self.base, name, self.force, raise_failure=fetch, parent_run_id=self.parent, env=env,
                               log=self.logs / f"{name}.log", on_line=lambda line, n=name: self.board.feed(n, line))
        self.running[future] = (name, weight, mine)
        return True

    def run(self, outcomes: dict[str, DatasetOutcome]) -> None:
        while True:
            self.hold_back(outcomes)
            for name in self.ready():
                if not self.start(name) and self.nodes[name].devices == 0:
                    break  # no room even for a CPU stage: wait for one to end
            if not self.running:
                return
            future = next(as_completed(list(self.running)))
            future.wait()  # the state this process holds: the API's copy is written asynchronously, may lag
            name, _, mine = self.running.pop(future)
            self.free += mine
            self.settle(name, future.state, outcomes[self.nodes[name].dataset])

    def settle(self, name: str, state, outcome: DatasetOutcome) -> None:
        log = self.logs / f"{name}.log"
        if not state.is_failed():
            self.ended[name] = "done"
            outcome.stages.append(name)
            self.board.finish(name, "done")
            return
        skipped = state.name == "Skipped"
        self.ended[name] = "skipped" if skipped else "failed"
        if outcome.status != "failed":  # the first failure of a dataset is its reason
            outcome.status, outcome.reason = ("skipped" if skipped else "failed"), f"{name}: {state.message}"
        self.board.finish(name, "skipped" if skipped else "FAILED",
                          f"{state.message} (log: {log.relative_to(self.base)})")
        level = logging.WARNING if skipped else logging.ERROR
        get_run_logger().log(level, f"{outcome.dataset} {'SKIPPED' if skipped else 'FAILED'}: {name}: {state.message}")
