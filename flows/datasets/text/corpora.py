"""Text corpora: a built-in offline corpus, local files (paths or globs), or a URL cached under a pinned sha256.

Only this module (and yahoo.py) touches the network.
"""
from __future__ import annotations

import glob
import hashlib
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from flows.core.atomic import atomic_path
from models.errors import RnnopsError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ERRORS = ("strict", "replace", "ignore")


class CorpusError(RnnopsError):
    pass


def check_name(name: str) -> str:
    """Corpus names become file names: letters, digits, _ . - only."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise CorpusError(f"corpus name {name!r} is not allowed; use letters, digits, _ . - (e.g. shakespeare).")
    return name


def builtin_corpus() -> str:
    """The English help topics that ship with every CPython: no download, no extra package."""
    import pydoc_data.topics as topics

    return "\n\n".join(topics.topics[key] for key in sorted(topics.topics))


def decode(data: bytes, where: str, errors: str = "strict") -> str:
    if errors not in ERRORS:
        raise CorpusError(f"text.ingest.errors must be one of {', '.join(ERRORS)}, got {errors!r}.")
    if not data.strip():
        raise CorpusError(f"{where} is empty; give a corpus with some text in it.")
    if b"\x00" in data[:65536]:
        raise CorpusError(f"{where} looks binary (it contains NUL bytes); give a plain-text file.")
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{where} is not valid UTF-8 (byte {exc.start}); convert it, or set "
                          f"text.ingest.errors: replace to substitute bad bytes.") from None


def read_files(root: Path, patterns: list[str], errors: str = "strict") -> tuple[str, list[str]]:
    files: list[str] = []
    for pattern in patterns:
        found = sorted(glob.glob(str(Path(root) / pattern)))
        if not found:
            raise CorpusError(f"no file matches {pattern!r}; check text.ingest.paths.")
        files += found
    parts = [decode(Path(f).read_bytes(), f, errors) for f in files]
    return "\n".join(parts), [str(Path(f).relative_to(root)) if Path(f).is_relative_to(root) else f for f in files]


def fetch_url(url: str, sha256: str | None, cache_dir: Path, max_bytes: int = 50_000_000, retries: int = 3,
              backoff_s: float = 1.0, timeout_s: float = 20.0) -> bytes:
    """Download once into cache_dir/<sha256>; later calls read the cache. A wrong checksum is an error."""
    if not url.startswith(("https://", "http://")):
        raise CorpusError(f"text.ingest.url must start with http:// or https://, got {url!r}.")
    if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise CorpusError("text.ingest.sha256 must be 64 lowercase hex digits (sha256sum's output).")
    if sha256 and (cache_dir / sha256).exists():
        return (cache_dir / sha256).read_bytes()
    last = ""
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                data = response.read(max_bytes + 1)
            break
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
            if attempt == retries:
                raise CorpusError(f"could not download {url} after {retries} tries ({last}); check the URL or "
                                  f"use text.ingest.source: files with a local copy.") from None
            time.sleep(backoff_s * 2 ** (attempt - 1))
    if len(data) > max_bytes:
        raise CorpusError(f"{url} is larger than text.ingest.max_bytes ({max_bytes}); raise the limit if intended.")
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256:
        raise CorpusError(f"{url} has sha256 {digest}, not the pinned {sha256}; the file changed upstream "
                          f"(check it, then pin the new checksum).")
    with atomic_path(cache_dir / digest) as tmp:
        tmp.write_bytes(data)
    return data
