"""The Prefect `pipeline` flow: one task per DVC stage, so DVC keeps caching/versioning and Prefect
adds the UI, logs, retries and schedules. One temporary Prefect server per process, not per stage."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from flows import dvcgraph, paths, tracking
from flows.checks import check_selected
from flows.env import child_env
from flows.params import cells_of, load_params
from flows.paths import stage_name
from flows.results import collect, summary_markdown
from flows.runlock import run_lock

ERROR_LINE = re.compile(r"rnnops: (error|skipped): (.+)")
DVC_ERROR = re.compile(r"^ERROR: (.+)$", re.MULTILINE)
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*$")  # a traceback's last line


def failure_reason(output: str, returncode: int) -> str:
    """The real reason of a stage that did not end with our own one-line error: the exception the
    stage process died of, then DVC's own ERROR line, else the last thing the process printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    raised = [line for line in lines if EXCEPTION_LINE.match(line)]
    dvc_said = DVC_ERROR.findall(output)
    parts = [raised[-1] if raised else "", dvc_said[-1].strip() if dvc_said else ""]
    reason = "; ".join(part for part in parts if part)
    return reason or (f"dvc exited with {returncode} after: {lines[-1]}" if lines else
                      f"dvc exited with {returncode} and printed nothing")


class StageFailed(RuntimeError):
    skipped = False


class StageSkipped(StageFailed):
    """The stage's remote source is unreachable; the run goes on without this dataset."""

    skipped = True


def dvc(root: Path, *args: str, stream: bool = False, extra_env: dict | None = None) -> str:
    """Run the DVC CLI of our interpreter; stream=True passes the output (progress bars) through live."""
    cmd = [sys.executable, "-m", "dvc", *args]
    env = child_env(**(extra_env or {}))
    if not stream:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if done.returncode:
            raise StageFailed(f"`dvc {' '.join(args)}` failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout
    tail = b""
    with subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        while chunk := os.read(proc.stdout.fileno(), 65536):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            tail = (tail + chunk)[-16384:]
    if proc.returncode:
        text = tail.decode("utf-8", "replace")
        found = ERROR_LINE.findall(text)
        if not found:
            raise StageFailed(failure_reason(text, proc.returncode))
        kind, reason = found[-1]
        raise (StageSkipped if kind == "skipped" else StageFailed)(reason.strip())
    return tail.decode("utf-8", "replace")


@task(name="dvc-stage", task_run_name="{stage}")
def run_stage(root: Path, stage: str, force: bool = False, raise_failure: bool = False,
              parent_run_id: str | None = None):
    """The stage's name, or a Failed state (named Skipped for an unreachable source) carrying the
    stage's one-sentence reason: returned rather than raised, so Prefect logs no traceback.
    raise_failure=True raises instead, so that Prefect's task retries apply (a scheduled fetch)."""
    # -q drops DVC's per-stage git hints; the stage's own output (progress bar, errors) still streams.
    # --single-item: the flow runs the stages in order, so upstream is current; without it every
    # stage would re-run an always-changed fetch upstream of it (a rolling profile's ingest).
    args = ["repro", "-q", "--single-item", stage] + (["--force"] if force else [])
    try:
        env = {"RNNOPS_FLOW_RUN_ID": str(flow_run.id or ""), tracking.PARENT_RUN_ID: parent_run_id or ""}
        dvc(root, *args, stream=True, extra_env=env)
    except StageFailed as exc:
        if raise_failure:
            raise
        return Failed(message=str(exc), name="Skipped" if exc.skipped else "Failed")
    return stage


class PipelineFailed(RuntimeError):
    """A scheduled run in which a dataset did not finish: the flow run must end Failed, visibly."""


@dataclass
class DatasetOutcome:
    dataset: str
    status: str = "ok"  # ok | skipped (source unreachable, nothing else wrong) | failed
    reason: str = ""
    stages: list[str] = field(default_factory=list)  # the stages this run completed

    def evaluated(self) -> set[str]:
        """Cells whose evaluate stage completed in this run (older metrics files are not this run's)."""
        prefix = stage_name("evaluate", self.dataset) + "-"
        return {s.removeprefix(prefix) for s in self.stages if s.startswith(prefix)}


@flow(name="pipeline", log_prints=True)
def pipeline(root: str = ".", datasets: list[str] | None = None, force: bool = False,
             wait: bool = True, scheduled: bool = False, fetch_retries: int = 2,
             retry_delay_s: float = 300.0) -> list[DatasetOutcome]:
    """ingest -> windows -> train -> evaluate -> report for each dataset; a failed dataset stops only itself.

    One run per repository at a time: a second one waits (or, wait=False, fails in one sentence).
    scheduled=True (what `rnnops serve` and infra/prefect.yaml pass): a fetch that fails is retried
    `fetch_retries` times, then an unreachable source fails the flow run instead of skipping quietly.
    """
    base = Path(root).resolve()
    with run_lock(base, wait=wait):
        params = load_params(base)
        names = datasets or params["datasets"]
        check_selected(params, names)
        parent = tracking.start_pipeline_run(base, names, params["cells"], str(flow_run.id or ""), scheduled)
        print(f"MLflow run of this pipeline: {tracking.run_link(base, parent)}")  # to watch it while it trains
        outcomes = []
        try:
            outcomes = run_datasets(base, names, force, (fetch_retries, retry_delay_s) if scheduled else None,
                                    parent)
        finally:  # an interrupted run's parent ends FAILED, not RUNNING forever
            statuses = {o.dataset: o.status for o in outcomes} or {name: "failed" for name in names}
            tracking.finish_pipeline_run(base, parent, statuses, [paths.report_dir(base, o.dataset)
                                                                  for o in outcomes if o.status == "ok"])
    missed = [f"{o.dataset} {o.status} at {o.reason}" for o in outcomes if o.status != "ok"]
    if scheduled and missed:
        raise PipelineFailed("; ".join(missed))
    return outcomes


def run_datasets(base: Path, datasets: list[str], force: bool, fetch_retries: tuple[int, float] | None = None,
                 parent_run_id: str | None = None) -> list[DatasetOutcome]:
    params = load_params(base)
    graph, rewritten = dvcgraph.sync(base, params)
    if rewritten:
        print("dvc.yaml rewritten from the dataset registry and params.yaml")
    outcomes = []
    for dataset in datasets:
        outcome = DatasetOutcome(dataset)
        for stage in graph[dataset]:
            runner, fetch = run_stage, fetch_retries is not None and stage == stage_name("ingest", dataset)
            if fetch:
                runner = run_stage.with_options(retries=fetch_retries[0], retry_delay_seconds=fetch_retries[1])
            state = runner(base, stage, force, raise_failure=fetch, parent_run_id=parent_run_id, return_state=True)
            if not state.is_failed():
                outcome.stages.append(stage)
                continue
            skipped = state.name == "Skipped"
            outcome.status = "skipped" if skipped else "failed"
            outcome.reason = f"{stage}: {state.message}"
            log = get_run_logger()
            (log.warning if skipped else log.error)(f"{dataset} {outcome.status.upper()}: {outcome.reason}")
            break
        outcomes.append(outcome)
        if outcome.status == "ok":
            create_markdown_artifact(
                key=f"rnnops-{dataset.lower().replace('_', '-')}-summary",  # Prefect: lowercase, digits, dashes
                markdown=f"# {dataset}\n\n" + summary_markdown(collect(base, dataset, cells_of(params, dataset),
                                                                         outcome.evaluated())),
                description=f"rnnops {dataset}: metrics per cell (each row names its split)",
            )
    return outcomes
