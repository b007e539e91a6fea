"""Locust's master and workers as managed child processes (never imported: it monkey-patches with gevent)."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from authchaos.checks.capacity_knee import capacity_slos, stop_bounds
from authchaos.record.token_keys import ENV, TokenKeys
from authchaos.run.load_spec import LoadError, LoadOptions
from authchaos.servers.processes import ManagedProcess, free_port

LOCUSTFILE = Path(str(resources.files("authchaos.scenario_files"))) / "load" / "locustfile.py"  # the shipped one
LOCUST_FIX = "pip install 'authchaos[load]' (in a checkout: make setup)"
FINISH_GRACE_S = 90.0  # Locust gets this long past the planned duration before the run is called stuck


def require_locust() -> None:
    """Locust runs as ``python -m locust`` of this very interpreter: without it there, nothing is started."""
    if importlib.util.find_spec("locust") is None:
        raise LoadError(f"authchaos load needs Locust, which is not installed for {sys.executable}: {LOCUST_FIX}")


def locustfile(opts: LoadOptions) -> Path:
    """``--locustfile``, else the shipped one."""
    return opts.locustfile or LOCUSTFILE


def locust_env(opts: LoadOptions, history_dir: Path, keys: TokenKeys | None) -> dict[str, str]:
    """Locust's environment: where to write the history, the shape, and the keys BlacklistUser mints with."""
    env = {
        **os.environ,
        "AUTHCHAOS_LOAD_HISTORY_DIR": str(history_dir),
        "AUTHCHAOS_LOAD_WEIGHTS": opts.weights,
        "AUTHCHAOS_LOAD_BATCH_SIZES": opts.batch_sizes,
        "AUTHCHAOS_LOAD_SCALE": str(opts.scale),
        "PYTHONUNBUFFERED": "1",
    }
    if keys is not None:
        env |= {
            ENV["access"]: keys.access_secret,
            ENV["refresh"]: keys.refresh_secret,
            ENV["issuer"]: keys.issuer,
            ENV["audience"]: keys.audience,
        }
        kids = (("access_kid", keys.access_kid), ("refresh_kid", keys.refresh_kid))
        env |= {ENV[name]: kid for name, kid in kids if kid}
    env.pop("AUTHCHAOS_CONTRACT", None)
    if opts.contract is not None:
        env["AUTHCHAOS_CONTRACT"] = str(opts.contract)
    env.pop("AUTHCHAOS_LOAD_SEED", None)
    if opts.seed is not None:
        env["AUTHCHAOS_LOAD_SEED"] = str(opts.seed)
    env.pop("AUTHCHAOS_LOAD_PROFILE", None)
    if opts.profile:
        env["AUTHCHAOS_LOAD_PROFILE"] = opts.profile
    if opts.profile == "capacity":  # the shape stops once every endpoint broke its bound; capacity.py judges
        env["AUTHCHAOS_CAPACITY_SLO"] = stop_bounds(capacity_slos(opts.slo))
    return env


def master_argv(opts: LoadOptions, url: str, out: Path, master_port: int) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile(opts)),
        "--headless",
        "-H",
        url,
        "--only-summary",
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--html",
        str(out / "locust.html"),
        "--json-file",
        str(out / "locust"),
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "5",
        "-t",
        f"{max(1, round(opts.seconds))}s",
    ]
    if not opts.profile:
        argv += ["-u", str(opts.users), "-r", str(opts.spawn_rate)]
    if opts.workers:
        argv += [
            "--master",
            "--expect-workers",
            str(opts.workers),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(master_port),
        ]
    return argv


def worker_argv(master_port: int, locustfile: Path = LOCUSTFILE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(master_port),
    ]


def spawn_locust(opts: LoadOptions, url: str, out: Path, env: dict[str, str]) -> list[ManagedProcess]:
    """The master first (it is the one whose exit ends the run), then the workers."""
    require_locust()
    port = free_port()
    master = ManagedProcess("locust-master", master_argv(opts, url, out, port), out / "locust-master.log", env)
    master.spawn()
    procs = [master]
    for i in range(opts.workers):
        worker = ManagedProcess(
            f"locust-worker-{i}", worker_argv(port, locustfile(opts)), out / f"locust-worker-{i}.log", env
        )
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
