"""The engine: one Optuna study per sweep on an RDB storage every worker shares, and the worker loop.

Storage: RNNOPS_OPTUNA_STORAGE, else the sweep's `storage`, else sqlite:///<root>/optuna.db (one machine,
nothing to start); a team points every machine at the same PostgreSQL database.

A trial is claimed under a lock (an flock beside the SQLite file, a PostgreSQL advisory lock): the claim
counts the trials that hold a place (finished, running, waiting) and asks for a new one only while
fewer than `trials` do, so K workers never overshoot and never run the same trial. A worker records a
heartbeat while it trains; one silent for 3 heartbeats is dead (SIGKILL, a lost machine): its trial is
marked FAIL and a WAITING copy with the same params takes its place (Optuna's retry callback), which the
next claim hands out. So none is lost and none counted twice, and a re-run continues the same study.
"""
from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
import warnings
import zlib
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState

from flows.core.env import redact
from flows.sweeps.config import SweepConfig, start_values
from flows.tracking import sweeps as tracking
from models.errors import RnnopsError

STORAGE_ENV = "RNNOPS_OPTUNA_STORAGE"
WORKER_ENV = "RNNOPS_SWEEP_WORKER"  # the launcher's index of a local worker (its sampler's seed offset)
PARENT = "mlflow_parent_run_id"  # study user attr: the sweep's MLflow run, shared by every worker
DECLARED = "declared"  # study user attr: what the study searches; a changed declaration is refused
MAX_RETRY = 3  # a trial whose worker dies this many times is left failed (it may be what kills them)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def storage_url(root: Path, cfg: SweepConfig) -> str:
    return os.environ.get(STORAGE_ENV) or cfg.storage or f"sqlite:///{(Path(root) / 'optuna.db').resolve()}"


def study_name(cfg: SweepConfig) -> str:
    return f"rnnops-{cfg.name}"


class RetryAndClose(RetryHeartbeatStaleTrialCallback):
    """A stale trial's place goes to a WAITING copy with its params; its MLflow run is closed KILLED."""

    def __init__(self, root: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(max_retry=MAX_RETRY)
        self.root = root

    def __call__(self, study, trial) -> None:
        super().__call__(study, trial)
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            tracking.close_lost_trial_run(self.root, run_id, f"its worker {trial.user_attrs.get('worker')} went "
                                                             f"silent (killed?); the trial is retried")
        print(f"{study.study_name}: trial {trial.number} lost its worker; it is retried with the same params")


def open_storage(root: Path, cfg: SweepConfig, url: str | None = None) -> RDBStorage:
    """The shared storage, or one sentence before anything trains."""
    url = url or storage_url(root, cfg)
    scheme = url.split(":", 1)[0].split("+")[0]
    if scheme not in ("sqlite", "postgresql") or url in ("sqlite://", "sqlite:///:memory:"):
        raise RnnopsError(f"the Optuna storage {redact(url)} is not a SQLite file or PostgreSQL database; set "
                          f"{STORAGE_ENV} to sqlite:///<file> (one machine) or postgresql+psycopg2://... .")
    connect = {"timeout": 60} if scheme == "sqlite" else {"connect_timeout": 10}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        # Opening a new database creates Optuna's tables: workers starting at once would race on them
        # ("table ... already exists", "UNIQUE constraint failed: alembic_version"), so one creates, the rest load
        with warnings.catch_warnings(), (file_lock(url) if scheme == "sqlite" else nullcontext()):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(url, engine_kwargs={"connect_args": connect, "pool_pre_ping": True},
                              heartbeat_interval=cfg.heartbeat_s, grace_period=3 * cfg.heartbeat_s,
                              heartbeat_stale_trial_callback=RetryAndClose(Path(root)))
    except Exception as exc:  # sqlalchemy's OperationalError, a missing driver, a malformed URL
        reason = redact(" ".join(str(getattr(exc, "orig", None) or exc).split()))[:300]
        raise RnnopsError(f"the Optuna storage {redact(url)} cannot be reached ({reason}); start the database, or "
                          f"unset {STORAGE_ENV} to keep the study in sqlite under the repository.") from None


@contextmanager
def file_lock(sqlite_url: str):
    """An flock beside a SQLite storage's file: one holder at a time among the processes of this machine."""
    path = Path(sqlite_url.split(":///", 1)[1] + ".lock")
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


@contextmanager
def claim_lock(storage: RDBStorage, name: str):
    """One claim at a time over every worker of the study, on every machine that shares the storage."""
    if storage.url.startswith("sqlite"):
        with file_lock(storage.url):
            yield
        return
    import sqlalchemy

    key = zlib.crc32(name.encode())  # released with the connection when a worker dies holding it
    with storage.engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def tally(trials) -> dict[str, int]:
    """Trials by how they count: a FAIL whose place a retry took (retry_history) is not a finished trial."""
    replaced = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    found = {"complete": 0, "pruned": 0, "failed": 0, "lost": 0, "running": 0, "waiting": 0}
    for t in trials:
        key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.RUNNING: "running",
               TrialState.WAITING: "waiting"}.get(t.state)
        if t.state == TrialState.FAIL:
            key = "lost" if t.number in replaced else "failed"
        found[key] += 1
    found["finished"] = found["complete"] + found["pruned"] + found["failed"]
    return found


def sampler(cfg: SweepConfig, worker: int):
    """Seeded per worker: K workers with one seed would propose the same params K times."""
    seed = cfg.seed + worker
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # running trials count as guesses


def pruner(cfg: SweepConfig):
    if cfg.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=cfg.prune_after_trials,
                                       n_warmup_steps=cfg.prune_after_epochs)


def declaration(cfg: SweepConfig) -> str:
    return f"{cfg.dataset}/{cfg.cell}: " + "; ".join(f"{d.key} {d.describe()}" for d in cfg.space)


@dataclass
class Sweep:
    root: Path
    params: dict
    cfg: SweepConfig
    storage: RDBStorage
    study: optuna.Study
    parent_run_id: str


def open_sweep(root: Path, params: dict, cfg: SweepConfig, worker: int = 0, url: str | None = None) -> Sweep:
    """The study (created once, then loaded: the same study every run continues) and its MLflow parent run."""
    storage = open_storage(root, cfg, url)
    name = study_name(cfg)
    with claim_lock(storage, name):
        study = optuna.create_study(storage=storage, study_name=name, direction="minimize",
                                    sampler=sampler(cfg, worker), pruner=pruner(cfg), load_if_exists=True)
        attrs = study.user_attrs
        if attrs.get(DECLARED, declaration(cfg)) != declaration(cfg):
            raise RnnopsError(f"sweep {cfg.name}'s study in {redact(storage.url)} searches {attrs[DECLARED]}, not "
                              f"what params.yaml declares now; rename the sweep to start a new study.")
        if DECLARED not in attrs:
            study.set_user_attr(DECLARED, declaration(cfg))
            if cfg.start_trial:
                study.enqueue_trial(start_values(params, cfg), user_attrs={"start": True})
        parent = attrs.get(PARENT)
        if not parent or not tracking.reopen_sweep_run(root, parent):
            parent = tracking.start_sweep_run(root, cfg.name, f"sweep {cfg.name}: {declaration(cfg)}", {
                "study": name, "storage": storage.url, "dataset": cfg.dataset, "cell": cfg.cell,
                "trials": cfg.trials, "sampler": cfg.sampler, "pruner": cfg.pruner, "seed": cfg.seed,
                **{f"space.{d.key}": d.describe() for d in cfg.space}})
            study.set_user_attr(PARENT, parent)
    return Sweep(Path(root), params, cfg, storage, study, parent)


def reopen_trial(cfg: SweepConfig, url: str, trial_id: int) -> optuna.Trial:
    """A trial another process claimed (its worker), for the rank of its torchrun launch that reports it:
    the study's own pruner, so the rank decides as the worker would."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name(cfg), storage=url, pruner=pruner(cfg))
    return optuna.Trial(study, trial_id)


def claim(sweep: Sweep):
    """A trial to run, None to wait (others hold the last places), or False: the study has its trials."""
    with claim_lock(sweep.storage, sweep.study.study_name), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(sweep.study)
        counts = tally(sweep.study.get_trials(deepcopy=False))
        if counts["finished"] >= sweep.cfg.trials:
            return False
        if counts["finished"] + counts["running"] >= sweep.cfg.trials:
            return None
        warnings.simplefilter("ignore", UserWarning)  # heartbeats outside optimize(): ours (heartbeat below)
        trial = sweep.study.ask()
        sweep.storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("worker", f"{os.getpid()}@{socket.gethostname()}")
        return trial


@contextmanager
def heartbeat(storage: RDBStorage, trial_id: int, every_s: float):
    stop = threading.Event()

    def beat():
        while not stop.wait(every_s):
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # a missed beat is retried at the next; a lost database shows in tell
                pass

    thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def best(trials) -> dict | None:
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not done:
        return None
    top = min(done, key=lambda t: (t.value, t.number))
    return {"number": top.number, "value": top.value, "params": dict(top.params)}


def start_value(trials) -> float | None:
    return next((t.value for t in trials if t.user_attrs.get("start") and t.state == TrialState.COMPLETE), None)


def report(sweep: Sweep, metric: str) -> dict:
    """Counts and the best trial, on the parent run too (FINISHED once the study has its trials)."""
    trials = sweep.study.get_trials(deepcopy=False)
    counts, top = tally(trials), best(trials)
    done = counts["finished"] >= sweep.cfg.trials
    tracking.update_sweep_run(sweep.root, sweep.parent_run_id, metric, counts, top, start_value(trials), done)
    return {"counts": counts, "best": top, "start_value": start_value(trials), "done": done}


def work(root: Path, params: dict, cfg: SweepConfig, worker: int | None = None, wait_s: float | None = None) -> dict:
    """One worker: claim and run trials until the study has its trials; returns report()."""
    from flows import datasets
    from flows.sweeps.trial import run_trial

    index = int(os.environ.get(WORKER_ENV, "0")) if worker is None else worker
    sweep = open_sweep(root, params, cfg, index)
    metric = datasets.get(cfg.dataset).headline.metric
    while True:
        trial = claim(sweep)
        if trial is False:
            break
        if trial is None:  # the last places are running elsewhere: wait until they finish or go stale
            time.sleep(wait_s or min(cfg.heartbeat_s, 2))
            continue
        with heartbeat(sweep.storage, trial._trial_id, cfg.heartbeat_s):
            run_trial(sweep, trial)
        report(sweep, metric)
    return report(sweep, metric)
