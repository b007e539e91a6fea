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

from authchaos_reference.auth_cache import CachedAuth
from authchaos_reference.auth_service import AuthService
from authchaos_reference.cleanup import RedisCleanupService
from authchaos_reference.config import Settings
from authchaos_reference.jwt_codec import TokenCodec
from authchaos_reference.jwt_service import TokenService
from authchaos_reference.local_revocations import LocalRevocations
from authchaos_reference.metrics import Metrics
from authchaos_reference.oauth import OAuthController
from authchaos_reference.overload import LoadMonitor, Overloaded
from authchaos_reference.redis_client import create_redis, is_cluster_url
from authchaos_reference.redis_ops import RedisOperations
from authchaos_reference.redis_state import RedisState
from authchaos_reference.token_store import KeyLayout, TokenStore
from authchaos_reference.users import UserStore

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
        while not _stop_requested():
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

    async def watch_users(self) -> None:
        """Apply a changed users file in this process; end the sessions of removed and disabled accounts.

        The directory is checked on every request, so removal applies at once here. Redis keeps the set of
        enabled accounts (``ac:directory``): an account in it but no longer enabled here, however it left
        (a change seen here, or a restart with a new file), gets its logout-all time, so its old tokens stay
        dead if it comes back. Until Redis has taken that, every round tries again."""
        synced = False
        while not _stop_requested():
            if not synced:
                synced = await self._sync_directory()
            await asyncio.sleep(self.settings.users_reload_s)
            try:
                changed = await asyncio.to_thread(self.auth.users.reload)  # file I/O and a decoy hash: off the loop
            except Exception:  # the watch must outlive any surprise
                log.exception("users file check failed unexpectedly")
                continue
            synced = synced and changed is None

    async def _sync_directory(self) -> bool:
        """End the sessions of accounts Redis knows as enabled that this directory does not; True once done."""
        try:
            active = self.auth.users.active_ids()
            for sub in await self.tokens.store.sync_directory(active):
                await self.tokens.revoke_user(sub)
                log.info("ended the sessions of a removed or disabled account")
        except Exception as exc:  # Redis away or refusing: the directory check still refuses their tokens
            log.warning("account removals not yet written to Redis (%s): retrying", type(exc).__name__)
            return False
        return True

    async def aclose(self) -> None:
        self.auth.users.close()
        await self.ops.aclose()


def _stop_requested() -> bool:
    """Was this task cancelled? A cancellation that lands inside a Redis call whose timeout fired at the same
    moment comes back as a TimeoutError (a StoreUnavailable here), which the loops would swallow and carry on:
    shutdown then waits forever for them. So every loop asks before going round again."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


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
        users,
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
    tasks = [
        asyncio.create_task(services.probe_forever(), name="redis-probe"),
        asyncio.create_task(services.load.watch(), name="loop-lag"),
        asyncio.create_task(services.watch_users(), name="users-file"),
    ]
    try:
        yield services
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await services.aclose()
