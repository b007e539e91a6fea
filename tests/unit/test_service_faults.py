"""service_kill through WithService: the run's own service is killed and restarted; rollback brings it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from authchaos.faults.fault_spec import Blackhole, ServiceKill, ServicePause
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

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

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
    assert service.calls == ["kill", "restart"]  # a dead service has nothing to resume
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
    assert service.calls == ["start_cleanup", "stop_cleanup", "resume"]  # rollback resumes whatever it finds
    assert result.windows[0].error == "stop failed: cleanup pass 2 failed: SCAN refused"
    assert "rollback" in inner.calls
    verdict = ScenarioResult.__new__(ScenarioResult)
    verdict.error, verdict.timeline = None, result
    assert verdict.fault_errors and verdict.verdict == "error"


def test_a_pause_freezes_the_service_its_window_is_no_outage_and_rollback_resumes_it() -> None:
    """service_pause acts on the service alone (Redis healthy: the window's target is in NOT_AN_OUTAGE), and a
    run cut short mid-pause leaves no frozen process behind."""
    from authchaos.record.windows import NOT_AN_OUTAGE

    service, inner = FakeService(), Inner()
    nemesis = WithService(inner, service)
    nemesis.start(ServicePause())
    assert service.calls == ["pause"] and inner.calls == []
    assert ServicePause.target in NOT_AN_OUTAGE
    nemesis.rollback()
    assert service.calls == ["pause", "resume"]


def test_a_paused_process_group_answers_nothing_until_resumed(tmp_path: Path) -> None:
    """SIGSTOP reaches the child's whole group (a supervisor and its workers) and SIGCONT brings it back."""
    import sys
    import time

    from authchaos.servers.processes import ManagedProcess
    from authchaos.sut.frozen_process import FreezesItsProcess

    out = tmp_path / "ticks"
    tick = f"import time\nwhile True:\n    open({str(out)!r}, 'a').write('.')\n    time.sleep(0.01)\n"
    # the ticking is a grandchild (a worker of a supervisor): only a signal to the group reaches it
    code = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {tick!r}])\ntime.sleep(60)\n"
    child = ManagedProcess("ticker", [sys.executable, "-c", code], tmp_path / "log")
    frozen = FreezesItsProcess()
    frozen.process = child
    child.spawn()
    try:
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        frozen.pause()
        time.sleep(0.1)
        held = out.read_text()
        time.sleep(0.3)
        assert out.read_text() == held  # frozen: not one tick in 0.3 s
        frozen.resume()
        deadline = time.monotonic() + 5
        while out.read_text() == held and time.monotonic() < deadline:
            time.sleep(0.02)
        assert out.read_text() != held
    finally:
        child.kill()  # the whole group, grandchild included


@pytest.mark.parametrize("length", [None, 0, 1.5])
def test_a_pause_needs_a_short_length(length: float | None) -> None:
    """Frozen for seconds, a process cannot tell its stall from a silent Redis: the scenario file says so."""
    from pydantic import ValidationError

    from authchaos.faults.fault_spec import FaultEvent

    with pytest.raises(ValidationError, match="service_pause needs `for:` between 0 and 1 s"):
        FaultEvent.model_validate({"at": 1, "for": length, "fault": {"kind": "service_pause"}})
    assert FaultEvent.model_validate({"at": 1, "for": 0.4, "fault": {"kind": "service_pause"}}).for_s == 0.4
