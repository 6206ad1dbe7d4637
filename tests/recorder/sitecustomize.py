"""Loaded by every Python process started with this folder on PYTHONPATH and RNNOPS_RECORD_DIR set.

In a stage process (python -m flows.stages.* or a plug-in's stage module) it records, at exit, the
repository files the process imported, every params.yaml key it read (flows.core.params.load_params
is wrapped the moment that module loads, so nothing extra is imported early) and every file under
the repository it opened for reading (an audit hook on `open`: builtins.open, io.open_code, os.open,
and so numpy, pandas, torch.load, pathlib and Jinja2's loader). The dependency test compares all
three with what dvc.yaml declares for the stage.
"""
import atexit
import collections
import importlib.abc
import importlib.machinery
import json
import os
import sys
import uuid
from pathlib import Path

RECORD_DIR = os.environ.get("RNNOPS_RECORD_DIR")


class Recording(dict):
    """A params mapping that notes every key path read; iterating a mapping reads all of it."""

    def __init__(self, data, path, reads):
        super().__init__(data)
        self._path, self._reads = path, reads

    def _key(self, key):
        return f"{self._path}.{key}" if self._path else str(key)

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, dict):
            return Recording(value, self._key(key), self._reads)
        self._reads.add(self._key(key))
        return value

    def get(self, key, default=None):
        if super().__contains__(key):
            return self[key]
        self._reads.add(self._key(key))
        return default

    def __contains__(self, key):
        found = super().__contains__(key)
        if not (found and isinstance(super().__getitem__(key), dict)):  # descending into a section reads nothing yet
            self._reads.add(self._key(key))
        return found

    def _whole(self):
        self._reads.add(self._path or "<all of params.yaml>")

    def __iter__(self):
        self._whole()
        return super().__iter__()

    def keys(self):
        self._whole()
        return super().keys()

    def items(self):
        self._whole()
        return super().items()

    def values(self):
        self._whole()
        return super().values()


READS: set = set()
OPENED: collections.Counter = collections.Counter()  # absolute path -> times opened for reading
WRITTEN: set = set()  # ... and for writing: a file the stage made itself is not a dependency
# ... and copied out of the repository (MLflow's log_model ships the models/ package as the model's code):
# what a copy outside the repository reads feeds no DVC output, so those opens are not dependencies.
SHIPPED: collections.Counter = collections.Counter()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Read by someone else's rules: params.yaml through its keys (above), dvc.yaml/dvc.lock and .dvc/ (DVC's own
# record, e.g. lineage's data hash; also where training keeps its checkpoints), .git/, bytecode caches.
_NOT_DEPS = ("params.yaml", "dvc.yaml", "dvc.lock")
_NOT_DEP_DIRS = (".dvc", ".git", "__pycache__")


def _audit(event, args):
    if event == "shutil.copyfile":  # its source's open follows
        source, target = (os.path.abspath(os.fsdecode(p)) for p in args)
        if not target.startswith(os.getcwd() + os.sep):
            SHIPPED[source] += 1
        return
    if event != "open" or isinstance(args[0], int):  # an int: an already open descriptor, whose open was seen
        return
    path, mode, flags = args
    try:
        where = os.path.abspath(os.fsdecode(path))
    except (TypeError, ValueError):  # an exception here would become the stage's own
        return
    writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
    if writing:
        WRITTEN.add(where)
    else:
        OPENED[where] += 1


def _read_files(root: Path, imported: set) -> list[str]:
    found, written = set(), {Path(w).resolve() for w in WRITTEN}
    read = {Path(w).resolve() for w, times in OPENED.items() if times > SHIPPED[w]}
    for path in read - written:
        if not path.is_relative_to(root) or path in imported or not path.is_file():
            continue  # outside the repository, an import (listed as such), or gone (a temp file)
        relative = path.relative_to(root)
        if str(relative) in _NOT_DEPS or any(part in _NOT_DEP_DIRS for part in relative.parts):
            continue
        found.add(str(relative))
    return sorted(found)


class _WrapParams(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "flows.core.params":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            original = module.load_params
            module.load_params = lambda root=".": Recording(original(root), "", READS)

        spec.loader.exec_module = exec_module
        return spec


def _dump():
    argv, root = sys.argv, Path.cwd().resolve()
    if not argv or not Path(argv[0]).resolve().is_relative_to(root / "flows"):
        return
    loaded = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    # some extension modules carry a bare relative __file__; only real files of the repository count
    files = sorted(str(f.relative_to(root)) for f in loaded if f.is_relative_to(root) and f.is_file())
    module = ".".join(Path(argv[0]).resolve().relative_to(root).with_suffix("").parts)
    record = {"module": module.removesuffix(".__init__"), "args": argv[1:], "files": files, "reads": sorted(READS),
              "opened": _read_files(root, loaded)}
    (Path(RECORD_DIR) / f"{uuid.uuid4().hex}.json").write_text(json.dumps(record))


if RECORD_DIR:
    sys.meta_path.insert(0, _WrapParams())
    sys.addaudithook(_audit)
    atexit.register(_dump)
