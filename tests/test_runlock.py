"""One pipeline run per repository: a second run waits visibly, or fails in one sentence with --no-wait."""
import subprocess
import sys

import pytest

from flows.runlock import RunLocked, lock_path, run_lock
from tests.conftest import REPO

HOLD = """
import sys, time
from pathlib import Path
from flows.runlock import run_lock
with run_lock(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    print("releasing", flush=True)
"""


def holder(root, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_run_fails_at_once_when_asked_not_to_wait(tmp_path):
    proc = holder(tmp_path, 30)
    try:
        with pytest.raises(RunLocked, match=f"another rnnops run holds .*pid {proc.pid}") as err:
            with run_lock(tmp_path, wait=False):
                pass
        assert "\n" not in str(err.value)
    finally:
        proc.kill()
        proc.wait()
    with run_lock(tmp_path, wait=False):  # kill -9 of the holder released it
        assert "pid " in lock_path(tmp_path).read_text()


def test_a_second_run_waits_visibly_then_goes(tmp_path, capsys):
    proc = holder(tmp_path, 3)
    with run_lock(tmp_path, wait=True, poll_s=0.2):
        assert proc.stdout.readline().strip() == "releasing"  # the first run had finished before this began
    proc.wait()
    assert "waiting: another rnnops run holds this repository" in capsys.readouterr().err


def test_the_cli_refuses_a_concurrent_run_in_one_sentence(tmp_path):
    from tests.conftest import tiny_params, write_params

    write_params(tmp_path, tiny_params())
    proc = holder(tmp_path, 30)
    try:
        done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--no-wait"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 2 and done.stderr.startswith("rnnops: error: another rnnops run holds")
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "data").exists()
