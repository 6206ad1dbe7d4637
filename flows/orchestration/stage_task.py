"""One DVC stage as one Prefect task: `dvc repro --single-item <stage>` in a process of its own, its whole
output to its log file and its Prefect task run, its epoch lines to the terminal's live board.

DVC takes its repository lock while it prepares a stage and while it records it in dvc.lock, not while
the stage's command runs; `--wait-for-lock` makes concurrent stages queue for those moments instead of
failing with "Unable to acquire lock".
"""
from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.runtime import flow_run
from prefect.states import Failed

from flows import tracking
from flows.core.env import child_env

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


def dvc(root: Path, *args: str, extra_env: dict | None = None, log: Path | None = None,
        on_line: Callable[[str], None] | None = None) -> str:
    """Run the DVC CLI of our interpreter. With `log`, every line it prints goes to that file and to
    `on_line` as it comes, and a failure raises the stage's own one-sentence reason."""
    cmd = [sys.executable, "-m", "dvc", *args]
    env = child_env(**(extra_env or {}))
    if log is None:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if done.returncode:
            raise StageFailed(f"`dvc {' '.join(args)}` failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout
    tail: list[str] = []
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as sink, subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            bufsize=1) as proc:
        for line in proc.stdout:
            sink.write(line)
            sink.flush()
            tail = (tail + [line])[-200:]
            if on_line:
                on_line(line.rstrip("\n"))
    text = "".join(tail)
    if proc.returncode:
        found = ERROR_LINE.findall(text)
        if not found:
            raise StageFailed(failure_reason(text, proc.returncode))
        kind, reason = found[-1]
        raise (StageSkipped if kind == "skipped" else StageFailed)(reason.strip())
    return text


def _task_log() -> Callable[[str], None]:
    """A stage's lines to its Prefect task run only (the terminal has the board): Prefect's API handler on
    a logger of our own that does not propagate to the console."""
    try:
        run_logger = get_run_logger()
    except MissingContextError:  # called as a plain function
        return lambda line: None
    from prefect.logging.handlers import APILogHandler

    quiet = logging.getLogger("rnnops.stage-output")
    if not quiet.handlers:
        quiet.addHandler(APILogHandler())
        quiet.propagate = False
        quiet.setLevel(logging.INFO)
    adapter = logging.LoggerAdapter(quiet, dict(run_logger.extra))
    return lambda line: adapter.info(line) if line.strip() else None


@task(name="dvc-stage", task_run_name="{stage}", cache_policy=NO_CACHE)
def run_stage(root: Path, stage: str, force: bool = False, raise_failure: bool = False,
              parent_run_id: str | None = None, env: dict[str, str] | None = None, log: Path | None = None,
              on_line: Callable[[str], None] | None = None):
    """The stage's name, or a Failed state (named Skipped for an unreachable source) carrying the
    stage's one-sentence reason: returned rather than raised, so Prefect logs no traceback.
    raise_failure=True raises instead, so that Prefect's task retries apply (a scheduled fetch)."""
    # --single-item: the flow starts a stage only when its upstream has finished; without it every
    # stage would re-run an always-changed fetch upstream of it (a rolling profile's ingest).
    args = ["--wait-for-lock", "repro", "--single-item", stage] + (["--force"] if force else [])
    to_prefect = _task_log()

    def each(line: str) -> None:
        to_prefect(line)
        if on_line:
            on_line(line)
    try:
        env = {"RNNOPS_FLOW_RUN_ID": str(flow_run.id or ""), tracking.PARENT_RUN_ID: parent_run_id or "",
               "RNNOPS_PROGRESS_BAR": "0", **(env or {})}
        dvc(root, *args, extra_env=env, log=log or default_log(root, stage), on_line=each)
    except StageFailed as exc:
        if raise_failure:
            raise
        return Failed(message=str(exc), name="Skipped" if exc.skipped else "Failed")
    return stage


def default_log(root: Path, stage: str) -> Path:
    return Path(root) / "logs" / "stages" / f"{stage}.log"


def stage_env(threads: int, devices: list[str] | None) -> dict[str, str]:
    """A stage's share of the machine: its threads, and its GPUs (none: '' hides every GPU from it)."""
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "RNNOPS_THREADS": str(threads)}
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    return env

