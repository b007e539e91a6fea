"""Sentinel: a primary, two replicas and three sentinels (quorum 2), every one behind its own proxy.

Replicas replicate from the primary's proxy and announce their own proxy (``replica-announce-*``);
sentinels monitor the primary's proxy and announce theirs (``sentinel announce-*``): whatever the
service discovers through the sentinels is a proxy. Timeouts are short (down after 1 s) so a
failover fits in a scenario.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from pathlib import Path
from typing import Any

import redis

from authchaos.servers.binaries import find_redis_server
from authchaos.servers.processes import ManagedProcess, free_port
from authchaos.servers.redis_server import RedisServer
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.topology.topology_base import (
    CLIENT_USER,
    HOST,
    PEER_PASSWORD,
    PEER_USER,
    ProxiedNode,
    TopologyError,
    close_nodes,
    command,
    info,
    peer_acl_args,
    revive,
    set_peer_user,
    unique_prefix,
    wait_for,
)
from authchaos.topology.topology_kinds import TopologyKind

MASTER = "authchaos"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000
READY_S = 30.0


def sentinel_conf(port: int, announce_port: int, primary_port: int, data_dir: Path) -> str:
    return "\n".join(
        [
            f"port {port}",
            f"bind {HOST}",
            f"dir {data_dir}",
            "protected-mode no",
            "loglevel warning",
            f"sentinel announce-ip {HOST}",
            f"sentinel announce-port {announce_port}",
            f"sentinel monitor {MASTER} {HOST} {primary_port} 2",
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {MASTER} 2",
            f"sentinel auth-user {MASTER} {PEER_USER}",
            f"sentinel auth-pass {MASTER} {PEER_PASSWORD}",
            "",
        ]
    )


class SentinelProcess:
    """One ``redis-server sentinel.conf --sentinel`` (the config file is its own: sentinels rewrite it)."""

    def __init__(self, name: str, announce_port: int, primary_port: int) -> None:
        self.name = name
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="authchaos-sentinel-"))
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(sentinel_conf(self.port, announce_port, primary_port, self.dir))
        argv = [str(find_redis_server()), str(self.conf), "--sentinel"]
        self.process = ManagedProcess(f"sentinel:{self.port}", argv, self.dir / "sentinel.log")

    def start(self) -> None:
        self.process.spawn()

    def client(self, port: int | None = None) -> redis.Redis:
        return redis.Redis(
            HOST, port or self.port, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True
        )

    def close(self) -> None:
        import shutil

        self.process.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelTopology:
    kind: TopologyKind = "sentinel"

    def __init__(self, client: ToxiproxyClient) -> None:
        self.client = client
        self.prefix = unique_prefix("sentinel")
        self.password = secrets.token_hex(16)  # CLIENT_USER's: the service's Redis URL carries it
        self.nodes: list[ProxiedNode] = []
        self.sentinels: list[tuple[SentinelProcess, str, int]] = []  # process, proxy name, proxy port

    @property
    def service_url(self) -> str:
        hosts = ",".join(f"{HOST}:{port}" for _, _, port in self.sentinels)
        return f"redis+sentinel://{CLIENT_USER}:{self.password}@{hosts}/{MASTER}/0"

    @property
    def proxies(self) -> list[str]:
        return [n.proxy for n in self.nodes] + [name for _, name, _ in self.sentinels]

    def start(self) -> SentinelTopology:
        try:
            self._start_nodes()
            self._start_sentinels()
            self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def _start_nodes(self) -> None:
        ports = [free_port() for _ in range(3)]
        for i, port in enumerate(ports):
            args = [*peer_acl_args(self.password), "--replica-announce-ip", HOST, "--replica-announce-port", str(port)]
            if i > 0:
                args += ["--replicaof", HOST, str(ports[0])]
            name = f"{self.prefix}-n{i}"
            node = ProxiedNode(f"n{i}", RedisServer(extra_args=args), name, port, password=self.password)
            self.nodes.append(node)
            self.client.create_proxy(name, f"{HOST}:{port}", f"{HOST}:{node.server.port}")
            node.server.start()

    def _start_sentinels(self) -> None:
        for i in range(3):
            announce = free_port()
            sentinel = SentinelProcess(f"s{i}", announce, self.nodes[0].proxy_port)
            name = f"{self.prefix}-s{i}"
            self.sentinels.append((sentinel, name, announce))
            self.client.create_proxy(name, f"{HOST}:{announce}", f"{HOST}:{sentinel.port}")
            sentinel.start()

    def wait_healthy(self, timeout_s: float = READY_S) -> None:
        """Every sentinel knows the primary, two replicas and two other sentinels; the replicas are in sync."""

        def sentinels_agree() -> bool:
            for _, _, port in self.sentinels:
                with contextlib.closing(self.sentinels[0][0].client(port)) as c:
                    state: dict[str, Any] = command(c, "SENTINEL", "MASTER", MASTER)  # parsed: ints, is_* flags
                    if int(state["num-slaves"]) < 2 or int(state["num-other-sentinels"]) < 2:
                        return False
                    if state.get("is_sdown") or state.get("is_odown"):
                        return False
            return True

        wait_for("a primary named by the sentinels", lambda: self.primary_address() is not None, timeout_s)
        primary = self.primary()
        wait_for("sentinel replicas in sync", lambda: self._replicas_in_sync(primary), timeout_s)
        wait_for("sentinels agreeing on the primary", sentinels_agree, timeout_s)

    def _replicas_in_sync(self, primary: ProxiedNode) -> bool:
        replicas = self.replicas_of(primary)
        states = [info(r, "replication") for r in replicas]
        return all(s.get("master_link_status") == "up" and s.get("master_port") == primary.proxy_port for s in states)

    def primary_address(self) -> tuple[str, int] | None:
        """What the sentinels say (the first that answers); None when none does."""
        for _, _, port in self.sentinels:
            with (
                contextlib.suppress(redis.RedisError, OSError),
                contextlib.closing(self.sentinels[0][0].client(port)) as c,
            ):
                addr = command(c, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
                if addr:
                    return str(addr[0]), int(addr[1])
        return None

    def primary(self) -> ProxiedNode:
        addr = self.primary_address()
        for node in self.nodes:
            if addr is not None and node.proxy_port == addr[1]:
                return node
        raise TopologyError(f"the sentinels name no known primary (they answered {addr})")

    def replicas_of(self, primary: ProxiedNode) -> list[ProxiedNode]:
        return [n for n in self.nodes if n is not primary]

    def failover(self, primary: ProxiedNode) -> None:
        """SENTINEL FAILOVER: the sentinels promote a replica without waiting for agreement."""
        with contextlib.closing(self.sentinels[0][0].client(self.sentinels[0][2])) as c:
            command(c, "SENTINEL", "FAILOVER", MASTER)

    def writable(self) -> bool:
        try:
            node = self.primary()
            return info(node, "replication", direct=False).get("role") == "master"
        except (TopologyError, redis.RedisError, OSError):
            return False

    def restore(self) -> list[str]:
        """After faults: every node running, every peer let in again (the sentinels then reconfigure)."""
        undone: list[str] = []
        for node in self.nodes:
            undone += revive(node)
            with contextlib.suppress(redis.RedisError, OSError):
                set_peer_user(node, True)
        return undone

    def close(self) -> None:
        for sentinel, proxy, _ in reversed(self.sentinels):
            with contextlib.suppress(Exception):
                self.client.delete_proxy(proxy)
            with contextlib.suppress(Exception):
                sentinel.close()
        close_nodes(self.client, self.nodes)
