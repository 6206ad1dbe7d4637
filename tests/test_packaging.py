"""What pyproject.toml promises: every outside package the code imports is declared (not merely installed as
someone else's dependency), requirements.lock pins each declared one within its specifier, and every
repository file pyproject.toml names exists."""
import ast
import importlib.metadata
import re
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

# Imported, not declared: each is part of a declared dependency's own interface, so that dependency's pin
# is what fixes its version (dvc's renderer, jinja2's Markup, the engine optuna's RDBStorage hands out).
PART_OF = {"dvc-render": "dvc", "markupsafe": "jinja2", "sqlalchemy": "optuna"}


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def declared() -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, project()["dependencies"])}


def outside_imports() -> dict[str, str]:
    """Top-level module -> a file of flows/ or models/ that imports it, for modules outside the stdlib."""
    found = {}
    for package in ("flows", "models"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return {m: f for m, f in found.items() if m not in sys.stdlib_module_names and m not in ("flows", "models")}


def test_every_imported_package_is_declared():
    providers = importlib.metadata.packages_distributions()
    wanted = set(declared())
    undeclared = []
    for module, where in outside_imports().items():
        dists = {canonicalize_name(d) for d in providers.get(module, [module])}
        if not dists & wanted and not {PART_OF.get(d) for d in dists} & wanted:
            undeclared.append(f"{module} ({where}; distribution {', '.join(sorted(dists))})")
    assert undeclared == [], "declare these in pyproject.toml's dependencies: " + "; ".join(undeclared)


def test_the_lock_pins_every_declared_dependency_within_its_specifier():
    lock = {canonicalize_name(name): version for name, version in
            (line.split("==") for line in (REPO / "requirements.lock").read_text(encoding="utf-8").split())}
    for name, requirement in declared().items():
        assert name in lock, f"{name} is declared but requirements.lock does not pin it"
        assert requirement.specifier.contains(lock[name], prereleases=True), (name, str(requirement), lock[name])


def test_every_file_pyproject_names_exists():
    named = set(re.findall(r"\b((?:flows|models|tests|infra|benchmarks|docs)/[\w./-]*\w)",
                           (REPO / "pyproject.toml").read_text(encoding="utf-8")))
    assert named, "the pattern finds nothing: it no longer matches how pyproject.toml names files"
    assert sorted(p for p in named if not (REPO / p).exists()) == []
