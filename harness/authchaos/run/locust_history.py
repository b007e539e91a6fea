"""Locust's JSONL history (``authchaos.record.protocol`` rows) read back into a ``History``; Locust's own CSV stats."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from authchaos.record.history import History, Op

MAX_CHECKED_OPS = 300_000


def read_rows(history_dir: Path) -> list[dict[str, Any]]:
    """Every worker's rows; a line cut off by a killed worker is skipped."""
    rows: list[dict[str, Any]] = []
    for path in sorted(history_dir.glob("history-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "op" in row and "start_ns" in row and "client" in row:
                rows.append(row)
    return rows


def sample_clients(rows: list[dict[str, Any]], limit: int = MAX_CHECKED_OPS) -> list[dict[str, Any]]:
    """Whole clients, chosen with a fixed seed, so per-client invariants still hold on the sample."""
    if len(rows) <= limit:
        return rows
    clients = sorted({r["client"] for r in rows})
    keep = set(random.Random(0).sample(clients, max(1, len(clients) * limit // len(rows))))
    return [r for r in rows if r["client"] in keep]


def read_history(history_dir: Path, t0_ns: int) -> tuple[History, dict[str, Any]]:
    """The history to judge and what was read: requests, checked, sampled, requests per Locust process."""
    rows = read_rows(history_dir)
    per_worker: dict[str, int] = {}
    for r in rows:
        per_worker[str(r.get("worker"))] = per_worker.get(str(r.get("worker")), 0) + 1
    checked = sample_clients(rows)
    history = History(t0_ns)
    history.ops = [Op.from_row(r, id=i) for i, r in enumerate(sorted(checked, key=lambda r: r["start_ns"]))]
    info = {
        "requests": len(rows),
        "checked": len(checked),
        "sampled": len(rows) > len(checked),
        "per_worker": per_worker,
    }
    return history, info


def locust_stats(out: Path) -> list[dict[str, Any]]:
    """Locust's own per-endpoint table (locust_stats.csv)."""
    path = out / "locust_stats.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return [
            {
                "name": r["Name"],
                "requests": int(r["Request Count"]),
                "failures": int(r["Failure Count"]),
                "rps": float(r["Requests/s"]),
                "p50_ms": r["50%"],
                "p95_ms": r["95%"],
                "p99_ms": r["99%"],
            }
            for r in csv.DictReader(f)
        ]
