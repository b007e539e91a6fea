"""Replicated Redis topologies on real processes (Sentinel, Cluster), every node behind its own proxy, and
the replicated faults' actions on them (``topology_actions``), handed to the nemesis by the run."""
