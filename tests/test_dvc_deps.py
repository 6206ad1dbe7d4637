"""dvc.yaml is exact: each stage declares every repository file it imports or opens and every params key it
reads, and an edit to one dataset's plug-in changes that dataset's stages only."""
import json
import os
from pathlib import Path

import pytest
import yaml

from flows.graph import dvc_yaml
from tests.conftest import REPO, dvc, git, tiny_params, write_params, write_tiny_corpus

pytestmark = pytest.mark.slow


def recorded_stages(project: Path, record_dir: Path) -> dict[str, dict]:
    """stage name -> what its process imported and read, matched through the stage's command line."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    by_cmd = {stage["cmd"]: name for name, stage in stages.items()}
    found = {}
    for path in record_dir.glob("*.json"):
        record = json.loads(path.read_text())
        cmd = " ".join(["python", "-m", record["module"], *record["args"]])
        assert cmd in by_cmd, f"a stage process ran {cmd!r}, which dvc.yaml does not declare"
        found[by_cmd[cmd]] = record
    return found


def _under(file: str, paths) -> bool:
    return any(file == d or file.startswith(d.rstrip("/") + "/") for d in paths)


def _outs(stage: dict) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o for kind in ("outs", "metrics") for o in stage.get(kind, [])]


# report-<dataset> also rewrites reports/index.html, the site's front page, from every dataset's summary that
# is there; that page is no stage's output, and declaring the other reports would make them a cycle.
SITE_INDEX_READS = ("reports/",)


def undeclared(project: Path, records: dict[str, dict]) -> list[str]:
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    problems = []
    for name, record in records.items():
        deps, params = stages[name]["deps"], stages[name].get("params", [])
        for file in record["files"]:
            if not _under(file, deps):
                problems.append(f"{name} imports {file} but does not list it in deps")
        for file in record["opened"]:
            site_index = name.startswith("report-") and file.startswith(SITE_INDEX_READS) and file.endswith(
                "/summary.json")
            if not (_under(file, deps) or _under(file, _outs(stages[name])) or site_index):
                problems.append(f"{name} opens {file} but does not list it in deps")
        for key in record["reads"]:
            if not any(key == p or key.startswith(p + ".") for p in params):
                problems.append(f"{name} reads params key {key} but does not list it")
    return problems


def record_env(monkeypatch, record_dir: Path) -> None:
    record_dir.mkdir()
    monkeypatch.setenv("RNNOPS_RECORD_DIR", str(record_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests" / "recorder"),
                                                      os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("RNNOPS_PROGRESS_BAR", "0")


def test_every_stage_declares_what_it_imports_and_reads_and_a_text_edit_touches_only_text(
        project, tmp_path, monkeypatch):
    params = tiny_params(("cosine", "text"))
    params["cells"] = ["lstm"]
    write_tiny_corpus(project)
    write_params(project, params)
    dvc_yaml.sync(project, params)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "cosine + text")
    record_env(monkeypatch, tmp_path / "records")

    done = dvc(project, "repro")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    records = recorded_stages(project, tmp_path / "records")
    assert set(records) == set(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])
    problems = undeclared(project, records)
    assert problems == [], "\n".join(problems)
    # The check has teeth: each stage reads its own section, imports models/, and cosine never sees text code
    assert any(r.startswith("text.windows") for r in records["windows-text"]["reads"])
    assert "models/regression.py" in records["train-cosine-lstm"]["files"]
    assert "data/sources/tiny.txt" in records["ingest-text"]["opened"]  # the corpus, and the report's templates
    assert "flows/reporting/templates/dataset.html.j2" in records["report-text"]["opened"]
    assert not any("datasets/text" in f for name, r in records.items() if "cosine" in name for f in r["files"])

    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."
    plugin = project / "flows/datasets/text/__init__.py"
    plugin.write_text(plugin.read_text() + "\n# an edit to the text plug-in\n")
    status = json.loads(dvc(project, "status", "--json").stdout)
    assert status and all(name.endswith("-text") or "-text-" in name for name in status), sorted(status)
    assert {"ingest-text", "train-text-lstm", "evaluate-text-lstm", "report-text"} <= set(status)


def test_the_committed_dvc_yaml_is_the_one_the_registry_writes():
    from flows.core.params import load_params

    params = load_params(REPO)
    assert (REPO / "dvc.yaml").read_text() == dvc_yaml.render(dvc_yaml.plan(REPO, params), params), \
        "dvc.yaml is stale: run `rnnops dvc-yaml`"
