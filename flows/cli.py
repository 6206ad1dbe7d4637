"""`rnnops`: run the pipeline, run one stage (what dvc.yaml calls), open the MLflow UI, print the summary."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from flows.env import apply_defaults
from models.errors import RnnopsError

SKIPPED_EXIT = 3  # a stage whose remote source is unreachable


def _stage(args) -> None:
    from flows.params import check_cell, check_dataset

    root, dataset = Path("."), check_dataset(args.dataset)
    if args.name in ("train", "evaluate", "backtest"):
        if not args.cell:
            raise RnnopsError(f"stage {args.name} needs a cell: rnnops stage {args.name} {dataset} <cell>.")
        check_cell(args.cell)
    if args.name == "ingest":
        from flows.stages.data import ingest
        ingest(root, dataset)
    elif args.name == "windows":
        from flows.stages.data import make_windows
        make_windows(root, dataset)
    elif args.name == "train":
        from flows.stages.train import train
        train(root, dataset, args.cell, flow_run_id=os.environ.get("RNNOPS_FLOW_RUN_ID") or None)
    elif args.name == "evaluate":
        from flows.stages.evaluate import evaluate
        evaluate(root, dataset, args.cell)
    elif args.name == "backtest":
        from flows.stages.backtest import backtest
        summary = backtest(root, dataset, args.cell)
        print(f"backtest {dataset}/{args.cell}: mean skill vs persistence {summary['mean_skill_vs_persistence']:+.3f} "
              f"({summary['folds_beating_persistence']}/{summary['folds']} folds beat it)")
    else:
        from flows.params import load_params
        from flows.stages.report import report
        print(f"report: {report(root, dataset, load_params(root)['cells'])}")


def summary_table(root: Path, datasets: list[str], cells: list[str]) -> str:
    from flows.stages.report import collect, fmt, headline, verdict

    lines = [f"{'dataset':<8} {'cell':<6} {'metric':<9} {'value':>10} {'baseline':>10} {'skill':>8} "
             f"{'train s':>8}  verdict"]
    for dataset in datasets:
        for cell, m in collect(root, dataset, cells).items():
            name, value, _, base, skill = headline(m)
            lines.append(f"{dataset:<8} {cell:<6} {name:<9} {fmt(value):>10} {fmt(base):>10} {skill:>+8.3f} "
                         f"{fmt(m['train_seconds']):>8}  {verdict(m)}")
    return "\n".join(lines)


def _run(args) -> int:
    from flows.checks import check_all
    from flows.params import load_params

    root = Path(".").resolve()
    params = load_params(root)
    datasets = args.datasets or params["datasets"]
    check_all(params, datasets)  # fail in a second, before a server starts, on an impossible parameter
    from flows.pipeline import pipeline

    started = time.perf_counter()
    outcomes = pipeline(root=str(root), datasets=datasets, force=args.force)
    print("\n" + summary_table(root, datasets, params["cells"]))
    for line in stability_lines(params, datasets):
        print(line)
    for o in outcomes:
        if o.status != "ok":
            print(f"{o.dataset}: {o.status.upper()} at {o.reason}")
    done = [o.dataset for o in outcomes if o.status == "ok"]
    print(f"\nreports: {', '.join(str(root / 'reports' / d / 'index.html') for d in done) or 'none'}")
    print(f"MLflow: `make ui` (tracking URI {os.environ.get('MLFLOW_TRACKING_URI', 'sqlite:///mlflow.db')}); "
          f"pipeline took {time.perf_counter() - started:.0f} s")
    return exit_code(outcomes)


def stability_lines(params: dict, datasets: list[str]) -> list[str]:
    from flows.params import train_spec
    from models.config import stability_note

    specs = ((d, c, train_spec(params, d, c)) for d in datasets for c in params["cells"])
    notes = ((d, c, stability_note(s.net, s.optim)) for d, c, s in specs)
    return [f"{d}/{c}: {note}" for d, c, note in notes if note]


def exit_code(outcomes) -> int:
    """0 when every dataset finished or was skipped for an unreachable source; 1 when one failed."""
    return 0 if all(o.status in ("ok", "skipped") for o in outcomes) else 1


def _ui(args) -> int:
    from flows.tracking import tracking_uri

    cmd = [sys.executable, "-m", "mlflow", "ui", "--host", args.host, "--port", str(args.port),
           "--backend-store-uri", tracking_uri(Path("."))]
    print(f"MLflow UI on http://{args.host}:{args.port} (Ctrl-C stops it)")
    return subprocess.call(cmd)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnops", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline through Prefect + DVC")
    run.add_argument("--datasets", nargs="+", help="subset of params.yaml's datasets")
    run.add_argument("--force", action="store_true", help="re-run stages even if DVC has them cached")
    stage = sub.add_parser("stage", help="run one pipeline stage (what dvc.yaml calls)")
    stage.add_argument("name", choices=["ingest", "windows", "train", "evaluate", "backtest", "report"])
    stage.add_argument("dataset")
    stage.add_argument("cell", nargs="?")
    ui = sub.add_parser("ui", help="MLflow UI over this repository's runs")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    ui.add_argument("--port", type=int, default=5000)
    sub.add_parser("summary", help="print the last metrics as a table")
    gen = sub.add_parser("generate", help="generate text from the champion character model or a model folder")
    gen.add_argument("--seed-text", required=True)
    gen.add_argument("--length", type=int, default=500)
    gen.add_argument("--temperature", type=float, default=0.8)
    gen.add_argument("--top-k", type=int, default=0, help="0 samples from the whole vocabulary")
    gen.add_argument("--rng-seed", type=int, default=1)
    gen.add_argument("--checkpoint", help="a data/models/text/<cell> folder instead of models:/rnnops-text@champion")
    predict = sub.add_parser("predict", help="next-day forecast from the champion model and the latest snapshot")
    predict.add_argument("dataset", choices=["stocks"])
    predict.add_argument("--ticker", help="default: stocks.ingest.ticker")
    predict.add_argument("--model-dir", help="a data/models/stocks/<cell> folder instead of the MLflow champion")
    return p


def main(argv: list[str] | None = None) -> int:
    apply_defaults()
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "stage":
            _stage(args)
            return 0
        if args.command == "ui":
            return _ui(args)
        if args.command == "generate":
            from flows.generate import generate_text

            print(generate_text(Path("."), args.seed_text, args.length, args.temperature, args.top_k, args.rng_seed,
                                args.checkpoint))
            return 0
        if args.command == "predict":
            from flows.predict import forecast_next

            f = forecast_next(Path("."), args.ticker, args.model_dir)
            print(f"{f['ticker']} {f['column']} after {f['last_date']}: forecast {f['forecast']:.2f} "
                  f"(last {f['last_price']:.2f}, {f['forecast'] / f['last_price'] - 1:+.2%}) "
                  f"from {f['model']} v{f['version']} {f['cell']}")
            return 0
        from flows.params import load_params
        params = load_params(".")
        print(summary_table(Path("."), params["datasets"], params["cells"]))
        return 0
    except RnnopsError as exc:
        from flows.sources.yahoo import SourceUnavailable

        if isinstance(exc, SourceUnavailable):  # the pipeline reports the dataset as SKIPPED
            print(f"rnnops: skipped: {exc}", file=sys.stderr)
            return SKIPPED_EXIT
        print(f"rnnops: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
