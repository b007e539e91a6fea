"""Starts a replicated topology by name; apart from the base, so the base imports neither implementation."""

from __future__ import annotations

from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.topology.cluster_topology import ClusterTopology
from authchaos.topology.sentinel_topology import SentinelTopology
from authchaos.topology.topology_base import Topology, TopologyError
from authchaos.topology.topology_kinds import TopologyKind


def start_topology(kind: TopologyKind, client: ToxiproxyClient) -> Topology:
    """Start a replicated topology (``single`` is the infrastructure's own server); torn down on failure."""
    if kind == "sentinel":
        return SentinelTopology(client).start()
    if kind == "cluster":
        return ClusterTopology(client).start()
    raise TopologyError(f"topology {kind!r} is started by the infrastructure itself, not here")
