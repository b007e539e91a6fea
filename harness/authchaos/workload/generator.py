"""The load generator: N clients running the scenario's operation mix, bounded in time and count."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from authchaos.record.history import History
from authchaos.record.service_contract import ServiceContract
from authchaos.workload.client import AuthClient, ServiceSide
from authchaos.workload.operations import OPERATIONS, missing_for, run_operation
from authchaos.workload.workload_spec import Workload


@dataclass
class WorkloadStatus:
    """Shared between the clients and the runner: progress, and why it stopped early."""

    ops: int = 0
    aborted: str | None = None
    last_answer: float = 0.0
    skipped: dict[str, list[str]] = field(default_factory=dict)  # operation -> what the contract lacks for it


async def run_workload(
    workload: Workload,
    base_url: str,
    history: History,
    *,
    seed: int,
    service: ServiceSide,
    abort_after_s: float,
    status: WorkloadStatus,
    on_op: Callable[[], None] | None = None,
) -> None:
    """Run until ``duration_s`` (or ``operations``) is reached, or the service stays unreachable. Operations
    that need what the contract does not declare are skipped, by name (``status.skipped``)."""
    status.skipped = skipped_operations(workload, service.contract, directory=service.accounts is not None)
    names = [n for n in workload.mix if n in OPERATIONS and n not in status.skipped]
    if not names:
        status.aborted = "the contract declares none of the operations of this workload's mix"
        return
    weights = [workload.mix[n] for n in names]
    deadline = time.monotonic() + workload.duration_s
    status.last_answer = time.monotonic()
    pace_s = workload.clients / workload.rate_per_s if workload.rate_per_s else None
    limits = httpx.Limits(max_connections=workload.clients * 2, max_keepalive_connections=workload.clients * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=workload.request_timeout_s, limits=limits) as http:

        async def one_client(cid: int) -> None:
            rng = random.Random(seed * 1_000_003 + cid)  # each client's op sequence depends only on the seed
            client = AuthClient(
                cid,
                http,
                history,
                rng,
                keys=service.keys,
                batch_sizes=workload.batch_sizes,
                contract=service.contract,
                times=service.times,
                accounts=service.accounts,
            )
            next_at = time.monotonic() + rng.uniform(0, pace_s or workload.think_time_ms / 1000)
            while status.aborted is None:
                now = time.monotonic()
                if now >= deadline or (workload.operations and status.ops >= workload.operations):
                    return
                wait = max(next_at, client.wait_until) - now
                if wait > 0:
                    await asyncio.sleep(min(wait, deadline - now))
                    continue
                before = len(history.ops)
                await run_operation(client, rng.choices(names, weights)[0])
                status.ops += 1
                if any(op.status is not None for op in history.ops[before:]):
                    status.last_answer = time.monotonic()
                elif time.monotonic() - status.last_answer > abort_after_s:
                    status.aborted = f"service unreachable for more than {abort_after_s:g}s"
                if on_op:
                    on_op()
                step = pace_s if pace_s else workload.think_time_ms / 1000
                next_at = max(next_at + step, time.monotonic()) if pace_s else time.monotonic() + step

        await asyncio.gather(*(one_client(i) for i in range(workload.clients)))


def skipped_operations(
    workload: Workload, contract: ServiceContract, *, directory: bool = False
) -> dict[str, list[str]]:
    """Each operation of the mix the service cannot serve, with what its contract (or the run) lacks."""
    declared = contract.declared()
    out = {}
    for name in workload.mix:
        lacking = missing_for(name, declared)
        if "blacklist" in OPERATIONS[name].uses and contract.users.admin is None:
            lacking.append("an admin user")
        if OPERATIONS[name].directory and not directory:
            lacking.append("a users file the harness manages (service.accounts)")
        lacking += [f"{k} passed on" for k in contract.unmapped(list(OPERATIONS[name].settings))]
        if lacking:
            out[name] = lacking
    return out
