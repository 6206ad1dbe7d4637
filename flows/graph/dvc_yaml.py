"""Writes dvc.yaml from the dataset registry, so every stage lists exactly the code and params it uses.

The stages, their data and params keys come from flows/graph/dataflow.py (shared with the stages' own
check that their upstream ran). A stage's code deps are the repository files its command can import:
the generic stage module (or a plug-in's extra stage) plus the dataset's plug-in, followed through
every `import` statement in flows/ and models/ (module level and inside functions) and every
"module:attribute" target string (models/model_types.py's networks). Plug-ins are
loaded by name from the registry, never imported by the generic code, so one dataset's stages never
list another's files. tests/test_dvc_deps.py runs every stage and checks that each file it imports
or opens and each params key it reads is declared.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from flows import datasets
from flows.core import perstep
from flows.core.atomic import write_text
from flows.core.params import cells_of, planned_datasets, planned_net
from flows.graph import dataflow, dvc_views
from flows.graph.dataflow import GENERIC  # noqa: F401 (the stage kinds, also named here)

PACKAGES = ("flows", "models")
# A "module:attribute" string (models/model_types.py names its networks so) is imported when it is used.
TARGET = re.compile(r"(?:flows|models)(?:\.\w+)+:\w+")
HEADER = ("# Written by `rnnops dvc-yaml` (and by `rnnops run`, `make repro`) from flows/datasets and params.yaml:\n"
          "# edit those, not this file. Each stage lists exactly the code files and params keys it reads.\n")


def module_file(root: Path, module: str) -> Path | None:
    base = Path(root, *module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(root: Path, module: str, path: Path) -> set[str]:
    """Repository modules named by the import statements of one file (packages' __init__ included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if module_file(root, f"{base}.{alias.name}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.fullmatch(node.value):
            found.add(node.value.partition(":")[0])
    with_parents = {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 2)}
    return {name for name in with_parents if name.split(".")[0] in PACKAGES and module_file(root, name)}


def code_deps(root: Path, modules: list[str], parsed: dict[str, set[str]] | None = None) -> list[str]:
    """Every repository file the modules can import, transitively, as paths relative to root.

    `parsed` (module -> its imports) lets one plan parse each file once for all its stages."""
    parsed = {} if parsed is None else parsed
    seen: set[str] = set()
    todo = [m for name in modules for m in _imported_self(name)]
    while todo:
        name = todo.pop()
        if name in seen or module_file(root, name) is None:
            continue
        seen.add(name)
        if name not in parsed:
            parsed[name] = _imported(root, name, module_file(root, name))
        todo.extend(parsed[name] - seen)
    return sorted(str(module_file(root, name).relative_to(root)) for name in seen)


def _imported_self(module: str) -> list[str]:
    return [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)]


def _stage(cmd: str, deps: list[str], params: list[str], **more) -> dict:
    stage = {"cmd": cmd, "deps": list(dict.fromkeys(deps))}
    if params:
        stage["params"] = list(dict.fromkeys(params))
    stage.update({k: v for k, v in more.items() if v})
    return stage


def plan(root: Path, params: dict) -> dict[str, dict[str, dict]]:
    """dataset -> {stage name -> stage}, in the order a run goes through them."""
    root = Path(root)
    graph, parsed = {}, {}
    for dataset in planned_datasets(params):
        plugin_module = datasets.REGISTRY[dataset]
        graph[dataset] = {name: _stage(
            " ".join(["python -m", s.module, *s.args]),
            [*s.deps, *code_deps(root, [s.module, plugin_module], parsed), *s.reads], list(s.params),
            metrics=[{path: options} for path, options in s.metrics],
            outs=[{path: options} if options else path for path, options in s.outs], always_changed=s.always_changed)
            for name, s in dataflow.stages(params, dataset).items()}
    return graph


def plots(graph: dict[str, dict[str, dict]], params: dict) -> list[dict]:
    """`dvc plots show`'s charts, one per evaluated cell (each dataset's own cells), with the axes of that
    cell's table: the plug-in's plot roles, or a multi-step cell's (Dataset.cell_plot_roles).
    Top-level definitions (not per-output props) because a chart draws several columns of one file."""
    charts = []
    for dataset in graph:
        plugin = datasets.get(dataset)
        for cell in cells_of(params, dataset):
            net = planned_net(params, dataset, cell)
            roles = plugin.plot_roles if net is None else plugin.cell_plot_roles(net)
            if not roles:
                continue
            columns = [c for c in (roles.get("real"), roles["model"], *roles.get("baselines", ())) if c]
            charts.append({f"{dataset}-{cell}": {
                "template": dvc_views.DATES if roles.get("x_dates") else "linear", "x": roles["x"],
                "y": {f"plots/{dataset}/{cell}.csv": list(columns)},
                "title": f"{dataset} / {cell}: {', '.join(columns)} per {roles['x']}",
                "x_label": roles["x"], "y_label": roles.get("ylabel", "value")}})
            if net is not None and net.multi_step:
                charts.append(horizons_chart(dataset, cell, roles))
    return charts


def horizons_chart(dataset: str, cell: str, roles: dict) -> dict:
    """RMSE against the forecast step h, the model beside its baselines, from flows/core/perstep.py's table (the
    headline split's figures under their own names)."""
    columns = ["rmse", *(f"{baseline}_rmse" for baseline in roles["baselines"])]  # models.metrics.horizon_report
    return {f"{dataset}-{cell}-horizons": {
        "template": dvc_views.STEPS, "x": perstep.STEP,
        "y": {f"plots/{dataset}/{cell}.horizons.csv": columns},
        "title": f"{dataset} / {cell}: RMSE per forecast step h, against {', '.join(roles['baselines'])}",
        "x_label": "h (steps ahead)", "y_label": "RMSE"}}


def render(graph: dict[str, dict[str, dict]], params: dict) -> str:
    stages = {name: stage for group in graph.values() for name, stage in group.items()}
    return HEADER + yaml.safe_dump({"stages": stages, "plots": plots(graph, params)}, sort_keys=False,
                                   default_flow_style=False, width=120)


def sync(root: Path, params: dict) -> tuple[dict[str, dict[str, dict]], bool]:
    """The plan, and whether dvc.yaml had to be rewritten (the registry, a plug-in's imports or
    params' datasets/cells changed it)."""
    graph = plan(root, params)
    path, text = Path(root) / "dvc.yaml", render(graph, params)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return graph, False
    write_text(path, text)
    return graph, True
