"""The embedded backend's nemesis: faults emulated below the service's Redis client.

The service runs in-process on fakeredis with ``FaultyConnection`` as its
connection class, so ``reference_impl`` code is the same as on a real Redis:
only the connection misbehaves. fakeredis executes a command when it is sent,
so a reply delayed past the timeout is a write that may have landed, exactly
the unknown outcome a real timeout gives. Faults with no honest emulation
(bandwidth, slow_close, slicer, limit_data) raise FaultNotSupported.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from typing import Any

import fakeredis
from fakeredis._clients._async import FakeAsyncRedisConnection
from fakeredis._helpers import SimpleError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from authchaos.faults.fault_spec import EMULATED, CommandDenied, Fault
from authchaos.faults.nemesis import FaultNotSupported

log = logging.getLogger("authchaos.nemesis")
_POLL_S = 0.01


class EmbeddedFaults:
    """The faults active on one fakeredis server, read by every connection to it."""

    def __init__(self) -> None:
        self.active: dict[int, Fault] = {}
        self.rng = random.Random()

    def _hit(self, fault: Fault) -> bool:
        return self.rng.random() < getattr(fault, "toxicity", 1.0)

    def refused(self) -> set[bytes]:
        """The commands an active ``command_denied`` refuses, lower-case."""
        return {c.encode() for f in self.active.values() if isinstance(f, CommandDenied) for c in f.commands}

    def _stalls(self) -> list[Fault]:
        return [f for f in self.active.values() if f.emulation == "stall"]

    async def before_reply(self, socket_timeout: float | None) -> None:
        """Delay or fail one reply as the active faults dictate."""
        faults = list(self.active.values())
        if not faults:
            return
        if any(f.emulation == "reset" and self._hit(f) for f in faults):
            raise RedisConnectionError("Connection reset by peer (emulated reset_peer)")
        delay = sum(f.delay_s(self.rng) for f in faults if f.emulation == "delay" and self._hit(f))
        if delay > 0:
            await asyncio.sleep(delay)
        stalls = [f for f in self._stalls() if self._hit(f)]
        if stalls:
            await self._stall(stalls, socket_timeout)

    async def _stall(self, stalls: list[Fault], socket_timeout: float | None) -> None:
        started = time.monotonic()
        close_after = min((s for f in stalls if (s := f.close_after_s()) is not None), default=None)
        while True:
            waited = time.monotonic() - started
            if socket_timeout is not None and waited >= socket_timeout:
                raise RedisTimeoutError("Timeout reading from socket (emulated)")
            if close_after is not None and waited >= close_after:
                raise RedisConnectionError("Connection closed by server (emulated timeout toxic)")
            if not self._stalls():
                # Toxiproxy closes connections when a timeout toxic is removed; a resumed process just answers
                if any(f.target == "network" for f in stalls):
                    raise RedisConnectionError("Connection closed by server (emulated toxic removal)")
                return
            await asyncio.sleep(_POLL_S)


_registry: weakref.WeakKeyDictionary[fakeredis.FakeServer, EmbeddedFaults] = weakref.WeakKeyDictionary()


def faults_for(server: fakeredis.FakeServer) -> EmbeddedFaults:
    if server not in _registry:
        _registry[server] = EmbeddedFaults()
    return _registry[server]


def _refusing(sock: Any, faults: EmbeddedFaults) -> None:
    """Make one fakeredis socket answer NOPERM, without running it, to every command a ``command_denied``
    refuses, as a real ACL does (fakeredis does not honour a ``-command`` after ``+@all``). Inside MULTI the
    refusal fails the transaction, as Redis' does."""
    run = sock._process_command

    def process(fields: list[bytes]) -> None:
        if faults.active and fields and fields[0].lower() in faults.refused():  # no fault: no set built per command
            if sock._queueing:
                sock._transaction_failed = True
            name = fields[0].lower().decode()
            refusal = SimpleError(f"NOPERM User default has no permissions to run the '{name}' command")
            sock.put_response(sock._decode_result(refusal))  # as an error reply, the way fakeredis answers one
            return
        run(fields)

    sock._process_command = process


class FaultyConnection(FakeAsyncRedisConnection):
    """A fakeredis connection that obeys the faults active on its server."""

    async def _connect(self) -> None:
        await super()._connect()
        assert self._server is not None
        _refusing(self._sock, faults_for(self._server))

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        assert self._server is not None  # fakeredis connections always belong to a server
        try:
            await faults_for(self._server).before_reply(self.socket_timeout)
        except (RedisConnectionError, RedisTimeoutError):
            await self.disconnect(nowait=True)
            raise
        return await super().read_response(*args, **kwargs)


class EmbeddedNemesis:
    backend = "embedded"

    def __init__(self, server: fakeredis.FakeServer) -> None:
        self.server = server
        self.faults = faults_for(server)

    def supports(self, fault: Fault) -> bool:
        return fault.kind in EMULATED

    def start(self, fault: Fault) -> None:
        if not self.supports(fault):
            raise FaultNotSupported(f"{fault.kind} cannot be emulated on the embedded backend (needs Toxiproxy)")
        log.info("fault start (embedded): %s", fault.describe())
        if fault.emulation == "disconnect":
            self.server.connected = False
        elif fault.emulation in ("wipe", "restart"):
            if fault.loses_data():
                self._wipe()
        else:
            self.faults.active[id(fault)] = fault

    def stop(self, fault: Fault) -> None:
        log.info("fault stop (embedded): %s", fault.describe())
        if fault.emulation == "disconnect":
            self.server.connected = True
        else:
            self.faults.active.pop(id(fault), None)

    def rollback(self) -> list[str]:
        undone = [f"embedded/{f.kind}" for f in self.faults.active.values()]
        self.faults.active.clear()
        if not self.server.connected:
            self.server.connected = True
            undone.append("embedded/connected")
        return undone

    def _wipe(self) -> None:
        with self.server.lock:  # fakeredis databases notify waiters under the server lock
            for db in self.server.dbs.values():
                db.clear()
