"""index.html: one self-contained page (inline SVG and CSS, opens offline) that explains the run.

Per scenario: the verdict, what was done (faults planned and applied, rollback),
a timeline plot (latency of every operation coloured by outcome, fault windows
shaded, errors per second underneath) and the checks with the operations that
broke them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

W, H, H2, PAD_L, PAD_R, PAD_T = 960, 280, 110, 62, 16, 22
COLORS = {
    "ok": "#2e9d57",
    "fail": "#d64545",
    "unknown": "#e69b00",
    "degraded": "#3f7fd6",
    "rejected as expected": "#9a7fc9",  # a probe's revoked, replayed, cross-kind or expired token turned away
}
PERCENTILES = {"p50": "#1d232a", "p95": "#7a4fd6", "p99": "#d64545"}
MAX_POINTS = 20_000

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#1d232a}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-top:1px solid #ddd;padding-top:18px}
.muted{color:#5b6670}.verdict{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.pass{background:#2e9d57}.fail{background:#d64545}.error{background:#8a4fd6}.skipped{background:#b7791f}
table{border-collapse:collapse;width:100%;margin:8px 0}td,th{border-bottom:1px solid #e6e8eb;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f5f6f7}.mono{font-family:ui-monospace,Menlo,monospace;font-size:12px}
.ok{color:#2e9d57;font-weight:600}.warn{color:#b7791f;font-weight:600}.bad{color:#d64545;font-weight:600}.note{background:#fff7e0;border:1px solid #f0d48a;
padding:6px 10px;border-radius:6px}svg text{font:11px system-ui,sans-serif;fill:#444}details{margin:4px 0}
.legend span{display:inline-block;margin-right:14px}.dot{display:inline-block;width:9px;height:9px;border-radius:50%;
margin-right:4px;vertical-align:middle}.line{display:inline-block;width:14px;height:2px;margin-right:4px;
vertical-align:middle}
"""


def _expected_rejection(op: dict[str, Any]) -> bool:
    """A probe the service was right to turn away, told apart from real failures: a probe the client judged a
    pass (its 401), or a replayed refresh token refused as reuse. A 404 or 429 to a probe stays a failure."""
    if op.get("probe") is None or op.get("status") != 401:
        return False
    return op["outcome"] == "ok" or (op.get("probe") == "replayed" and op.get("error") == "token_reused")


def _color(op: dict[str, Any]) -> str:
    if _expected_rejection(op):
        return COLORS["rejected as expected"]
    if op["outcome"] == "ok" and op.get("degraded"):
        return COLORS["degraded"]
    return COLORS.get(op["outcome"], "#888")


def _x(t: float, t_max: float) -> float:
    return PAD_L + (W - PAD_L - PAD_R) * (t / t_max if t_max else 0)


@dataclass(frozen=True)
class _LatencyAxis:
    """Log-scale latency axis spanning whole decades, so gridlines fall on 1, 10, 100 ms..."""

    lo: float
    hi: float

    @classmethod
    def fit(cls, ops: list[dict[str, Any]]) -> _LatencyAxis:
        lat = [max(o["latency_ms"], 0.1) for o in ops] or [1.0]
        return cls(10 ** math.floor(math.log10(min(lat))), 10 ** math.ceil(math.log10(max(lat) * 1.01)))

    def y(self, ms: float) -> float:
        span = math.log10(self.hi) - math.log10(self.lo) or 1
        return PAD_T + (H - PAD_T - 30) * (1 - (math.log10(max(ms, self.lo)) - math.log10(self.lo)) / span)


def _t_max(sc: dict[str, Any], windows: list[dict[str, Any]]) -> float:
    """The plot's right edge: the last operation or fault end rounded up to a whole second (at least one), so
    the per-second bars, the dots and the fault windows share one time axis."""
    return axis_seconds(max([o["t_end_s"] for o in sc["history"]] + [w["end_s"] or 0 for w in windows] + [1.0]))


def axis_seconds(t: float) -> float:
    return float(max(1, math.ceil(t - 1e-9)))


def _fault_shades(windows: list[dict[str, Any]], t_max: float) -> list[str]:
    """One shaded band per started fault window (open ones reach the right edge), across both plots."""
    parts = []
    for w in windows:
        x0, x1 = _x(w["start_s"], t_max), _x(w["end_s"] if w["end_s"] is not None else t_max, t_max)
        width = max(x1 - x0, 2)
        parts.append(
            f'<rect class="fault" data-fault="{escape(w["name"])}" data-start-s="{w["start_s"]}" '
            f'data-end-s="{w["end_s"] if w["end_s"] is not None else t_max}" x="{x0:.1f}" y="{PAD_T}" '
            f'width="{width:.1f}" height="{H + H2 - PAD_T - 8}" fill="#7a8794" opacity=".16"/>'
        )
        parts.append(f'<text x="{x0 + 3:.1f}" y="{PAD_T - 6}">{escape(w["name"])}</text>')
    return parts


def _latency_grid(axis: _LatencyAxis) -> list[str]:
    parts = []
    exp = math.log10(axis.lo)
    while exp <= math.log10(axis.hi) + 1e-9:
        ms = 10**exp
        yy = axis.y(ms)
        label = f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e3e6e9"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
        exp += 1
    return parts


def _scatter(ops: list[dict[str, Any]], t_max: float, axis: _LatencyAxis, step: int) -> list[str]:
    """Every ``step``th operation as a dot at its midpoint, so huge runs stay a page a browser can open."""
    parts = []
    for o in ops[::step]:
        cx, cy = _x((o["t_start_s"] + o["t_end_s"]) / 2, t_max), axis.y(o["latency_ms"])
        tip = f"#{o['id']} {o['op']} {o.get('status', o.get('error', ''))} {o['latency_ms']:.1f}ms"
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.2" fill="{_color(o)}" opacity=".75"><title>{escape(tip)}</title></circle>'
        )
    return parts


def _per_second(ops: list[dict[str, Any]], seconds: int) -> tuple[list[int], list[int]]:
    """Operations started in each second [k, k+1): all, and those that did not succeed (expected rejections
    of probes are successes)."""
    total = [0] * seconds
    bad = [0] * seconds
    for o in ops:
        s = min(max(int(o["t_start_s"]), 0), seconds - 1)
        total[s] += 1
        bad[s] += o["outcome"] != "ok" and not _expected_rejection(o)
    return total, bad


def _percentile_lines(ops: list[dict[str, Any]], t_max: float, axis: _LatencyAxis) -> list[str]:
    """p50, p95 and p99 of the operations started in each second, drawn at the middle of that second."""
    seconds = int(t_max)
    by_second: list[list[float]] = [[] for _ in range(seconds)]
    for o in ops:
        by_second[min(max(int(o["t_start_s"]), 0), seconds - 1)].append(o["latency_ms"])
    parts = []
    for name, colour in PERCENTILES.items():
        q = int(name[1:])
        points = []
        for s, lat in enumerate(by_second):
            if lat:
                ordered = sorted(lat)
                value = ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
                points.append(f"{_x(s + 0.5, t_max):.1f},{axis.y(value):.1f}")
        if points:
            parts.append(
                f'<polyline class="percentile" data-percentile="{name}" points="{" ".join(points)}" fill="none" '
                f'stroke="{colour}" stroke-width="1.4" opacity=".8"><title>{name} per second</title></polyline>'
            )
    return parts


def _error_bars(ops: list[dict[str, Any]], t_max: float) -> list[str]:
    """Operations per second under the scatter, the ones that did not succeed in red, with a time axis: the bar
    of second k spans [k, k+1) on the same axis as the dots and the fault windows."""
    seconds = int(t_max)
    total, bad = _per_second(ops, seconds)
    base = H + H2 - 10
    top = max([*total, 1])
    parts = []
    for s in range(seconds):
        x, width = _x(s, t_max) + 0.5, (_x(s + 1, t_max) - _x(s, t_max)) - 1.0
        th, bh = (H2 - 20) * total[s] / top, (H2 - 20) * bad[s] / top
        parts.append(
            f'<rect class="second" data-second="{s}" x="{x:.1f}" y="{base - th:.1f}" width="{width:.1f}" '
            f'height="{th:.1f}" fill="#cfd6dc"><title>{s}-{s + 1}s: {total[s]} ops, {bad[s]} failed</title></rect>'
        )
        if bad[s]:
            parts.append(
                f'<rect class="second-failed" x="{x:.1f}" y="{base - bh:.1f}" width="{width:.1f}" height="{bh:.1f}" '
                f'fill="{COLORS["fail"]}"/>'
            )
    parts.append(f'<text x="{PAD_L - 6}" y="{base - H2 + 24}" text-anchor="end">{top}/s</text>')
    parts.append(f'<text x="{PAD_L - 6}" y="{base}" text-anchor="end">0</text>')
    for t in range(0, seconds + 1, max(1, seconds // 12)):
        parts.append(f'<text class="tick" x="{_x(t, t_max):.1f}" y="{base + 14}" text-anchor="middle">{t}s</text>')
    return parts


def timeline_svg(sc: dict[str, Any], t_max: float | None = None) -> str:
    """Latency scatter over per-second error bars, fault windows shaded; ``t_max`` aligns several plots."""
    ops = sc["history"]
    windows = [w for w in sc["timeline"]["windows"] if w["start_s"] is not None]
    t_max = axis_seconds(t_max) if t_max else _t_max(sc, windows)
    axis = _LatencyAxis.fit(ops)
    step = max(1, int(len(ops) / MAX_POINTS) + 1)
    svg = "".join(
        [
            f'<svg viewBox="0 0 {W} {H + H2 + 20}" width="100%" role="img" aria-label="timeline of {escape(sc["name"])}">',
            *_fault_shades(windows, t_max),
            *_latency_grid(axis),
            *_scatter(ops, t_max, axis, step),
            *_percentile_lines(ops, t_max, axis),
            *_error_bars(ops, t_max),
            "</svg>",
        ]
    )
    note = f'<p class="muted">Every {step}th operation is drawn ({len(ops)} in all).</p>' if step > 1 else ""
    legend = "".join(f'<span><i class="dot" style="background:{c}"></i>{k}</span>' for k, c in COLORS.items())
    lines = "".join(f'<span><i class="line" style="background:{c}"></i>{k}</span>' for k, c in PERCENTILES.items())
    return (
        f'<div class="legend muted">{legend}{lines}<span>shaded: fault active</span></div>{svg}'
        f'<p class="muted">Top: latency of each operation (log scale) and its p50/p95/p99 per second. Bottom: '
        f"operations started in each second, red the ones that failed (a probe turned away as it should be is "
        f"not a failure).</p>{note}"
    )


def _ops_table(ops: list[dict[str, Any]]) -> str:
    cols = ("id", "t_start_s", "client", "op", "status", "error", "message", "phase", "latency_ms")
    head = "".join(f"<th>{c}</th>" for c in cols)
    rows = "".join(
        "<tr>" + "".join(f'<td class="mono">{escape(str(o.get(c, "")))}</td>' for c in cols) + "</tr>" for o in ops
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _checks(sc: dict[str, Any]) -> str:
    by_id = {o["id"]: o for o in sc["history"]}
    rows = []
    for c in sc["checks"]:
        if c.get("finding"):
            mark = '<span class="warn">finding</span>'
        elif not c.get("applicable", True):
            mark = '<span class="muted">not applicable</span>'
        else:
            mark = '<span class="ok">pass</span>' if c["passed"] else '<span class="bad">FAIL</span>'
        evidence = [by_id[i] for i in c["evidence"] if i in by_id]
        detail = ""
        if evidence:
            label = "operations that broke it" if not c["passed"] else "operations listed"
            expand = not c["passed"] and not c.get("finding")
            detail = f"<details{' open' if expand else ''}><summary>{len(evidence)} {label}</summary>{_ops_table(evidence)}</details>"
        figures = c.get("details", {}).get("figures")
        if figures:
            detail += "<div class='muted mono'>" + escape(", ".join(f"{k}: {v}" for k, v in figures.items())) + "</div>"
        rows.append(f"<tr><td>{mark}</td><td>{escape(c['name'])}</td><td>{escape(c['summary'])}{detail}</td></tr>")
    return "<table><tr><th></th><th>check</th><th>result</th></tr>" + "".join(rows) + "</table>"


def _what_happened(sc: dict[str, Any]) -> str:
    items = []
    for w in sc["timeline"]["windows"]:
        if w["skipped"]:
            items.append(
                f"<li><b>{escape(w['name'])}</b>: <span class='bad'>skipped</span>: {escape(w['skipped'])}</li>"
            )
        elif w["start_s"] is None:
            items.append(f"<li><b>{escape(w['name'])}</b>: planned at {w['planned_at_s']}s, never started</li>")
        else:
            if w["end_s"] is None:
                dur = "until the run was stopped"
            else:
                dur = "instant" if w["end_s"] == w["start_s"] else f"until {w['end_s']:.2f}s"
            items.append(f"<li><b>{escape(w['name'])}</b> ({w['target']}): from {w['start_s']:.2f}s {dur}</li>")
    rollback = sc["timeline"]["rollback"]
    rb = ", ".join(escape(x) for x in rollback) if rollback else "nothing was left to undo"
    if sc["timeline"]["rollback_error"]:
        rb += f" <span class='bad'>rollback error: {escape(sc['timeline']['rollback_error'])}</span>"
    faults = f"<ul>{''.join(items)}</ul>" if items else "<p>No faults: a baseline run.</p>"
    steady = []
    for when in ("before", "after"):
        rep = sc["steady_state"].get(when)
        if rep:
            state = "<span class='ok'>held</span>" if rep["passed"] else "<span class='bad'>did not hold</span>"
            probes = ", ".join(f"{p['op']}={p['status']}" for p in rep["probes"]) or "no probes declared"
            steady.append(f"<li>{when}: {state} ({escape(probes)})</li>")
    steady_html = f"<h3>Steady state</h3><ul>{''.join(steady)}</ul>" if steady else ""
    return f"<h3>Faults</h3>{faults}<p>Rollback: {rb}.</p>{steady_html}"


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    """An HTML table of plain values, every cell escaped."""
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def _load_section(sc: dict[str, Any]) -> str:
    """Locust's per-endpoint numbers, the load per worker, and one timeline per endpoint."""
    load = sc.get("load")
    if not load:
        return ""
    locust = _table(
        ("endpoint", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms"),
        [
            (s["name"], s["requests"], s["failures"], f"{s['rps']:.1f}", s["p50_ms"], s["p95_ms"], s["p99_ms"])
            for s in load.get("locust", [])
        ],
    )
    workers = ", ".join(f"pid {k}: {v} requests" for k, v in load.get("per_worker", {}).items())
    sampled = (
        f"<p class=note>Correctness checks ran on {load['checked']} of {load['requests']} requests (whole clients sampled).</p>"
        if load.get("sampled")
        else ""
    )
    per_endpoint = []
    t_max = max([o["t_end_s"] for o in sc["history"]] + [1.0])
    for op in sorted({o["op"] for o in sc["history"]}):
        sub = {**sc, "history": [o for o in sc["history"] if o["op"] == op], "name": f"{sc['name']} {op}"}
        per_endpoint.append(f"<h4>{escape(op)}</h4>{timeline_svg(sub, t_max)}")
    return (
        f"<h3>Load (Locust)</h3>{locust}"
        f"<p class=muted>Load by Locust process: {escape(workers) or 'n/a'} · profile {escape(str(load.get('profile') or 'custom'))} · "
        f"{load.get('workers', 0)} workers · Locust's own report: <a href='locust.html'>locust.html</a></p>{sampled}"
        f"{_capacity_section(load)}<h3>Per endpoint</h3>{''.join(per_endpoint)}"
    )


_ENDPOINT_COLORS = {"me": "#2b6cb0", "refresh": "#c05621"}


def capacity_svg(found: dict[str, Any], op: str, width: int = 360, height: int = 180) -> str:
    """One endpoint's good answers per second at each step (hollow: the step missed the SLO), the knee ringed."""
    rows = [r for r in found["steps"] if r["op"] == op]
    top = max([float(r["ok_per_s"]) for r in rows] + [1.0])
    x = {r["users"]: 50 + i * (width - 70) / max(1, len(rows) - 1) for i, r in enumerate(rows)}

    def y(v: float) -> float:
        return height - 30 - v / top * (height - 50)

    color = _ENDPOINT_COLORS.get(op, "#444")
    points = " ".join(f"{x[r['users']]:.0f},{y(r['ok_per_s']):.0f}" for r in rows)
    parts = [
        f'<text x="50" y="14" fill="{color}">{escape(op)}: good answers/s by users</text>',
        f'<text x="4" y="{y(top) + 4:.0f}">{top:,.0f}</text><text x="4" y="{y(0) + 4:.0f}">0</text>',
        f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>',
    ]
    for r in rows:
        fill = color if r["within_slo"] else "#fff"
        parts.append(
            f'<circle cx="{x[r["users"]]:.0f}" cy="{y(r["ok_per_s"]):.0f}" r="3" fill="{fill}" stroke="{color}"/>'
        )
        parts.append(f'<text x="{x[r["users"]] - 8:.0f}" y="{height - 10}">{r["users"]}</text>')
    knee = found["knees"].get(op)
    if knee:
        parts.append(
            f'<circle cx="{x[knee["users"]]:.0f}" cy="{y(knee["ok_per_s"]):.0f}" r="8" fill="none" stroke="{color}"/>'
        )
    return f'<svg width="{width}" height="{height}" role="img" aria-label="{escape(op)} capacity by step">{"".join(parts)}</svg>'


def _capacity_section(load: dict[str, Any]) -> str:
    found = load.get("capacity")
    if not found:
        return ""
    table = _table(
        ("users", "endpoint", "good answers/s", "p50 ms", "p95 ms", "errors", "shed", "SLO"),
        [
            (
                r["users"],
                r["op"],
                f"{r['ok_per_s']:,.1f}",
                r["p50_ms"],
                r["p95_ms"],
                f"{r['error_ratio']:.1%}",
                f"{r['shed_ratio']:.1%}",
                "met" if r["within_slo"] else "MISS",
            )
            for r in found["steps"]
        ],
    )
    slo = "; ".join(
        f"{op}: " + ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("op", "phase"))
        for op, s in found["slo"].items()
    )
    charts = "".join(capacity_svg(found, op) for op in _ENDPOINT_COLORS)
    return (
        f"<h3>Capacity search</h3><p class=muted>SLO per endpoint: {escape(slo)} · each step judged after its "
        f"first {found['settle_s']:g} s · sheds (503 overloaded) count as errors · hollow points missed the SLO, "
        f"the ring marks the knee</p>{charts}"
        f"{table}"
    )


def _scenario(sc: dict[str, Any]) -> str:
    verdict = f'<span class="verdict {sc["verdict"]}">{sc["verdict"].upper()}</span>'
    embedded = (
        f'<p class="note">Ran on the <b>embedded</b> backend (fakeredis, emulated faults): {escape(sc["backend_reason"])}</p>'
        if sc["backend"] == "embedded"
        else ""
    )
    problems = "".join(
        f'<p class="note"><b>{label}:</b> {escape(sc[key])}</p>'
        for key, label in (("error", "Harness error"), ("aborted", "Aborted"))
        if sc[key]
    )
    failed = [c["name"] for c in sc["checks"] if not c["passed"] and not c.get("finding")]
    findings = [c["name"] for c in sc["checks"] if c.get("finding")]
    headline = f"Failed checks: <b>{', '.join(failed)}</b>." if failed else "Every check passed."
    if sc.get("skipped_faults"):
        skipped = "; ".join(sc["skipped_faults"])
        headline = f"<b>Not run as designed: faults skipped</b> ({escape(skipped)}). " + headline
    if findings:
        headline += f" Known findings (expected here, reported, not failing): <b>{', '.join(findings)}</b>."
    bugs = sc["service_env"].get("AUTHCHAOS_BUGS")
    return (
        f'<h2 id="{escape(sc["name"])}">{escape(sc["name"])} {verdict}</h2>'
        f"<p>{escape(sc['description'])}</p>"
        f'<p class="muted">{escape(sc.get("service") or "reference service")} · backend {sc["backend"]} · '
        f"seed {sc['seed']} · {sc['duration_s']}s · "
        f"{len(sc['history'])} operations{' · bug switches: ' + escape(bugs) if bugs else ''} · {escape(sc['source'] or '')}</p>"
        f"{embedded}{problems}<p>{headline}</p>{timeline_svg(sc)}{_what_happened(sc)}<h3>Checks</h3>{_checks(sc)}"
        f"{_load_section(sc)}"
    )


def _services(run: dict[str, Any]) -> str:
    """What ran, as the scenarios recorded it (older run.json files say nothing: the reference service)."""
    names = sorted({str(s.get("service") or "reference service") for s in run["scenarios"]})
    return " and ".join(n if "://" in n else f"the {n}" for n in names) or "the service"


def render_html(run: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td><a href="#{escape(s["name"])}">{escape(s["name"])}</a></td>'
        f'<td><span class="verdict {s["verdict"]}">{s["verdict"]}</span></td><td>{s["backend"]}</td>'
        f"<td>{sum(not c['passed'] and not c.get('finding') for c in s['checks'])}</td>"
        f"<td>{sum(bool(c.get('finding')) for c in s['checks'])}</td><td>{s['duration_s']}s</td></tr>"
        for s in run["scenarios"]
    )
    body = "".join(_scenario(s) for s in run["scenarios"])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width'><title>authchaos report {escape(run['started_at'])}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>authchaos resilience report <span class='verdict {run['verdict']}'>{run['verdict'].upper()}</span></h1>"
        f"<p class=muted>{escape(run['started_at'])} · <span class=mono>{escape(run['command'])}</span> · "
        f"authchaos {escape(run['authchaos'])}</p>"
        f"<p>Each scenario runs clients against {escape(_services(run))} while faults hit its Redis, then "
        "judges the recorded operations. A check fails with the operations that prove it.</p>"
        f"<table><tr><th>scenario</th><th>verdict</th><th>backend</th><th>failed checks</th><th>known findings</th><th>time</th></tr>{rows}</table>"
        f"{body}</body></html>"
    )
