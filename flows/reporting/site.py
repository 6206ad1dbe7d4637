"""The report site: reports/index.html (every dataset with a report) and reports/<dataset>/index.html,
rendered from the Jinja2 templates in flows/reporting/templates (autoescaped; plug-ins' HTML goes in as Markup)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from flows import datasets
from flows.core import paths
from flows.core.atomic import read_json, write_text

TEMPLATES = Path(__file__).parent / "templates"
IMAGES = (".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp")  # the first present is shown, the rest linked
SUMMARY = "summary.json"  # per dataset report: what the index shows


def verdict_class(text: str) -> str:
    return "good" if text.startswith("beats") else "bad" if text.startswith("LOSES") else ""


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["verdict_class"] = verdict_class
    return env


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def figures(files: list[Path], prefix: str = "") -> list[dict]:
    """One entry per image stem: the preferred format shown, the others linked (file names under `prefix`)."""
    by_stem: dict[str, list[Path]] = {}
    for path in sorted(files):
        if path.suffix.lower() in IMAGES:
            by_stem.setdefault(path.stem, []).append(path)
    shown = []
    for stem, group in by_stem.items():
        group.sort(key=lambda p: IMAGES.index(p.suffix.lower()))
        names = [prefix + p.name for p in group]
        shown.append({"src": names[0], "others": names[1:], "caption": stem.replace("_", " ")})
    return shown


def recipe_differences(recipe: dict | None, used: dict) -> list[dict]:
    """The keys where a cell's params differ from its reference recipe ("default" where one side leaves it
    unset)."""
    recipe = recipe or {}
    return [{"key": key, "value": used.get(key, "default"), "reference": recipe.get(key, "default")}
            for key in sorted(set(recipe) | set(used)) if recipe.get(key) != used.get(key)]


def dataset_page(context: dict) -> str:
    return environment().get_template("dataset.html.j2").render(home="../index.html", **context)


def write_index(root: Path, commit: str) -> Path:
    """reports/index.html from every reports/<dataset>/summary.json there is (a skipped dataset simply has
    none, or keeps the one its last report wrote, with that report's date), written atomically."""
    base = Path(root) / "reports"
    reports = []
    for name in sorted(datasets.names()):
        summary = paths.report_dir(root, name) / SUMMARY
        if summary.is_file():
            reports.append({"dataset": name, "href": f"{name}/index.html", **read_json(summary)})
    text = environment().get_template("index.html.j2").render(home="index.html", reports=reports, built=now(),
                                                              commit=commit)
    target = base / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, text)
    return target


def markup(html: str) -> Markup:
    """Plug-ins' report_html / report_overview return HTML they escaped themselves."""
    return Markup(html)
