"""A sweep whose cell asks for 2 devices: each trial trains as 2 ranks under torchrun (gloo on CPU), as the
train stage's would; rank 0 reports to Optuna and a pruned trial stops both ranks."""
import json
import os
import subprocess
import sys

import pytest
import yaml
from optuna.trial import TrialState

from tests.conftest import git, write_params
from tests.test_ddp_resume import LOSS_RTOL
from tests.test_sweeps import TRAINING_METRICS, declare, rnnops, runs, study

pytestmark = pytest.mark.slow


def test_a_two_device_cell_trains_its_trials_as_two_ranks_and_prunes_them_together(project):
    # the draws of the single-process pruning test (random sampler, seed 15): trial 1 draws lr 1e-6
    params = declare(project, trials=3, sampler="random", seed=15, pruner="median", prune_after_trials=1,
                     prune_after_epochs=1, space={"hidden_size": {"type": "categorical", "choices": [16, 24]},
                                                  "lr": {"type": "categorical", "choices": [0.01, 1.0e-6]}})
    params["cosine"]["train"]["lstm"]["devices"] = 2
    write_params(project, params)
    git(project, "commit", "-qam", "two devices")
    done = rnnops(project, "sweep", "tiny", "--workers", "1", OMP_NUM_THREADS="2")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for number in range(3):
        assert f"tiny: trial {number} trains as 2 processes under torchrun" in done.stdout + done.stderr
    trials = study(project).get_trials()
    assert trials[1].params["lr"] == 1.0e-6, "the seed no longer draws the bad lr second"
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert sorted(trials[1].intermediate_values) == [1]  # rank 0 reported one epoch, then every rank stopped

    mlc, children = runs("trial")
    assert sorted(int(r.data.tags["trial"]) for r in children) == [0, 1, 2]
    for run in children:
        trial = trials[int(run.data.tags["trial"])]
        steps = [m.step for m in mlc.get_metric_history(run.info.run_id, "train/loss")]
        assert steps == ([1] if trial.state == TrialState.PRUNED else [1, 2, 3])  # logged once, by rank 0
        if trial.state == TrialState.COMPLETE:
            assert TRAINING_METRICS <= set(run.data.metrics) and run.data.metrics["val/rmse"] == trial.value

    # trial 0 is the cell itself: one process on the same global batches scores what the 2 ranks scored
    params["cosine"]["train"]["lstm"]["devices"] = 1
    write_params(project, params)
    repro = subprocess.run([sys.executable, "-m", "dvc", "repro", "evaluate-cosine-lstm"], cwd=project,
                           capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1",
                                                                     PATH=f"{os.path.dirname(sys.executable)}"
                                                                          f"{os.pathsep}{os.environ['PATH']}"))
    assert repro.returncode == 0, (repro.stdout + repro.stderr)[-3000:]
    alone = json.loads((project / "metrics/cosine/lstm.json").read_text())["val"]["rmse"]
    assert alone == pytest.approx(trials[0].value, rel=LOSS_RTOL)
    assert yaml.safe_load((project / "params.yaml").read_text())["sweeps"]["tiny"]["trials"] == 3
