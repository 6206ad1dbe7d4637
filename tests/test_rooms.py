"""The rooms of the code: flows/ holds rooms (packages) named for what they hold, the lower rooms never reach up
into the ones that drive them, no import cycles, stages never import one another, and each outside tool has one
door."""
import ast
import re
from pathlib import Path

from flows import datasets
from flows.graph.dvc_yaml import module_file
from tests.conftest import REPO


def modules() -> dict[str, Path]:
    found = {}
    for package in ("flows", "models"):
        for path in sorted((REPO / package).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def graph() -> dict[str, set[str]]:
    """module -> repository modules its import statements name (anywhere in the file). A submodule's
    `from <its package> import x` counts as an edge to the package: if the package's __init__ imports
    that submodule back, that is a cycle."""
    edges = {}
    for name, path in modules().items():
        named = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                named.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                named.add(node.module)
                named.update(f"{node.module}.{alias.name}" for alias in node.names)
        edges[name] = {m for m in named & set(modules()) if m != name}  # names that are not modules drop out
    return edges


def outside_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


# flows/'s rooms: every module of flows/ lives in one of these (docs/layout.md says what each holds);
# the entry point (cli.py, named in pyproject.toml) is the only module at the top.
NAMED_ONLY = {"core", "orchestration", "graph", "training", "scoring", "reporting"}  # a name, not a cost
ROOMS = NAMED_ONLY | {"datasets", "stages", "sweeps", "tracking"}
# The rooms below, and the rooms of flows/ each may import: none reaches up into orchestration, stages, sweeps
# or the CLI, which run them. (models/ is below all of them.)
BELOW = {
    "core": {"datasets"},  # params.py checks a dataset's name against the registry
    "tracking": {"core"},
    "scoring": {"core", "datasets"},
    "training": {"core", "scoring"},  # the gradient-norm trace writes its CSV with scoring's table helper
    "reporting": {"core", "datasets"},
    "graph": {"core", "datasets"},
}


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "flows" and len(parts) > 1 and parts[1] in ROOMS else None


def test_flows_holds_rooms_and_its_entry_point_only():
    top = REPO / "flows"
    assert sorted(p.name for p in top.glob("*.py")) == ["__init__.py", "cli.py"]
    found = {p.name for p in top.iterdir() if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py"))}
    assert found == ROOMS, f"undeclared rooms: {sorted(found - ROOMS)}; declared, not found: {sorted(ROOMS - found)}"
    for room in ROOMS:
        init = ast.parse((top / room / "__init__.py").read_text())
        assert ast.get_docstring(init), f"flows/{room}/__init__.py: say what the room holds in a docstring"
        if room in NAMED_ONLY:  # importing the room loads none of its modules (a stage pays for what it uses)
            assert len(init.body) == 1, f"flows/{room}/__init__.py imports its modules; import them by name instead"


def test_the_rooms_below_never_reach_up():
    edges, reaching = graph(), []
    for module, named in edges.items():
        room = room_of(module)
        if room in BELOW:
            reaching += [f"{module} imports {other}" for other in sorted(named)
                         if room_of(other) not in (None, room, *BELOW[room])]
    assert reaching == []


def test_no_import_cycles():
    edges, state, cycles = graph(), {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in edges:
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_stages_do_not_import_one_another():
    stages = {name for name in modules() if name.startswith("flows.stages.") and name != "flows.stages"}
    edges = graph()
    crossing = {(a, b) for a in stages for b in edges[a] if b in stages}
    assert crossing == set()


def test_each_outside_tool_has_one_door():
    tracking = {name for name in modules() if name == "flows.tracking" or name.startswith("flows.tracking.")}
    sweeps = {"flows.sweeps.engine", "flows.sweeps.trial", "flows.sweeps.apply"}
    doors = {"mlflow": tracking, "yfinance": {"flows.datasets.stocks.yahoo"},
             # the text corpora's URL source, and tracking's health check of a remote MLflow server
             "urllib": {"flows.datasets.text.corpora", "flows.tracking.store"},
             # the flows, the stage task they share, their deployments
             "prefect": {"flows.orchestration.pipeline", "flows.orchestration.stage_task",
                         "flows.orchestration.deployments", "flows.sweeps.flow"},
             "optuna": sweeps}  # the sweep's config is checked without it, in a second
    for tool, allowed in doors.items():
        users = {name for name, path in modules().items() if tool in outside_imports(path)}
        assert users <= allowed, f"{tool} is imported by {sorted(users - allowed)}"
    for name, path in modules().items():
        if name.startswith("models"):
            assert not outside_imports(path) & {"prefect", "mlflow", "dvc", "optuna", "yfinance", "flows"}, name


def homes() -> set[str]:
    """The plug-ins' own modules: each registered plug-in's module or package under flows.datasets, whole
    (stocks_daily's flows.datasets.stocks.rolling lives in the stocks package: that package is its home)."""
    tops = {".".join(module.split(".")[:3]) for module in datasets.REGISTRY.values()}
    return {n for n in modules() if any(n == top or n.startswith(top + ".") for top in tops)}


def names_of_datasets(path: Path) -> list[str]:
    """Where a file names a dataset in code: an import of a plug-in, or a string (not a docstring) holding a
    registered name as a word, e.g. "stocks", "data/models/text/", f"flows/datasets/stocks/{x}.py"."""
    tree, found = ast.parse(path.read_text()), []
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    words = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, datasets.names())) + r")(?!\w)")
    plugins = homes()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in plugins]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            found += [f"line {node.lineno}: imports {m}" for m in sorted(imported & plugins)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                and words.search(node.value):
            found.append(f"line {node.lineno}: {node.value[:60]!r}")
    return found


# The generic modules that must name datasets, each with the reason.
NAMES_DATASETS = {
    "flows.datasets": "the registry: the one place a name is bound to its plug-in",
}


def test_generic_code_never_names_a_dataset():
    """All of flows/ outside the plug-ins' homes: a dataset's verbs, stages, tracking and defaults live with it."""
    plugins = homes()
    assert {"flows.datasets.stocks.predict", "flows.datasets.text.generate"} <= plugins  # the homes are found
    generic = {n: p for n, p in modules().items() if n.startswith("flows") and n not in plugins}
    assert {"flows.cli", "flows.tracking.summaries", "flows.datasets.base"} <= set(generic)
    named = {n: names_of_datasets(p) for n, p in generic.items() if n not in NAMES_DATASETS}
    assert {n: found for n, found in named.items() if found} == {}
    assert all(names_of_datasets(generic[n]) for n in NAMES_DATASETS), "an allowed module no longer needs it"


def test_module_resolution_sees_packages_and_modules():
    assert module_file(REPO, "flows.datasets.stocks").name == "__init__.py"
    assert module_file(REPO, "flows.stages.train").name == "train.py"
    assert module_file(REPO, "flows.nothing_here") is None
