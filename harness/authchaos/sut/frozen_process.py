"""Pausing a service that runs as a child process: SIGSTOP and SIGCONT to its whole process group.

Why a group: a supervisor and its workers freeze together, as a VM or a throttled container would; a worker
left running would keep answering and hide the stall.
"""

from __future__ import annotations

import signal

from authchaos.servers.processes import ManagedProcess


class FreezesItsProcess:
    """``pause``/``resume`` for a service whose ``process`` is a ManagedProcess (None before it starts)."""

    process: ManagedProcess | None

    def pause(self) -> None:
        if self.process is not None:
            self.process.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """Idempotent: rollback calls it whether or not a pause is still on."""
        if self.process is not None:
            self.process.signal_group(signal.SIGCONT)
