"""The documentation site: `mkdocs build --strict` from the repository into a temp dir, then a few pages opened
in headless Chromium (tests/browser.py): every internal link resolves to a built file (and its anchor to an
element there), every image loads, nothing overflows horizontally at 1280 px (the document, a <pre>, a code
block, a table), and no built page or stylesheet loads anything from the network. Each check also fails on a
site broken on purpose."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.browser import chromium_page

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("index.html", "results.html", "concurrency.html")  # the home page, the generated one, a topic page

# Code blocks and Material's table wrappers scroll inside themselves, so the document never overflows: ask them.
WIDE = """[...document.querySelectorAll('pre > code, .md-typeset__scrollwrap, .md-typeset table')]
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => e.tagName.toLowerCase() + ': ' + e.textContent.trim().slice(0, 60))"""


def build(config: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "site"
    done = build(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, "\n".join(line for line in done.stderr.splitlines() if "INFO" not in line)
    return out


@pytest.fixture(scope="module")
def browser():
    with chromium_page(1280, 900) as page:
        yield page


def broken_links(page: Path, hrefs: list[str]) -> list[str]:
    """Local links whose file was not built, or whose #anchor names no element of it."""
    bad = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue  # another site: not this build's to check
        target = (page.parent / unquote(parts.path)) if parts.path else page
        if not target.is_file():
            bad.append(href)
        elif parts.fragment and f'id="{unquote(parts.fragment)}"' not in target.read_text(encoding="utf-8"):
            bad.append(href)
    return bad


class _Loads(HTMLParser):
    """The addresses a page makes the browser fetch by itself (not the links a reader may follow)."""
    ATTR = {"script": "src", "img": "src", "iframe": "src", "source": "src", "embed": "src", "link": "href",
            "object": "data", "video": "src", "audio": "src"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        value = dict(attrs).get(self.ATTR.get(tag, ""))
        if value:
            self.found.append(value)


def from_the_network(site: Path) -> list[str]:
    """Every resource a built page or stylesheet loads from another host (a CDN, web fonts)."""
    remote = re.compile(r"^(https?:)?//")
    out = []
    for page in sorted(site.rglob("*.html")):
        loads = _Loads()
        loads.feed(page.read_text(encoding="utf-8"))
        out += [f"{page.relative_to(site)}: {url}" for url in loads.found if remote.match(url)]
    for sheet in sorted(site.rglob("*.css")):
        found = re.findall(r"(?:url\(\s*['\"]?|@import\s+['\"])((?:https?:)?//[^'\")\s]+)", sheet.read_text("utf-8"))
        out += [f"{sheet.relative_to(site)}: {url}" for url in found]
    return out


def findings(page_in_browser, page: Path) -> dict[str, list]:
    seen = page_in_browser.inspect(page)
    return {"images": seen["images"], "overflow": seen["overflow"] + page_in_browser.evaluate(WIDE),
            "anchors": seen["anchors"], "links": broken_links(page, seen["links"]), "all_links": seen["links"]}


def test_the_site_builds_strictly_and_loads_nothing_from_the_network(site):
    assert (site / "index.html").is_file() and (site / "results.html").is_file()
    assert from_the_network(site) == []


def test_a_dead_link_or_anchor_fails_the_build(tmp_path):
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    topic = tmp_path / "docs/text.md"
    topic.write_text(topic.read_text() + "\n[gone](nowhere.md) and [no heading](datasets.md#no-such-heading)\n")
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "nowhere.md" in done.stderr and "no-such-heading" in done.stderr, done.stderr


def test_the_pages_read_well_in_chromium(site, browser):
    found = {name: findings(browser, site / name) for name in PAGES}
    for name, seen in found.items():
        assert seen["images"] == [] and seen["overflow"] == [], (name, seen["images"], seen["overflow"])
        assert seen["links"] == [] and seen["anchors"] == [], (name, seen["links"], seen["anchors"])
    # the nav reaches every page, the generated results page included
    built = {p.name for p in site.glob("*.html")} - {"404.html"}
    assert {Path(unquote(urlsplit(h).path)).name for h in found["index.html"]["all_links"]} >= built


def test_the_checks_fail_on_pages_broken_on_purpose(site, browser, tmp_path):
    """A built page with a missing image, wide blocks and dead links; another that loads a script from a CDN."""
    broken = tmp_path / "broken"
    shutil.copytree(site, broken)
    page = broken / "concurrency.html"
    page.write_text(page.read_text().replace("</article>", (
        '<img src="missing.png"><pre style="white-space:pre">' + "x" * 3000 + "</pre>"
        '<div class="highlight"><pre><code style="white-space:pre">' + "y" * 3000 + "</code></pre></div>"
        '<a href="nowhere.html">dead</a><a href="datasets.html#nothing">dead anchor</a>'
        '<a href="#nothing-here">dead local anchor</a></article>'), 1))
    (broken / "pipeline.html").write_text((broken / "pipeline.html").read_text().replace(
        "</head>", '<script src="https://cdn.example.invalid/x.js"></script></head>', 1))
    seen = findings(browser, page)
    assert seen["images"] == ["missing.png"], seen["images"]
    assert {o.split(":")[0].split()[0] for o in seen["overflow"]} >= {"pre", "code"}, seen["overflow"]
    assert seen["links"] == ["nowhere.html", "datasets.html#nothing", "#nothing-here"], seen["links"]
    assert seen["anchors"] == ["#nothing-here"], seen["anchors"]
    assert from_the_network(broken) == ["pipeline.html: https://cdn.example.invalid/x.js"]
