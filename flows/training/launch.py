"""How many processes a training needs, and starting them under torchrun (never Lightning's own
re-execution of sys.argv, which would re-run a Prefect flow or a pytest session in rank 1).

Imports neither Lightning nor (until a GPU count is needed) torch, so `rnnops run` checks params fast.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from models.errors import InvalidParameter, RnnopsError

ACCELERATORS = ("auto", "cpu", "gpu", "cuda")
# ddp_spawn / ddp_fork / ddp_notebook start ranks from inside the caller: refused on purpose.
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")
PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "64-true")


@dataclass(frozen=True)
class Layout:
    """The resolved runtime: what Lightning gets, and how many processes that makes."""

    accelerator: str  # "cpu" or "gpu"
    devices: int  # processes per node
    num_nodes: int
    strategy: str
    precision: str | None  # None: Lightning's default (32-true)

    @property
    def world(self) -> int:
        return self.devices * self.num_nodes


def layout(spec, where: str = "train", cuda_count: int | None = None) -> Layout:
    """Check the runtime keys of a TrainSpec and resolve `auto`; bad combinations are one sentence."""
    if cuda_count is None:
        import torch

        cuda_count = torch.cuda.device_count()
    gpus = cuda_count
    if spec.accelerator not in ACCELERATORS:
        raise InvalidParameter(f"{where}.accelerator must be one of {', '.join(ACCELERATORS)}, "
                               f"got {spec.accelerator!r}.")
    if spec.strategy not in STRATEGIES:
        raise InvalidParameter(f"{where}.strategy must be one of {', '.join(STRATEGIES)}, got {spec.strategy!r} "
                               f"(processes are started by torchrun or srun, never from inside the stage).")
    if str(spec.precision) not in PRECISIONS:
        raise InvalidParameter(f"{where}.precision must be one of {', '.join(PRECISIONS)}, got {spec.precision!r}.")
    if not (isinstance(spec.num_nodes, int) and spec.num_nodes > 0):
        raise InvalidParameter(f"{where}.num_nodes must be a positive integer, got {spec.num_nodes!r}.")
    accelerator = "gpu" if spec.accelerator in ("gpu", "cuda") or (spec.accelerator == "auto" and gpus) else "cpu"
    if accelerator == "gpu" and not gpus:
        raise InvalidParameter(f"{where}.accelerator is {spec.accelerator!r} but this machine has no CUDA GPU; "
                               f"use auto or cpu.")
    devices = spec.devices
    if devices == "auto":
        devices = gpus if accelerator == "gpu" else 1
    if not (isinstance(devices, int) and not isinstance(devices, bool) and devices > 0):
        raise InvalidParameter(f"{where}.devices must be a positive integer or auto, got {spec.devices!r}.")
    if accelerator == "gpu" and devices > gpus and spec.num_nodes == 1:
        raise InvalidParameter(f"{where}.devices is {devices} but this machine has {gpus} GPU(s); lower devices.")
    strategy = "ddp" if spec.strategy == "auto" and devices * spec.num_nodes > 1 else spec.strategy
    found = Layout(accelerator, devices, spec.num_nodes, strategy,
                   None if spec.precision == "auto" else str(spec.precision))
    batch = spec.optim.batch_size
    if batch % found.world:
        raise InvalidParameter(f"{where}.batch_size {batch} does not split evenly over {found.world} processes "
                               f"(devices {devices} x num_nodes {spec.num_nodes}); the global batch stays {batch}, "
                               f"so make it a multiple of {found.world} or change devices.")
    return found


def launched() -> bool:
    """True inside a rank that torchrun or srun started (Lightning then uses those processes as they are)."""
    return "WORLD_SIZE" in os.environ or int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1


def rank_and_world() -> tuple[int, int]:
    """Global rank and world size of this process, from torchrun's or SLURM's variables."""
    if "WORLD_SIZE" in os.environ:
        return int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"])
    if "SLURM_NTASKS" in os.environ:
        return int(os.environ.get("SLURM_PROCID", "0")), int(os.environ["SLURM_NTASKS"])
    return 0, 1


def ranks_per_node() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("SLURM_NTASKS_PER_NODE", "1").split("(")[0] or 1)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_rank(ranks: int) -> int:
    """Two busy ranks with torch's default thread count each collapse on a small machine (ENVIRONMENT.md).
    The stage's own share (RNNOPS_THREADS, when the pipeline runs stages side by side) is split, not the machine."""
    share = os.environ.get("RNNOPS_THREADS", "")
    return max(1, (int(share) if share.isdigit() and int(share) > 0 else cores()) // max(1, ranks))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A kill -9 of the stage must not leave ranks training on (and writing checkpoints) unseen."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def die_with_parent() -> None:
    """Called in a rank: go when torchrun goes (torchrun itself goes with the stage)."""
    if sys.platform.startswith("linux") and os.environ.get("RNNOPS_RANK_OF_STAGE"):
        _die_with_parent()
        if os.getppid() == 1:  # the parent was already gone before the request took effect
            os.kill(os.getpid(), signal.SIGKILL)


def torchrun(module: str, args: list[str], nproc: int, env: dict[str, str]) -> int:
    """Run `python -m <module> <args>` as `nproc` ranks on this machine; returns the exit code."""
    threads = threads_per_rank(nproc)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", module, *args]
    env = dict(env, OMP_NUM_THREADS=str(threads), RNNOPS_RANK_OF_STAGE="1")
    try:
        return subprocess.run(cmd, env=env, preexec_fn=_die_with_parent if sys.platform.startswith("linux")
                              else None).returncode
    except OSError as exc:
        raise RnnopsError(f"could not start torchrun ({exc}).") from None
