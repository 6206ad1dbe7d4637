"""One pipeline run per repository at a time.

DVC locks a repository for one `dvc repro`, but a pipeline run is many of them: without a lock of
its own, a second run could re-ingest data while the first trains on it. The lock is an flock on
.dvc/tmp/rnnops-run.lock (released by the kernel when its holder dies, even by kill -9), and the
file says who holds it, for the message a second run prints.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from models.errors import RnnopsError


class RunLocked(RnnopsError):
    """Another pipeline run holds this repository and the caller asked not to wait."""


def lock_path(root: Path) -> Path:
    return Path(root) / ".dvc" / "tmp" / "rnnops-run.lock"


_HELD: set[Path] = set()  # locks this process holds: the CLI takes it, the flow it calls re-enters


@contextmanager
def run_lock(root: Path, wait: bool = True, poll_s: float = 2.0) -> Iterator[None]:
    path = lock_path(root).resolve()
    if path in _HELD:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        announced = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                if not wait:
                    raise RunLocked(f"another rnnops run holds {Path(root).resolve()} ({holder}); wait for it, "
                                    f"or run again without --no-wait to queue behind it.") from None
                if not announced:
                    print(f"waiting: another rnnops run holds this repository ({holder}); this run starts "
                          f"when it ends.", file=sys.stderr, flush=True)
                    announced = True
                time.sleep(poll_s)
        fh.seek(0)
        fh.truncate()
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}")
        fh.flush()
        _HELD.add(path)
        try:
            yield
        finally:
            _HELD.discard(path)
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
