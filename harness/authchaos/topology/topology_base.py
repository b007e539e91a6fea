"""Redis topologies the harness can start, every node behind its own Toxiproxy proxy.

``single`` is today's one redis-server (``authchaos.run.infrastructure`` starts it); ``sentinel`` and ``cluster``
are started here from the same apt-installed ``redis-server`` binary (``--sentinel``,
``--cluster-enabled``). What the pieces share lives in this module: the proxied node, the
peer ACL user, the readiness loop, and the ``Topology`` protocol the infrastructure and the
replicated faults use.

Why the announce settings rather than a client-side remap: every address a client, a replica or
a sentinel *discovers* (``SENTINEL GET-MASTER-ADDR-BY-NAME``, ``CLUSTER SLOTS``, ``MOVED``,
``INFO replication``) is then already a proxy, so the reference service needs no knowledge of the
test network (no ``address_remap`` in production code), ``redis-cli`` sees the same picture, and
replication and the cluster bus go through proxies too, where the nemesis can cut or slow them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from authchaos.servers.processes import free_port
from authchaos.servers.redis_server import RedisServer
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.topology.topology_kinds import TOPOLOGY_KINDS, TopologyKind

__all__ = ["TOPOLOGY_KINDS", "ProxiedNode", "Topology", "TopologyError", "TopologyKind"]

HOST = "127.0.0.1"
# Replicas and sentinels authenticate as this ACL user, clients as CLIENT_USER; the default user is off. A proxy
# cannot tell who connects through it, so "the primary cut from its peers while clients still reach it" (split
# brain) switches the peer user off on the primary and drops its connections; a peer that then fails AUTH is
# left on the (disabled) default user, where it can do nothing until the partition heals.
PEER_USER = "authchaos-peer"
PEER_PASSWORD = "authchaos-peer-pw"  # loopback-only throwaway nodes; not a secret of the service
CLIENT_USER = "authchaos-client"
_names = itertools.count(1)


class TopologyError(Exception):
    """A topology did not come up healthy in time; the message says which node and what it saw."""


def peer_acl_args(client_password: str) -> list[str]:
    """The users of every data node: peers (replicas authenticate to their primary with it), clients
    (``CLIENT_USER`` with ``client_password``), and no default user."""
    return [
        "--user",
        "default",
        "off",
        "--user",
        CLIENT_USER,
        "on",
        f">{client_password}",
        "~*",
        "&*",
        "+@all",
        "--user",
        PEER_USER,
        "on",
        f">{PEER_PASSWORD}",
        "~*",
        "&*",
        "+@all",
        "--masteruser",
        PEER_USER,
        "--masterauth",
        PEER_PASSWORD,
    ]


@dataclass
class ProxiedNode:
    """One redis-server and the proxy every other party reaches it through (and a bus proxy in a cluster)."""

    name: str
    server: RedisServer
    proxy: str
    proxy_port: int
    bus_proxy: str | None = None
    bus_proxy_port: int | None = None
    password: str | None = None  # CLIENT_USER's, when the node has users (sentinel topology)

    def client(self, *, direct: bool = False, timeout_s: float = 1.0) -> redis.Redis:
        """A sync client through the proxy (or ``direct`` to the server, for setup and faults)."""
        port = self.server.port if direct else self.proxy_port
        user = CLIENT_USER if self.password else None
        return redis.Redis(
            HOST,
            port,
            username=user,
            password=self.password,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
        )

    def address(self) -> str:
        return f"{HOST}:{self.proxy_port}"


def unique_prefix(kind: str) -> str:
    return f"authchaos-{kind}-{os.getpid()}-{next(_names)}"


def create_proxy(client: ToxiproxyClient, name: str, upstream_port: int) -> int:
    port = free_port()
    client.create_proxy(name, f"{HOST}:{port}", f"{HOST}:{upstream_port}")
    return port


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> None:
    """Poll ``check`` (errors count as not yet) until true; raise TopologyError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError) as exc:
            last = f": {exc}"
        time.sleep(interval_s)
    raise TopologyError(f"{what} not ready within {timeout_s:g}s{last}")


def command(client: redis.Redis, *args: object) -> Any:
    """One command on a sync client (redis-py leaves ``execute_command`` untyped)."""
    run: Callable[..., Any] = client.execute_command
    return run(*args)


def info(node: ProxiedNode, section: str, *, direct: bool = True) -> dict[str, object]:
    with contextlib.closing(node.client(direct=direct)) as c:
        return dict(c.info(section))


@dataclass
class TopologyState:
    """What ``Topology.status`` reports: for doctor, run.json and the replicated faults."""

    kind: str
    primaries: list[str] = field(default_factory=list)
    replicas: list[str] = field(default_factory=list)
    writable: bool = False
    detail: str = ""


class Topology(Protocol):
    """A started topology. ``service_url`` is what ``AUTHCHAOS_REDIS_URL`` must be (through the proxies)."""

    kind: TopologyKind
    nodes: list[ProxiedNode]

    @property
    def service_url(self) -> str: ...

    @property
    def proxies(self) -> list[str]: ...

    def start(self) -> Topology: ...

    def close(self) -> None: ...

    def wait_healthy(self, timeout_s: float = ...) -> None: ...

    def primary(self) -> ProxiedNode: ...

    def replicas_of(self, primary: ProxiedNode) -> list[ProxiedNode]: ...

    def failover(self, primary: ProxiedNode) -> None: ...

    def restore(self) -> list[str]: ...

    def writable(self) -> bool: ...


def node_names(nodes: list[ProxiedNode]) -> list[str]:
    return [n.name for n in nodes]


def close_nodes(client: ToxiproxyClient | None, nodes: list[ProxiedNode]) -> None:
    """Delete every proxy and stop every server (each step on its own: one failure stops nothing else)."""
    for node in reversed(nodes):
        if client is not None:
            for proxy in filter(None, (node.proxy, node.bus_proxy)):
                with contextlib.suppress(Exception):
                    client.delete_proxy(proxy)
        with contextlib.suppress(Exception):
            node.server.close()


def revive(node: ProxiedNode) -> list[str]:
    """A node running again after process faults: resumed if paused, restarted if dead; what was undone."""
    undone = []
    if node.server.paused:
        node.server.resume()
        undone.append(f"{node.name}/resumed")
    if not node.server.alive():
        node.server.restart()
        undone.append(f"{node.name}/restarted")
    return undone


def set_peer_user(node: ProxiedNode, enabled: bool) -> None:
    """Let the node's peers (replicas, sentinels) in or shut them out, dropping their open connections."""
    with contextlib.closing(node.client(direct=True)) as c:
        command(c, "ACL", "SETUSER", PEER_USER, "on" if enabled else "off")
        # off: drop the peers' sessions; on: drop the connections that failed AUTH meanwhile (still on the disabled
        # default user; a sentinel would keep its link and never authenticate again), so the peers reconnect
        command(c, "CLIENT", "KILL", "USER", PEER_USER if not enabled else "default")
