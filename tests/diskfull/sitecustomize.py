"""A full disk for the files a test names, in any Python process started with this folder on PYTHONPATH.

RNNOPS_FULL_DISK holds fnmatch patterns (separated by os.pathsep) matched against the absolute path
of every file opened for writing; RNNOPS_FULL_DISK_AFTER lets that many matching opens succeed first.
A matching file is created, as on a real full disk (an empty inode still fits), but its writes go to
/dev/full: the kernel answers them with a real ENOSPC, at write() or at close(), as a full disk would.
Only writes through Python's open() are reached; that is where rnnops and the libraries it drives
write their files (torch.save is given an open file for that reason).
"""
import builtins
import fnmatch
import io
import os

PATTERNS = [p for p in os.environ.get("RNNOPS_FULL_DISK", "").split(os.pathsep) if p]
_left = [int(os.environ.get("RNNOPS_FULL_DISK_AFTER", "0") or 0)]
_real_open = io.open


def _full(file, mode) -> bool:
    if not isinstance(file, (str, bytes, os.PathLike)) or not any(c in mode for c in "wax"):
        return False
    path = os.path.abspath(os.fsdecode(file))
    if not any(fnmatch.fnmatch(path, pattern) for pattern in PATTERNS):
        return False
    if _left[0] > 0:
        _left[0] -= 1
        return False
    return True


def _open(file, mode="r", *args, **kwargs):
    if _full(file, mode):
        _real_open(file, mode.replace("+", ""), *args, **kwargs).close()
        return _real_open("/dev/full", mode.replace("x", "w").replace("a", "w"), *args, **kwargs)
    return _real_open(file, mode, *args, **kwargs)


if PATTERNS:
    builtins.open = io.open = _open
