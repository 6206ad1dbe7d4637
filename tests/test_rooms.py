"""The rooms of the code: no import cycles, stages never import one another, and each outside tool has one door."""
import ast
from pathlib import Path

from flows.dvcgraph import module_file
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
             "prefect": {"flows.pipeline", "flows.stagerun", "flows.schedules", "flows.sweeps.flow"},
             "optuna": sweeps}  # the sweep's config is checked without it, in a second
    for tool, allowed in doors.items():
        users = {name for name, path in modules().items() if tool in outside_imports(path)}
        assert users <= allowed, f"{tool} is imported by {sorted(users - allowed)}"
    for name, path in modules().items():
        if name.startswith("models"):
            assert not outside_imports(path) & {"prefect", "mlflow", "dvc", "optuna", "yfinance", "flows"}, name


def test_generic_code_never_names_a_dataset():
    generic = [p for n, p in modules().items() if not n.startswith("flows.datasets.") and n != "flows.datasets"]
    # `rnnops predict stocks` and `rnnops generate` are commands of one dataset by design
    one_dataset = ("flows/predict.py", "flows/generate.py", "flows/cli.py")
    generic = [p for p in generic if p.relative_to(REPO).as_posix() not in one_dataset]
    for path in generic:
        text = path.read_text()
        for name in ("'cosine'", '"cosine"', "'stocks'", '"stocks"', "'text'", '"text"'):
            assert name not in text, f"{path.relative_to(REPO)} branches on {name}"


def test_module_resolution_sees_packages_and_modules():
    assert module_file(REPO, "flows.datasets.stocks").name == "__init__.py"
    assert module_file(REPO, "flows.stages.train").name == "train.py"
    assert module_file(REPO, "flows.nothing_here") is None
