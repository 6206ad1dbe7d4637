#!/usr/bin/env bash
# The one-call GPU check (benchmarks/gpu_check.py): at most GPU_CHECK_SECONDS (default 290) in all, one
# JSON object on stdout whatever happens; results/gpu_check.json only when a GPU was seen.
#
#   bash benchmarks/gpu_check.sh [--quick] [--out PATH]
#
# A GPU machine may be bare and offline (no .venv, no package index): the first python that imports
# torch and Lightning is used: $PYTHON, this checkout's .venv, then python3 on the PATH (a CUDA image's
# own, e.g. /opt/torch/.venv/bin/python3).
set -u
cd "$(dirname "$0")/.." || exit 1
total=${GPU_CHECK_SECONDS:-290}
say() { echo "gpu_check: $*" >&2; }
fail() {  # the JSON the python side would have printed, with only the reason in it
  printf '{"benchmark": "gpu_check", "error": "%s"}\n' "$1"
  exit 1
}

python=""
for candidate in "${PYTHON:-}" .venv/bin/python python3 /opt/torch/.venv/bin/python3 python; do
  [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
  left=$((total - SECONDS - 20))
  [ "$left" -gt 0 ] || fail "GPU_CHECK_SECONDS=$total s ran out while looking for a python; raise it"
  # bounded: a first import of torch on a cold disk can take a while, a broken one can hang
  limit=$((left < 90 ? left : 90))
  timeout -k 5 "$limit" "$candidate" -c 'import torch, pytorch_lightning, numpy, yaml' >/dev/null 2>&1
  case $? in
    0) python=$candidate; break ;;
    124|137) say "$candidate did not import torch and pytorch_lightning within $limit s; trying the next python" ;;
    *) say "$candidate lacks torch, pytorch_lightning, numpy or yaml; trying the next python" ;;
  esac
done
[ -n "$python" ] || fail "no python here imports torch, pytorch_lightning, numpy and yaml; set PYTHON=/path/to/python (make setup makes .venv)"
say "using $(command -v "$python")"

# What is left goes to the phases, less time for gpu_check.py's own start (imports) and its JSON; the
# outer timeout is the last resort should gpu_check.py itself hang.
left=$((total - SECONDS - 5))
[ "$left" -ge 10 ] || fail "finding a python took the whole $total s; set PYTHON=/path/to/python or raise GPU_CHECK_SECONDS"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
PYTHONUNBUFFERED=1 timeout -k 5 "$left" "$python" benchmarks/gpu_check.py --budget "$((left - 20))" "$@" >"$out"
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$out" ]; then
  cat "$out"
  exit 0
fi
[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && fail "gpu_check.py did not finish within $left s and was killed"
fail "gpu_check.py exited with code $rc (its message is above, on stderr)"
