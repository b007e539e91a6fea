"""Cleanup: orphans go, live keys and revocations stay (fakeredis)."""

from __future__ import annotations

import time

from authchaos_reference.jwt_codec import Kind
from tests.support import Running


async def test_cleanup_removes_orphans_and_keeps_live_state(svc: Running) -> None:
    r = svc.services.ops.client
    pair = await svc.login()
    live_family = svc.services.tokens.codec.verify(pair["refresh_token"], Kind.REFRESH).claims["family"]
    old_ms = int((time.time() - 8 * 24 * 3600) * 1000)
    await r.hset("ac:fam:dead", mapping={"sub": "alice", "current": "x", "prev": "", "rotated_at": str(old_ms)})
    await r.hset("ac:fam:noage", mapping={"sub": "alice", "current": "x", "prev": "", "rotated_at": "0"})
    await r.set("ac:bl:forever", "1")
    await r.sadd("ac:userfams:alice", "gone-1", "gone-2")
    await r.sadd("ac:userfams:ghost", "gone-3")
    await r.set("other:app:key", "untouched")

    dry = await svc.services.cleanup.run(dry_run=True)
    assert dry.unlinked == 1 and dry.ttl_added == 2 and dry.members_removed == 3
    assert await r.exists("ac:fam:dead")

    report = await svc.services.cleanup.run()
    assert report.complete and report.unlinked == 1 and report.ttl_added == 2 and report.members_removed == 3
    assert not await r.exists("ac:fam:dead")
    assert 0 < await r.ttl("ac:bl:forever") <= svc.services.settings.refresh_ttl_s
    assert await r.ttl("ac:fam:noage") > 0
    assert await r.smembers("ac:userfams:alice") == {live_family}
    assert not await r.exists("ac:userfams:ghost")
    assert await r.get("other:app:key") == "untouched"
    assert (await svc.refresh(pair["refresh_token"])).status_code == 200


async def test_cleanup_is_bounded(svc: Running) -> None:
    r = svc.services.ops.client
    for i in range(300):
        await r.set(f"ac:bl:k{i}", "1")
    svc.services.cleanup.batch = 50
    svc.services.cleanup.max_keys = 100
    report = await svc.services.cleanup.run()
    assert not report.complete and report.scanned < 300
