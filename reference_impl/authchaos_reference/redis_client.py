"""The one Redis client factory: ``redis://``, ``rediss://`` (TLS), ``memory://`` (fakeredis),
``redis+sentinel://[:password@]host:port,host:port/mastername/db`` (redis-py's own Sentinel client:
the primary is discovered, and rediscovered after a failover, through the sentinels) and
``redis+cluster://[:password@]host:port,host:port`` (redis-py's own RedisCluster: slots and
MOVED/ASK redirections handled by the client; the startup nodes are only where discovery begins).

Every knob of the original ioredis setup has its redis-py equivalent here:
lazy connect (redis-py connects on first command), connect and command
timeouts, keepalive, and retries with exponential backoff and jitter.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import fakeredis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from authchaos_reference.config import ConfigError, Settings

_memory_servers: dict[str, fakeredis.FakeServer] = {}


def memory_server(name: str = "") -> fakeredis.FakeServer:
    """The in-process server behind ``memory://NAME``; shared by name so a harness can reach it."""
    if not name:
        return fakeredis.FakeServer()
    return _memory_servers.setdefault(name, fakeredis.FakeServer())


SECRET_QUERY_KEYS = frozenset({"password", "pass", "passwd", "auth", "token", "secret"})


def redact_url(url: str) -> str:
    """The URL without its password (userinfo or ``?password=``), for logs, /health and reports."""
    parts = urlsplit(url)
    if parts.password is not None:
        hosts = parts.netloc.rsplit("@", 1)[-1]  # one host:port, or a sentinel/cluster list of them
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{hosts}")
    if parts.query:
        query = [(k, "***" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in parse_qsl(parts.query, True)]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return parts.geturl()


def _keepalive_options(idle_s: int) -> dict[int, int]:
    opts: dict[int, int] = {}
    for name, value in (("TCP_KEEPIDLE", idle_s), ("TCP_KEEPINTVL", max(1, idle_s // 3)), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            opts[getattr(socket, name)] = value
    return opts


SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme == CLUSTER_SCHEME


def _hosts(url: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` from a sentinel or cluster URL (userinfo dropped)."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    out = []
    for part in filter(None, netloc.split(",")):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"AUTHCHAOS_REDIS_URL: {part!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ConfigError("AUTHCHAOS_REDIS_URL: a sentinel or cluster URL needs at least one host:port")
    return out


def _sentinel_client(url: str, common: dict[str, object]) -> Redis:
    """The primary of ``mastername`` through redis-py's Sentinel: each new connection asks the sentinels
    where the primary is, and a READONLY answer (an old primary turned replica) drops the connection."""
    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigError("AUTHCHAOS_REDIS_URL: redis+sentinel://host:port,.../mastername[/db] needs a mastername")
    db = int(path[1]) if len(path) > 1 and path[1].isdigit() else 0
    sentinel_kwargs = {k: v for k, v in common.items() if k.startswith("socket_")}
    auth = {"password": parts.password, "username": parts.username or None} if parts.password else {}
    connection: dict[str, Any] = {**common, **auth}  # each new primary connection's options, not Sentinel's own
    # redis-py before 8.2 leaves Sentinel untyped; from 8.2 the ignore is unused
    sentinel = Sentinel(_hosts(url), sentinel_kwargs=sentinel_kwargs, **connection)  # type: ignore[no-untyped-call,unused-ignore]
    client: Redis = sentinel.master_for(path[0], db=db)
    return client


def _cluster_client(url: str, common: dict[str, object]) -> Redis:
    """redis-py's RedisCluster. Node addresses are what the cluster announces (``cluster-announce-*``):
    behind NAT or proxies, configure the announce settings on the nodes, not a remap here."""
    parts = urlsplit(url)
    nodes = [ClusterNode(host, port) for host, port in _hosts(url)]
    auth = {"password": parts.password, "username": parts.username or None} if parts.password else {}
    kwargs = {k: v for k, v in common.items() if k not in ("connection_class",)}
    cluster = RedisCluster(startup_nodes=nodes, require_full_coverage=False, **kwargs, **auth)  # type: ignore[arg-type]  # heterogeneous kwargs
    return cluster  # type: ignore[return-value]  # same command API; the store is slot-aware for it


def _tls_options(settings: Settings) -> dict[str, object]:
    paths = (
        ("ssl_ca_certs", settings.redis_tls_ca),
        ("ssl_certfile", settings.redis_tls_cert),
        ("ssl_keyfile", settings.redis_tls_key),
    )
    return {name: str(path) for name, path in paths if path}


def create_redis(settings: Settings, connection_class: type | None = None) -> Redis:
    """Build the client; nothing connects until the first command.

    Only connection errors are retried: a timed-out command may have run, and
    retrying it would multiply the wait and replay a write.
    """
    url = settings.redis_url
    scheme = urlsplit(url).scheme
    retry = Retry(
        ExponentialWithJitterBackoff(cap=settings.redis_retry_cap_ms / 1000, base=settings.redis_retry_base_ms / 1000),
        settings.redis_retries,
        supported_errors=(RedisConnectionError,),
    )
    common: dict[str, object] = {
        "decode_responses": True,
        "socket_timeout": settings.redis_command_timeout_s,
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "retry": retry,
        "client_name": "authchaos-reference",
        # One connection per request in progress, plus the probe and cleanup: admission control
        # (max_inflight) sheds before the pool can run dry.
        "max_connections": settings.max_inflight + 16,
    }
    if scheme == "memory":
        name = urlsplit(url).netloc
        extra = {"connection_class": connection_class} if connection_class else {}
        return fakeredis.FakeAsyncRedis(server=memory_server(name), **extra, **common)  # type: ignore[arg-type]  # heterogeneous kwargs dict
    if scheme not in ("redis", "rediss", "unix", SENTINEL_SCHEME, CLUSTER_SCHEME):
        raise ConfigError(
            f"unsupported AUTHCHAOS_REDIS_URL scheme {scheme!r}: use redis://, rediss://, memory://, "
            "redis+sentinel://host:port,.../mastername/db or redis+cluster://host:port,..."
        )
    common |= {
        "socket_keepalive": settings.redis_keepalive_s > 0,
        "socket_keepalive_options": _keepalive_options(settings.redis_keepalive_s),
        # No PING before idle connections' commands: it would double the worst wait; keepalive finds dead peers.
        "health_check_interval": 0,
    }
    if scheme == "rediss":
        common |= _tls_options(settings)
    if connection_class is not None:
        common["connection_class"] = connection_class
    if scheme == SENTINEL_SCHEME:
        return _sentinel_client(url, common)
    if scheme == CLUSTER_SCHEME:
        return _cluster_client(url, common)
    return Redis.from_url(url, **common)  # type: ignore[arg-type]  # heterogeneous kwargs dict (timeouts, retry, TLS paths)
