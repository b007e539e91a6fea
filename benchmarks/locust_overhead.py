"""What recording the history costs the Locust driver: the same locustfile, recording off then on, same run.

Both runs drive the trivial floor app (the cheapest server there is, so the generator is the bottleneck) with
ApiUser only (``AUTHCHAOS_LOAD_WEIGHTS=refresh=0,blacklist=0,api=1``). Locust's own ``--csv`` stats give the
total requests/s (counted once every user has spawned); each run also keeps the generator's CPU seconds
(``getrusage`` of the finished child), which show whether it was saturated: the ratio only measures the
generator's cost when it is. Target: recording costs at most 20 %.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.floors import ROOT, FloorServer

LOCUSTFILE = "scenarios/load/locustfile.py"
USERS = 2000  # ApiUser waits 0.05-0.3 s: 2,000 users ask ~11,000 requests/s, more than one Locust process makes
DURATION_S = 5


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def locust_run(url: str, history_dir: str | None, users: int = USERS, duration_s: int = DURATION_S) -> dict[str, Any]:
    """One headless Locust run; its aggregated requests/s and its CPU cost."""
    out = Path(tempfile.mkdtemp(prefix="authchaos-locust-"))
    env = {k: v for k, v in os.environ.items() if k != "AUTHCHAOS_LOAD_HISTORY_DIR"}
    env["AUTHCHAOS_LOAD_WEIGHTS"] = "refresh=0,blacklist=0,api=1"
    if history_dir is not None:
        env["AUTHCHAOS_LOAD_HISTORY_DIR"] = history_dir
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        LOCUSTFILE,
        "--headless",
        "-H",
        url,
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{duration_s}s",
        "--reset-stats",
        "--stop-timeout",
        "1",
        "--csv",
        str(out / "run"),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    cpu = _children_cpu_s()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    cpu = _children_cpu_s() - cpu
    stats = out / "run_stats.csv"
    if not stats.exists():
        raise RuntimeError(f"locust wrote no stats ({done.returncode}): {done.stderr[-400:]}")
    total = next(row for row in csv.DictReader(stats.open()) if row["Name"] == "Aggregated")
    requests = int(total["Request Count"])
    return {
        "rps": round(float(total["Requests/s"]), 1),
        "requests": requests,
        "failures": int(total["Failure Count"]),
        "cpu_s": round(cpu, 2),
        "requests_per_cpu_s": round(requests / cpu, 1) if cpu else None,
    }


def locust_recording() -> dict[str, Any]:
    """Off, on, on, off against one trivial floor (ABBA: a drift in the machine's load cancels out);
    the ratio is the mean requests/s on over off (1.0: recording is free)."""
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with FloorServer("trivial_app") as trivial:
        for mode in ("off", "on", "on", "off"):
            history = tempfile.mkdtemp(prefix="authchaos-locust-history-") if mode == "on" else None
            runs[mode].append(locust_run(trivial.url, history))
    off, on = (sum(r["rps"] for r in runs[m]) / 2 for m in ("off", "on"))
    ratio = on / off if off else 0.0
    failures = sum(r["failures"] for rs in runs.values() for r in rs)
    return {
        "recording_off_rps": round(off, 1),
        "recording_on_rps": round(on, 1),
        "ratio": round(ratio, 2),
        "overhead_pct": round(100 * (1 - ratio), 1),
        "runs": runs,
        "users": USERS,
        "target": "recording costs <= 20 % (ratio >= 0.8)",
        "met": ratio >= 0.8 and not failures,
    }
