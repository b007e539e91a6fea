"""The service's Redis cleanup run pass after pass beside the workload (the ``cleanup`` fault).

A pass is the service's own cleanup (a command, so a mutant's code runs), started when the one before it
ended and the pause passed. Before each pass the reference service's keyspace is seeded with what cleanup
exists for, so every pass has real work beside live data: orphaned members of a user's session set, orphaned
families and revocations without a TTL, and live families and revocations whose TTL was dropped (as an older
version left them). Cleanup may unlink only the orphans and must give the live keys their TTL back.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("authchaos.cleanup")

MAX_PASSES = 200
PASS_TIMEOUT_S = 20.0
SEEDED_PER_PASS = 4  # orphans of each kind, and live revocations that lose their TTL
LIVE_FAMILIES_PER_PASS = 40  # recently rotated sessions that lose their TTL too, each pass
_rng = random.Random(2024)
_orphans = itertools.count(1)


class CleanupPasses:
    """One pass every ``every_s`` on its own thread until ``stop``; the first failure ends the loop and is
    raised by ``stop``, so a cleanup that breaks is an error of the run, never a silent no-op."""

    def __init__(self, run_pass: Callable[[], None], every_s: float) -> None:
        self.run_pass = run_pass
        self.every_s = every_s
        self.passes = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cleanup-passes", daemon=True)

    def start(self) -> CleanupPasses:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set() and self.passes < MAX_PASSES:
            try:
                self.run_pass()
            except Exception as exc:  # reported by stop(): the run says which pass failed and why
                self.error = f"cleanup pass {self.passes + 1} failed: {exc}"
                return
            self.passes += 1
            self._stop.wait(self.every_s)

    def stop_quietly(self) -> None:
        """End the loop whatever state it is in (a run torn down mid-fault): nothing left running."""
        self._stop.set()
        self._thread.join(timeout=PASS_TIMEOUT_S + 5)

    def stop(self) -> str:
        self._stop.set()
        self._thread.join(timeout=PASS_TIMEOUT_S + 5)
        if self.error:
            raise RuntimeError(self.error)
        if self.passes == 0:
            raise RuntimeError("cleanup never completed a pass in the fault's window: make the window longer")
        return f"{self.passes} passes"


class RunsCleanup:
    """What every service kind shares of the cleanup fault: the passes running now, stopped once."""

    _cleanup: CleanupPasses | None = None

    def stop_cleanup(self) -> str:
        """How many passes ran; raises the failure of one that broke."""
        if self._cleanup is None:
            return "no cleanup was running"
        try:
            return self._cleanup.stop()
        finally:
            self._cleanup = None

    def _end_cleanup(self) -> None:
        """On stop, whatever state the passes are in: nothing left running."""
        if self._cleanup is not None:
            self._cleanup.stop_quietly()
            self._cleanup = None


def run_command(argv: list[str], *, env: dict[str, str], cwd: str | None = None) -> str:
    """One pass as a command (the service's cleanup CLI); a non-zero exit is a failed pass. Its stdout."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=PASS_TIMEOUT_S, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(argv[:4])} exited {done.returncode}: {tail[0][:200]}")
    return done.stdout


def run_reference_cleanup(argv: list[str], *, env: dict[str, str], cwd: str | None = None) -> None:
    """``authchaos cleanup``: its JSON report must say the SCAN finished (a pass cut short cleaned part only)."""
    out = run_command(argv, env=env, cwd=cwd)
    try:
        complete = json.loads(out).get("complete")
    except (ValueError, AttributeError):
        raise RuntimeError(f"authchaos cleanup printed no JSON report: {out.strip()[:200]!r}") from None
    if complete is not True:
        raise RuntimeError(f"the cleanup pass did not finish its SCAN: {out.strip()[:200]}")


def seed_reference_keyspace(redis: Any, refresh_ttl_s: int, prefix: str = "ac:") -> None:
    """Plant what cleanup is for beside the live keys of the reference layout (``redis``: a sync redis-py client).

    Orphans: members of ``userfams`` sets whose family is gone, TTL-less families past their life, TTL-less
    revocation records. Live: a few families and revocations of the run lose their TTL (an older version's
    writes), so cleanup must tell live from dead rather than find only what was planted."""
    long_ago_ms = int((time.time() - 2 * refresh_ttl_s) * 1000)
    user_sets = list(itertools.islice(redis.scan_iter(match=f"{prefix}userfams:*", count=500), 50))
    pipe = redis.pipeline(transaction=False)
    for _ in range(SEEDED_PER_PASS):
        n = next(_orphans)
        for user_set in user_sets:  # orphans beside the live members of every user's session set
            pipe.sadd(user_set, f"orphan-member-{n}")
        pipe.hset(f"{prefix}fam:orphan-{n}", mapping={"sub": "user", "current": f"x{n}", "rotated_at": long_ago_ms})
        pipe.set(f"{prefix}bl:orphan-{n}", "1")
    pipe.execute()
    for kind in ("fam", "bl", "famrev"):
        keys = [k for k in itertools.islice(redis.scan_iter(match=f"{prefix}{kind}:*", count=500), 5000)]
        live = [k for k in keys if b"orphan" not in (k if isinstance(k, bytes) else k.encode())]
        chosen = _rng.sample(live, min(SEEDED_PER_PASS, len(live)))
        if kind == "fam":  # sessions rotated in the last refresh lifetime, idle or in use: their age is judged
            pipe = redis.pipeline(transaction=False)
            for key in live:
                pipe.hget(key, "rotated_at")
            recent_ms = (time.time() - refresh_ttl_s) * 1000
            rotated = [key for at, key in zip(pipe.execute(), live, strict=True) if int(at or 0) > recent_ms]
            chosen += _rng.sample(rotated, min(LIVE_FAMILIES_PER_PASS, len(rotated)))
        pipe = redis.pipeline(transaction=False)
        for key in chosen:
            pipe.persist(key)
        pipe.execute()


def seed_client(redis_url: str) -> Any:
    """A plain sync client on the run's Redis, for seeding: fakeredis on the named server for ``memory://``."""
    if redis_url.startswith("memory://"):
        import fakeredis

        from authchaos_reference.redis_client import memory_server

        return fakeredis.FakeRedis(server=memory_server(redis_url.removeprefix("memory://").split("/")[0]))
    import redis

    return redis.Redis.from_url(redis_url)


def reference_passes(
    redis_url: str, refresh_ttl_s: int, one_cleanup: Callable[[], None], every_s: float
) -> CleanupPasses:
    """The reference service's passes: seed its keyspace, then run its cleanup."""

    def one() -> None:
        client = seed_client(redis_url)
        try:
            seed_reference_keyspace(client, refresh_ttl_s)
        finally:
            client.close()
        one_cleanup()

    return CleanupPasses(one, every_s).start()
