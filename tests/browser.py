"""Opening a page in a real browser (Debian's headless Chromium, driven over the DevTools protocol) and
reading back what it saw: images that did not load, horizontal overflow of the document and of <pre>
blocks, every link, anchors that name no element, and DVC's chart slots: drawn at all, and with how many
data marks (paths of lines or points in the svg a chart is rendered to)."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from websockets.sync.client import connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

CHECKER = """
(async () => {
  function drawn(node) {  // a chart with content: a canvas with a painted pixel, or an svg with marks
    for (const c of node.querySelectorAll('canvas')) {
      if (!c.width || !c.height) continue;
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) return true;
    }
    for (const s of node.querySelectorAll('svg')) {
      if (s.querySelectorAll('path, rect, line, circle').length) return true;
    }
    return false;
  }
  // DVC's chart slots: <div id=..><script>vegaEmbed('#id', spec)</script></div>; vegaEmbed replaces the
  // script by the chart (class vega-embed), asynchronously
  const slots = [...document.querySelectorAll('body > div[id]')]
    .filter(d => d.querySelector('script') || d.classList.contains('vega-embed'));
  for (let waited = 0; waited < 15000 && !slots.every(drawn); waited += 250) await new Promise(r => setTimeout(r, 250));
  // a data mark: a drawn line/point/bar of the data (svg renderer), not only axes and a legend
  const marks = d => [...d.querySelectorAll('svg g.role-mark path')]
    .filter(p => (p.getAttribute('d') || '').length > 2).length;
  const de = document.documentElement, out = {images: [], overflow: [], links: [], anchors: [],
    charts: slots.map(d => ({id: d.id, drawn: drawn(d), marks: marks(d)}))};
  for (const img of document.images) {
    if (!img.complete) await new Promise(r => { img.onload = img.onerror = r; });
    if (!(img.naturalWidth > 0)) out.images.push(img.getAttribute('src'));
  }
  if (de.scrollWidth > de.clientWidth) out.overflow.push('document ' + de.scrollWidth + ' > ' + de.clientWidth);
  for (const pre of document.querySelectorAll('pre')) {
    if (pre.scrollWidth > pre.clientWidth) out.overflow.push('pre: ' + pre.textContent.slice(0, 60));
  }
  for (const a of document.querySelectorAll('a[href]')) {
    const href = a.getAttribute('href');
    out.links.push(href);
    if (href.startsWith('#') && href.length > 1 && !document.getElementById(decodeURIComponent(href.slice(1)))) {
      out.anchors.push(href);
    }
  }
  return out;
})()
"""


def chromium() -> str:
    """The browser, or a loud failure: CI installs it (.ci/run), and a test that needs it never passes without."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    message = "no Chromium on PATH: install Debian's `chromium` (apt-get install -y chromium; .ci/run does)"
    if os.environ.get("CI") or os.environ.get("RNNOPS_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def browser(width: int = 1280, height: int = 900):
    """A headless Chromium; yields a function page -> findings (see the module docstring)."""
    with chromium_page(width, height) as page:
        yield page.inspect


@contextmanager
def chromium_page(width: int = 1280, height: int = 900):
    """A headless Chromium with a fresh profile; yields its page (`_Page`: inspect a file, open an address)."""
    profile = Path(tempfile.mkdtemp(prefix="rnnops-chromium-"))
    proc = subprocess.Popen(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--hide-scrollbars", f"--window-size={width},{height}", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, "Chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
            target = next(t for t in json.load(answer) if t["type"] == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            yield _Page(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


class _Page:
    def __init__(self, ws):
        self.ws, self.ids = ws, itertools.count(1)

    def call(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            answer = json.loads(self.ws.recv(timeout=120))
            if answer.get("id") == msg_id:
                assert "error" not in answer, answer["error"]
                return answer["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def inspect(self, page: Path) -> dict:
        """Findings on `page`; `missing` lists local links (relative to the page) whose file does not exist."""
        page = Path(page).resolve()
        self.call("Page.navigate", url=page.as_uri())
        deadline = time.monotonic() + 60
        while self.evaluate(f"location.href === {json.dumps(page.as_uri())} && document.readyState === 'complete'") \
                is not True:
            assert time.monotonic() < deadline, f"{page} did not load"
            time.sleep(0.1)
        found = self.evaluate(CHECKER)
        found["missing"] = [href for href in found["links"] if not _local_ok(page, href)]
        return found

    def open(self, url: str, ready: str, timeout_s: float = 90) -> dict:
        """Open `url` as a person would (a new document with empty local storage, so that no earlier page's
        choices carry over), wait up to timeout_s for the JavaScript condition `ready`, and return the
        page's title, visible text, the links of its <nav> (a sidebar) and whether `ready` came true."""
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        self.call("Page.navigate", url="about:blank")
        self.call("Storage.clearDataForOrigin", origin=origin, storageTypes="local_storage")
        self.call("Page.navigate", url=url)
        probe = (f"(() => {{ try {{ return location.origin === {json.dumps(origin)} && document.readyState === "
                 f"'complete' && Boolean({ready}); }} catch (e) {{ return false; }} }})()")
        deadline, met = time.monotonic() + timeout_s, False
        while not met and time.monotonic() < deadline:
            time.sleep(0.25)
            try:
                met = self.evaluate(probe) is True
            except AssertionError:  # the document changed under the call (a redirect): ask again
                continue
        seen = self.evaluate("({title: document.title, text: document.body.innerText, "
                             "nav: [...document.querySelectorAll('nav a[href]')].map(a => a.getAttribute('href'))})")
        return {"ready": met, **seen}


def _local_ok(page: Path, href: str) -> bool:
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path:  # another site, or an anchor on this page
        return True
    return (page.parent / unquote(parts.path)).exists()
