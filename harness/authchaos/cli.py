"""The ``authchaos`` command line.

Every failure a user can cause (bad flag, bad setting, unreachable Redis) ends
in one line naming the problem and the fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from authchaos_reference.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from authchaos.drivers.mutant_catalogue import Mutant, MutantTarget
    from authchaos.run.infrastructure import Backend
    from authchaos.scenario.catalog import Catalog
    from authchaos.scenario.schema import Scenario

FULL_GATE = ["gate", "gate-full"]  # the fast gate (every merge) and the slower witnesses (nightly, releases)

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"authchaos: error: {message}", err=True)
    sys.exit(code)


def _settings_or_exit(**overrides: Any) -> Settings:
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
@click.option(
    "--http",
    "http_parser",
    default=None,
    type=click.Choice(["auto", "httptools", "h11"]),
    help="HTTP parser, both with the AUTHCHAOS_HTTP_* head limits.  [default: AUTHCHAOS_HTTP_PARSER, else auto]",
)
def serve(host: str, port: int, redis_url: str | None, workers: int, log_level: str, http_parser: str | None) -> None:
    """Run the reference auth service under uvicorn.

    Request heads over the limits are refused before the app runs: 431 (size, header count), 414 (URL),
    408 (not complete within AUTHCHAOS_HTTP_HEADER_TIMEOUT_S).

    Exit status: 0 stopped cleanly (Ctrl-C), 2 a setting is wrong (the message names it).

    Example: authchaos serve --port 8000 --redis-url redis://127.0.0.1:6379/0
    """
    import uvicorn

    if redis_url is not None:
        os.environ["AUTHCHAOS_REDIS_URL"] = redis_url  # workers read settings from the environment
    settings = _settings_or_exit()
    if workers > 1 and settings.redis_url.startswith("memory://"):
        _fail("--workers > 1 needs a shared Redis: memory:// lives inside one process; pass --redis-url redis://...")
    from authchaos_reference.http_limits import protocol_class

    try:
        protocol = protocol_class(http_parser or settings.http_parser)
    except ConfigError as exc:
        _fail(str(exc))
    logging.getLogger().setLevel(log_level.upper())
    uvicorn.run(
        "authchaos_reference.app:create_app",
        factory=True,
        http=f"{protocol.__module__}:{protocol.__qualname__}",  # an import string: every worker builds its own
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
    """Remove orphaned auth keys from Redis (SCAN + UNLINK, bounded, safe while serving).

    Exit status: 0 done (the JSON report on stdout), 2 Redis could not be reached or a setting is wrong.

    Example: authchaos cleanup --redis-url redis://127.0.0.1:6379/0 --dry-run
    """
    from authchaos_reference.cleanup import RedisCleanupService
    from authchaos_reference.metrics import Metrics
    from authchaos_reference.redis_client import create_redis, redact_url
    from authchaos_reference.redis_ops import RedisOperations, StoreUnavailable

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
        )
    click.echo(json.dumps(report, indent=2))


@cli.command()
def doctor() -> None:
    """Show what is installed, which backend 'auto' picks, and how to fix what is missing.

    Exit status: 0 everything the real backend needs is here, 1 something is missing (the fix is shown).

    Example: authchaos doctor
    """
    from rich.markup import escape

    from authchaos.drivers.doctor import diagnose
    from authchaos.report.terminal import columns_table, output

    d = diagnose()
    table = columns_table("authchaos doctor", ("", "component", "found", "fix"))
    for c in d.checks:
        mark = "[green]ok[/]" if c.ok else "[yellow]missing[/]" if c.optional else "[red]missing[/]"
        table.add_row(mark, escape(c.name), escape(c.detail), "" if c.ok else escape(c.fix or ""))  # [load] is no tag
    console = output()
    console.print(table)
    console.print(f"backend 'auto' picks: [bold]{d.backend}[/] ({d.backend_reason})")
    sys.exit(0 if d.ok else 1)


BACKEND = click.option(
    "--backend",
    type=click.Choice(["auto", "real", "embedded"]),
    default="auto",
    show_default=True,
    help="real: redis-server + Toxiproxy; embedded: fakeredis + emulated faults; auto: real when installed.",
)
SCENARIOS_DIR = click.option(
    "--scenarios-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A directory of your own scenario files, added to the built-in ones (so is each directory in "
    "AUTHCHAOS_SCENARIOS_DIR, os.pathsep-separated).",
)
TARGET = click.option(
    "--target",
    default=None,
    help="An already running service (staging, a CI container): nothing is started. Faults reach its Redis only "
    "through AUTHCHAOS_EXTERNAL_TOXIPROXY_URL + AUTHCHAOS_EXTERNAL_PROXY; otherwise they are reported skipped.",
)
PROGRESS = click.option(
    "--progress-interval",
    "progress_interval",
    type=click.FloatRange(0),
    default=None,
    help="Without a terminal (a CI log): a progress line every this many seconds (default 5, "
    "AUTHCHAOS_PROGRESS_INTERVAL_S; 0: none).",
)
SEED = click.option("--seed", type=int, default=None, help="Override every scenario's seed (reproduce a run).")
ALLOW_SKIPPED = click.option(
    "--allow-skipped",
    is_flag=True,
    help="A scenario whose faults could not be produced (embedded backend, no proxy) is judged on its checks "
    "instead of exiting 2 as not run as designed.",
)
CONTRACT = click.option(
    "--contract",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Your service's contract (its routes, JSON shapes, users, how to start it); default: the reference service.",
)
SERVICE = click.option(
    "--service",
    type=click.Choice(["reference", "node"]),
    default=None,
    help="A shipped service: the reference one, or node (the original Express + ioredis service, in a checkout).",
)
REPORT_DIR = click.option(
    "--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True
)


def _exit_with(run: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run one async job; a missing binary, bad options and Ctrl-C end in one line, never a traceback."""
    from authchaos.run.infrastructure import terminate_like_interrupt
    from authchaos.run.load_spec import LoadError
    from authchaos.servers.binaries import BinaryMissing

    terminate_like_interrupt()
    try:
        code = asyncio.run(run())
    except (BinaryMissing, LoadError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        code = 130
    if code == 130:
        click.echo("authchaos: interrupted: faults rolled back, services stopped", err=True)
    sys.exit(code)


def _contract_path(contract: Path | None, service: str | None) -> Path | None:
    """--contract, or the contract of a shipped --service; None: the reference service."""
    if contract is not None and service is not None:
        _fail("--contract and --service name the service twice: pass one")
    if service == "node":
        import authchaos

        contract = Path(authchaos.__file__).resolve().parents[2] / "examples" / "node-service" / "contract.yaml"
        if not contract.is_file():
            _fail("--service node runs examples/node-service from a checkout of authchaos: pass --contract FILE")
    if contract is None:
        return None
    from authchaos.record.service_contract import ContractError, load_contract

    try:
        load_contract(contract)
    except ContractError as exc:
        _fail(str(exc))
    return contract.resolve()


def _with_contract(scenarios: list[Scenario], contract: Path | None, target: str | None = None) -> list[Scenario]:
    """The scenarios, each driving the service of ``contract`` (when given) instead of the one it names; one whose
    witness needs a setting the contract does not pass on is left out, and said so (it would judge the wrong thing).
    Against a ``target`` that runs already nothing is passed on at all."""
    if target is not None:
        return _for_target(scenarios, target)
    if contract is None:
        return scenarios
    from authchaos.record.service_contract import load_contract
    from authchaos.report.terminal import output

    service, console = load_contract(contract), output()
    kept = []
    for s in scenarios:
        if s.service.accounts and service.kind != "reference":
            console.print(
                f"[yellow]not applicable[/] {s.name}: it changes the service's users file, and the harness manages "
                f"only the reference service's (service.accounts), not {service.name}'s"
            )
            continue
        missing = service.unmapped(s.service.requires)
        if missing:
            console.print(
                f"[yellow]not applicable[/] {s.name}: the contract of {service.name} passes no {', '.join(missing)} "
                f"to the service (map it in start.env as {{env:{missing[0]}}} if the service has that setting)"
            )
            continue
        kept.append(s.with_contract(contract))
    if scenarios and not kept:
        _fail(f"none of the {len(scenarios)} scenarios applies to {service.name}: see the lines above")
    return kept


def _for_target(scenarios: list[Scenario], target: str) -> list[Scenario]:
    """The scenarios that can judge a service already running: none whose witness needs what only a start gives."""
    from authchaos.report.terminal import output

    for s in scenarios:
        if s.service.requires:
            output().print(
                f"[yellow]not applicable[/] {s.name}: a --target service gets none of "
                f"{', '.join(s.service.requires)} from the scenario (start it with them, or let authchaos start it)"
            )
        elif s.service.accounts:
            output().print(
                f"[yellow]not applicable[/] {s.name}: it changes the users file of a service authchaos starts "
                "(service.accounts); a --target service's is out of its reach"
            )
    kept = [s for s in scenarios if not s.service.requires and not s.service.accounts]
    if scenarios and not kept:
        _fail(f"none of the {len(scenarios)} scenarios applies to --target {target}: see the lines above")
    return kept


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _honest_backend(backend: str, command: str, target: str | None) -> str:
    """``auto`` that would fall back to emulated faults is refused where a green must mean something: a gate,
    or any run in CI. An explicit ``--backend embedded`` is the caller's informed choice."""
    if backend != "auto" or target:
        return backend
    from authchaos.run.infrastructure import choose_backend

    choice = choose_backend("auto")
    if choice.backend == "real":
        return "real"
    where = " in CI (CI is set)" if command == "run" else ""
    _fail(
        f"{command}{where} needs the real redis-server and toxiproxy-server, not emulated faults: "
        f"{choice.reason.removeprefix('real servers unavailable: ')}; "
        "or pass --backend embedded to accept emulated faults"
    )


def _catalog(scenarios_dir: Path | None, *, warn: bool = True) -> Catalog:
    from authchaos.scenario.catalog import Catalog
    from authchaos.scenario.schema import ScenarioError

    try:
        catalog = Catalog.load(scenarios_dir)
    except ScenarioError as exc:
        _fail(str(exc))
    for problem in catalog.broken if warn else []:  # reported, and left out: the other scenarios still run
        click.echo(f"authchaos: warning: skipped {problem}", err=True)
    return catalog


def _run_selected(
    scenarios: list[Scenario],
    backend: str,
    seed: int | None,
    report_dir: Path,
    target: str | None = None,
    allow_skipped: bool = False,
    progress_interval: float | None = None,
) -> None:
    from authchaos.drivers.suite import announce_backend, run_suite
    from authchaos.report.terminal import output
    from authchaos.run.infrastructure import terminate_like_interrupt
    from authchaos.run.results import EXIT_INTERRUPTED
    from authchaos.servers.binaries import BinaryMissing

    console = output()
    terminate_like_interrupt()
    outcome = None

    async def go() -> None:
        nonlocal outcome
        outcome = await run_suite(
            scenarios,
            backend=announce_backend(cast("Backend", backend), console, target),
            seed=seed,
            report_root=report_dir,
            console=console,
            target=target,
            allow_skipped=allow_skipped,
            progress_interval_s=progress_interval,
        )

    interrupted = False
    try:
        asyncio.run(go())
    except BinaryMissing as exc:
        _fail(f"--backend real needs both servers: {exc}")
    except KeyboardInterrupt:
        interrupted = True
    if interrupted or (outcome is not None and outcome.interrupted):
        where = f"; partial report in {outcome.report_dir}" if outcome and outcome.report_dir else ""
        click.echo(f"authchaos: interrupted: faults rolled back, services stopped{where}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    assert outcome is not None
    sys.exit(outcome.exit_code)


@cli.command(name="list")
@SCENARIOS_DIR
def list_scenarios(scenarios_dir: Path | None) -> None:
    """List scenarios and tags (a file that does not load is named on stderr and left out).

    Exit status: 0 listed, 2 a scenarios directory is missing.

    Example: authchaos list --scenarios-dir my-scenarios/
    """
    from authchaos.report.terminal import columns_table, output

    catalog = _catalog(scenarios_dir)
    table = columns_table(
        "scenarios in " + ", ".join(str(r) for r in catalog.roots),
        ("name", "tags", "faults", "duration", "description"),
    )
    for s in catalog.scenarios:
        table.add_row(
            s.name, ",".join(s.tags), ",".join(s.fault_kinds) or "-", f"{s.workload.duration_s:g}s", s.description
        )
    console = output()
    console.print(table)
    console.print("tags: " + ", ".join(f"{t} ({n})" for t, n in catalog.tags().items()))


@cli.command()
@click.argument("selectors", nargs=-1)
@BACKEND
@SEED
@REPORT_DIR
@SCENARIOS_DIR
@TARGET
@ALLOW_SKIPPED
@CONTRACT
@SERVICE
@PROGRESS
def run(
    selectors: tuple[str, ...],
    backend: str,
    seed: int | None,
    report_dir: Path,
    scenarios_dir: Path | None,
    target: str | None,
    allow_skipped: bool,
    contract: Path | None,
    service: str | None,
    progress_interval: float | None,
) -> None:
    """Run scenarios (names, tags or YAML paths; none = all) and write a report.

    Exit status: 0 every check passed, 1 a check failed, 2 the harness could not run or a fault was skipped
    (unless --allow-skipped).

    Example: authchaos run gate-blackhole --seed 3 --contract my-service.yaml
    """
    from authchaos.scenario.schema import ScenarioError

    catalog = _catalog(scenarios_dir, warn=bool(selectors))  # all of them asked for: a bad file is an error
    try:
        scenarios = catalog.select(list(selectors))
    except ScenarioError as exc:
        _fail(str(exc))
    scenarios = _with_contract(scenarios, _contract_path(contract, service), target)
    if _in_ci():
        backend = _honest_backend(backend, "run", target)
    _run_selected(scenarios, backend, seed, report_dir, target, allow_skipped, progress_interval)


EXHAUSTIVE = click.option(
    "--exhaustive",
    is_flag=True,
    help="With --prove/--switches: run every scenario for every switch (the full detection table), not only until "
    "its symptom's check fails.",
)


@cli.command()
@BACKEND
@REPORT_DIR
@SCENARIOS_DIR
@click.option("--prove", is_flag=True, help="Also run the gate against every known-bug switch: each must be caught.")
@click.option(
    "--full",
    is_flag=True,
    help="The full gate: also the slower witnesses (tag gate-full; about 3 minutes). Every merge: gate; nightly and "
    "before a release: gate --full and prove.",
)
@EXHAUSTIVE
@TARGET
@ALLOW_SKIPPED
@CONTRACT
@SERVICE
@PROGRESS
@SEED
def gate(
    backend: str,
    report_dir: Path,
    scenarios_dir: Path | None,
    prove: bool,
    full: bool,
    exhaustive: bool,
    target: str | None,
    allow_skipped: bool,
    contract: Path | None,
    service: str | None,
    progress_interval: float | None,
    seed: int | None,
) -> None:
    """Run the 'gate' suite on the real backend (never silently on emulated faults); --full adds 'gate-full'.

    Exit status: 0 every check passed, 1 a check failed, 2 the harness could not run, a real server is missing
    (unless --backend embedded) or a fault could not be produced (unless --allow-skipped).

    Example: authchaos gate --contract my-service.yaml --report-dir reports
    """
    if exhaustive and not prove:
        _fail("--exhaustive is for the proof: add --prove, or drop --exhaustive")
    contract = _contract_path(contract, service)
    scenarios = _with_contract(_catalog(scenarios_dir).select(FULL_GATE if full else ["gate"]), contract, target)
    if prove and target:
        _fail("--prove switches bugs on a service the harness starts: drop --target")
    backend = _honest_backend(backend, "gate", target)
    if not prove:
        _run_selected(scenarios, backend, seed, report_dir, target, allow_skipped, progress_interval)
        return
    from authchaos.drivers.prove_switches import prove as run_proof
    from authchaos.report.terminal import output

    symptoms = _symptoms(contract)

    async def go() -> int:
        code, _ = await run_proof(
            scenarios,
            backend=cast("Backend", backend),
            report_root=report_dir,
            console=output(),
            switches=list(symptoms),
            symptoms=symptoms,
            seed=seed,
            progress_interval_s=progress_interval,
            exhaustive=exhaustive,
        )
        return code

    _exit_with(go)


def _symptoms(contract: Path | None) -> dict[str, tuple[str, ...]]:
    """Each bug switch of the service and the checks that name its symptom (the contract's, or the reference's)."""
    from authchaos.record.service_contract import load_contract
    from authchaos.sut.bug_switches import SYMPTOMS

    if contract is None:
        return dict(SYMPTOMS)
    return {name: tuple(checks) for name, checks in load_contract(contract).bug_switches.items()}


@cli.command(name="prove")
@click.option("--mutants", "do_mutants", is_flag=True, help="Run the gate against every catalogued mutant.")
@click.option("--switches", "do_switches", is_flag=True, help="Run the gate against every known-bug switch.")
@click.option(
    "--only",
    default=None,
    help="Comma-separated known-bug switches (with --switches; the fixed service always runs too) and/or mutant "
    "ids (with --mutants): run just those.",
)
@click.option(
    "--trials",
    default=2,
    show_default=True,
    type=click.IntRange(1, 5),
    help="Runs of the gate per mutant (another seed each) before it counts as a survivor.",
)
@click.option(
    "--witness-only",
    is_flag=True,
    help="With --mutants: run each mutant against its witness scenario alone (the quick check for every merge); "
    "a mutant without one gets the whole gate.",
)
@EXHAUSTIVE
@REPORT_DIR
@SCENARIOS_DIR
@CONTRACT
@SERVICE
@SEED
def prove_cmd(
    do_mutants: bool,
    do_switches: bool,
    only: str | None,
    trials: int,
    witness_only: bool,
    exhaustive: bool,
    report_dir: Path,
    scenarios_dir: Path | None,
    contract: Path | None,
    service: str | None,
    seed: int | None,
) -> None:
    """Show the gate's detection power: every known-bug switch caught by its symptom's checks (--switches,
    the same as gate --prove) and every catalogued mutant killed (--mutants). Neither flag: both. Real backend.
    With --contract (or --service node), the switches are the contract's bug_switches and the mutants its
    `mutants:` catalogue, applied to a copy of the service's folder.

    Exit status: 0 all caught and killed, 1 one missed or survived, 2 the harness could not run.

    Example: authchaos prove --mutants --service node --trials 2
    """
    from authchaos.drivers.prove_mutants import prove_mutants
    from authchaos.drivers.prove_switches import prove as run_proof
    from authchaos.report.terminal import output

    contract = _contract_path(contract, service)
    both = not (do_mutants or do_switches)
    if exhaustive and do_mutants and not do_switches:
        _fail("--exhaustive is for the switch proof: add --switches, or drop --exhaustive")
    if witness_only and do_switches and not do_mutants:
        _fail("--witness-only is for the mutant proof: add --mutants, or drop --witness-only")
    wanted = [name.strip() for name in (only or "").split(",") if name.strip()]
    symptoms = _symptoms(contract)
    switches, mutants, target = _prove_selection(wanted, symptoms, contract, do_switches or both, do_mutants or both)
    scenarios = _with_contract(_catalog(scenarios_dir).select(FULL_GATE), contract)  # detection power: all of it

    async def go() -> int:
        code = 0
        if switches:
            code, _ = await run_proof(
                scenarios,
                backend="real",
                report_root=report_dir,
                console=output(),
                switches=switches,
                symptoms=symptoms,
                seed=seed,
                exhaustive=exhaustive,
            )
        if mutants:
            mcode, _ = await prove_mutants(
                mutants, scenarios, output(), report_dir, trials, target, seed, witness_only=witness_only
            )
            code = max(code, mcode)
        return code

    _exit_with(go)


def _prove_selection(
    wanted: list[str],
    symptoms: dict[str, tuple[str, ...]],
    contract: Path | None,
    with_switches: bool,
    with_mutants: bool,
) -> tuple[tuple[str, ...], list[Mutant], MutantTarget | None]:
    """The switches and mutants ``prove`` runs (all of the chosen kinds, or just those ``--only`` names), and
    whose code the mutants change."""
    from authchaos.drivers.mutant_catalogue import MutantError, load_catalogue, target_for
    from authchaos.record.service_contract import load_contract

    switches = tuple(symptoms) if with_switches else ()
    if with_switches and not switches and not with_mutants:
        _fail(f"{contract}: declares no bug_switches: nothing to prove; add bug_switches or use --mutants")
    mutants: list[Mutant] = []
    target = None
    if with_mutants:
        try:
            target = target_for(load_contract(contract) if contract else None)
            mutants = load_catalogue(target.catalogue)
        except MutantError as exc:
            _fail(str(exc))
    unknown = [n for n in wanted if n not in switches and n not in {m.id for m in mutants}]
    if unknown:
        kinds = " or ".join(k for k, on in (("known-bug switch", with_switches), ("mutant", with_mutants)) if on)
        known = [f"known switches: {', '.join(switches)}"] if with_switches else []
        known += [f"known mutants: {', '.join(m.id for m in mutants)}"] if with_mutants else []
        _fail(f"--only: no {kinds} {', '.join(unknown)}; {'; '.join(known)}")
    if not wanted:
        return switches, mutants, target
    return tuple(s for s in switches if s in wanted), [m for m in mutants if m.id in wanted], target


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check scenario, contract and mutant catalogue files without running anything: each one is named ok or
    with its first problem (the file, the field, the fix).

    Exit status: 0 every file is valid, 2 one is not.

    Example: authchaos validate scenarios/gate/*.yaml my-service.yaml
    """
    from authchaos.drivers.mutant_catalogue import MutantError, load_catalogue
    from authchaos.record.service_contract import ContractError, load_contract
    from authchaos.scenario.schema import ScenarioError, load_scenario, read_yaml

    bad = 0
    for path in files:
        try:
            data = read_yaml(path)
            if isinstance(data, dict) and "operations" in data:
                what = f"contract {load_contract(path).name}"
            elif isinstance(data, dict) and "mutants" in data and "name" not in data:
                what = f"mutant catalogue ({len(load_catalogue(path))} mutants)"
            else:
                what = f"scenario {load_scenario(path).name}"
        except (ScenarioError, ContractError, MutantError) as exc:
            bad += 1
            click.echo(f"invalid  {exc}")
            continue
        click.echo(f"ok       {path}: {what}")
    click.echo(f"{len(files) - bad} of {len(files)} files valid")
    sys.exit(EXIT_USAGE if bad else 0)


@cli.command(name="legacy-corpus")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="JSONL file to write.")
@CONTRACT
def legacy_corpus_cmd(out: Path, contract: Path | None) -> None:
    """Write the legacy token corpus for the configured keys (AUTHCHAOS_JWT_*), with expected outcomes; its
    claims spelled as the contract's ``claims:`` says.

    Exit status: 0 written, 2 a bad contract or output path.

    Example: authchaos legacy-corpus --out corpus.jsonl --contract my-service.yaml
    """
    from authchaos.record.service_contract import load_contract
    from authchaos.sut.reference_service import token_keys
    from authchaos.workload.legacy_corpus import build_corpus, write_corpus

    path = _contract_path(contract, None)
    entries = build_corpus(token_keys(os.environ), load_contract(path).claims.names)
    write_corpus(entries, out)
    click.echo(f"{len(entries)} tokens written to {out}")


@cli.group()
def contract() -> None:
    """Check or start a contract: how authchaos reaches your service (routes, shapes, users, how to start it)."""


@contract.command(name="check")
@click.option("--target", required=True, help="Base URL of your running service, e.g. http://127.0.0.1:8000")
@CONTRACT
def contract_check_cmd(target: str, contract: Path | None) -> None:
    """Try each operation the contract declares once against a running service; name each declaration that
    does not match what the service answers.

    Exit status: 0 every declaration matched, 1 one did not, 2 the contract or the service could not be read.

    Example: authchaos contract check --target http://127.0.0.1:3000 --contract examples/node-service/contract.yaml
    """
    import httpx
    from rich.markup import escape

    from authchaos.drivers.contract_check import check_contract
    from authchaos.record.service_contract import load_contract
    from authchaos.report.terminal import columns_table, output

    path = _contract_path(contract, None)
    loaded = load_contract(path)
    try:
        steps = check_contract(loaded, target)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {target}: {exc}; is the service running there?")
    table = columns_table(f"contract {loaded.name} against {target}", ("operation", "tried", "expected", "got", ""))
    for step in steps:
        verdict = "[yellow]skipped[/]" if step.skipped else ("[green]ok[/]" if step.ok else "[red]MISMATCH[/]")
        table.add_row(
            step.operation, escape(step.what), escape(step.expected), escape(step.skipped or step.got), verdict
        )
    output().print(table)
    wrong = [s for s in steps if not s.ok and not s.skipped]
    click.echo(
        f"{len(steps) - len(wrong)} of {len(steps)} declarations matched" + (f"; {len(wrong)} did not" if wrong else "")
    )
    sys.exit(1 if wrong else 0)


OPENAPI_PATHS = ("/openapi.json", "/openapi.yaml", "/swagger.json", "/v3/api-docs", "/api-docs", "/docs/openapi.json")


@contract.command(name="init")
@click.option("--openapi", "openapi", default=None, help="The service's OpenAPI document: a file or an http(s) URL.")
@click.option(
    "--target",
    default=None,
    help="A running service: its OpenAPI document is looked for at " + ", ".join(OPENAPI_PATHS),
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("contract.yaml"),
    show_default=True,
    help="Where to write the skeleton.",
)
@click.option("--name", default=None, help="The contract's name (default: from the document's title).")
@click.option("--force", is_flag=True, help="Overwrite --out when it exists.")
def contract_init_cmd(openapi: str | None, target: str | None, out: Path, name: str | None, force: bool) -> None:
    """Write a commented contract skeleton from a service's OpenAPI document: routes, request fields and token
    places as the document shows them, each guess marked TODO, operations it lacks declared absent.

    Exit status: 0 written, 2 no document, an unreadable one, or --out exists (without --force).

    Example: authchaos contract init --target http://127.0.0.1:8000 --out contract.yaml
    """
    from authchaos.drivers.contract_init import OpenApiError, draft_contract

    if (openapi is None) == (target is None):
        _fail("contract init: pass --openapi FILE_OR_URL or --target URL (one of them)")
    if out.exists() and not force:
        _fail(f"{out} exists: pass --force to overwrite it, or --out ANOTHER_FILE")
    text, source = _openapi_text(openapi, target)
    try:
        skeleton, declared, url = draft_contract(text, source, url=target, name=name)
    except OpenApiError as exc:
        _fail(str(exc))
    try:
        out.write_text(skeleton)
    except OSError as exc:
        _fail(f"--out {out}: {exc.strerror}; pass a path in an existing, writable folder")
    todos = skeleton.count("# TODO")
    click.echo(f"wrote {out}: {len(declared)} operations declared ({', '.join(declared) or 'none'}), {todos} TODOs")
    click.echo(f"next: authchaos contract check --target {url} --contract {out}")


def _openapi_text(openapi: str | None, target: str | None) -> tuple[str, str]:
    """The document's text and where it came from; a one-line exit 2 when it cannot be had."""
    import httpx

    if openapi is not None and not openapi.startswith(("http://", "https://")):
        try:
            return Path(openapi).read_text(), openapi
        except OSError as exc:
            _fail(f"--openapi {openapi}: {exc.strerror}; pass the path of the service's openapi.json")
        except UnicodeDecodeError:
            _fail(f"--openapi {openapi}: not a text file (UTF-8); pass the service's openapi.json or .yaml")
    urls = [openapi] if openapi else [str(target).rstrip("/") + p for p in OPENAPI_PATHS]
    tried = []
    for url in urls:
        try:
            answer = httpx.get(str(url), timeout=5.0, follow_redirects=True)
        except httpx.HTTPError as exc:
            _fail(f"cannot reach {url}: {exc}; is the service running there?")
        if answer.is_success and re.search(r"[\"']?paths[\"']?\s*:", answer.text):
            return answer.text, str(url)
        tried.append(f"{answer.status_code}{'' if not answer.is_success else ' (not OpenAPI)'} {url}")
    _fail(f"no OpenAPI document found ({'; '.join(tried)}): pass --openapi FILE_OR_URL")


@cli.command(name="replay-tokens")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="Base URL of a running service, e.g. http://127.0.0.1:8000")
@CONTRACT
def replay_tokens(corpus: Path, target: str, contract: Path | None) -> None:
    """Present each token of a corpus (yours, or from legacy-corpus) to a running service; compare outcomes.

    Exit status: 0 every token got its expected outcomes, 1 one did not, 2 the corpus or the service could not
    be read.

    Example: authchaos replay-tokens corpus.jsonl --target http://127.0.0.1:8000
    """
    import httpx

    from authchaos.record.service_contract import load_contract
    from authchaos.report.terminal import columns_table, output
    from authchaos.workload.legacy_corpus import CorpusError, read_corpus, replay_corpus

    try:
        entries = read_corpus(corpus)
        path = _contract_path(contract, None)
        outcomes = replay_corpus(entries, target, contract=load_contract(path) if path else None)
    except CorpusError as exc:
        _fail(str(exc))
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {target}: {exc}; is the service running (authchaos serve)?")
    table = columns_table(f"{corpus} against {target}", ("id", "shape", "endpoint", "expected", "got", ""))

    def brief(xs: list[dict[str, Any]]) -> str:
        return " then ".join(f"{x['status']} {x.get('error') or ''}".strip() for x in xs)

    for o in outcomes:
        mark = "[green]ok[/]" if o.passed else "[red]UNEXPECTED[/]"
        table.add_row(o.entry.id, o.entry.shape, o.entry.endpoint, brief(o.entry.expect), brief(o.got), mark)
    output().print(table)
    wrong = sum(not o.passed for o in outcomes)
    click.echo(f"{len(outcomes) - wrong} as expected, {wrong} unexpected")
    sys.exit(1 if wrong else 0)


@cli.command()
@click.option(
    "--profile",
    type=click.Choice(["smoke", "ramp", "soak", "spike", "capacity"]),
    default=None,
    help="A load shape (default smoke, unless --users/--spawn-rate/--duration are given). capacity: step users "
    "up until the --slo (default me p95 100 ms, refresh p95 200 ms, 1% errors) breaks; report the knee.",
)
@click.option("--users", type=click.IntRange(1, 10_000), default=None)
@click.option("--spawn-rate", type=click.FloatRange(0.1), default=None)
@click.option("--duration", type=click.FloatRange(1, 86_400), default=None, help="Seconds.")
@click.option("--fault", "faults", multiple=True, help="KIND[:attr=v,...]@START+DURATION, e.g. blackhole@10+2.")
@click.option(
    "--slo", "slos", multiple=True, help="OP:p95=MS[,p99=MS,max_error_ratio=R][@PHASE], e.g. refresh:p95=300."
)
@click.option(
    "--max-fail-ratio",
    type=click.FloatRange(0, 1),
    default=0.01,
    show_default=True,
    help="Allowed failure ratio per endpoint outside fault windows.",
)
@click.option("--workers", type=click.IntRange(0, 64), default=0, help="Locust workers (distributed mode).")
@click.option("--service-workers", type=click.IntRange(1, 16), default=1, help="uvicorn workers for the service.")
@click.option("--scale", type=click.FloatRange(0.05, 100), default=1.0, help="Stretch or shrink a profile's stages.")
@click.option("--target", default=None, help="Load an already running service (external mode): no faults.")
@click.option(
    "--locustfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Your own locustfile (default: the shipped one). The checks judge what it writes to "
    "AUTHCHAOS_LOAD_HISTORY_DIR, one authchaos.record.protocol row per request, as the shipped one does.",
)
@BACKEND
@REPORT_DIR
@CONTRACT
@SERVICE
@SEED
def load(
    profile: str | None,
    users: int | None,
    spawn_rate: float | None,
    duration: float | None,
    faults: tuple[str, ...],
    slos: tuple[str, ...],
    max_fail_ratio: float,
    workers: int,
    service_workers: int,
    scale: float,
    target: str | None,
    locustfile: Path | None,
    backend: str,
    report_dir: Path,
    contract: Path | None,
    service: str | None,
    seed: int | None,
) -> None:
    """Locust load against the reference service (or yours, through --contract): faults on a timeline, SLO gates
    and correctness checks.

    Exit status: 0 SLOs and checks passed, 1 one missed (named in the table), 2 the harness could not run.

    Example: authchaos load --profile ramp --fault blackhole@20+5 --slo refresh:p95=300
    """
    from authchaos.drivers.load import run_load
    from authchaos.report.terminal import output
    from authchaos.run.load_spec import LoadError, LoadOptions, parse_fault, parse_slo
    from authchaos.run.locust_process import require_locust

    custom = any(v is not None for v in (users, spawn_rate, duration))
    try:
        opts = LoadOptions(
            profile=profile or (None if custom else "smoke"),
            users=users or 10,
            spawn_rate=spawn_rate or 10.0,
            duration_s=duration,
            faults=[parse_fault(f) for f in faults],
            slo=[parse_slo(s) for s in slos],
            max_fail_ratio=max_fail_ratio,
            workers=workers,
            service_workers=service_workers,
            scale=scale,
            target=target,
            backend=cast("Backend", backend),
            locustfile=locustfile,
            contract=_contract_path(contract, service),
            seed=seed,
        )
        require_locust()  # before any server starts
    except LoadError as exc:
        _fail(str(exc))

    async def go() -> int:
        code, _ = await run_load(opts, report_dir, output())
        return code

    _exit_with(go)


@cli.command(name="repro")
@click.argument("name", type=click.Choice(["invalid-token-type"]))
@BACKEND
@REPORT_DIR
@SCENARIOS_DIR
@CONTRACT
@SERVICE
@SEED
def repro_cmd(
    name: str,
    backend: str,
    report_dir: Path,
    scenarios_dir: Path | None,
    contract: Path | None,
    service: str | None,
    seed: int | None,
) -> None:
    """Reproduce a known regression: the buggy service must go red, the fixed one green (--service node: on the
    original stack).

    Exit status: 0 reproduced (red with the bug, green without), 1 not reproduced, 2 the harness could not run.

    Example: authchaos repro invalid-token-type --service node
    """
    from authchaos.drivers.repro import repro
    from authchaos.report.terminal import output

    catalog = _catalog(scenarios_dir)
    path = _contract_path(contract, service)
    _exit_with(
        lambda: repro(
            name,
            catalog,
            backend=cast("Backend", backend),
            report_root=report_dir,
            console=output(),
            contract=path,
            seed=seed,
        )
    )


@cli.command()
@click.argument("run_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scenario", "only", default=None, help="Replay just this scenario of the run.")
@BACKEND
@REPORT_DIR
@SEED
def replay(run_json: Path, only: str | None, backend: str, report_dir: Path, seed: int | None) -> None:
    """Run the scenarios of a previous run.json again: same definition, seed and fault timeline.

    Exit status: 0 every check passed, 1 a check failed, 2 the run.json or the harness could not be used.

    Example: authchaos replay reports/latest/run.json --scenario gate-blackhole
    """
    from authchaos.report.run_json import RunFileError, read_run

    try:
        scenarios = read_run(run_json).scenarios(only)
    except RunFileError as exc:
        _fail(str(exc))
    _run_selected(scenarios, backend, seed, report_dir)


def _verbosity_first(args: list[str]) -> list[str]:
    """``authchaos gate -vv`` means what ``authchaos -vv gate`` does: the flag belongs to the group, wherever it is
    typed (before a ``--``)."""
    end = args.index("--") if "--" in args else len(args)
    loud = [a for a in args[:end] if a == "--verbose" or (a.startswith("-v") and set(a[1:]) == {"v"})]
    rest = [a for a in args[:end] if a not in loud]
    return [*loud, *rest, *args[end:]]


def main() -> None:
    try:
        cli.main(args=_verbosity_first(sys.argv[1:]), prog_name="authchaos", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("authchaos: interrupted", err=True)
        sys.exit(130)
    except ConfigError as exc:  # a setting found bad only once the service is built (serve): the user's to fix
        click.echo(f"authchaos: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # a harness bug: one line for the user, the traceback with -v
        logging.getLogger("authchaos").debug("internal error", exc_info=True)
        click.echo(f"authchaos: internal error: {type(exc).__name__}: {exc} (rerun with -vv for details)", err=True)
        sys.exit(EXIT_USAGE)
