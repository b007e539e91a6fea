"""Console output that reads whole in a CI log as well as in a terminal.

Without a terminal (a pipe, a CI job) Rich would lay tables out for 80 columns and cut cells short
(``gate-baseli…``): here the width is ``COLUMNS`` or 200, and every table column folds instead of truncating,
so a scenario or check name is never cut at any width.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

LOG_WIDTH = 200  # without a terminal and without COLUMNS


def output() -> Console:
    """The console every command prints to."""
    if sys.stdout.isatty():
        return Console()
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 0 else LOG_WIDTH)


def columns_table(title: str, columns: Iterable[str], **options: object) -> Table:
    """A table whose cells wrap (fold) rather than end in an ellipsis."""
    out = Table(title=title, **options)  # type: ignore[arg-type]
    for name in columns:
        out.add_column(name, overflow="fold")
    return out


PROGRESS_INTERVAL_S = 5.0


class ProgressLines:
    """Without a terminal, where a progress bar draws nothing, the last known state as a line every
    ``interval_s``: a CI log shows the run is alive and where it is (scenario, phase, operations, fault)."""

    def __init__(self, console: Console, interval_s: float | None = None) -> None:
        self.console = console
        self.interval_s = interval_s if interval_s is not None else _interval_from_env()
        self.state: str | None = None
        self.since = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return not self.console.is_terminal and self.interval_s > 0

    def update(self, state: str) -> None:
        if self.state is None or not self.state.startswith(state.split(":")[0]):
            self.since = time.monotonic()
        self.state = state

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.state is not None:
                elapsed = time.monotonic() - self.since
                self.console.print(f"  … {self.state} [{elapsed:.0f}s]", highlight=False, soft_wrap=True, markup=False)

    async def __aenter__(self) -> ProgressLines:
        if self.active:
            self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _interval_from_env() -> float:
    raw = os.environ.get("AUTHCHAOS_PROGRESS_INTERVAL_S", "")
    try:
        return float(raw) if raw else PROGRESS_INTERVAL_S
    except ValueError:
        return PROGRESS_INTERVAL_S
