"""Wiring: build every service object from one Settings, once.

Kept apart from the HTTP layer so the CLI (cleanup) and tests can use the
same objects without starting a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from reference_impl.auth_cache import CachedAuth
from reference_impl.auth_service import AuthService
from reference_impl.cleanup import RedisCleanupService
from reference_impl.config import Settings
from reference_impl.jwt_codec import TokenCodec
from reference_impl.jwt_service import TokenService
from reference_impl.local_revocations import LocalRevocations
from reference_impl.metrics import Metrics
from reference_impl.oauth import OAuthController
from reference_impl.overload import LoadMonitor, Overloaded
from reference_impl.redis_client import create_redis, is_cluster_url
from reference_impl.redis_ops import RedisOperations
from reference_impl.redis_state import RedisState
from reference_impl.token_store import KeyLayout, TokenStore
from reference_impl.users import UserStore

log = logging.getLogger("authchaos.service")


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    ops: RedisOperations
    tokens: TokenService
    auth: AuthService
    oauth: OAuthController
    cached_auth: CachedAuth
    cleanup: RedisCleanupService
    load: LoadMonitor

    async def probe_forever(self) -> None:
        """Recovery probes while Redis is not ready; registers outage families once it is; follows the primary."""
        while True:
            await asyncio.sleep(self.settings.probe_interval_s)
            try:
                if self.settings.durable_replicas:  # Sentinel: leave a deposed primary within one probe interval
                    await self.ops.follow_primary()
                if self.ops.state.state is not RedisState.READY:
                    await self.ops.probe()
                if self.ops.state.state is RedisState.READY and len(self.auth.pending):
                    await self.auth.register_pending()
            except Overloaded:
                log.debug("redis probe deferred: the service is overloaded")
            except Exception:  # the probe must outlive any surprise
                log.exception("redis probe failed unexpectedly")

    async def aclose(self) -> None:
        self.auth.users.close()
        await self.ops.aclose()


def store_layout(settings: Settings) -> KeyLayout:
    """Hash-tagged keys on a cluster (one slot per user); the plain layout everywhere else."""
    return KeyLayout(tagged=is_cluster_url(settings.redis_url))


def build_services(settings: Settings, connection_class: type | None = None) -> Services:
    metrics = Metrics()
    load = LoadMonitor(settings.max_inflight, settings.shed_lag_s)
    ops = RedisOperations(create_redis(settings, connection_class), settings, metrics, load)
    users = UserStore.load(settings.users, settings.login_hash_threads)
    tokens = TokenService(
        settings,
        TokenCodec(settings),
        TokenStore(
            ops,
            settings.refresh_ttl_s,
            store_layout(settings),
            durable_replicas=settings.durable_replicas,
            durable_timeout_ms=settings.revocation_durability_timeout_ms,
        ),
        LocalRevocations(),
        metrics,
    )
    auth = AuthService(users, tokens)
    return Services(
        settings=settings,
        metrics=metrics,
        ops=ops,
        tokens=tokens,
        auth=auth,
        oauth=OAuthController(auth),
        cached_auth=CachedAuth(tokens, users, ops, settings, metrics),
        cleanup=RedisCleanupService(ops, settings.refresh_ttl_s),
        load=load,
    )


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[Services]:
    """Start the probe and the loop-lag watch for the lifetime of the block; always close Redis."""
    tasks = [asyncio.create_task(services.probe_forever(), name="redis-probe"),
             asyncio.create_task(services.load.watch(), name="loop-lag")]  # fmt: skip
    try:
        yield services
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await services.aclose()
