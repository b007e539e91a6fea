"""Redis Cluster: three primaries with one replica each, every node behind a data proxy and a bus proxy.

Each node announces its proxies (``cluster-announce-ip``/``-port``/``-bus-port``), so ``CLUSTER SLOTS``,
``MOVED`` and the replicas' links all name proxies, and the cluster bus (failure detection, failover
votes) can be cut apart from the clients' path. The node timeout is 1 s so a failover fits in a scenario.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from authchaos.servers.processes import free_port
from authchaos.servers.redis_server import RedisServer, redis_command
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.topology.topology_base import (
    HOST,
    ProxiedNode,
    TopologyError,
    close_nodes,
    info,
    revive,
    unique_prefix,
    wait_for,
)
from authchaos.topology.topology_kinds import TopologyKind

NODE_TIMEOUT_MS = 1000
READY_S = 30.0
SLOT_RANGES = ((0, 5460), (5461, 10922), (10923, 16383))


@dataclass(frozen=True)
class NodeLine:
    """One line of CLUSTER NODES."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str
    slots: tuple[str, ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags and "fail" not in self.flags


def cluster_nodes(node: ProxiedNode) -> list[NodeLine]:
    raw = redis_command(HOST, node.server.port, "CLUSTER", "NODES").decode()
    lines = [ln for ln in raw.split("\r\n", 1)[-1].splitlines() if ln.strip()]
    out = []
    for line in lines:
        parts = line.split()
        addr = parts[1].split("@")[0]
        out.append(
            NodeLine(
                parts[0], int(addr.rsplit(":", 1)[1] or 0), frozenset(parts[2].split(",")), parts[3], tuple(parts[8:])
            )
        )
    return out


def cluster_state(node: ProxiedNode) -> str:
    """``cluster_state`` from CLUSTER INFO (``ok`` or ``fail``)."""
    raw = redis_command(HOST, node.server.port, "CLUSTER", "INFO").decode()
    return next((ln.split(":", 1)[1].strip() for ln in raw.splitlines() if ln.startswith("cluster_state:")), "")


def node_args(announce_port: int, announce_bus_port: int) -> list[str]:
    return [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        str(NODE_TIMEOUT_MS),
        "--cluster-port",
        str(free_port()),
        "--cluster-announce-ip",
        HOST,
        "--cluster-announce-port",
        str(announce_port),
        "--cluster-announce-bus-port",
        str(announce_bus_port),
        "--cluster-replica-validity-factor",
        "0",
        "--cluster-allow-replica-migration",
        "no",
    ]


def _covers(spec: str, slot: int) -> bool:
    """A CLUSTER NODES slot field: ``5``, ``0-5460`` (``[..]`` migration markers cover nothing)."""
    if spec.startswith("["):
        return False
    lo, _, hi = spec.partition("-")
    return int(lo) <= slot <= int(hi or lo)


def _replicate(replica: ProxiedNode, primary_id: str) -> Callable[[], bool]:
    return lambda: redis_command(HOST, replica.server.port, "CLUSTER", "REPLICATE", primary_id).startswith(b"+OK")


class ClusterTopology:
    kind: TopologyKind = "cluster"

    def __init__(self, client: ToxiproxyClient) -> None:
        self.client = client
        self.prefix = unique_prefix("cluster")
        self.nodes: list[ProxiedNode] = []

    @property
    def service_url(self) -> str:
        return "redis+cluster://" + ",".join(n.address() for n in self.nodes)

    @property
    def proxies(self) -> list[str]:
        return [p for n in self.nodes for p in (n.proxy, n.bus_proxy) if p]

    def start(self) -> ClusterTopology:
        try:
            for i in range(6):
                self._start_node(i)
            self._form()
            self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def _start_node(self, i: int) -> None:
        port, bus_port = free_port(), free_port()
        server = RedisServer(extra_args=node_args(port, bus_port))
        server_bus = int(server.extra_args[server.extra_args.index("--cluster-port") + 1])
        node = ProxiedNode(f"n{i}", server, f"{self.prefix}-n{i}", port, f"{self.prefix}-n{i}-bus", bus_port)
        self.nodes.append(node)
        self.client.create_proxy(node.proxy, f"{HOST}:{port}", f"{HOST}:{server.port}")
        assert node.bus_proxy is not None
        self.client.create_proxy(node.bus_proxy, f"{HOST}:{bus_port}", f"{HOST}:{server_bus}")
        server.start()

    def _form(self) -> None:
        """Slots to the first three, everyone meets through the proxies, then each replica follows its primary."""
        for node, (lo, hi) in zip(self.nodes[:3], SLOT_RANGES, strict=True):
            redis_command(HOST, node.server.port, "CLUSTER", "ADDSLOTSRANGE", str(lo), str(hi))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            redis_command(
                HOST, first.server.port, "CLUSTER", "MEET", HOST, str(node.proxy_port), str(node.bus_proxy_port)
            )
        wait_for(
            "every cluster node knowing the other five",
            lambda: all(len(cluster_nodes(n)) == 6 for n in self.nodes),
            READY_S,
        )
        for primary, replica in zip(self.nodes[:3], self.nodes[3:], strict=True):
            myself = next(ln for ln in cluster_nodes(primary) if "myself" in ln.flags)
            wait_for(f"{replica.name} replicating {primary.name}", _replicate(replica, myself.node_id), READY_S)

    def wait_healthy(self, timeout_s: float = READY_S) -> None:
        """cluster_state:ok on every node, three primaries covering every slot, every replica in sync."""

        def ok() -> bool:
            if any(cluster_state(n) != "ok" for n in self.nodes if n.server.alive()):
                return False
            lines = cluster_nodes(self.nodes[0])
            primaries = [ln for ln in lines if ln.is_primary and ln.slots]
            replicas = [ln for ln in lines if "slave" in ln.flags and "fail" not in ln.flags]
            return len(primaries) == 3 and len(replicas) == 3 and all(self._in_sync(ln.port) for ln in replicas)

        wait_for("cluster state ok with three primaries and three replicas", ok, timeout_s)

    def _in_sync(self, proxy_port: int) -> bool:
        node = self.by_port(proxy_port)
        return info(node, "replication").get("master_link_status") == "up"

    def by_port(self, proxy_port: int) -> ProxiedNode:
        for node in self.nodes:
            if node.proxy_port == proxy_port:
                return node
        raise TopologyError(f"no cluster node announces port {proxy_port}")

    def _view(self) -> list[NodeLine]:
        for node in self.nodes:
            with contextlib.suppress(OSError):
                if node.server.alive() and not node.server.paused:
                    return cluster_nodes(node)
        raise TopologyError("no cluster node answers CLUSTER NODES")

    def primary(self) -> ProxiedNode:
        """The primary serving slot 0 (the first shard), as the cluster sees it now."""
        return self.primary_of(0)

    def primary_of(self, slot: int) -> ProxiedNode:
        for line in self._view():
            if line.is_primary and any(_covers(s, slot) for s in line.slots):
                return self.by_port(line.port)
        raise TopologyError(f"no primary serves slot {slot}")

    def replicas_of(self, primary: ProxiedNode) -> list[ProxiedNode]:
        lines = self._view()
        pid = next((ln.node_id for ln in lines if ln.port == primary.proxy_port), "")
        return [self.by_port(ln.port) for ln in lines if ln.master_id == pid and "slave" in ln.flags]

    def failover(self, primary: ProxiedNode) -> None:
        """CLUSTER FAILOVER on the primary's replica: the coordinated switch (the replica catches up first)."""
        replicas = self.replicas_of(primary)
        if not replicas:
            raise TopologyError(f"{primary.name} has no replica to fail over to")
        redis_command(HOST, replicas[0].server.port, "CLUSTER", "FAILOVER")

    def writable(self) -> bool:
        with contextlib.suppress(TopologyError, OSError):
            return cluster_state(self.nodes[0]) == "ok"
        return False

    def restore(self) -> list[str]:
        return [done for node in self.nodes for done in revive(node)]

    def close(self) -> None:
        close_nodes(self.client, self.nodes)
