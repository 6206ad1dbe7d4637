"""Shared data: `dvc push` from one clone, `dvc pull` in a fresh `git clone`, and nothing left to reproduce.
Once with the committed default remote (a folder under ~/.cache, HOME pointed at a temp dir), once with an
S3 remote on moto's S3 server on loopback, its credentials kept out of git."""
import os
import shutil
import sys
from pathlib import Path
from subprocess import run

import pytest

from tests.conftest import REPO, git
from tests.servers import moto_s3

pytestmark = pytest.mark.slow
# The data stages (ingest, windows): what a team shares, without two minutes of training on 2 busy cores;
# trained models are DVC outputs too and travel the same way.
STAGE = "windows-cosine"


def dvc(root: Path, home: Path, *args: str, **env: str) -> str:
    """DVC as a user on another machine runs it: their own HOME, no AWS settings unless given."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env)
    done = run([sys.executable, "-m", "dvc", *args], cwd=root, env=base, capture_output=True, text=True)
    assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def clone(origin: Path, into: Path) -> Path:
    run(["git", "clone", "-q", str(origin), str(into)], check=True)
    return into


def nothing_to_do(root: Path, home: Path, **env: str) -> None:
    assert "Data and pipelines are up to date" in dvc(root, home, "status", STAGE, **env)
    assert "Running stage" not in dvc(root, home, "repro", STAGE, **env)


def test_push_then_pull_in_a_fresh_clone_leaves_nothing_to_reproduce(project, tmp_path):
    shutil.copy(REPO / ".dvc/config", project / ".dvc/config")  # the default remote the repository ships
    home = tmp_path / "home"
    dvc(project, home, "repro", STAGE)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "results")

    dvc(project, home, "push")
    remote = home / ".cache/rnnops/dvc-remote"
    assert any(remote.rglob("*")) and not remote.is_relative_to(project)
    local = clone(project, tmp_path / "local-clone")
    dvc(local, home, "pull", "--with-deps", STAGE)
    assert (local / "data/windows/cosine").exists()
    nothing_to_do(local, home)

    with moto_s3("rnnops-dvc") as s3:
        dvc(project, home, "remote", "add", "-d", "team", f"s3://{s3.bucket}/store")
        dvc(project, home, "remote", "modify", "team", "endpointurl", s3.endpoint)
        dvc(project, home, "remote", "modify", "--local", "team", "access_key_id", s3.access_key)
        dvc(project, home, "remote", "modify", "--local", "team", "secret_access_key", s3.secret_key)
        git(project, "add", ".dvc/config")
        git(project, "commit", "-qm", "team remote on S3")
        said = dvc(project, home, "push") + dvc(project, home, "remote", "list")
        assert s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="store/")["KeyCount"] > 0

        # another person, another machine: no local remote folder, credentials from the environment
        other = tmp_path / "other-home"
        team = clone(project, tmp_path / "s3-clone")
        creds = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
        said += dvc(team, other, "pull", "--with-deps", STAGE, **creds)
        assert not (other / ".cache/rnnops/dvc-remote").exists()
        nothing_to_do(team, other, **creds)

    assert s3.secret_key not in said
    assert s3.secret_key in (project / ".dvc/config.local").read_text()  # where it went: git ignores that file
    for repo in (project, team):
        assert s3.secret_key not in git(repo, "log", "-p", "--all")
