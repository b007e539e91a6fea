"""The one Redis client factory: ``redis://``, ``rediss://`` (TLS) or ``memory://`` (fakeredis).

Every knob of the original ioredis setup has its redis-py equivalent here:
lazy connect (redis-py connects on first command), connect and command
timeouts, keepalive, and retries with exponential backoff and jitter.
"""

from __future__ import annotations

import socket
from urllib.parse import parse_qsl, urlencode, urlsplit

import fakeredis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from reference_impl.config import ConfigError, Settings

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
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
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
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"unsupported AUTHCHAOS_REDIS_URL scheme {scheme!r}: use redis://, rediss:// or memory://")
    common |= {
        "socket_keepalive": settings.redis_keepalive_s > 0,
        "socket_keepalive_options": _keepalive_options(settings.redis_keepalive_s),
        # No PING before idle connections' commands: it would double the worst wait; keepalive finds dead peers.
        "health_check_interval": 0,
    }
    if scheme == "rediss":
        if settings.redis_tls_ca:
            common["ssl_ca_certs"] = str(settings.redis_tls_ca)
        if settings.redis_tls_cert:
            common["ssl_certfile"] = str(settings.redis_tls_cert)
        if settings.redis_tls_key:
            common["ssl_keyfile"] = str(settings.redis_tls_key)
    if connection_class is not None:
        common["connection_class"] = connection_class
    return Redis.from_url(url, **common)  # type: ignore[arg-type]  # heterogeneous kwargs dict (timeouts, retry, TLS paths)
