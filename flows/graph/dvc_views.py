"""DVC's own views, fit for our results.

`dvc plots show` / `dvc plots diff` offline: DVC fills an HTML template with one vegaEmbed call per
chart and, by default, loads vega from a CDN. Our template (.dvc/offline_plots.html, named by
`plots.html_template` in .dvc/config) carries vl-convert's self-contained vega-embed bundle inline and no
`{scripts}` placeholder, so DVC's CDN tags never enter the page. `rnnops dvc-yaml` rewrites it when the
installed vl-convert changes; a test checks that the committed one is current.

`dvc metrics show` rounds to decimal places (cosine's RMSE 1.2e-6 prints as 0.0) and has no setting for
it; `rnnops metrics` prints DVC's own table with significant digits instead."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from flows.core.atomic import write_text

NAME = "offline_plots.html"  # relative to .dvc/, as DVC resolves plots.html_template
DATES = "dates"  # .dvc/plots/dates.json: the chart template for a date x axis (dvc.yaml names it)

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


def date_template() -> str:
    """DVC's `simple` line chart with a date x axis (its own templates take x as a number: dates draw nothing)."""
    from dvc_render.vega_templates import SimpleLinearTemplate

    content = copy.deepcopy(SimpleLinearTemplate.DEFAULT_CONTENT)
    content["encoding"]["x"]["type"] = "temporal"
    return json.dumps(content, indent=2) + "\n"


def sync_template(root: Path) -> bool:
    """Write .dvc/offline_plots.html and .dvc/plots/dates.json and point .dvc/config at the page; True
    when anything changed."""
    from dvc.config import Config

    dvc_dir = Path(root) / ".dvc"
    if not dvc_dir.is_dir():
        return False
    changed = False
    for path, text in ((dvc_dir / NAME, offline_template()), (dvc_dir / "plots" / f"{DATES}.json", date_template())):
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


def show_metrics(root: Path, targets: list[str] | None = None, digits: int = 4, markdown: bool = False) -> None:
    """DVC's `metrics show` table, each number to `digits` significant digits (DVC's own `g` formatting)."""
    from dvc.compare import show_metrics as table
    from dvc.repo import Repo
    from dvc.repo.metrics.show import to_relpath

    with Repo(str(root)) as repo:
        found = {rev: to_relpath(repo.fs, repo.root_dir, result)
                 for rev, result in repo.metrics.show(targets or None).items()}
    table(found, markdown=markdown, precision=digits, round_digits=False)
