"""Writes reports/<timestamp>/{run.json,junit.xml,index.html} and points reports/latest at it."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from harness.report.html import render_html
from harness.report.junit import junit_xml


def new_report_dir(root: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = root / stamp
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


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
