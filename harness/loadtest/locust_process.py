"""Locust's master and workers as managed child processes (never imported: it monkey-patches with gevent)."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.loadtest.capacity import capacity_slos, stop_bounds
from harness.loadtest.spec import LoadOptions
from harness.services.processes import ManagedProcess, free_port
from harness.tokens import ENV, TokenKeys

LOCUSTFILE = Path(__file__).resolve().parents[2] / "scenarios" / "load" / "locustfile.py"
FINISH_GRACE_S = 90.0  # Locust gets this long past the planned duration before the run is called stuck


def locust_env(opts: LoadOptions, history_dir: Path, keys: TokenKeys | None) -> dict[str, str]:
    """Locust's environment: where to write the history, the shape, and the keys BlacklistUser mints with."""
    env = {**os.environ, "AUTHCHAOS_LOAD_HISTORY_DIR": str(history_dir), "AUTHCHAOS_LOAD_WEIGHTS": opts.weights,
           "AUTHCHAOS_LOAD_BATCH_SIZES": opts.batch_sizes, "AUTHCHAOS_LOAD_SCALE": str(opts.scale),
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    if keys is not None:
        env |= {ENV["access"]: keys.access_secret, ENV["refresh"]: keys.refresh_secret,
                ENV["issuer"]: keys.issuer, ENV["audience"]: keys.audience}  # fmt: skip
        kids = (("access_kid", keys.access_kid), ("refresh_kid", keys.refresh_kid))
        env |= {ENV[name]: kid for name, kid in kids if kid}
    env.pop("AUTHCHAOS_LOAD_PROFILE", None)
    if opts.profile:
        env["AUTHCHAOS_LOAD_PROFILE"] = opts.profile
    if opts.profile == "capacity":  # the shape stops once every endpoint broke its bound; capacity.py judges
        env["AUTHCHAOS_CAPACITY_SLO"] = stop_bounds(capacity_slos(opts.slo))
    return env


def master_argv(opts: LoadOptions, url: str, out: Path, master_port: int) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-H", url, "--only-summary",
            "--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html"),
            "--json-file", str(out / "locust"), "--exit-code-on-error", "0", "--stop-timeout", "5",
            "-t", f"{max(1, round(opts.seconds))}s"]  # fmt: skip
    if not opts.profile:
        argv += ["-u", str(opts.users), "-r", str(opts.spawn_rate)]
    if opts.workers:
        argv += ["--master", "--expect-workers", str(opts.workers), "--master-bind-host", "127.0.0.1",
                 "--master-bind-port", str(master_port)]  # fmt: skip
    return argv


def worker_argv(master_port: int) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
            "--master-port", str(master_port)]  # fmt: skip


def spawn_locust(opts: LoadOptions, url: str, out: Path, env: dict[str, str]) -> list[ManagedProcess]:
    """The master first (it is the one whose exit ends the run), then the workers."""
    port = free_port()
    master = ManagedProcess("locust-master", master_argv(opts, url, out, port), out / "locust-master.log", env)
    master.spawn()
    procs = [master]
    for i in range(opts.workers):
        worker = ManagedProcess(f"locust-worker-{i}", worker_argv(port), out / f"locust-worker-{i}.log", env)
        worker.spawn()
        procs.append(worker)
    return procs


async def wait_for_master(master: ManagedProcess, seconds: float, on_tick: Callable[[float], None]) -> bool:
    """Wait until Locust ends by itself; False when it overran its duration by ``FINISH_GRACE_S``."""
    started = time.monotonic()
    deadline = started + seconds + FINISH_GRACE_S
    while master.alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        on_tick(time.monotonic() - started)
    return not master.alive()


def live_rps(out: Path) -> str:
    """The newest aggregate line of Locust's own stats history, for the live view."""
    path = out / "locust_stats_history.csv"
    try:
        with path.open() as f:
            last = [r for r in csv.DictReader(f) if r.get("Name") == "Aggregated"][-1]
    except (OSError, IndexError, KeyError):
        return ""
    return f"{float(last['Requests/s']):.0f} req/s, {float(last['Failures/s']):.1f} fail/s, {last['User Count']} users"
