"""The user directory: demo users by default, or a JSON users file, the one source of who may do what.

File format: ``[{"username": "...", "password_hash": "pbkdf2_sha256$ITER$SALT$HEX", "roles": [...]}]``
(``password`` in clear text is accepted for test fixtures only; ``id`` defaults to the username;
``"disabled": true`` keeps an account but ends its sessions and refuses its logins).

Roles and accounts are read from here on every request and refresh, never from a cache in Redis: a
demotion or a removal applies as soon as the process has the new file. Each process re-reads the file
when its size, mtime or inode changes (``UserStore.reload``, every ``AUTHCHAOS_USERS_RELOAD_S``); a file
that does not parse is refused with a log line and the directory in force stays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from authchaos_reference.config import ConfigError

log = logging.getLogger("authchaos.users")


@dataclass(frozen=True)
class User:
    id: str
    username: str
    roles: tuple[str, ...]
    password_hash: str
    disabled: bool = False

    def record(self) -> dict[str, object]:
        return {"sub": self.id, "username": self.username, "roles": list(self.roles)}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def hash_password(password: str, iterations: int = 200_000) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def _cost(stored: str) -> int:
    """PBKDF2 iterations of a stored hash (0 for anything else)."""
    parts = stored.split("$")
    if len(parts) == 4 and parts[0] == "pbkdf2_sha256" and parts[1].isdigit():
        return int(parts[1])
    return 0


def _check(stored: str, password: str) -> bool:
    if stored.startswith("plain$"):
        return hmac.compare_digest(stored[6:].encode(), password.encode())
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(got, digest)


DEMO_USERS = (
    User("alice", "alice", ("user",), "plain$wonderland"),
    User("admin", "admin", ("admin",), "plain$admin-secret"),
)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is replaced or rewritten (inode, size, mtime in ns)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class UserStore:
    def __init__(self, users: tuple[User, ...] | list[User], hash_threads: int = 2, path: Path | None = None) -> None:
        self.path = path
        self._signature = _signature(path) if path is not None else None
        self._set(users)
        self._threads = hash_threads
        self._pool: ThreadPoolExecutor | None = None

    def _set(self, users: tuple[User, ...] | list[User]) -> None:
        self._by_name = {u.username: u for u in users}
        self._by_id = {u.id: u for u in users}
        # An unknown name is checked against a hash of the same cost as the real ones, so a wrong
        # password takes as long for a stranger as for a user (no enumeration by timing).
        cost = max((_cost(u.password_hash) for u in users), default=0)
        if getattr(self, "_decoy_cost", None) != cost:  # a reload of the same costs keeps its decoy (no rehash)
            self._decoy = hash_password(secrets.token_hex(16), cost) if cost else DEMO_USERS[0].password_hash
            self._decoy_cost = cost

    @classmethod
    def load(cls, path: Path | None, hash_threads: int = 2) -> UserStore:
        if path is None:
            return cls(DEMO_USERS, hash_threads)
        signature = _signature(path)  # taken before reading: a change during the read is seen next time
        store = cls(read_users(path), hash_threads, path)
        store._signature = signature
        return store

    def reload(self) -> list[str] | None:
        """Re-read the users file if it changed; returns the ids whose sessions must end (removed or disabled),
        or None when nothing was reloaded. A file that does not parse leaves the directory as it was."""
        if self.path is None:
            return None
        signature = _signature(self.path)
        if signature is None or signature == self._signature:
            return None
        try:
            users = read_users(self.path)
        except ConfigError as exc:
            log.error("users file not reloaded, the previous directory stays in force: %s", exc)
            self._signature = signature  # say it once per change, not once per check
            return None
        before = self._by_id
        self._signature = signature
        self._set(users)
        ended = [uid for uid, u in before.items() if not u.disabled and self.active(uid) is None]
        log.info("users file reloaded: %d accounts, %d sessions ended", len(users), len(ended))
        return ended

    async def authenticate(self, username: str, password: str) -> User | None:
        """Check a password on the hashing threads: PBKDF2 on the event loop would stall every route.
        A disabled account's password is checked like any other (same time), then refused."""
        user = self._by_name.get(username)
        stored = user.password_hash if user else self._decoy
        if self._pool is None:  # made on first use, so a service restarted in one process gets a fresh one
            self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="password-hash")
        ok = await asyncio.get_running_loop().run_in_executor(self._pool, _check, stored, password)
        # The directory may have changed during the hash (a reload): answer with the account as it is now.
        return self.active(user.id) if ok and user is not None else None

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def by_username(self, username: str) -> User | None:
        """An account that may log in (None for unknown or disabled ones)."""
        user = self._by_name.get(username)
        return user if user is not None and not user.disabled else None

    def active_ids(self) -> set[str]:
        return {uid for uid, user in self._by_id.items() if not user.disabled}

    def active(self, user_id: str) -> User | None:
        """The account behind a token's ``sub``, if it still exists and is enabled."""
        user = self._by_id.get(user_id)
        return user if user is not None and not user.disabled else None


def read_users(path: Path) -> list[User]:
    """Parse a users file; a ConfigError names what is wrong."""
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read AUTHCHAOS_USERS file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"AUTHCHAOS_USERS file {path} is not JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(raw, list):
        raise ConfigError(f"AUTHCHAOS_USERS file {path} must hold a JSON list of users")
    users: list[User] = []
    for i, entry in enumerate(raw):
        users.append(_user(path, i, entry))
    for attribute in ("id", "username"):
        seen = [getattr(u, attribute) for u in users]
        twice = sorted({v for v in seen if seen.count(v) > 1})
        if twice:
            raise ConfigError(f"AUTHCHAOS_USERS file {path}: {attribute} {twice[0]!r} appears twice")
    return users


def _user(path: Path, i: int, entry: object) -> User:
    if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
        raise ConfigError(f"AUTHCHAOS_USERS file {path}: entry {i} needs a string 'username'")
    if "password_hash" in entry:
        stored = str(entry["password_hash"])
    elif "password" in entry:
        stored = "plain$" + str(entry["password"])
    else:
        raise ConfigError(f"AUTHCHAOS_USERS file {path}: entry {i} needs 'password_hash'")
    roles = entry.get("roles", ["user"])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ConfigError(f"AUTHCHAOS_USERS file {path}: entry {i} 'roles' must be a list of strings")
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ConfigError(f"AUTHCHAOS_USERS file {path}: entry {i} 'disabled' must be true or false")
    return User(str(entry.get("id", entry["username"])), entry["username"], tuple(roles), stored, disabled)
