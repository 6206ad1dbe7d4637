"""What a person sees while stages run side by side: one live line per running stage (stage, epoch, loss,
elapsed), redrawn in place on a terminal, and one line per finished stage. Each stage's whole output
goes to its own log file instead, so nothing interleaves.

Off a terminal (CI, a pipe, a log) nothing is redrawn: finished stages and each epoch line print as
whole lines, prefixed by their stage.
"""
from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field

EPOCH = re.compile(r": epoch (\d+)/(\d+) trained \((.*)\)\s*$")  # flows.stages.train's line per epoch
CACHED = re.compile(r"Stage '.+' didn't change, skipping")


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class Running:
    started: float = field(default_factory=time.monotonic)
    status: str = "starting"
    cached: bool = False


class Board:
    def __init__(self, out=None, live: bool | None = None, tick_s: float = 1.0):
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.running: dict[str, Running] = {}
        self.lock = threading.RLock()
        self.drawn = 0  # lines of the live block now on screen
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(tick_s,), daemon=True) if self.live else None

    def __enter__(self) -> "Board":
        if self._ticker:
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker and self._ticker.is_alive():
            self._ticker.join(timeout=5)
        with self.lock:
            self._erase()
            self.out.flush()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            with self.lock:
                self._draw()

    def start(self, stage: str) -> None:
        with self.lock:
            self.running[stage] = Running()
            self._draw()

    def feed(self, stage: str, line: str) -> None:
        """A line the stage printed: an epoch line becomes its live status (and, off a terminal, is printed)."""
        with self.lock:
            state = self.running.get(stage)
            if state is None:
                return
            if CACHED.search(line):
                state.cached = True
            found = EPOCH.search(line)
            if not found:
                return
            epoch, epochs, shown = found.groups()
            losses = [part for part in shown.split(", ") if part.split(" ")[0].endswith("loss")]
            shown = ", ".join(losses) or shown  # the rest of the epoch's figures are in the log and MLflow
            state.status = f"epoch {epoch}/{epochs}  {shown}"
            if not self.live:
                self._print(f"  {stage}: epoch {epoch}/{epochs} ({shown})")

    def finish(self, stage: str, outcome: str, note: str = "") -> None:
        """outcome: done | cached | failed | skipped; note: the log file, or the reason."""
        with self.lock:
            state = self.running.pop(stage, Running())
            word = "cached" if outcome == "done" and state.cached else outcome
            took = "" if word == "cached" else f" {clock(time.monotonic() - state.started)}"
            self.say(f"{word:<7} {stage}{took}" + (f"  {note}" if note else ""))

    def say(self, text: str) -> None:
        """A line that stays (above the live block on a terminal)."""
        with self.lock:
            self._erase()
            self._print(text)
            self._draw()

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _erase(self) -> None:
        if self.live and self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")  # to the block's first line, clear to the end
            self.drawn = 0

    def _draw(self) -> None:
        if not self.live:
            return
        self._erase()
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)  # a wrapped line breaks the redraw
        now = time.monotonic()
        lines = [f"  {name}  {clock(now - state.started)}  {state.status}"[:width]
                 for name, state in self.running.items()]
        if lines:
            self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self.drawn = len(lines)


class BoardStream:
    """A file for another writer (Prefect's console log handler) whose lines go above the live block."""

    def __init__(self, board: Board):
        self.board, self.pending = board, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.board.say(line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
