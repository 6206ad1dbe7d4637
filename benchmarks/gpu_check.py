"""One-call GPU check: devices seen; cosine LSTM and text LSTM training samples/s on the CPU and on cuda:0;
two trainings at once on cuda:0 and cuda:1; a 2-GPU DDP training. Prints one JSON object.

Every figure comes from the train stage's own path (params.yaml's `lstm` cell of each dataset, the
plug-in's data and module, flows.training.lightning_fit.fit), on data the real ingest and windows stages write into
a temp dir. Each phase runs in its own process under a timeout, inside one overall budget, so a hung
CUDA call costs that phase (an "error" field) and never the JSON. A phase that cannot run says why
in "skipped" instead of a figure. The result is also written (--out, default
benchmarks/results/gpu_check.json) only when at least one GPU was seen.

    bash benchmarks/gpu_check.sh [--quick] [--out PATH]      (finds a python with torch, bounds the whole run)
    python benchmarks/gpu_check.py [--quick] [--budget 270] [--out PATH]

--quick: the CPU figures from a few steps, no GPU phase (seconds; what CI runs).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.emit import emit, load  # noqa: E402
from benchmarks.project import repo_params, write_params  # noqa: E402
from flows.training.launch import threads_per_rank  # noqa: E402

TASKS = ("cosine", "text")
CELL = "lstm"  # cosine: LSTM(200) on windows of 500; text: char LSTM(256) on blocks of 100 (params.yaml)
RESULTS = REPO / "benchmarks/results"
# (warm-up steps, timed steps, cap on the timed seconds per task). The warm-up absorbs CUDA context and
# cuDNN plan creation; the cap keeps a slow CPU inside the budget (its step count is reported). Quick
# times one first step: a smoke test of the path with a figure, not a measurement.
STEPS = {"quick": (0, 1, 5.0), "cpu": (2, 300, 25.0), "cuda": (20, 300, 30.0)}
PHASE_S = {"devices": 60, "cpu": 110, "cuda": 100, "pair": 80, "ddp": 110}  # each phase's own timeout
LEAST_S = 15  # a phase is not started with less of the budget left than this


# --- the worker: one training per task, in this process ------------------------------------------
def timer_callback(warmup: int, steps: int, cap: float, world: int):
    import pytorch_lightning as pl
    import torch

    class StepTimer(pl.Callback):
        """Times `steps` training steps after `warmup` untimed ones, then stops the fit. The time cap
        applies to one process only: ranks stopping at different batches would wait on each other."""

        def __init__(self):
            self.batches = self.steps = self.samples = self.items = 0
            self.started = self.seconds = None

        def now(self, module) -> float:
            if module.device.type == "cuda":
                torch.cuda.synchronize(module.device)
            return time.perf_counter()

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if self.batches == warmup and self.started is None:
                self.started = self.now(module)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.batches += 1
            if self.batches <= warmup:
                return
            self.steps += 1
            self.samples += len(batch[0])  # windows (cosine) or streams' blocks (text) of this rank
            self.items += batch[0].shape[0] * batch[0].shape[1]  # values or characters read
            if self.steps >= steps or (world == 1 and time.perf_counter() - self.started >= cap):
                self.seconds = self.now(module) - self.started
                trainer.should_stop = True

    return StepTimer()


def train_task(task: str, accelerator: str, devices: int, steps: tuple, tmp: Path) -> dict:
    import dataclasses

    import torch

    from flows import datasets
    from flows.core.params import train_spec
    from flows.stages.ingest import ingest
    from flows.stages.windows import make_windows
    from flows.training.launch import rank_and_world
    from flows.training.lightning_fit import fit

    rank, world = rank_and_world()
    root = tmp / f"{task}-rank{rank}"
    root.mkdir(parents=True)
    params = repo_params()
    params.update(datasets=[task], cells=[CELL])
    write_params(root, params)
    ingest(root, task)
    make_windows(root, task)
    plugin = datasets.get(task)
    splits = plugin.load(root)
    spec = plugin.budget(train_spec(params, task, CELL), splits)
    # Step-bounded, not epoch-bounded; no validation: the figure is the training loop's throughput.
    optim = dataclasses.replace(spec.optim, epochs=10**6, patience=None, keep_best=False)
    spec = dataclasses.replace(spec, optim=optim, accelerator=accelerator, devices=devices, strategy="auto")
    timer = timer_callback(*steps, world)
    module, _ = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, None, [timer], progress_bar=False)
    if timer.seconds is None:
        raise RuntimeError(f"the fit ended after {timer.batches} batches, before its timed steps were done")
    device = next(module.parameters()).device
    net = spec.net
    return {"model": f"{net.num_layers} x {net.kind.upper()}({net.hidden_size})",
            "sequence": splits.info["window"], "processes": world,
            "batch_per_process": timer.samples // timer.steps, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(), "timed_steps": timer.steps, "seconds": round(timer.seconds, 3),
            "samples_per_s": round(timer.samples * world / timer.seconds, 1),
            "steps_per_s": round(timer.steps / timer.seconds, 2),
            "items_per_s": round(timer.items * world / timer.seconds, 1)}


def worker(args) -> None:
    from flows.training.launch import rank_and_world
    from models.runtime import flush_denormals

    flush_denormals()  # as the train stage does
    found = {}
    with tempfile.TemporaryDirectory(prefix="rnnops-gpu-check-") as tmp:
        for task in args.tasks:
            try:
                found[task] = train_task(task, args.accelerator, args.devices, tuple(args.steps), Path(tmp))
            except Exception as exc:  # one task's failure is its field, not the other task's
                found[task] = {"error": f"{type(exc).__name__}: {exc}"}
    if rank_and_world()[0] == 0:
        Path(args.result).write_text(json.dumps(found))


def probe(args) -> None:
    import torch

    count = torch.cuda.device_count()
    seen = {"cuda_devices": count, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cpus": len(os.sched_getaffinity(0)), "gpus": []}
    for i in range(count):
        p = torch.cuda.get_device_properties(i)
        seen["gpus"].append({"index": i, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                             "capability": f"{p.major}.{p.minor}"})
    Path(args.result).write_text(json.dumps(seen))


# --- the orchestrator: phases as bounded subprocesses ----------------------------------------------
class Phases:
    def __init__(self, tmp: Path, budget: float):
        self.tmp, self.deadline = tmp, time.monotonic() + budget

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, commands: list[tuple[list[str], dict]]) -> list[dict]:
        """Start the commands at once; each returns what it wrote to its --result file, or an error."""
        limit = min(PHASE_S[name], self.left())
        if limit < LEAST_S:
            return [{"error": f"not run: {max(0, round(self.left()))} s of the budget left"}] * len(commands)
        started, procs = time.monotonic(), []
        for i, (cmd, env) in enumerate(commands):
            result, log = self.tmp / f"{name}{i}.json", self.tmp / f"{name}{i}.log"
            with open(log, "w") as fh:  # a whole new session: a timeout kills torchrun's ranks too
                procs.append((subprocess.Popen([*cmd, "--result", str(result)], cwd=self.tmp, stdout=fh,
                                               stderr=subprocess.STDOUT, env={**os.environ, **env},
                                               start_new_session=True), result, log))
        found = []
        for proc, result, log in procs:
            try:
                code = proc.wait(timeout=max(0.1, limit - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                found.append({"error": f"timed out after {round(limit)} s and was killed"})
                continue
            if code == 0 and result.exists():
                found.append(json.loads(result.read_text()))
            else:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                found.append({"error": f"exit code {code}: {' | '.join(tail)}"})
        return found


def training(tasks, accelerator: str, devices: int, steps: tuple, ddp: bool = False) -> list[str]:
    me = [sys.executable, str(Path(__file__).resolve())]
    if ddp:
        me = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={devices}", me[1]]
    return [*me, "--worker", "--tasks", *tasks, "--accelerator", accelerator, "--devices", str(devices),
            "--steps", *map(str, steps)]


def nvidia_smi() -> list[str] | str:
    if not shutil.which("nvidia-smi"):
        return "nvidia-smi is not on the PATH"
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "nvidia-smi did not answer within 20 s"
    return done.stdout.strip().splitlines() if done.returncode == 0 else f"nvidia-smi exit code {done.returncode}"


def ratio(a: dict, b: dict) -> float | None:
    if "samples_per_s" in a and "samples_per_s" in b:
        return round(a["samples_per_s"] / b["samples_per_s"], 2)
    return None


def check(args) -> dict:
    result = {"benchmark": "gpu_check", "quick": args.quick, "budget_s": args.budget}
    with tempfile.TemporaryDirectory(prefix="rnnops-gpu-check-") as tmp:
        phases = Phases(Path(tmp), args.budget)
        me = [sys.executable, str(Path(__file__).resolve())]
        devices = phases.run("devices", [([*me, "--probe"], {})])[0]
        devices["nvidia_smi"] = nvidia_smi()
        gpus = devices.get("cuda_devices", 0)
        if not gpus and isinstance(devices["nvidia_smi"], list) and devices["nvidia_smi"]:
            devices["note"] = "nvidia-smi lists GPUs but this torch sees none (a CPU build of torch?)"
        result["devices"] = devices
        result["cpu"] = phases.run("cpu", [(training(TASKS, "cpu", 1, STEPS["quick" if args.quick else "cpu"]), {})])[0]
        no_gpu = (f"the devices are unknown ({devices['error']})" if "error" in devices else "no CUDA GPU seen"
                  if not gpus else "--quick runs the CPU only" if args.quick else None)
        fewer = no_gpu or (f"needs 2 GPUs, {gpus} seen" if gpus < 2 else None)
        if no_gpu:
            result["cuda"] = {"skipped": no_gpu}
        else:
            result["cuda"] = phases.run("cuda", [(training(TASKS, "gpu", 1, STEPS["cuda"]), {})])[0]
        if fewer:
            result["two_trainings_at_once"] = result["ddp_2_gpus"] = {"skipped": fewer}
        else:
            threads = str(threads_per_rank(2))  # two processes share the cores, as the pipeline's jobs do
            pair = phases.run("pair", [(training(["cosine"], "gpu", 1, STEPS["cuda"]),
                                        {"CUDA_VISIBLE_DEVICES": str(i), "OMP_NUM_THREADS": threads}) for i in (0, 1)])
            result["two_trainings_at_once"] = {f"cuda:{i}": p.get("cosine", p) for i, p in enumerate(pair)}
            result["ddp_2_gpus"] = phases.run("ddp", [(training(["cosine"], "gpu", 2, STEPS["cuda"], ddp=True),
                                                       {"OMP_NUM_THREADS": threads})])[0]
            result["ddp_2_gpus"] = result["ddp_2_gpus"].get("cosine", result["ddp_2_gpus"])
        result["ratios"] = summary(result)
    return result


def summary(result: dict) -> dict:
    cpu, cuda = result["cpu"], result["cuda"]
    found = {f"{t}_cuda_over_cpu": ratio(cuda.get(t, {}), cpu.get(t, {})) for t in TASKS}
    single = cuda.get("cosine", {})
    pair = [p for p in result["two_trainings_at_once"].values() if "samples_per_s" in p]
    if len(pair) == 2 and "samples_per_s" in single:
        found["cosine_two_at_once_total_over_one"] = round(sum(p["samples_per_s"] for p in pair)
                                                           / single["samples_per_s"], 2)
    found["cosine_ddp_2_over_one"] = ratio(result["ddp_2_gpus"], single)
    return {k: v for k, v in found.items() if v is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few CPU steps, no GPU phase (CI)")
    parser.add_argument("--budget", type=float, default=270.0, help="seconds for all phases together")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the JSON is written when a GPU was seen (default benchmarks/results/"
                             "gpu_check.json, gpu_check_quick.json with --quick)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--accelerator", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--steps", nargs=3, type=float, default=STEPS["quick"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker or args.probe:
        if args.worker:
            args.steps = (int(args.steps[0]), int(args.steps[1]), args.steps[2])
        return worker(args) if args.worker else probe(args)
    before = load()
    result = check(args)
    seen = result["devices"].get("cuda_devices", 0) > 0
    out = args.out or RESULTS / ("gpu_check_quick.json" if args.quick else "gpu_check.json")
    emit(result, before, out if seen else None)


if __name__ == "__main__":
    main()
