"""DVC's own views, fit for our results.

`dvc plots show` / `dvc plots diff` offline: DVC fills an HTML template with one vegaEmbed call per
chart and, by default, loads vega from a CDN. Our template (.dvc/offline_plots.html, named by
`plots.html_template` in .dvc/config) carries vl-convert's self-contained vega-embed bundle inline and no
`{scripts}` placeholder, so DVC's CDN tags never enter the page. `rnnops dvc-yaml` rewrites it when the
installed vl-convert changes; a test checks that the committed one is current.

`dvc metrics show` rounds to decimal places (cosine's RMSE 1.2e-6 prints as 0.0) and has no setting for
it, and its one row per file puts every figure of every dataset side by side; `rnnops metrics` prints the
same figures with significant digits, a table per dataset with a row per figure."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from flows.core.atomic import write_text
from models.errors import RnnopsError

NAME = "offline_plots.html"  # relative to .dvc/, as DVC resolves plots.html_template
DATES = "dates"  # .dvc/plots/dates.json: the chart template for a date x axis (dvc.yaml names it)
STEPS = "steps"  # .dvc/plots/steps.json: per-step figures against h, y on a log scale

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>DVC plots (offline)</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem} div[id]{margin:0 0 1.5rem} table{border-spacing:15px}</style>
<script>
@@BUNDLE@@
</script>
<script>
/* DVC calls vegaEmbed('#id', spec) with no options: render to SVG (crisp, and its marks can be checked) */
(function () {
  const embed = window.vegaEmbed;
  window.vegaEmbed = function (el, spec, opt) { return embed(el, spec, Object.assign({renderer: "svg"}, opt)); };
})();
</script>
</head>
<body>
{plot_divs}
</body>
</html>
"""


def offline_template() -> str:
    import vl_convert  # bundles vega, vega-lite and vega-embed: no network at render time

    bundle = vl_convert.javascript_bundle()
    if "</script" in bundle.lower() or "{plot_divs}" in bundle:
        raise RuntimeError("vl-convert's bundle cannot be inlined into DVC's template; pin the version in "
                           "requirements.lock.")
    return PAGE.replace("@@BUNDLE@@", bundle)


def line_template(x_type: str = "quantitative", y_scale: str | None = None) -> str:
    """DVC's `simple` line chart with another x type or y scale (DVC's own templates take x as a number and y
    linear)."""
    from dvc_render.vega_templates import SimpleLinearTemplate

    content = copy.deepcopy(SimpleLinearTemplate.DEFAULT_CONTENT)
    content["encoding"]["x"]["type"] = x_type
    if y_scale:
        content["encoding"]["y"]["scale"]["type"] = y_scale
    return json.dumps(content, indent=2) + "\n"


# .dvc/plots/<name>.json, the chart templates dvc.yaml names besides DVC's own
TEMPLATES = {DATES: lambda: line_template("temporal"),  # a date x axis: DVC's own draw nothing for dates
             STEPS: lambda: line_template(y_scale="log")}  # RMSE against h: persistence's grows ~100x over h


def sync_template(root: Path) -> bool:
    """Write .dvc/offline_plots.html and the chart TEMPLATES under .dvc/plots/ and point .dvc/config at the
    page; True when anything changed."""
    from dvc.config import Config

    dvc_dir = Path(root) / ".dvc"
    if not dvc_dir.is_dir():
        return False
    changed = False
    pages = [(dvc_dir / NAME, offline_template()),
             *((dvc_dir / "plots" / f"{name}.json", template()) for name, template in TEMPLATES.items())]
    for path, text in pages:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(exist_ok=True)
            write_text(path, text)
            changed = True
    config = Config(dvc_dir=str(dvc_dir), validate=False)
    if config["plots"].get("html_template") != NAME:
        with config.edit("repo") as conf:
            conf["plots"]["html_template"] = NAME
        changed = True
    return changed


def drawn_charts(root: Path) -> list[str]:
    """dvc.yaml's charts whose files are all there. `dvc plots show` draws an empty box for each of the others
    (a skipped dataset's: stocks offline) and has no setting to leave them out, but draws only the ids it is
    given."""
    import yaml

    entries = yaml.safe_load((Path(root) / "dvc.yaml").read_text(encoding="utf-8")).get("plots") or []
    return [name for entry in entries for name, chart in entry.items()
            if all((Path(root) / file).exists() for file in (chart or {}).get("y", {}))]


def show_plots(root: Path, out: str | None = None) -> int:
    """`dvc plots show` of the charts that have data (drawn_charts); DVC's exit code."""
    from dvc.cli import main

    charts = drawn_charts(root)
    if not charts:
        raise RnnopsError("no chart of dvc.yaml has its data yet; run `rnnops run` (or `dvc repro`) first.")
    return main(["plots", "show", *(["-o", out] if out else []), *charts])


WIDE = 20  # characters: a longer value (a verdict, a list) is listed under its table rather than widen a column


def show_metrics(root: Path, targets: list[str] | None = None, digits: int = 4, markdown: bool = False) -> None:
    """`dvc metrics show`'s figures (DVC reads and flattens them), one table per metrics folder (a dataset)
    with a row per figure and a column per file (a cell): a screen wide however many figures a cell has,
    where DVC's one row per file is as wide as every figure of every dataset side by side. Numbers to
    `digits` significant digits (DVC's own `g` formatting)."""
    from dvc.repo import Repo
    from dvc.repo.metrics.show import to_relpath
    from dvc.ui import ui

    with Repo(str(root)) as repo:
        found = {rev: to_relpath(repo.fs, repo.root_dir, result)
                 for rev, result in repo.metrics.show(targets or None).items()}
    tables = metrics_tables(found, digits)
    if not tables:
        raise RnnopsError(f"no metrics to show{' in ' + ', '.join(targets) if targets else ''}; run `rnnops run` "
                          f"(or `dvc repro`) first, or name a metrics file or folder of dvc.yaml.")
    for n, (folder, (table, notes)) in enumerate(tables.items()):
        ui.write(("\n" if n else "") + (f"{folder}\n" if markdown else f"{folder}:"), force=True)
        table.render(markdown=markdown)
        ui.write("".join(f"\n{'- ' if markdown else ''}{line}" for line in notes), force=True)


def metrics_tables(found: dict, digits: int) -> dict:
    """folder -> (a TabularData: figure, then a column per file; the notes: long values, one line each)."""
    from dvc.compare import TabularData, metrics_table

    flat = metrics_table(found, precision=digits)  # rows of Path, figure, figure ... (DVC's own flattening)
    names = flat.keys()[1:]
    files: dict[str, dict[str, dict]] = {}
    for row in flat:
        path = Path(row[0])
        files.setdefault(str(path.parent), {})[path.stem] = dict(zip(names, row[1:]))
    tables = {}
    for folder, cells in files.items():
        table, notes = TabularData(["figure", *cells], fill_value="-"), []
        for name in names:
            values = {cell: figures[name] for cell, figures in cells.items() if figures[name] != "-"}
            if not values:
                continue
            if any(len(v) > WIDE for v in values.values()):
                notes += [f"{name} ({cell}): {v}" for cell, v in values.items()]
            else:
                table.append([name, *(values.get(cell, "-") for cell in cells)])
        if len(table):  # nothing read: a skipped dataset's files are missing (DVC shows none of them either)
            tables[folder] = (table, notes)
    return tables
