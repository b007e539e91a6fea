"""A model check of the token lifecycle over HTTP: a Hypothesis state machine and its in-memory model.

The machine logs in, refreshes, replays rotated tokens, logs out (one session or all), blacklists
tokens as admin, exchanges and replays legacy refresh tokens, calls /auth/me and guesses an unknown
account's password past the login throttle; with a users file
(``Accounts``) it also removes and restores the user and demotes and promotes the admin; every
session ages towards its absolute lifetime (``session_max_s``). After every step it compares the
answer with what the model says must be accepted or rejected. Hypothesis shrinks
the first divergence to a short sequence. ``make_machine`` binds it to a client factory, so the same
machine runs in-process on fakeredis (unit) and against ``authchaos serve`` on real Redis (integration).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
    started: float = field(default_factory=time.time)  # the login (or the legacy token's iat): auth_time
    rotated: list[str] = field(default_factory=list)
    alive: bool = True
    blacklisted: set[str] = field(default_factory=set)

    def access_ok(self, token: str) -> bool:
        return self.alive and token not in self.blacklisted


USERS = {"alice": ("wonderland", ["user"]), "admin": ("admin-secret", ["admin"])}


@dataclass
class Accounts:
    """The users file the service reads (``AUTHCHAOS_USERS``, reloaded every ``AUTHCHAOS_USERS_RELOAD_S``)."""

    path: Path

    def write(self, *, alice: bool = True, admin_role: bool = True) -> bool:
        """Replace the file (a new file renamed over it, as an operator should); False when it says that already."""
        entries = [{"username": "admin", "password": "admin-secret", "roles": ["admin" if admin_role else "user"]}]
        if alice:
            entries.append({"username": "alice", "password": "wonderland", "roles": ["user"]})
        text = json.dumps(entries)
        if self.path.exists() and self.path.read_text() == text:
            return False
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.path)
        return True

    def env(self) -> dict[str, str]:
        return {"AUTHCHAOS_USERS": str(self.path), "AUTHCHAOS_USERS_RELOAD_S": "0.05"}


def until(check: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.02)


@dataclass
class Legacy:
    token: str
    minted: float = field(default_factory=time.time)  # its iat: where the session it becomes started
    exchanged_into: Session | None = None
    revoked: bool = False
    uncertain: bool = False  # minted in the same second as a logout-all: iat cannot tell which came first


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_machine(
    client_factory: Callable[[], Any], settings: Settings, accounts: Accounts | None = None
) -> type[RuleBasedStateMachine]:
    """The machine class for one backend; ``client_factory()`` returns (client, close). ``settings`` must be the
    service's (keys, leeway, session_max_s); ``accounts`` the users file it reads, if the account rules run."""
    codec = TokenCodec(settings)
    lifetime, leeway = settings.session_max_s, settings.leeway_s
    guess_budget, guess_window_s = settings.login_max_failures_per_client, settings.login_client_window_s

    class TokenLifecycle(RuleBasedStateMachine):
        sessions = Bundle("sessions")
        legacies = Bundle("legacies")

        def __init__(self) -> None:
            super().__init__()
            self.client, self._close = client_factory()
            self.all_sessions: list[Session] = []
            self.all_legacies: list[Legacy] = []
            self.admin_role = True
            self.ghost, self.guesses = f"ghost-{secrets.token_hex(6)}", 0  # an unknown account, guessed at
            self.account_changes = self.role_changes = 0
            if accounts is not None and accounts.write():
                self._alice_back()
            self.admin = self._pair("admin", "admin-secret")["access_token"]
            self.admin_since = self._asked

        def teardown(self) -> None:
            self._close()

        # -- helpers ------------------------------------------------------------

        def _pair(self, user: str = "alice", password: str = "wonderland") -> dict[str, Any]:
            self._asked = time.time()
            r = self.client.post("/auth/login", json={"username": user, "password": password})
            assert r.status_code == 200, r.text
            return dict(r.json())

        def _alice_back(self) -> None:
            """Wait for the restored account, logging in rarely: each refused login counts towards the throttle."""
            for _ in range(4):
                time.sleep(0.12)  # over two reload intervals
                if self.client.post("/auth/login", json=_creds("alice")).status_code == 200:
                    return
            raise AssertionError("alice was not restored within 0.5 s")

        def _admin(self) -> str:
            """The admin's access token, renewed before its session reaches its absolute lifetime."""
            if lifetime and time.time() - self.admin_since > lifetime - 2:
                self.admin = self._pair("admin", "admin-secret")["access_token"]
                self.admin_since = self._asked
            return self.admin

        def _expect(self, r: httpx.Response, ok: bool | None, what: str) -> None:
            """``ok`` None: either answer is right (a session at its lifetime's edge, to the second)."""
            assert r.status_code < 500, f"{what}: {r.status_code} {r.text}"
            if ok is not None:
                assert (r.status_code == 200) == ok, f"{what}: model says {'accept' if ok else 'reject'}, got {r.text}"

        @staticmethod
        def _within(started: float, edge_s: float) -> bool | None:
            """Is a session that started at ``started`` younger than ``edge_s``? None near the edge: the service's
            ``auth_time`` is whole seconds, up to one before ``started``."""
            if not lifetime:
                return True
            age = time.time() - started
            if edge_s - 1.5 < age < edge_s + 0.5:
                return None
            return age < edge_s

        def _refreshable(self, session: Session) -> bool | None:
            young = self._within(session.started, lifetime)
            return session.alive and young if young is not None or not session.alive else None

        def _usable(self, session: Session, token: str) -> bool | None:
            young = self._within(session.started, lifetime + leeway)  # access exp is capped there; plus leeway
            ok = session.access_ok(token)
            return ok and young if young is not None or not ok else None

        def _new_session(self, body: dict[str, Any], started: float | None = None) -> Session:
            session = Session(body["refresh_token"], [body["access_token"]], started or self._asked)
            self.all_sessions.append(session)
            return session

        # -- rules --------------------------------------------------------------

        @rule(target=sessions)
        def login(self) -> Session:
            return self._new_session(self._pair())

        @rule(session=sessions)
        def refresh(self, session: Session) -> None:
            r = self.client.post("/auth/refresh", json={"refresh_token": session.refresh})
            self._expect(r, self._refreshable(session), "refresh with the current token")
            if r.status_code != 200:
                session.alive = False  # refused: by revocation or by age, the session is over
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
            self._expect(r, self._usable(session, token), "/auth/me")

        @rule(session=sessions, with_refresh=st.booleans())
        def logout(self, session: Session, with_refresh: bool) -> None:
            access = session.access[-1]
            body = {"refresh_token": session.refresh} if with_refresh else {}
            r = self.client.post("/auth/logout", json=body, headers=bearer(access))
            self._expect(r, self._usable(session, access), "logout")
            if r.status_code == 200:
                session.alive = False

        @precondition(lambda self: any(self._usable(s, s.access[-1]) for s in self.all_sessions))
        @rule(data=st.data())
        def logout_all(self, data: st.DataObject) -> None:
            session = data.draw(st.sampled_from([s for s in self.all_sessions if self._usable(s, s.access[-1])]))
            r = self.client.post("/auth/logout", json={"all": True}, headers=bearer(session.access[-1]))
            self._expect(r, True, "logout-all")
            for s in self.all_sessions:
                s.alive = False
            for legacy in self.all_legacies:  # logout-all revokes tokens issued before it, to the second
                legacy.uncertain = legacy.exchanged_into is None

        @rule(session=sessions, data=st.data(), refresh_kind=st.booleans())
        def blacklist(self, session: Session, data: st.DataObject, refresh_kind: bool) -> None:
            token = session.refresh if refresh_kind else data.draw(st.sampled_from(session.access))
            r = self.client.post("/auth/blacklist", json={"tokens": [token]}, headers=bearer(self._admin()))
            if not self.admin_role:
                assert r.status_code == 403, f"blacklist by a demoted admin: {r.text}"
                return
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
            legacy = Legacy(codec.sign_raw(Kind.REFRESH, payload), minted=now)
            self.all_legacies.append(legacy)
            return legacy

        @rule(target=sessions, legacy=legacies)
        def legacy_refresh(self, legacy: Legacy) -> Any:
            r = self.client.post("/auth/refresh", json={"refresh_token": legacy.token})
            first = legacy.exchanged_into is None and not legacy.revoked
            young = self._within(legacy.minted, lifetime)
            if (legacy.uncertain or young is None) and first:
                assert r.status_code in (200, 401), r.text
                first = r.status_code == 200
                legacy.revoked, legacy.uncertain = not first, False
            elif first and not young:
                first = False  # past its session's absolute lifetime (from its iat)
                legacy.revoked = True
            self._expect(r, first, "legacy refresh token")
            if legacy.exchanged_into is not None:
                legacy.exchanged_into.alive = False  # a legacy replay revokes the family it became
                return self._new_session(self._pair())  # keep the bundle growing with a live session
            legacy.exchanged_into = session = self._new_session(r.json(), legacy.minted) if first else None
            return session or self._new_session(self._pair())

        @rule(session=sessions, legacy=consumes(legacies))
        def logout_with_legacy(self, session: Session, legacy: Legacy) -> None:
            access = session.access[-1]
            r = self.client.post("/auth/logout", json={"refresh_token": legacy.token}, headers=bearer(access))
            self._expect(r, self._usable(session, access), "logout with a legacy refresh token")
            if r.status_code == 200:
                session.alive = False
                if legacy.exchanged_into is not None:
                    legacy.exchanged_into.alive = False
                r = self.client.post("/auth/refresh", json={"refresh_token": legacy.token})
                self._expect(r, False, "legacy refresh token after logout")

        @rule()
        def guess_a_password(self) -> None:
            """Wrong passwords for one account from one address: 401 up to the budget, then 429 with Retry-After,
            an unknown username exactly like a real one (other accounts keep logging in: the login rule)."""
            r = self.client.post("/auth/login", json={"username": self.ghost, "password": secrets.token_hex(4)})
            self.guesses += 1
            if self.guesses <= guess_budget:
                assert r.status_code == 401 and r.json()["error"] == "invalid_credentials", r.text
                return
            assert r.status_code == 429 and r.json()["error"] == "login_throttled", r.text
            assert 1 <= int(r.headers["Retry-After"]) <= guess_window_s, r.headers

        # -- accounts (with a users file) -------------------------------------------------------

        # Each takes a few reload intervals: at most one removal and two role changes a run keep the runs short.
        @precondition(lambda self: accounts is not None and self.account_changes < 1 and bool(self.all_sessions))
        @rule()
        def remove_and_restore_alice(self) -> None:
            """Removing the account ends every session at once; restoring it does not bring them back."""
            assert accounts is not None
            self.account_changes += 1
            probe = self._pair()["access_token"]
            accounts.write(alice=False, admin_role=self.admin_role)
            until(lambda: self.client.get("/auth/me", headers=bearer(probe)).status_code == 401, "alice removed")
            r = self.client.post("/auth/login", json=_creds("alice"))
            assert r.status_code == 401 and r.json()["error"] == "invalid_credentials", r.text
            for session in self.all_sessions:
                self._expect(self.client.get("/auth/me", headers=bearer(session.access[-1])), False, "removed: me")
                r = self.client.post("/auth/refresh", json={"refresh_token": session.refresh})
                self._expect(r, False, "removed: refresh")
                session.alive = False
            for legacy in self.all_legacies:  # removal writes a logout-all time, to the second
                legacy.uncertain = legacy.exchanged_into is None
            accounts.write(alice=True, admin_role=self.admin_role)
            self._alice_back()

        @precondition(lambda self: accounts is not None and self.role_changes < 2)
        @rule()
        def toggle_admin_role(self) -> None:
            """A demotion (or promotion) applies to tokens already issued, at once."""
            assert accounts is not None
            self.role_changes += 1
            self.admin_role = not self.admin_role
            accounts.write(admin_role=self.admin_role)
            want = ["admin"] if self.admin_role else ["user"]
            until(
                lambda: self.client.get("/auth/me", headers=bearer(self._admin())).json().get("roles") == want,
                f"admin roles {want}",
            )

    return TokenLifecycle


def _creds(user: str) -> dict[str, str]:
    return {"username": user, "password": USERS[user][0]}
