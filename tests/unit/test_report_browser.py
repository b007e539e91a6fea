"""The report as users see it: laid out by headless Chromium, then measured on screen (not in the SVG source).

A script added to a copy of the page (the page itself has none) writes the on-screen boxes of the per-second
bars, the time-axis ticks and the fault windows into the DOM, which Chromium dumps. Bars must sit between the
ticks of their second, and a fault window must start and end where its times fall on the same axis.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from authchaos.report.html import render_html
from authchaos.report.run_json import run_dict
from tests.unit.test_report import blackhole_result

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make setup installs it as root)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,1600"]

MEASURE = """<script>
window.addEventListener('load', () => {
  const box = (e) => { const r = e.getBoundingClientRect(); return {x: r.left, w: r.width, y: r.top, h: r.height}; };
  const svg = document.querySelector('svg');
  const out = {
    svg: box(svg),
    bars: [...svg.querySelectorAll('rect.second')].map((e) => ({s: +e.dataset.second, ...box(e)})),
    ticks: [...svg.querySelectorAll('text.tick')].map((e) => ({t: parseFloat(e.textContent), ...box(e)})),
    faults: [...svg.querySelectorAll('rect.fault')].map((e) => ({
      name: e.dataset.fault, start: +e.dataset.startS, end: +e.dataset.endS, ...box(e)})),
    lines: [...svg.querySelectorAll('polyline.percentile')].map((e) => e.dataset.percentile),
  };
  const pre = document.createElement('pre'); pre.id = 'geometry'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=90, check=False)


def _geometry(page: str, tmp_path: Path) -> dict[str, Any]:
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE + "</body>"))
    dumped = _chromium("--virtual-time-budget=3000", "--dump-dom", measured.as_uri())
    found = re.search(r'<pre id="geometry">(.*?)</pre>', dumped.stdout, re.S)
    assert found, dumped.stderr[-2000:]
    data: dict[str, Any] = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return data


def test_bars_ticks_and_fault_windows_share_one_time_axis_on_screen(tmp_path: Path) -> None:
    page = render_html(run_dict([blackhole_result()], "2026-01-01T00:00:00+00:00"))
    geo = _geometry(page, tmp_path)
    ticks = {round(t["t"]): t["x"] + t["w"] / 2 for t in geo["ticks"]}  # a tick's centre is its time on screen
    assert sorted(ticks) == [0, 1, 2, 3]
    per_second = ticks[1] - ticks[0]
    assert per_second > 50 and all(abs((ticks[k + 1] - ticks[k]) - per_second) < 1 for k in range(3))
    bars = sorted(geo["bars"], key=lambda b: b["s"])
    assert [b["s"] for b in bars] == [0, 1, 2]
    for bar in bars:  # the bar of second k spans [k, k+1) of the axis
        k = bar["s"]
        assert ticks[k] - 1 <= bar["x"] and bar["x"] + bar["w"] <= ticks[k + 1] + 1, bar
        assert bar["w"] > per_second * 0.8, bar  # and fills it, so no second looks empty
    (fault,) = geo["faults"]
    assert fault["name"] == "blackhole"
    assert abs(fault["x"] - (ticks[0] + fault["start"] * per_second)) < 1.5, fault
    assert abs(fault["x"] + fault["w"] - (ticks[0] + fault["end"] * per_second)) < 1.5, fault
    plot_left, plot_right = geo["svg"]["x"], geo["svg"]["x"] + geo["svg"]["w"]
    assert all(plot_left <= b["x"] and b["x"] + b["w"] <= plot_right for b in bars)
    assert geo["lines"] == ["p50", "p95", "p99"]


def test_a_screenshot_of_the_page_is_made(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(render_html(run_dict([blackhole_result()], "2026-01-01T00:00:00+00:00")))
    shot = tmp_path / "report.png"
    done = _chromium(f"--screenshot={shot}", page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, done.stderr[-2000:]
