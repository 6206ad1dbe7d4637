"""A stage run before its upstream names the missing output and the stage to run first, in one line, and
writes nothing: every stage (but ingest) of every dataset of the tiny profile, in a project where no stage ran."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main
from flows.graph import dataflow
from tests.conftest import REPO, tiny_params, write_params

DATASETS = ("cosine", "stocks", "stocks_daily", "text")
CELL = "rnn"
# What each kind of stage finds missing first in a project where nothing ran, and the stage that makes it.
# Written out here, not derived from flows.graph.dataflow, so that a wrong graph cannot agree with itself;
# a new kind of stage fails with a KeyError until it is added.
FIRST_MISSING = {"windows": ("data/raw/{d}", "`rnnops stage ingest {d}`"),
                 "train": ("data/windows/{d}", "`rnnops stage windows {d}`"),
                 "evaluate": ("data/models/{d}/rnn", "`rnnops stage train {d} rnn`"),
                 "report": ("metrics/{d}", "`rnnops stage evaluate {d} <cell>` for each cell"),
                 "backtest": ("data/raw/{d}", "`rnnops stage ingest {d}`"),
                 "forecast": ("data/raw/{d}", "`rnnops stage ingest {d}`")}


def _cases():
    params = tiny_params(DATASETS)
    return [(d, s.kind, s.cell) for d in DATASETS for s in dataflow.stages(params, d).values()
            if s.kind != "ingest" and s.cell in (None, CELL)]


CASES = _cases()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A checkout where no stage ran: params.yaml (tiny profile, every dataset), no data/, metrics/, reports/."""
    root = tmp_path_factory.mktemp("fresh")
    write_params(root, tiny_params(DATASETS))
    return root


def files_in(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if "__pycache__" not in p.parts}


def test_the_cases_cover_every_kind_of_stage():
    kinds = {(d, k) for d, k, _ in CASES}
    assert {("stocks", "backtest"), ("stocks_daily", "forecast"), ("text", "report"), ("cosine", "evaluate")} <= kinds
    assert {k for _, k in kinds} == set(FIRST_MISSING)


@pytest.mark.parametrize(("dataset", "kind", "cell"), CASES, ids=[f"{k}-{d}" for d, k, _ in CASES])
def test_a_stage_before_its_upstream_says_which_stage_to_run_first(fresh, monkeypatch, capsys, dataset, kind, cell):
    monkeypatch.chdir(fresh)
    before = files_in(fresh)
    code = main(["stage", kind, dataset, *([cell] if cell else [])])
    err = capsys.readouterr().err.strip()
    missing, upstream = (part.format(d=dataset) for part in FIRST_MISSING[kind])
    assert code == 2, err
    assert err == f"rnnops: error: {missing} is missing; run {upstream} first.", err
    assert "Traceback" not in err
    assert files_in(fresh) == before  # nothing written, not even an empty output folder


def test_the_stage_command_dvc_runs_says_it_too(fresh):
    """`python -m flows.stages.windows cosine` (dvc.yaml's command) finds its stage under __main__."""
    before = files_in(fresh)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "flows.stages.windows", "cosine"], cwd=fresh, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "rnnops: error: data/raw/cosine is missing; run `rnnops stage ingest cosine` first."
    assert files_in(fresh) == before
