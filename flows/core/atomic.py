"""Write-then-rename, so that a failure never leaves a half-written or clobbered result."""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from models.errors import DiskFull

FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT behind `exc`, if any (libraries re-raise it as their own error, chained)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in FULL:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def shown(path: Path | str) -> str:
    """A path as the user knows it: relative to the working directory (the repository) when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@contextmanager
def full_disk_named(what) -> Iterator[None]:
    """A full disk inside the block becomes one sentence naming what was being written (`what`: a path,
    or a function giving it): the OS error itself names no file when it strikes in write() or close()."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        if disk_full(exc) is None:
            raise
        name = what() if callable(what) else what
        raise DiskFull(f"the disk is full while writing {shown(name)}; free space and re-run "
                       f"(what was there before is unchanged).") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _public(path: Path, mode: int) -> None:
    """mkstemp/mkdtemp create 0600/0700; results get the permissions an ordinary write would give."""
    os.chmod(path, mode & ~_umask())


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    _public(tmp_path, 0o666)
    try:
        with full_disk_named(target):
            yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def dumps(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(target: Path | str, data) -> None:
    write_text(target, dumps(data))


def read_json(path: Path | str):
    return json.loads(Path(path).read_text(encoding="utf-8"))


class Staged:
    """All of a stage's output files appear together or not at all.

    Each file is written under its real name into a hidden folder beside its target (same file
    system, so the final rename is atomic); `commit` renames them all once everything, MLflow
    included, has succeeded. A failure before that leaves every target as it was.
    """

    def __init__(self, base: Path | str = "."):
        self.base = Path(base)
        self._files: list[tuple[Path, Path]] = []  # (staged, target)

    def path(self, name: Path | str) -> Path:
        target = self.base / name
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staged", dir=target.parent))
        staged = folder / target.name
        self._files.append((staged, target))
        return staged

    def write_text(self, name: Path | str, text: str) -> Path:
        staged = self.path(name)
        staged.write_text(text, encoding="utf-8")
        return staged

    def write_json(self, name: Path | str, data) -> Path:
        return self.write_text(name, dumps(data))

    def save_npy(self, name: Path | str, array: np.ndarray) -> Path:
        staged = self.path(name)
        with open(staged, "wb") as fh:
            np.save(fh, array)
        return staged

    def writing(self) -> Path:
        """The output being written now: the last one handed out."""
        return self._files[-1][1] if self._files else self.base

    def commit(self) -> None:
        for staged, target in self._files:
            os.replace(staged, target)

    def discard(self) -> None:
        for staged, _ in self._files:
            shutil.rmtree(staged.parent, ignore_errors=True)
        self._files = []


@contextmanager
def staged_outputs(base: Path | str = ".") -> Iterator[Staged]:
    out = Staged(base)
    try:
        with full_disk_named(out.writing):
            yield out
        out.commit()
    finally:
        out.discard()


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """A fresh folder that replaces `target` whole, only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    _public(tmp, 0o777)
    old = target.parent / f".{target.name}.old"
    try:
        with full_disk_named(target):
            yield tmp
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:  # e.g. no room for the directory entry: the old folder goes back
            if old.exists():
                os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
