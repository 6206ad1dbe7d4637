"""The Prefect side of a sweep: `sweep` runs K worker processes on this machine as tasks of one flow run;
`sweep-worker` (infra/prefect.yaml's deployment) is one worker per flow run, which a work pool hands to
any machine with a checkout: it pulls the data from the DVC remote and joins the shared study."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from prefect import flow, task
from prefect.states import Failed

from flows import datasets, tracking
from flows.core.env import child_env
from flows.core.params import load_params, train_spec
from flows.core.paths import stage_name
from flows.orchestration.run_lock import run_lock
from flows.orchestration.stage_task import StageFailed, dvc
from flows.sweeps import engine
from flows.sweeps.config import SweepConfig, sweep_config
from flows.training import launch
from models.errors import RnnopsError


def prepare_data(root: Path, dataset: str, pull: bool = False) -> None:
    """The dataset's windows, as the pipeline makes them (cached by DVC), before any worker starts: under
    the pipeline's lock, so no run re-windows the data while it is read."""
    lock = Path(root) / ".dvc" / "tmp" / "rnnops-sweep-data.lock"  # workers of one machine, one at a time
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh, run_lock(root):
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            dvc(root, "repro", "-q", *(["--pull"] if pull else []), stage_name("windows", dataset))
        except StageFailed as exc:
            raise RnnopsError(f"the {dataset} windows for the sweep could not be made: {exc}") from None


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def worker_threads(workers: int) -> int:
    """cores / workers; a user's OMP_NUM_THREADS caps it (one thread per trial makes a CPU score bit for bit
    what `dvc repro` of the applied cell gets with one thread)."""
    own = os.environ.get("OMP_NUM_THREADS", "")
    return min(launch.threads_per_rank(workers), int(own)) if own.isdigit() and int(own) > 0 else \
        launch.threads_per_rank(workers)


def worker_gpus(index: int, per_trial: int, gpus: int) -> str | None:
    """CUDA_VISIBLE_DEVICES of worker `index`: the `per_trial` GPUs its trials' ranks use (one for a
    one-device cell), a block of its own while there are enough; None on a machine without GPUs."""
    if not gpus:
        return None
    return ",".join(str((index * per_trial + j) % gpus) for j in range(min(per_trial, gpus)))


def trial_devices(root: str, name: str) -> int:
    """The devices each trial of sweep `name` trains on (its cell's `devices`; auto: one)."""
    params = load_params(Path(root))
    cfg = sweep_config(params, name)
    devices = train_spec(params, cfg.dataset, cfg.cell).devices
    return devices if isinstance(devices, int) else 1


@task(name="sweep-worker-process", task_run_name="{name}-worker-{index}")
def worker_process(root: str, name: str, index: int, threads: int, gpus: str | None = None):
    """`python -m flows.sweeps.worker <name>` with its share of the cores (and its GPUs); its output is logged.
    Returns the exit code, or a Failed state with the worker's one-sentence reason."""
    env = child_env(OMP_NUM_THREADS=str(threads), **{engine.WORKER_ENV: str(index)},
                    **({"CUDA_VISIBLE_DEVICES": gpus} if gpus is not None else {}))
    last = ""
    with subprocess.Popen([sys.executable, "-m", "flows.sweeps.worker", name], cwd=root, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        for line in proc.stdout:
            print(f"[worker {index}] {line.rstrip()}")
            last = line.strip() or last
    if proc.returncode:
        why = last.removeprefix("rnnops: error: ") if last else "it printed nothing"
        return Failed(message=f"worker {index} exited with {proc.returncode}: {why}")
    return 0


@flow(name="sweep", log_prints=True)
def sweep(root: str, name: str, workers: int) -> list[str]:
    """K workers side by side, each with cores / K threads (fewer when the user's OMP_NUM_THREADS says so)
    and, where there are GPUs, as many as its cell's `devices` (one by default)."""
    threads, gpus, per_trial = worker_threads(workers), gpu_count(), trial_devices(root, name)
    futures = [worker_process.submit(root, name, i, threads, worker_gpus(i, per_trial, gpus)) for i in range(workers)]
    states = [f.wait() or f.state for f in futures]
    return [s.message for s in states if s.is_failed()]


@flow(name="sweep-worker", log_prints=True)
def sweep_worker(root: str, name: str, pull: bool = True) -> list[str]:
    """One worker on the machine that picked up this flow run, with all its cores and its first GPUs."""
    base = Path(root).resolve()
    cfg = sweep_config(load_params(base), name)
    prepare_data(base, cfg.dataset, pull=pull)
    gpus = worker_gpus(0, trial_devices(str(base), name), gpu_count())
    state = worker_process(str(base), name, 0, worker_threads(1), gpus, return_state=True)
    if state.is_failed():
        raise RnnopsError(state.message)
    return []


def run_sweep(root: Path, params: dict, cfg: SweepConfig, workers: int) -> tuple[dict, list[str], str]:
    """Data, study and parent run first (so workers only load them), then the workers; returns the
    study's report, the workers' failures and the parent run's link."""
    prepare_data(root, cfg.dataset)
    made = engine.open_sweep(root, params, cfg)
    failures = sweep(root=str(root), name=cfg.name, workers=workers) if workers else []
    result = engine.report(made, datasets.get(cfg.dataset).headline.metric)
    mlc = tracking.client(root)
    link = tracking.run_link(root, made.parent_run_id, mlc.get_run(made.parent_run_id).info.experiment_id)
    return result, failures, link
