"""Writes dvc.yaml from the dataset registry, so every stage lists exactly the code and params it uses.

A stage's code deps are the repository files its command can import: the generic stage module (or a
plug-in's extra stage) plus the dataset's plug-in, followed through every `import` statement in
flows/ and models/ (module level and inside functions). Plug-ins are loaded by name from the
registry, never imported by the generic code, so one dataset's stages never list another's files.
Params deps are the keys each stage reads: `seed` and `<dataset>.train.<cell>` for training, the
rest as the plug-in declares them. tests/test_dvc_deps.py runs every stage and checks both lists.
"""
from __future__ import annotations

import ast
from pathlib import Path

import yaml

from flows import datasets, dvcviews
from flows.atomic import write_text
from flows.params import cells_of, planned_datasets
from flows.paths import stage_name

GENERIC = {kind: f"flows.stages.{kind}" for kind in ("ingest", "windows", "train", "evaluate", "report")}
PACKAGES = ("flows", "models")
TEMPLATES = "flows/templates"  # the report's Jinja2 templates: read, not imported
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
        plugin, module = datasets.get(dataset), datasets.REGISTRY[dataset]
        cells = cells_of(params, dataset)

        def code(entry: str) -> list[str]:
            return code_deps(root, [entry, module], parsed)  # noqa: B023 (used inside this iteration only)

        raw, windows = f"data/raw/{dataset}", f"data/windows/{dataset}"
        stages = {stage_name("ingest", dataset): _stage(
            f"python -m {GENERIC['ingest']} {dataset}", plugin.source_files(params) + code(GENERIC["ingest"]),
            plugin.stage_params("ingest"), outs=[{raw: {"persist": True}}],  # a failed fetch keeps the last snapshot
            always_changed=plugin.always_changed("ingest"))}
        stages[stage_name("windows", dataset)] = _stage(
            f"python -m {GENERIC['windows']} {dataset}", [raw] + code(GENERIC["windows"]),
            plugin.stage_params("windows"), outs=[windows])
        for cell in cells:
            model = f"data/models/{dataset}/{cell}"
            stages[stage_name("train", dataset, cell)] = _stage(
                f"python -m {GENERIC['train']} {dataset} {cell}", [windows] + code(GENERIC["train"]),
                ["seed", f"{dataset}.train.{cell}"] + plugin.stage_params("train"), outs=[model])
            stages[stage_name("evaluate", dataset, cell)] = _stage(
                f"python -m {GENERIC['evaluate']} {dataset} {cell}", [model, windows] + code(GENERIC["evaluate"]),
                plugin.stage_params("evaluate"),
                metrics=[{f"metrics/{dataset}/{cell}.json": {"cache": False}}],
                outs=[{f"plots/{dataset}/{cell}.csv": {"cache": False}}, {f"plots/{dataset}/{cell}": {"cache": False}}])
        report_reads = [f"metrics/{dataset}", f"plots/{dataset}", f"data/models/{dataset}"]
        for extra in plugin.extra_stages:
            for cell in cells if extra.per_cell else [None]:
                fill = {"dataset": dataset, "cell": cell}
                stages[stage_name(extra.name, dataset, cell)] = _stage(
                    " ".join(["python -m", extra.module, dataset] + ([cell] if cell else [])),
                    [d.format(**fill) for d in extra.deps] + code(extra.module),
                    [p.format(**fill) for p in extra.params],
                    metrics=[{extra.metrics.format(**fill): {"cache": False}}],
                    outs=[{o.format(**fill): {"cache": False, "persist": True}} for o in extra.outs])
                folder = str(Path(extra.metrics.format(**fill)).parent)
                if not any(folder == r or folder.startswith(r + "/") for r in report_reads):
                    report_reads.append(folder)
        stages[stage_name("report", dataset)] = _stage(
            f"python -m {GENERIC['report']} {dataset}", report_reads + code(GENERIC["report"]) + [TEMPLATES],
            [f"{dataset}.cells" if "cells" in params.get(dataset, {}) else "cells"]
            + [f"{dataset}.train.{cell}" for cell in cells],  # lineage: what a cell changed from the seed
            outs=[{f"reports/{dataset}": {"cache": False}}])
        graph[dataset] = stages
    return graph


def plots(graph: dict[str, dict[str, dict]], params: dict) -> list[dict]:
    """`dvc plots show`'s charts, one per evaluated cell, with the axes the plug-in's plot roles name.
    Top-level definitions (not per-output props) because a chart draws several columns of one file."""
    charts = []
    for dataset in graph:
        roles = datasets.get(dataset).plot_roles
        if not roles:
            continue
        columns = [c for c in (roles.get("real"), roles["model"], *roles.get("baselines", ())) if c]
        for cell in params["cells"]:
            charts.append({f"{dataset}-{cell}": {
                "template": dvcviews.DATES if roles.get("x_dates") else "linear", "x": roles["x"],
                "y": {f"plots/{dataset}/{cell}.csv": list(columns)},
                "title": f"{dataset} / {cell}: {', '.join(columns)} per {roles['x']}",
                "x_label": roles["x"], "y_label": roles.get("ylabel", "value")}})
    return charts


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
