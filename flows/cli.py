"""`rnnops`: run the pipeline, run one stage (what dvc.yaml calls), run or apply a sweep, write dvc.yaml,
open the MLflow UI, print the summary, forecast, generate, check the reference BPTT against autograd
(gradcheck).

Commands import what they need when they run: `rnnops stage train` pays for Lightning, the others do not.
"""
from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path

from flows.core.env import apply_defaults
from flows.orchestration.run_lock import run_lock
from flows.orchestration.stage_command import report_error, stage_main
from models.errors import InvalidParameter, RnnopsError


def summary_table(root: Path, names: list[str], cells: list[str] | dict[str, list[str]], outcomes=None) -> str:
    """cells: one list for every dataset, or dataset -> its cells (flows.core.params.cells_of)."""
    from flows.reporting.results import HEADER, cells_table, collect

    rows = [["dataset", *HEADER]]
    for dataset in names:
        outcome = next((o for o in outcomes or [] if o.dataset == dataset), None)
        current = outcome.evaluated() if outcome is not None else None
        mine = cells[dataset] if isinstance(cells, dict) else cells
        rows += [[dataset, *row] for row in cells_table(collect(root, dataset, mine, current))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)


def _run(args) -> int:
    from flows.core.params import cells_of, load_params
    from flows.orchestration import run_plan
    from flows.orchestration.preflight import check_all

    root = Path(".").resolve()
    params = load_params(root)
    names = args.datasets or params["datasets"]
    check_all(params, names)  # fail in a second, before a server starts, on an impossible parameter
    jobs = run_plan.parse_jobs(args.jobs)
    run_plan.runtime(params, jobs)
    from flows.tracking import check_reachable, warm_up

    check_reachable(root)
    with run_lock(root, wait=not args.no_wait):  # before the server starts; the flow re-enters it
        warm_up(root)  # MLflow's tables are made while Prefect's server starts, not after
        from flows.orchestration.pipeline import pipeline  # the flow writes dvc.yaml, under this lock

        started = time.perf_counter()
        outcomes = pipeline(root=str(root), datasets=names, force=args.force, jobs=jobs)
        cells = {d: cells_of(params, d) for d in names}
        print("\n" + summary_table(root, names, cells, outcomes))  # still ours: no other run started
        for line in stability_lines(params, names):
            print(line)
        for o in outcomes:
            if o.status != "ok":
                print(f"{o.dataset}: {o.status.upper()} at {o.reason} (metrics from earlier runs are not shown)")
            if o.not_run:
                print(f"{o.dataset}: not run: {', '.join(o.not_run)}")
        if outcomes:
            print(f"stage logs: {outcomes[0].logs}/<stage>.log")
        done = [root / "reports" / o.dataset / "index.html" for o in outcomes if o.status == "ok"]
        print(f"\nreports: {', '.join(str(p) for p in done if p.exists()) or 'none'}")
        for line in mlflow_lines(root, names, cells):
            print(line)
    print(f"pipeline took {time.perf_counter() - started:.0f} s")
    return exit_code(outcomes)


def mlflow_lines(root: Path, names: list[str], cells: dict[str, list[str]]) -> list[str]:
    """Where to look in MLflow: the runs table and each evaluated dataset's registered models."""
    from flows.reporting.results import collect
    from flows.tracking import experiment_link, model_link, tracking_uri

    local = "" if tracking_uri(root).startswith(("http://", "https://")) else " (serve it with `make ui`)"
    models = sorted({m["registered_model"] for d in names for m in collect(root, d, cells[d]).values()
                     if m.get("registered_model")})
    return [f"MLflow runs: {experiment_link(root)}{local}",
            *([f"MLflow models: {', '.join(model_link(root, name) for name in models)}"] if models else [])]


def stability_lines(params: dict, names: list[str]) -> list[str]:
    from flows.core.params import cells_of, train_spec
    from models.config import stability_note

    specs = ((d, c, train_spec(params, d, c)) for d in names for c in cells_of(params, d))
    notes = ((d, c, stability_note(s.net, s.optim)) for d, c, s in specs)
    return [f"{d}/{c}: {note}" for d, c, note in notes if note]


def exit_code(outcomes) -> int:
    """0 when every dataset finished or was skipped for an unreachable source; 1 when one failed."""
    return 0 if all(o.status in ("ok", "skipped") for o in outcomes) else 1


def _stage(args) -> int:
    from flows import datasets
    from flows.graph.dataflow import GENERIC

    extras = {} if args.name in GENERIC else {e.name: e for e in datasets.get(args.dataset).extra_stages}
    if args.name not in GENERIC and args.name not in extras:
        raise RnnopsError(f"unknown stage {args.name!r}; choose one of {', '.join([*GENERIC, *extras])}.")
    module = GENERIC.get(args.name) or extras[args.name].module
    function = {"windows": "make_windows"}.get(args.name, args.name)
    per_cell = args.name in ("train", "evaluate") or (args.name in extras and extras[args.name].per_cell)

    def run(*call):  # the stage's module (Lightning, MLflow) loads only once its arguments and upstream check out
        return getattr(importlib.import_module(module), function)(*call)

    return stage_main(run, per_cell, [args.dataset] + ([args.cell] if args.cell else []), module=module)


def _ui(args) -> int:
    from flows.tracking import experiment_link, tracking_uri

    if args.workers < 1:
        raise InvalidParameter(f"--workers must be at least 1, got {args.workers}.")
    uri = tracking_uri(Path("."))
    if uri.startswith(("http://", "https://")):  # a team's server has its own UI; never put the URI on a command line
        print(f"MLflow UI: {experiment_link(Path('.'))} (the server in MLFLOW_TRACKING_URI)")
        return 0
    cmd = [sys.executable, "-m", "mlflow", "ui", "--host", args.host, "--port", str(args.port),
           "--workers", str(args.workers), "--backend-store-uri", uri]
    # flushed: the address must show before the server's own output, also through a pipe (make ui | tee)
    print(f"MLflow UI: {experiment_link(Path('.'), f'http://{args.host}:{args.port}')} (Ctrl-C stops it)",
          flush=True)
    return subprocess.call(cmd)


def _sweep(args) -> int:
    from flows.core.params import load_params
    from flows.sweeps.config import sweep_config

    root = Path(".").resolve()
    params = load_params(root)
    cfg = sweep_config(params, args.name)
    if args.as_cell and not args.apply:
        raise InvalidParameter("--as names the cell --apply writes; add --apply, or leave --as out.")
    if args.workers < 0:
        raise InvalidParameter(f"--workers must be 0 or more, got {args.workers}.")
    from flows.sweeps import engine
    from flows.tracking import check_reachable

    engine.open_storage(root, cfg)  # an unreachable database is one sentence before anything trains
    if args.apply:
        from flows.sweeps.apply import apply_best

        print(apply_best(root, params, cfg, args.as_cell))
        return 0
    check_reachable(root)
    from flows.sweeps.flow import run_sweep

    result, failures, link = run_sweep(root, params, cfg, args.workers)
    for failure in failures:
        print(f"rnnops: {failure}", file=sys.stderr)
    c, top = result["counts"], result["best"]
    print(f"sweep {cfg.name}: {c['finished']} of {cfg.trials} trials finished ({c['complete']} complete, "
          f"{c['pruned']} pruned, {c['failed']} failed; {c['lost']} lost to a dead worker and retried)")
    if top is not None:
        start = result["start_value"]
        print(f"best: trial {top['number']}, val {top['value']:.6g}"
              + (f" (starting cell {cfg.cell}: {start:.6g})" if start is not None else "") + "; "
              + ", ".join(f"{k}={v!r}" for k, v in top["params"].items()))
    print(f"MLflow parent run: {link}")
    if not args.workers and not result["done"]:
        print(f"study ready; start workers with `rnnops sweep {cfg.name} --workers K` here or, on each machine of "
              f"the work pool, `prefect deployment run sweep-worker/sweep-worker --param name={cfg.name}`")
        return 0
    if not result["done"]:
        print(f"the study is not complete: run `rnnops sweep {cfg.name}` again to continue it")
        return 1
    print(f"apply it: rnnops sweep {cfg.name} --apply [--as CELL]")
    return 0


def _serve(args) -> int:
    from flows.core.params import load_params
    from flows.orchestration.deployments import serve

    try:
        serve(Path(".").resolve(), load_params("."))
    except KeyboardInterrupt:
        print("rnnops serve stopped; the deployments stay on the server, without a process to run them")
    return 0


def _dvc_yaml(args) -> int:
    from flows.core.params import load_params
    from flows.graph import dvc_views as dvcviews
    from flows.graph import dvc_yaml

    params = load_params(".")
    if args.check:
        current = Path("dvc.yaml").read_text(encoding="utf-8") if Path("dvc.yaml").exists() else ""
        if current != dvc_yaml.render(dvc_yaml.plan(Path("."), params), params):
            raise RnnopsError("dvc.yaml is out of date with the plug-ins or params.yaml; run `rnnops dvc-yaml`.")
        return 0
    print("dvc.yaml " + ("rewritten" if dvc_yaml.sync(Path("."), params)[1] else "already up to date"))
    if dvcviews.sync_template(Path(".")):
        print(f".dvc/{dvcviews.NAME} or .dvc/plots/ rewritten (`dvc plots show`'s page and chart templates)")
    return 0


def _metrics(args) -> int:
    from flows.graph.dvc_views import show_metrics

    if args.digits < 1:
        raise InvalidParameter(f"--digits must be at least 1, got {args.digits}.")
    show_metrics(Path("."), args.targets, args.digits, args.md)
    return 0


def _plots(args) -> int:
    from flows.graph.dvc_views import show_plots

    return show_plots(Path("."), args.out)


def _gradcheck(args) -> int:
    import json

    from models.gradcheck import gradcheck

    found = gradcheck(args.tolerance, steps=args.steps, hidden=args.hidden, seed=args.seed)
    print(json.dumps(found, indent=2))
    return 0 if found["passed"] else 1


def _summary(args) -> int:
    from flows.core.params import cells_of, load_params

    params = load_params(".")
    print(summary_table(Path("."), params["datasets"], {d: cells_of(params, d) for d in params["datasets"]}))
    return 0


def parser(verbs: dict[str, tuple] | None = None) -> argparse.ArgumentParser:
    """`verbs`: the plug-ins' commands (flows.datasets.verbs()); left out, only rnnops' own."""
    p = argparse.ArgumentParser(prog="rnnops", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline through Prefect + DVC")
    run.add_argument("--datasets", nargs="+", help="subset of params.yaml's datasets")
    run.add_argument("--force", action="store_true", help="re-run stages even if DVC has them cached")
    run.add_argument("--jobs", metavar="N", help="stages at a time (default: params' runtime.jobs, else auto: one "
                                                "per core, each with cores / N threads)")
    run.add_argument("--no-wait", action="store_true",
                     help="fail at once when another run holds this repository, instead of queueing behind it")
    stage = sub.add_parser("stage", help="run one pipeline stage (what dvc.yaml calls)")
    stage.add_argument("name", help="ingest, windows, train, evaluate, report, or a dataset's own (backtest)")
    stage.add_argument("dataset")
    stage.add_argument("cell", nargs="?")
    check = sub.add_parser("dvc-yaml", help="write dvc.yaml from the dataset registry and params.yaml")
    check.add_argument("--check", action="store_true", help="only fail when dvc.yaml is out of date")
    ui = sub.add_parser("ui", help="MLflow UI over this repository's runs")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--workers", type=int, default=1,
                    help="server processes (default 1: one person's UI over a SQLite file; MLflow's 4 each import it)")
    sub.add_parser("summary", help="print the last metrics as a table")
    metrics = sub.add_parser("metrics", help="`dvc metrics show` with significant digits (DVC's rounds 1e-6 to 0.0)")
    metrics.add_argument("targets", nargs="*", help="metrics files or folders (default: all of dvc.yaml's)")
    metrics.add_argument("--digits", type=int, default=4, help="significant digits (default 4)")
    metrics.add_argument("--md", action="store_true", help="a Markdown table")
    plots = sub.add_parser("plots", help="`dvc plots show` of the charts that have data (none for a skipped dataset)")
    plots.add_argument("-o", "--out", help="the folder for index.html (DVC's default: dvc_plots)")
    sweep = sub.add_parser("sweep", help="run a hyperparameter sweep declared in params.yaml (sweeps:), or apply "
                                         "its best trial as a cell")
    sweep.add_argument("name", help="a key of params.yaml's sweeps:")
    sweep.add_argument("--workers", type=int, default=1,
                       help="worker processes on this machine, cores / K threads each (0: only create the study "
                            "and its MLflow run, for workers elsewhere)")
    sweep.add_argument("--apply", action="store_true", help="write the best trial into params.yaml as a cell")
    sweep.add_argument("--as", dest="as_cell", metavar="CELL",
                       help="with --apply: a new cell of this name instead of replacing the starting cell")
    sub.add_parser("serve", help="serve params.yaml's schedules as Prefect deployments (needs PREFECT_API_URL)")
    for name, (verb, owners) in (verbs or {}).items():  # the plug-ins' own, where the generic commands end
        if name in COMMANDS:
            raise InvalidParameter(f"the plug-in {owners[0]} declares the verb {name!r}, which is one of rnnops' own; "
                                   f"rename it.")
        mine = sub.add_parser(name, help=verb.help)
        if verb.per_dataset:
            mine.add_argument("dataset", choices=owners)
        for option in verb.options:
            mine.add_argument(*option.flags, **dict(option.settings))
        mine.set_defaults(verb=verb, owner=owners[0])
    grad = sub.add_parser("gradcheck", help="the NumPy reference RNN's BPTT against torch autograd (JSON; exit 1 "
                                            "above the tolerance)")
    grad.add_argument("--tolerance", type=float, default=1e-6, help="largest relative error allowed")
    grad.add_argument("--steps", type=int, default=9, help="time steps per sequence")
    grad.add_argument("--hidden", type=int, default=5, help="hidden units")
    grad.add_argument("--seed", type=int, default=0)
    return p


def _plugin_verb(args) -> int:
    module = importlib.import_module(args.verb.module)  # a plug-in's verb pays for its own imports only now
    return module.main(Path("."), args.dataset if args.verb.per_dataset else args.owner, args)


COMMANDS = {"run": _run, "stage": _stage, "sweep": _sweep, "dvc-yaml": _dvc_yaml, "ui": _ui, "summary": _summary,
            "serve": _serve, "metrics": _metrics, "plots": _plots, "gradcheck": _gradcheck}


def main(argv: list[str] | None = None) -> int:
    apply_defaults()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        # rnnops' own commands start without the plug-ins (each imports torch); anything else may be theirs
        if argv and argv[0] in COMMANDS:
            args = parser().parse_args(argv)
        else:
            from flows import datasets

            args = parser(datasets.verbs()).parse_args(argv)
        return COMMANDS.get(args.command, _plugin_verb)(args)
    except RnnopsError as exc:
        return report_error(exc)
    except BrokenPipeError:
        return _reader_left()


def _reader_left() -> int:
    """`rnnops metrics | head`: the reader took what it wanted and closed the pipe. That is not an error to
    explain, and the interpreter's last flush must not raise it again as a traceback (Python's documented way:
    point stdout at devnull; exit 1, as Python itself does on EPIPE)."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    sys.exit(main())
