"""Replicated faults as data: validated against the scenario's topology, skipped by name where they cannot run."""

from __future__ import annotations

import pytest

from authchaos.faults.embedded import EmbeddedNemesis
from authchaos.faults.fault_spec import REPLICATED_KINDS, Failover, KillShard, PartitionPrimary, SlotMigration
from authchaos.scenario.schema import ScenarioError, parse_scenario
from authchaos.sut.reference_service import memory_server


def test_every_replicated_kind_is_declared() -> None:
    assert set(REPLICATED_KINDS) == {
        "failover",
        "kill_primary",
        "partition_primary",
        "replica_lag",
        "kill_shard",
        "slot_migration",
    }


def test_the_embedded_backend_skips_replicated_faults_by_name() -> None:
    nemesis = EmbeddedNemesis(memory_server("replicated-model"))
    for fault in (Failover(), PartitionPrimary(), KillShard(), SlotMigration()):
        assert not nemesis.supports(fault)


def test_cluster_only_faults_are_refused_on_sentinel() -> None:
    base = {"name": "x", "service": {"redis": {"topology": "sentinel"}}, "workload": {"duration_s": 5}}
    with pytest.raises(ScenarioError, match=r"kill_shard cannot run on service\.redis\.topology sentinel"):
        parse_scenario({**base, "faults": [{"at": 1, "for": 1, "fault": {"kind": "kill_shard"}}]}, "inline")
    ok = parse_scenario({**base, "faults": [{"at": 1, "for": 1, "fault": {"kind": "failover"}}]}, "inline")
    assert ok.service.redis.topology == "sentinel"
    with pytest.raises(ScenarioError, match="topology"):
        parse_scenario({**base, "service": {"redis": {"topology": "ring"}}}, "inline")


def test_replicated_faults_need_a_replicated_topology() -> None:
    with pytest.raises(ScenarioError, match=r"failover cannot run on service\.redis\.topology single"):
        parse_scenario(
            {
                "name": "x",
                "workload": {"duration_s": 5},
                "faults": [{"at": 1, "for": 1, "fault": {"kind": "failover"}}],
            },
            "inline",
        )


def test_without_a_topology_the_real_nemesis_says_why_a_replicated_fault_is_skipped() -> None:
    from authchaos.faults.nemesis import FaultNotSupported, RealNemesis

    nemesis = RealNemesis(None, "proxy")  # type: ignore[arg-type]  # never reached: no toxics involved
    assert nemesis.supports(Failover())
    with pytest.raises(FaultNotSupported, match="sentinel or cluster topology"):
        nemesis.start(Failover())


def test_split_brain_is_offered_on_sentinel_only() -> None:
    fault = [{"at": 1, "for": 1, "fault": {"kind": "partition_primary"}}]
    base = {"name": "x", "workload": {"duration_s": 5}, "faults": fault}
    with pytest.raises(ScenarioError, match=r"partition_primary cannot run on service\.redis\.topology cluster"):
        parse_scenario({**base, "service": {"redis": {"topology": "cluster"}}}, "inline")
    assert parse_scenario({**base, "service": {"redis": {"topology": "sentinel"}}}, "inline").faults
