"""The replicated faults' mechanics on a started topology (``ReplicatedRedis`` in ``faults/model.py``).

Every action records what it did, so ``heal`` undoes exactly that and ``rollback`` restores the whole
topology from the servers' actual state (toxics, proxies, peer users, frozen or dead nodes).
"""

from __future__ import annotations

import contextlib
import logging
import time

import redis

from authchaos.servers.redis_server import redis_command
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.topology.topology_base import HOST, ProxiedNode, Topology, TopologyError, command, set_peer_user

log = logging.getLogger("authchaos.nemesis")
MIGRATE_BATCH = 100
MIGRATE_TIMEOUT_MS = 2000


class TopologyActions:
    def __init__(self, topology: Topology, toxiproxy: ToxiproxyClient) -> None:
        self.topology = topology
        self.toxiproxy = toxiproxy
        self.kind: str = topology.kind
        self._killed: list[ProxiedNode] = []
        self._frozen: list[ProxiedNode] = []
        self._partitioned: list[ProxiedNode] = []

    # -- faults ----------------------------------------------------------------

    def failover(self) -> None:
        self.topology.failover(self.topology.primary())

    def kill_primary(self) -> None:
        node = self.topology.primary()
        node.server.kill()
        self._killed.append(node)

    def kill_shard(self, slot: int = 0) -> None:
        primary_of = getattr(self.topology, "primary_of", None)
        primary = primary_of(slot) if primary_of is not None else self.topology.primary()
        for node in [primary, *self.topology.replicas_of(primary)]:
            node.server.kill()
            self._killed.append(node)

    def freeze_replicas(self) -> None:
        for node in self.topology.replicas_of(self.topology.primary()):
            node.server.pause()
            self._frozen.append(node)

    def partition_primary(self) -> None:
        node = self.topology.primary()
        log.info("partition_primary: %s cut from its peers", node.name)
        self._partitioned.append(node)
        set_peer_user(node, False)  # the replicas and the sentinels authenticate as the peer user

    def migrate_slots(self, count: int) -> None:
        source = self.topology.primary()
        others = [n for n in self.topology.nodes if n is not source and _is_primary(n)]
        if not others:
            raise TopologyError("no other primary to migrate slots to")
        for slot in _slots_with_keys(source, count):
            _migrate_slot(slot, source, others[0], self.topology.nodes)

    # -- undo --------------------------------------------------------------------

    def heal(self) -> list[str]:
        undone: list[str] = []
        with contextlib.suppress(TopologyError, redis.RedisError, OSError):
            log.info("heal: the primary is now %s", self.topology.primary().name)
        for node in self._frozen:
            node.server.resume()
            undone.append(f"{node.name}/resumed")
        for node in self._killed:
            if not node.server.alive():
                node.server.restart()
                undone.append(f"{node.name}/restarted")
        for node in self._partitioned:
            with contextlib.suppress(redis.RedisError, OSError):
                set_peer_user(node, True)
            undone.append(f"{node.name}/rejoined")
        self._frozen, self._killed, self._partitioned = [], [], []
        return undone

    def rollback(self) -> list[str]:
        undone = self.heal() + self.toxiproxy.rollback(self.topology.proxies)
        undone += [x for x in self.topology.restore() if x not in undone]
        if undone:
            log.warning("rollback undid: %s", ", ".join(undone))
        return undone


def _is_primary(node: ProxiedNode) -> bool:
    with contextlib.suppress(OSError):
        if node.server.alive() and not node.server.paused:
            return b"role:master" in redis_command(HOST, node.server.port, "INFO", "replication")
    return False


def _slots_with_keys(node: ProxiedNode, count: int) -> list[int]:
    """Up to ``count`` distinct slots holding keys on ``node`` (sampled with SCAN, bounded)."""
    slots: list[int] = []
    with contextlib.closing(node.client(direct=True)) as c:
        for i, key in enumerate(c.scan_iter(count=500)):
            slot = int(command(c, "CLUSTER", "KEYSLOT", key))
            if slot not in slots:
                slots.append(slot)
            if len(slots) >= count or i > 50_000:
                break
    return slots


def _migrate_slot(slot: int, source: ProxiedNode, target: ProxiedNode, nodes: list[ProxiedNode]) -> None:
    """The documented resharding steps for one slot, through the nodes' own ports (clients see the proxies)."""
    src, dst = source.client(direct=True), target.client(direct=True)
    with contextlib.closing(src), contextlib.closing(dst):
        src_id, dst_id = command(src, "CLUSTER", "MYID"), command(dst, "CLUSTER", "MYID")
        command(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        command(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            keys = command(src, "CLUSTER", "GETKEYSINSLOT", slot, MIGRATE_BATCH)
            if not keys:
                break
            command(src, "MIGRATE", HOST, target.proxy_port, "", 0, MIGRATE_TIMEOUT_MS, "KEYS", *keys)
        for node in [target, source, *(n for n in nodes if n not in (target, source))]:
            if node.server.alive() and not node.server.paused and _is_primary(node):
                with contextlib.closing(node.client(direct=True)) as c:
                    command(c, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
