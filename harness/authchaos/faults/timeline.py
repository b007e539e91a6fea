"""Scheduled faults: start at t, last d; every started fault is stopped, then rollback runs."""

from __future__ import annotations

import asyncio
import logging
import time

from authchaos.faults.fault_spec import Fault, FaultEvent, ServiceFault
from authchaos.faults.nemesis import FaultNotSupported, Nemesis
from authchaos.record.windows import FaultWindow, TimelineResult

log = logging.getLogger("authchaos.nemesis")


async def _call(nemesis: Nemesis, method: str, fault: Fault) -> None:
    fn = getattr(nemesis, method)
    if nemesis.backend == "real" or isinstance(fault, ServiceFault):  # a service restart blocks for seconds
        await asyncio.to_thread(fn, fault)  # blocking HTTP / process calls stay off the event loop
    else:
        fn(fault)


def _plan(events: list[FaultEvent], result: TimelineResult) -> list[tuple[float, int, str, int]]:
    """One window per event, and the start/stop actions in time order (a stop before a start at the same time)."""
    actions: list[tuple[float, int, str, int]] = []
    for i, ev in enumerate(events):
        whole = float(getattr(ev.fault, "toxicity", 1.0)) >= 1.0
        result.windows.append(
            FaultWindow(ev.fault.describe(), ev.fault.kind, ev.fault.target, ev.at_s, ev.for_s, whole=whole)
        )
        actions.append((ev.at_s, 1, "start", i))
        if ev.for_s is not None:
            actions.append((ev.at_s + ev.for_s, 0, "stop", i))
    return sorted(actions)


async def _start(nemesis: Nemesis, event: FaultEvent, window: FaultWindow) -> bool:
    """Start one fault; a fault this backend cannot produce is marked skipped, by name."""
    fault = event.fault
    if not nemesis.supports(fault):
        hint = getattr(nemesis, "hint", "")
        window.skipped = f"{fault.kind} is not supported on the {nemesis.backend} backend{hint}"
        return False
    sent_ns = time.monotonic_ns()  # the fault may bite any time during the call: its window starts before it
    try:
        await _call(nemesis, "start", fault)
    except FaultNotSupported as exc:
        window.skipped = str(exc)
        return False
    except Exception as exc:  # the fault could not be produced: an error of the run, never a silent no-op
        window.error = f"start failed: {exc}"
        log.error("fault %s did not start: %s", fault.describe(), exc)
        return False
    window.start_ns = sent_ns
    if event.for_s is None:
        window.end_ns = window.start_ns
    return True


async def _stop_all(nemesis: Nemesis, events: list[FaultEvent], started: set[int], result: TimelineResult) -> None:
    """Stop whatever is still running, then roll back from the servers' actual state; shielded from Ctrl-C."""
    for i in sorted(started, reverse=True):
        result.windows[i].stop_sent_ns = time.monotonic_ns()
        try:
            await asyncio.shield(_call(nemesis, "stop", events[i].fault))
        except Exception as exc:  # rollback below still runs
            result.windows[i].error = f"stop failed: {exc}"
        result.windows[i].end_ns = time.monotonic_ns()
    try:
        result.rollback = await asyncio.shield(asyncio.to_thread(nemesis.rollback))
    except Exception as exc:
        result.rollback_error = str(exc)
        log.error("rollback failed: %s", exc)


async def run_timeline(nemesis: Nemesis, events: list[FaultEvent], t0_ns: int, result: TimelineResult) -> None:
    """Apply ``events`` relative to ``t0_ns``; always stops what it started and rolls back.

    ``result`` is filled in as it goes, so a caller that cancels this task still
    has the windows and the rollback record.
    """
    started: set[int] = set()
    try:
        for at_s, _, what, i in _plan(events, result):
            delay = t0_ns / 1e9 + at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if what == "start":
                if await _start(nemesis, events[i], result.windows[i]):
                    started.add(i)
            elif i in started:
                started.discard(i)
                result.windows[i].stop_sent_ns = time.monotonic_ns()
                try:
                    await _call(nemesis, "stop", events[i].fault)
                except Exception as exc:  # a cleanup pass that failed, say: the run says so (verdict error)
                    result.windows[i].error = f"stop failed: {exc}"
                    log.error("fault %s: %s", events[i].fault.describe(), exc)
                result.windows[i].end_ns = time.monotonic_ns()
    finally:
        await _stop_all(nemesis, events, started, result)
