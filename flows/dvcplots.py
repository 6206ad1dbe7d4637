"""`dvc plots show` / `dvc plots diff` offline: DVC fills an HTML template with one vegaEmbed call per
chart and, by default, loads vega from a CDN. Our template (.dvc/offline_plots.html, named by
`plots.html_template` in .dvc/config) carries vl-convert's self-contained vega-embed bundle inline and no
`{scripts}` placeholder, so DVC's CDN tags never enter the page. `rnnops dvc-yaml` rewrites it when the
installed vl-convert changes; a test checks that the committed one is current."""
from __future__ import annotations

from pathlib import Path

from flows.atomic import write_text

NAME = "offline_plots.html"  # relative to .dvc/, as DVC resolves plots.html_template

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


def sync_template(root: Path) -> bool:
    """Write .dvc/offline_plots.html and point .dvc/config at it; True when anything changed."""
    from dvc.config import Config

    dvc_dir = Path(root) / ".dvc"
    if not dvc_dir.is_dir():
        return False
    path, text = dvc_dir / NAME, offline_template()
    changed = not path.exists() or path.read_text(encoding="utf-8") != text
    if changed:
        write_text(path, text)
    config = Config(dvc_dir=str(dvc_dir), validate=False)
    if config["plots"].get("html_template") != NAME:
        with config.edit("repo") as conf:
            conf["plots"]["html_template"] = NAME
        changed = True
    return changed
