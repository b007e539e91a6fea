"""Faults of the service under test itself (a crash, a restart), beside the Redis faults of the backend.

The backend's nemesis knows Redis and its proxy; the service is started later, by the run. ``WithService``
puts the two together for one run: service faults act on the running service, every other fault goes to the
backend's nemesis, and rollback brings a killed service back before anything else is judged or stopped.
"""

from __future__ import annotations

import logging

from authchaos.faults.fault_spec import Fault, ServiceFault, ServiceProcess
from authchaos.faults.nemesis import FaultNotSupported, Nemesis

log = logging.getLogger("authchaos.nemesis")


class WithService:
    """A nemesis for one run: ``service`` None (an external ``--target``) makes service faults skipped, by name."""

    def __init__(self, inner: Nemesis, service: ServiceProcess | None) -> None:
        self.inner = inner
        self._service = service
        self.backend = inner.backend
        self.hint = getattr(inner, "hint", "")

    def supports(self, fault: Fault) -> bool:
        if isinstance(fault, ServiceFault):
            return True  # without a service of ours, starting it says why it is skipped (service())
        return self.inner.supports(fault)

    def start(self, fault: Fault) -> None:
        if not isinstance(fault, ServiceFault):
            self.inner.start(fault)
            return
        log.info("fault start: %s", fault.describe())
        try:
            fault.start_real(self)
        except NotImplementedError as exc:  # the service cannot do it (no cleanup command): skipped, by name
            raise FaultNotSupported(str(exc)) from None

    def stop(self, fault: Fault) -> None:
        if not isinstance(fault, ServiceFault):
            self.inner.stop(fault)
            return
        log.info("fault stop: %s", fault.describe())
        fault.stop_real(self)

    def service(self) -> ServiceProcess:
        if self._service is None:
            raise FaultNotSupported("service faults need a service this run started: an external --target is not")
        return self._service

    def rollback(self) -> list[str]:
        """Redis and its proxy first (a service restarted into a live fault would be judged on it), then a service
        still down is started again; a restart that fails is reported, never a reason to skip the rest."""
        try:
            undone = self.inner.rollback()
        finally:
            if self._service is not None and self._service.alive():
                self._service.resume()  # a pause still on when the run was cut short, whatever Redis's rollback did
        if self._service is not None and not self._service.alive():
            try:
                self._service.restart()
                undone.append("service/restarted")
            except Exception as exc:  # reported in the timeline's rollback record
                undone.append(f"service/restart failed: {exc}")
        return undone
