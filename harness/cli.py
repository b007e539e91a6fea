"""The ``authchaos`` command line.

Every failure a user can cause (bad flag, bad setting, unreachable Redis) ends
in one line naming the problem and the fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import click

from reference_impl.config import ConfigError, load_settings

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"authchaos: error: {message}", err=True)
    sys.exit(code)


def _settings_or_exit(**overrides: object):  # type: ignore[no-untyped-def]
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="authchaos")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Chaos-resilience harness for a JWT + Redis auth service."""
    level = {0: logging.ERROR, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--redis-url", default=None, help="Overrides AUTHCHAOS_REDIS_URL (redis://, rediss://, memory://).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(host: str, port: int, redis_url: str | None, workers: int, log_level: str) -> None:
    """Run the reference auth service under uvicorn."""
    import uvicorn

    if redis_url is not None:
        os.environ["AUTHCHAOS_REDIS_URL"] = redis_url  # workers read settings from the environment
    settings = _settings_or_exit()
    if workers > 1 and settings.redis_url.startswith("memory://"):
        _fail("--workers > 1 needs a shared Redis: memory:// lives inside one process; pass --redis-url redis://...")
    logging.getLogger().setLevel(log_level.upper())
    uvicorn.run(
        "reference_impl.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@cli.command()
@click.option("--redis-url", default=None, help="Overrides AUTHCHAOS_REDIS_URL.")
@click.option("--dry-run", is_flag=True, help="Count what would change; change nothing.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000), help="SCAN COUNT per batch.")
@click.option("--max-keys", default=1_000_000, show_default=True, type=click.IntRange(1))
@click.option("--max-seconds", default=300.0, show_default=True, type=click.FloatRange(0.1))
def cleanup(redis_url: str | None, dry_run: bool, batch: int, max_keys: int, max_seconds: float) -> None:
    """Remove orphaned auth keys from Redis (SCAN + UNLINK, bounded, safe while serving)."""
    from reference_impl.cleanup import RedisCleanupService
    from reference_impl.metrics import Metrics
    from reference_impl.redis_client import create_redis, redact_url
    from reference_impl.redis_ops import RedisOperations, StoreUnavailable

    settings = _settings_or_exit(redis_url=redis_url)

    async def run() -> dict[str, object]:
        ops = RedisOperations(create_redis(settings), settings, Metrics())
        service = RedisCleanupService(
            ops, settings.refresh_ttl_s, batch=batch, max_keys=max_keys, max_seconds=max_seconds
        )
        try:
            return (await service.run(dry_run=dry_run)).as_dict()
        finally:
            await ops.aclose()

    try:
        report = asyncio.run(run())
    except StoreUnavailable as exc:
        _fail(
            f"cannot reach Redis at {redact_url(settings.redis_url)} ({exc.reason}); "
            "check --redis-url and that redis-server is running",
            1,
        )
    click.echo(json.dumps(report, indent=2))


@cli.command()
def doctor() -> None:
    """Show what is installed, which backend 'auto' picks, and how to fix what is missing."""
    from rich.console import Console
    from rich.table import Table

    from harness.doctor import diagnose

    d = diagnose()
    table = Table(title="authchaos doctor", show_lines=False)
    for col in ("", "component", "found", "fix"):
        table.add_column(col)
    for c in d.checks:
        table.add_row("[green]ok[/]" if c.ok else "[red]missing[/]", c.name, c.detail, "" if c.ok else (c.fix or ""))
    console = Console()
    console.print(table)
    console.print(f"backend 'auto' picks: [bold]{d.backend}[/] ({d.backend_reason})")
    sys.exit(0 if d.ok else 1)


def main() -> None:
    try:
        cli.main(prog_name="authchaos", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("authchaos: interrupted", err=True)
        sys.exit(130)
