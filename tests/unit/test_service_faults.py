"""service_kill through WithService: the run's own service is killed and restarted; rollback brings it back."""

from __future__ import annotations

import pytest

from authchaos.faults.fault_spec import Blackhole, ServiceKill
from authchaos.faults.nemesis import FaultNotSupported
from authchaos.faults.service_nemesis import WithService


class FakeService:
    def __init__(self, *, restart_fails: bool = False) -> None:
        self.up, self.restart_fails = True, restart_fails
        self.calls: list[str] = []

    def kill(self) -> None:
        self.calls.append("kill")
        self.up = False

    def restart(self) -> None:
        self.calls.append("restart")
        if self.restart_fails:
            raise RuntimeError("port taken")
        self.up = True

    def alive(self) -> bool:
        return self.up

    def start_cleanup(self, every_s: float) -> None:
        self.calls.append("start_cleanup")

    def stop_cleanup(self) -> str:
        self.calls.append("stop_cleanup")
        raise RuntimeError("cleanup pass 2 failed: SCAN refused")


class Inner:
    backend = "real"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def supports(self, fault: object) -> bool:
        return True

    def start(self, fault: object) -> None:
        self.calls.append("start")

    def stop(self, fault: object) -> None:
        self.calls.append("stop")

    def rollback(self) -> list[str]:
        self.calls.append("rollback")
        return ["proxy/enabled"]


def test_service_kill_acts_on_the_service_and_other_faults_on_the_backend() -> None:
    service, inner = FakeService(), Inner()
    nemesis = WithService(inner, service)
    nemesis.start(ServiceKill())
    assert not service.alive()
    nemesis.stop(ServiceKill())
    assert service.calls == ["kill", "restart"] and service.alive()
    nemesis.start(Blackhole())
    assert inner.calls == ["start"]


def test_rollback_rolls_back_redis_first_then_brings_a_dead_service_back_and_reports_a_failure() -> None:
    service, inner = FakeService(), Inner()
    nemesis = WithService(inner, service)
    nemesis.start(ServiceKill())
    assert nemesis.rollback() == ["proxy/enabled", "service/restarted"] and service.alive()
    broken = FakeService(restart_fails=True)
    nemesis = WithService(Inner(), broken)
    nemesis.start(ServiceKill())
    undone = nemesis.rollback()
    assert undone[0] == "proxy/enabled" and undone[1].startswith("service/restart failed: port taken")


def test_without_a_service_of_the_run_a_service_fault_says_why_it_is_skipped() -> None:
    nemesis = WithService(Inner(), None)
    assert nemesis.supports(ServiceKill())
    with pytest.raises(FaultNotSupported, match="external --target"):
        nemesis.start(ServiceKill())


async def test_a_cleanup_that_failed_makes_the_run_an_error_not_a_pass() -> None:
    """A fault whose stop raises (a cleanup pass broke) is recorded on its window and the verdict is error; it is
    not stopped a second time, and the rest of the timeline still rolls back."""
    import time

    from authchaos.faults.fault_spec import FaultEvent, ServiceCleanup
    from authchaos.faults.timeline import run_timeline
    from authchaos.record.windows import TimelineResult
    from authchaos.run.results import ScenarioResult

    service, inner = FakeService(), Inner()
    result = TimelineResult()
    events = [FaultEvent(at=0, **{"for": 0.05}, fault=ServiceCleanup())]
    await run_timeline(WithService(inner, service), events, time.monotonic_ns(), result)
    assert service.calls == ["start_cleanup", "stop_cleanup"]
    assert result.windows[0].error == "stop failed: cleanup pass 2 failed: SCAN refused"
    assert "rollback" in inner.calls
    verdict = ScenarioResult.__new__(ScenarioResult)
    verdict.error, verdict.timeline = None, result
    assert verdict.fault_errors and verdict.verdict == "error"
