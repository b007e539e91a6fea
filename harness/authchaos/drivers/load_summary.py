"""The console view of a finished load run: Locust's table, the checks, the verdict, where the report is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from authchaos.report.terminal import columns_table
from authchaos.run.results import ScenarioResult


def _print_capacity(console: Console, found: dict[str, Any]) -> None:
    table = columns_table(
        "Capacity search (settled part of each step)",
        ("users", "endpoint", "ok/s", "p50 ms", "p95 ms", "errors", "shed", "SLO"),
    )
    for r in found["steps"]:
        verdict = "met" if r["within_slo"] else "MISS"
        table.add_row(
            str(r["users"]),
            r["op"],
            f"{r['ok_per_s']:,.1f}",
            str(r["p50_ms"]),
            str(r["p95_ms"]),
            f"{r['error_ratio']:.1%}",
            f"{r['shed_ratio']:.1%}",
            verdict,
        )
    console.print(table)


def print_summary(
    console: Console, result: ScenarioResult, info: dict[str, Any], stats: list[dict[str, Any]], report_dir: Path
) -> None:
    table = columns_table(
        "Locust (per endpoint)", ("endpoint", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms")
    )
    for s in stats:
        table.add_row(
            escape(s["name"]),
            str(s["requests"]),
            str(s["failures"]),
            f"{s['rps']:.1f}",
            str(s["p50_ms"]),
            str(s["p95_ms"]),
            str(s["p99_ms"]),
        )
    console.print(table)
    if info.get("per_worker"):
        per = ", ".join(f"pid {k}: {v}" for k, v in info["per_worker"].items())
        console.print(f"requests per Locust process: {per}")
    if info.get("capacity"):
        _print_capacity(console, info["capacity"])
    checks = columns_table("SLOs and correctness", ("", "check", "result"))
    for c in result.checks:
        checks.add_row("[green]pass[/]" if c.passed else "[red]FAIL[/]", c.name, escape(c.summary))
    console.print(checks)
    missed = "; ".join(c.summary for c in result.checks if not c.passed and c.name == "latency_slo")
    verdict = "[green]PASS[/]" if result.verdict == "pass" else "[red]FAIL[/]"
    console.print(f"{verdict} {result.scenario.name}" + (f": missed {escape(missed)}" if missed else ""))
    console.print(f"report: {report_dir}/index.html (Locust's own: locust.html, locust_stats.csv, locust.json)")
