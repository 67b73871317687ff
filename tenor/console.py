"""What every CLI command shares: settings loading, errors, JSON output, progress."""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, NoReturn

import typer
from rich.console import Console

from tenor.config import ConfigError, Settings, load_settings

# Human output goes to stderr so that `--json` leaves stdout to one JSON document.
err = Console(stderr=True, soft_wrap=True)
out = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {message}", highlight=False)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress(description: str, total: int | None, enabled: bool = True) -> Iterator:
    """A rich progress bar on stderr; yields an `advance(n=1, note=None)` callable. When stderr is
    not a terminal (a log file, CI), rich draws the bar only at the end: a plain line instead, at
    most every ``LOG_EVERY_S`` seconds and at the end."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    if not enabled:
        yield lambda n=1, note=None: None
        return
    if not err.is_terminal:
        yield from _logged(description, total)
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
        console=err, transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total, note="")

        def advance(n: int = 1, note: str | None = None) -> None:
            bar.update(task, advance=n, **({"note": note} if note is not None else {}))

        yield advance


LOG_EVERY_S = 10.0


def _logged(description: str, total: int | None) -> Iterator:
    """``progress`` for a stderr that is not a terminal: "training: 12/41 (2m 10s, about 5m 14s left) note".
    Thread-safe, as rich's bar is (the eval advances from its workers)."""
    started = _now()
    lock = threading.Lock()
    state = {"done": 0, "note": "", "said": started, "said_done": 0}

    def line(now: float) -> str:
        elapsed = now - started
        left = (f", about {_duration(elapsed * (total - state['done']) / state['done'])} left"
                if total and state["done"] and state["done"] < total else "")
        count = f"{state['done']}/{total}" if total else str(state["done"])
        return f"{description}: {count} ({_duration(elapsed)}{left}) {state['note']}".rstrip()

    def say(now: float) -> None:
        state["said"], state["said_done"] = now, state["done"]
        err.print(line(now), highlight=False, markup=False)

    def advance(n: int = 1, note: str | None = None) -> None:
        with lock:
            state["done"] += n
            state["note"] = state["note"] if note is None else note
            now = _now()
            finished = bool(total) and state["done"] >= total > state["said_done"]
            if finished or (now - state["said"] >= LOG_EVERY_S and state["done"] > state["said_done"]):
                say(now)

    yield advance
    with lock:
        if state["done"] != state["said_done"] or not total:
            say(_now())


_now = time.monotonic  # a module name of its own, for tests


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
