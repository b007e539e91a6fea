"""A model check of the token lifecycle over HTTP: a Hypothesis state machine and its in-memory model.

The machine logs in, refreshes, replays rotated tokens, logs out (one session or all), blacklists
tokens as admin, exchanges and replays legacy refresh tokens and calls /auth/me; after every step
it compares the answer with what the model says must be accepted or rejected. Hypothesis shrinks
the first divergence to a short sequence. ``make_machine`` binds it to a client factory, so the same
machine runs in-process on fakeredis (unit) and against ``authchaos serve`` on real Redis (integration).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, precondition, rule

from authchaos_reference.config import Settings
from authchaos_reference.jwt_codec import Kind, TokenCodec


@dataclass
class Session:
    """One family as the model sees it."""

    refresh: str
    access: list[str]
    rotated: list[str] = field(default_factory=list)
    alive: bool = True
    blacklisted: set[str] = field(default_factory=set)

    def access_ok(self, token: str) -> bool:
        return self.alive and token not in self.blacklisted


@dataclass
class Legacy:
    token: str
    exchanged_into: Session | None = None
    revoked: bool = False
    uncertain: bool = False  # minted in the same second as a logout-all: iat cannot tell which came first


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_machine(client_factory: Callable[[], Any], settings: Settings) -> type[RuleBasedStateMachine]:
    """The machine class for one backend; ``client_factory()`` returns (client, close)."""
    codec = TokenCodec(settings)

    class TokenLifecycle(RuleBasedStateMachine):
        sessions = Bundle("sessions")
        legacies = Bundle("legacies")

        def __init__(self) -> None:
            super().__init__()
            self.client, self._close = client_factory()
            self.all_sessions: list[Session] = []
            self.all_legacies: list[Legacy] = []
            self.admin = self._pair("admin", "admin-secret")["access_token"]

        def teardown(self) -> None:
            self._close()

        # -- helpers ------------------------------------------------------------

        def _pair(self, user: str = "alice", password: str = "wonderland") -> dict[str, Any]:
            r = self.client.post("/auth/login", json={"username": user, "password": password})
            assert r.status_code == 200, r.text
            return dict(r.json())

        def _expect(self, r: httpx.Response, ok: bool, what: str) -> None:
            assert r.status_code < 500, f"{what}: {r.status_code} {r.text}"
            assert (r.status_code == 200) == ok, f"{what}: model says {'accept' if ok else 'reject'}, got {r.text}"

        def _new_session(self, body: dict[str, Any]) -> Session:
            session = Session(body["refresh_token"], [body["access_token"]])
            self.all_sessions.append(session)
            return session

        # -- rules --------------------------------------------------------------

        @rule(target=sessions)
        def login(self) -> Session:
            return self._new_session(self._pair())

        @rule(session=sessions)
        def refresh(self, session: Session) -> None:
            r = self.client.post("/auth/refresh", json={"refresh_token": session.refresh})
            self._expect(r, session.alive, "refresh with the current token")
            if r.status_code == 200:
                session.rotated.append(session.refresh)
                session.refresh = r.json()["refresh_token"]
                session.access.append(r.json()["access_token"])

        @precondition(lambda self: any(s.rotated for s in self.all_sessions))
        @rule(data=st.data())
        def replay(self, data: st.DataObject) -> None:
            session = data.draw(st.sampled_from([s for s in self.all_sessions if s.rotated]))
            token = data.draw(st.sampled_from(session.rotated))
            r = self.client.post("/auth/refresh", json={"refresh_token": token})
            self._expect(r, False, "replay of a rotated refresh token")
            if session.alive:
                assert r.json()["error"] == "token_reused", r.text
            session.alive = False  # RFC 9700 4.14.2: reuse revokes the whole family

        @rule(session=sessions, data=st.data())
        def me(self, session: Session, data: st.DataObject) -> None:
            token = data.draw(st.sampled_from(session.access))
            r = self.client.get("/auth/me", headers=bearer(token))
            self._expect(r, session.access_ok(token), "/auth/me")

        @rule(session=sessions, with_refresh=st.booleans())
        def logout(self, session: Session, with_refresh: bool) -> None:
            access = session.access[-1]
            body = {"refresh_token": session.refresh} if with_refresh else {}
            r = self.client.post("/auth/logout", json=body, headers=bearer(access))
            self._expect(r, session.access_ok(access), "logout")
            if r.status_code == 200:
                session.alive = False

        @precondition(lambda self: any(s.access_ok(s.access[-1]) for s in self.all_sessions))
        @rule(data=st.data())
        def logout_all(self, data: st.DataObject) -> None:
            session = data.draw(st.sampled_from([s for s in self.all_sessions if s.access_ok(s.access[-1])]))
            r = self.client.post("/auth/logout", json={"all": True}, headers=bearer(session.access[-1]))
            self._expect(r, True, "logout-all")
            for s in self.all_sessions:
                s.alive = False
            for legacy in self.all_legacies:  # logout-all revokes tokens issued before it, to the second
                legacy.uncertain = legacy.exchanged_into is None

        @rule(session=sessions, data=st.data(), refresh_kind=st.booleans())
        def blacklist(self, session: Session, data: st.DataObject, refresh_kind: bool) -> None:
            token = session.refresh if refresh_kind else data.draw(st.sampled_from(session.access))
            r = self.client.post("/auth/blacklist", json={"tokens": [token]}, headers=bearer(self.admin))
            self._expect(r, True, "blacklist as admin")
            if refresh_kind:
                session.alive = False  # a refresh token's revocation takes its family
            else:
                session.blacklisted.add(token)

        @rule(target=legacies)
        def mint_legacy(self) -> Legacy:
            now = int(time.time())
            payload = {
                "sub": "alice",
                "userId": "alice",
                "iat": now,
                "exp": now + 3600,
                "iss": settings.issuer,
                "aud": settings.audience,
                "email": f"{secrets.token_hex(6)}@example.com",
            }
            legacy = Legacy(codec.sign_raw(Kind.REFRESH, payload))
            self.all_legacies.append(legacy)
            return legacy

        @rule(target=sessions, legacy=legacies)
        def legacy_refresh(self, legacy: Legacy) -> Any:
            r = self.client.post("/auth/refresh", json={"refresh_token": legacy.token})
            first = legacy.exchanged_into is None and not legacy.revoked
            if legacy.uncertain and first:
                assert r.status_code in (200, 401), r.text
                first = r.status_code == 200
                legacy.revoked, legacy.uncertain = not first, False
            self._expect(r, first, "legacy refresh token")
            if legacy.exchanged_into is not None:
                legacy.exchanged_into.alive = False  # a legacy replay revokes the family it became
                return self._new_session(self._pair())  # keep the bundle growing with a live session
            legacy.exchanged_into = session = self._new_session(r.json()) if first else None
            return session or self._new_session(self._pair())

        @rule(session=sessions, legacy=consumes(legacies))
        def logout_with_legacy(self, session: Session, legacy: Legacy) -> None:
            access = session.access[-1]
            r = self.client.post("/auth/logout", json={"refresh_token": legacy.token}, headers=bearer(access))
            self._expect(r, session.access_ok(access), "logout with a legacy refresh token")
            if r.status_code == 200:
                session.alive = False
                if legacy.exchanged_into is not None:
                    legacy.exchanged_into.alive = False
                r = self.client.post("/auth/refresh", json={"refresh_token": legacy.token})
                self._expect(r, False, "legacy refresh token after logout")

    return TokenLifecycle
