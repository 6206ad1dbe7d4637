"""The pipeline as a graph: what waits for what, how many at once, with what share; and what a person sees."""
import io

import pytest

from flows.orchestration import run_plan
from flows.orchestration.progress import Board
from models.errors import InvalidParameter
from tests.conftest import tiny_params


def test_each_stage_waits_only_for_the_stages_whose_outputs_it_reads():
    params = tiny_params(("cosine", "text"))
    nodes = run_plan.graph(params, ["cosine", "text"])
    assert nodes["ingest-cosine"].upstream == frozenset()
    assert nodes["windows-cosine"].upstream == {"ingest-cosine"}
    assert nodes["train-cosine-lstm"].upstream == {"windows-cosine", "ingest-cosine"}
    assert nodes["evaluate-cosine-lstm"].upstream == {"train-cosine-lstm", "windows-cosine"}
    assert nodes["report-cosine"].upstream == {f"{k}-cosine-{c}" for k in ("train", "evaluate")
                                               for c in ("rnn", "lstm", "gru")}
    # the trainings of a dataset, and the datasets, do not wait for each other
    trainings = [n for n in nodes if n.startswith("train-")]
    assert len(trainings) == 6 and not any(set(trainings) & nodes[t].upstream for t in trainings)
    assert not any(n.startswith("windows-cosine") for n in set().union(*(nodes[t].upstream for t in nodes
                                                                          if t.endswith("-text") or "-text-" in t)))
    order = list(nodes)
    assert all(order.index(u) < order.index(n) for n in nodes for u in nodes[n].upstream)  # a topological order
    assert {n: nodes[n].devices for n in nodes if nodes[n].devices} == {t: 1 for t in trainings}


def test_the_daily_forecast_waits_for_the_champion_that_the_evaluate_stages_elect():
    nodes = run_plan.graph(tiny_params(), ["stocks_daily"])
    assert {f"evaluate-stocks_daily-{c}" for c in ("rnn", "lstm", "gru")} <= nodes["forecast-stocks_daily"].upstream
    assert "forecast-stocks_daily" in nodes["report-stocks_daily"].upstream


def test_trainings_start_longest_first_by_their_last_recorded_seconds(tmp_path):
    from flows.orchestration.pipeline import Scheduler

    params = tiny_params()
    nodes = run_plan.graph(params, ["cosine"])
    for cell, seconds in (("rnn", 5), ("gru", 90)):  # metrics/ is in git: a fresh clone has these
        (tmp_path / "metrics/cosine").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"metrics/cosine/{cell}.json").write_text(f'{{"train_seconds": {seconds}}}')
    (tmp_path / "data/models/cosine/lstm").mkdir(parents=True)
    (tmp_path / "data/models/cosine/lstm/run.json").write_text('{"train_seconds": 40}')  # this machine's own run
    scheduler = Scheduler(tmp_path, nodes, run_plan.Runtime(2, 1, ()), None, tmp_path, False, None, None)
    scheduler.ended.update({"ingest-cosine": "done", "windows-cosine": "done"})
    assert scheduler.ready() == ["train-cosine-gru", "train-cosine-lstm", "train-cosine-rnn"]


def test_a_training_that_asks_for_n_devices_holds_n():
    params = tiny_params()
    params["cosine"]["train"]["gru"]["devices"] = 2
    nodes = run_plan.graph(params, ["cosine"])
    assert nodes["train-cosine-gru"].devices == 2 and nodes["train-cosine-lstm"].devices == 1
    assert nodes["evaluate-cosine-gru"].devices == 0


def test_jobs_and_threads_come_from_the_flag_then_params_then_the_machine(monkeypatch):
    monkeypatch.setattr(run_plan.launch, "cores", lambda: 16)
    params = tiny_params()
    assert run_plan.runtime(params, gpus=()) == run_plan.Runtime(16, 1, ())
    params["runtime"] = {"jobs": 4}
    assert run_plan.runtime(params, gpus=("0", "1")) == run_plan.Runtime(4, 4, ("0", "1"))
    assert run_plan.runtime(params, 2, gpus=()).jobs == 2  # --jobs wins over params
    params["runtime"] = {"jobs": "auto", "threads": 1}
    assert run_plan.runtime(params, gpus=()) == run_plan.Runtime(16, 1, ())
    monkeypatch.setattr(run_plan.launch, "cores", lambda: 64)
    assert run_plan.runtime({}, gpus=()).jobs == run_plan.MAX_AUTO_JOBS


@pytest.mark.parametrize("section, jobs, words", [
    ({"jobs": 0}, None, "runtime.jobs must be a positive integer or auto, got 0"),
    ({"jobs": "many"}, None, "runtime.jobs must be a positive integer or auto, got 'many'"),
    ({"threds": 2}, None, "params.yaml's runtime section takes only jobs, threads, got ['threds']"),
    ({}, -1, "--jobs must be a positive integer or auto, got -1"),
])
def test_an_impossible_runtime_is_one_sentence(section, jobs, words):
    with pytest.raises(InvalidParameter, match="^" + words.replace("[", r"\[").replace("]", r"\]")):
        run_plan.runtime({"runtime": section}, jobs, gpus=())
    with pytest.raises(InvalidParameter, match="got 'x'"):
        run_plan.parse_jobs("x")


EPOCH = "cosine/lstm: epoch 3/8 trained (train/grad_norm 0.3, train/loss 0.01, val/loss 0.02, val/rmse 0.1)"


def test_off_a_terminal_each_epoch_and_each_finished_stage_is_one_whole_line():
    out = io.StringIO()
    with Board(out, live=False) as board:
        board.start("train-cosine-lstm")
        board.start("train-cosine-gru")
        board.feed("train-cosine-lstm", "some Lightning chatter")
        board.feed("train-cosine-lstm", EPOCH)
        board.finish("train-cosine-lstm", "done")
        board.feed("train-cosine-gru", "Stage 'train-cosine-gru' didn't change, skipping")
        board.finish("train-cosine-gru", "done")
    lines = out.getvalue().splitlines()
    assert lines[0] == "  train-cosine-lstm: epoch 3/8 (train/loss 0.01, val/loss 0.02)"
    assert lines[1].startswith("done    train-cosine-lstm ") and lines[1].endswith("s")
    assert lines[2] == "cached  train-cosine-gru"
    assert "\x1b" not in out.getvalue() and len(lines) == 3


def test_on_a_terminal_running_stages_are_one_line_each_redrawn_in_place():
    out = io.StringIO()
    board = Board(out, live=True, tick_s=3600)
    board.start("train-cosine-lstm")
    board.start("train-text-gru")
    board.feed("train-cosine-lstm", EPOCH)
    board.finish("train-text-gru", "FAILED", "it broke (log: logs/x/train-text-gru.log)")
    board.__exit__(None, None, None)
    screen = render(out.getvalue())
    assert screen == ["FAILED  train-text-gru 0s  it broke (log: logs/x/train-text-gru.log)"]
    assert "epoch 3/8  train/loss 0.01, val/loss 0.02" in out.getvalue()  # the live line, since erased


def render(text: str) -> list[str]:
    """What a terminal shows after `text`: lines, with 'ESC[nF' (n lines up) and 'ESC[J' (clear below) applied."""
    import re

    screen, row = [], 0
    for part in re.split(r"(\x1b\[\d+F\x1b\[J)", text):
        moved = re.fullmatch(r"\x1b\[(\d+)F\x1b\[J", part)
        if moved:
            row -= int(moved.group(1))
            del screen[row:]
            continue
        for line in part.split("\n")[:-1]:
            screen[row:row + 1] = [line]
            row += 1
    return screen
