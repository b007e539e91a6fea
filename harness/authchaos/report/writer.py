"""Writes reports/<timestamp>/{run.json,junit.xml,index.html} and points reports/latest at it: the one
place every driver's results become files."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from authchaos.report.html import render_html
from authchaos.report.junit import junit_xml
from authchaos.report.run_json import run_dict
from authchaos.run.results import ScenarioResult


def new_report_dir(root: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = root / stamp
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def publish(
    results: list[ScenarioResult],
    started_at: str,
    root: Path,
    *,
    extra: dict[str, Any] | None = None,
    move_in: Path | None = None,
    proof: list[dict[str, Any]] | None = None,
) -> Path:
    """Every driver's reports: ``extra`` files written as JSON beside them, ``move_in``'s files moved in
    (Locust's own logs and CSVs); returns the report directory."""
    out = write_reports(run_dict(results, started_at, proof), root)
    for name, data in (extra or {}).items():
        (out / name).write_text(json.dumps(data, indent=1, default=str))
    if move_in is not None:
        for f in move_in.iterdir():
            f.rename(out / f.name)
        move_in.rmdir()
    return out


def where(report_dir: Path) -> str:
    """The console's last line about a report."""
    return f"report: {report_dir}/index.html (run.json, junit.xml beside it)"


def write_reports(run: dict[str, Any], root: Path) -> Path:
    out = new_report_dir(root)
    (out / "run.json").write_text(json.dumps(run, indent=1, default=str))
    (out / "junit.xml").write_bytes(junit_xml(run))
    (out / "index.html").write_text(render_html(run))
    latest = root / "latest"
    tmp = root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out.name)
    tmp.replace(latest)
    return out
